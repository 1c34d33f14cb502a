/* ds_engine: one open database. It ties the tiers together:
 *
 *   read:  hot map -> write buffer -> warm cache -> SQLite (promote to hot)
 *   write: new entry -> write buffer + hot map (warm copy dropped)
 *          -> flush (now, within buffer_size writes, by the flusher thread,
 *             or at close, depending on the persist mode)
 *
 * Locks, in the only order they may be taken (a lock may be taken while
 * holding the ones above it, never the other way round):
 *   1. flush_lock   serializes flushes and clear(); held across SQLite work
 *   2. write_lock   serializes mutations (put/delete/promotion), so existence
 *                   checks, counts and tier updates of one key are atomic
 *   3. leaves       hot-map shard locks, the warm lock, the write-buffer lock,
 *                   the store's connection mutex, the namespace-table lock
 *                   (ns_lock, namespaces.c), the retire-list lock, the
 *                   flusher's mutex (flusher.c: taken to wake it early, and
 *                   never held by the flusher while it flushes), the worker
 *                   pool's queue lock (pool.c: never held while a job runs or
 *                   its done is called, so a job takes flush_lock and
 *                   write_lock only after releasing it), the completion
 *                   queue's lock (completion.c: held only to link or unlink
 *                   jobs; done pushes onto it with no pool lock held): none
 *                   is held while taking another
 * The GIL is not part of the order: the core never takes it. Callers that hold
 * it use allow_io = 0, in which case the engine only try-locks write_lock and
 * returns DS_NEED_IO rather than block or touch SQLite; the caller then
 * releases the GIL and calls again with allow_io = 1.
 *
 * Namespaces are interned to small ids (ds_engine_ns); every per-key call
 * takes the id plus the key's hash already folded with it (ds_hash_with_ns).
 *
 * The implementation is split by job: src/core/engine.c (open/close, the
 * tiers, the write path, group commit, flush), namespaces.c, flusher.c,
 * engine_crypto.c, engine_sync.c and engine_scan.c, sharing the private
 * src/core/engine_internal.h.
 */
#ifndef DICTSQLITE_ENGINE_H
#define DICTSQLITE_ENGINE_H

#include <stdint.h>
#include <stddef.h>

#include "dictsqlite/common.h"
#include "dictsqlite/entry.h"
#include "dictsqlite/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ds_persist_mode {
    DS_PERSIST_MEMORY = 0,
    DS_PERSIST_LAZY = 1,
    DS_PERSIST_WRITETHROUGH = 2,
} ds_persist_mode;

typedef struct ds_engine_config {
    const char *path;          /* ignored in memory mode */
    ds_persist_mode persist;
    size_t hot_capacity;       /* entries; a sizing hint in memory mode */
    size_t warm_bytes;         /* byte bound of the warm tier (0 disables) */
    size_t nshards;            /* 0: chosen from the CPU count */
    size_t buffer_size;        /* writethrough: flush once this many writes are
                                * pending (1 = commit every write) */
    int enable_flusher;        /* background flusher thread (lazy/writethrough) */
    unsigned flush_interval_ms;
    ds_store_options store;
    /* Encrypt values (crypto.h) with a key derived from this password; NULL
     * for none. A database that already has a key check refuses another
     * password at open (DS_INVALID). */
    const char *password;
    size_t password_len;
    /* Lazy/writethrough: once the pending writes hold more than this many
     * bytes of values, the writer flushes before returning (0 selects the
     * default, DS_ENGINE_DEFAULT_PENDING_BYTES). */
    size_t max_pending_bytes;
} ds_engine_config;

#define DS_ENGINE_DEFAULT_PENDING_BYTES ((size_t)64 << 20)

typedef struct ds_engine ds_engine;

typedef struct ds_engine_stats {
    size_t hot_entries, hot_capacity, hot_bytes, nshards;
    uint64_t hot_hits, hot_misses, hot_evictions;
    size_t warm_entries, warm_bytes, warm_max_bytes;
    uint64_t warm_hits, warm_misses, warm_evictions;
    size_t dirty_entries;        /* writes and deletes not yet committed */
    uint64_t cold_reads, cold_hits;
    uint64_t flushes, rows_flushed, flush_failures;
    int64_t file_bytes;          /* -1 if unknown or memory mode */
    int encrypted;               /* values are encrypted in SQLite */
} ds_engine_stats;

ds_status ds_engine_open(const ds_engine_config *cfg, ds_engine **out, ds_error *err);

/* Stop the flusher, flush, close SQLite, free everything. If the final flush
 * fails the engine stays open, the error is returned and close may be called
 * again. With force = 1 the engine is freed whatever happens (pending writes
 * that could not be committed are then lost, and reported in err). */
ds_status ds_engine_close(ds_engine *e, int force, ds_error *err);

/* Free the engine struct after ds_engine_close (closing it by force first if
 * needed). The binding drains ds_engine_retire(e) between the two calls, so
 * the cached Python objects of the freed entries are released with the GIL. */
void ds_engine_free(ds_engine *e);

/* For a process that inherited the engine through fork(): do nothing at all
 * (no flush, no SQLite call, no free), since its handles belong to the
 * parent. */
void ds_engine_abandon(ds_engine *e);

int ds_engine_is_closed(const ds_engine *e);

ds_persist_mode ds_engine_persist_mode(const ds_engine *e);
ds_retire *ds_engine_retire(ds_engine *e);

/* Intern namespace name; also loads its row count (SQLite I/O). */
ds_status ds_engine_ns(ds_engine *e, const char *name, size_t len, uint32_t *id,
                       ds_error *err);
const char *ds_engine_ns_name(ds_engine *e, uint32_t ns, size_t *len);

/* Read the newest value. On DS_OK *out is a new reference (decref with
 * ds_entry_decref(.., ds_engine_retire(e))). DS_NOTFOUND if absent. */
ds_status ds_engine_get(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash, int allow_io, ds_entry **out, ds_error *err);

/* A hint before a put of a key with this hash: start loading the hot-tier
 * and write-buffer slots it will touch (see ds_hotmap_prefetch). */
void ds_engine_prefetch(ds_engine *e, uint64_t hash);

/* The hot-tier-only fast path (see ds_hotmap_peek_aux): 1 with either *aux
 * (the cached decoded object; the caller must hold the GIL, see entry.h) or a
 * new reference in *ref; 0 if the key is not in the hot tier. */
int ds_engine_peek_hot(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash, void **aux, ds_entry **ref);

/* Offer x2, an entry with exactly old's key, codec and value bytes (the
 * binding's external copy, see ds_entry_new_external), to take old's place in
 * the hot tier, so the value is held once instead of twice. Done only when
 * old is still the key's hot entry and is not a pending write; never waits
 * for a lock. Consumes the caller's reference to x2 either way. */
void ds_engine_share_value(ds_engine *e, ds_entry *old, ds_entry *x2);

ds_status ds_engine_contains(ds_engine *e, uint32_t ns, const char *key,
                             size_t klen, uint64_t hash, int allow_io,
                             ds_error *err); /* DS_OK = present, DS_NOTFOUND */

/* Store value under key. *existed (may be NULL) tells whether the key had a
 * value before. In writethrough mode with allow_io = 1 this commits before
 * returning when buffer_size writes are pending; with allow_io = 0 the write
 * is applied in memory and *flush_due is set so the caller flushes after
 * releasing the GIL. */
ds_status ds_engine_put(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash, uint8_t codec, const void *value,
                        size_t vlen, int allow_io, int *existed, int *flush_due,
                        ds_error *err);

/* Apply many puts under one write_lock round trip, then (writethrough) one
 * commit. On an error part-way, puts already applied stay applied in memory
 * (they will be committed by the next flush), and the index reached is in
 * *done.
 *
 * owner (may be NULL): the binding's object holding value's bytes, which is
 * also the decoded value (see ds_entry_new_external). An item with an owner
 * carries one reference to it, and the call consumes every such reference
 * whatever it returns: kept by the new entry, or handed to the retire list.
 * So a caller retrying after DS_NEED_IO takes new references first. */
typedef struct ds_put_item {
    const char *key;
    size_t klen;
    uint64_t hash;
    uint8_t codec;
    const void *value;
    size_t vlen;
    void *owner;
} ds_put_item;
ds_status ds_engine_put_many(ds_engine *e, uint32_t ns, const ds_put_item *items,
                             size_t n, int allow_io, size_t *done, int *flush_due,
                             ds_error *err);

/* Delete key; DS_NOTFOUND if absent (nothing changes). */
ds_status ds_engine_delete(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                           uint64_t hash, int allow_io, int *flush_due,
                           ds_error *err);

/* Remove every key of namespace ns: committed at once in SQLite (stronger
 * than lazy mode requires), then dropped from every tier. */
ds_status ds_engine_clear(ds_engine *e, uint32_t ns, ds_error *err);

/* Commit every pending write in one transaction. A failure keeps the pending
 * writes (they are retried by the next flush) and returns the error. */
ds_status ds_engine_flush(ds_engine *e, ds_error *err);

/* O(1): keys in namespace ns, counting writes not yet flushed; -1 when
 * another connection changed the file since the count was taken (then call
 * ds_engine_recount, which needs SQLite). */
int64_t ds_engine_len(ds_engine *e, uint32_t ns);
ds_status ds_engine_recount(ds_engine *e, uint32_t ns, ds_error *err);

/* Did another connection commit since this engine last caught up? One
 * atomic load of the shared counter (gencounter.h). */
int ds_engine_changed(ds_engine *e);

/* Catch up with other connections' commits: flush our pending writes, drop
 * every cached entry and mark table counts stale. Needs SQLite. A failed
 * flush keeps everything and returns the error. */
ds_status ds_engine_sync(ds_engine *e, ds_error *err);

/* Re-encrypt every value under a key derived from new_password (a fresh
 * salt, DS_KDF_DEFAULTS): a new password for an encrypted database, or the
 * encryption of a plaintext one. new_password NULL decrypts every value and
 * removes the key rows, so the file opens without a password. Pending writes
 * are flushed first; then one SQLite transaction rewrites every row of every
 * namespace and the key rows of dictsqlite_meta, so on any failure (or a
 * crash) the file and the engine are as they were. Afterwards the engine
 * uses the new key. Errors: DS_INVALID (memory mode, an empty password, a
 * plaintext file to decrypt), DS_READONLY, DS_BUSY (another connection held
 * the write lock past the busy timeout), DS_CORRUPT (a value the current key
 * cannot decrypt, named), DS_IO.
 *
 * The caller makes sure no other thread uses the engine during the call:
 * cold reads decrypt with the current key without taking a lock (the
 * background flusher is kept out by flush_lock). Other processes that have
 * the file open keep the old key and fail to read the new values. */
ds_status ds_engine_rekey(ds_engine *e, const char *new_password, size_t len,
                          ds_error *err);

/* Pointers for an inlined version of ds_engine_changed (*gen is NULL in
 * memory mode): changed when *gen != *seen. Valid until close. */
void ds_engine_gen_pointers(ds_engine *e, const _Atomic uint64_t **gen,
                            const _Atomic uint64_t **seen);

/* Iterate namespace ns in key order (memcmp of UTF-8), a page at a time:
 * fn gets each key > after (all if after == NULL), at most limit of them.
 * Pending writes are flushed first in the persistent modes, so the page
 * reflects every acknowledged write. with_values = 0 skips values. Values
 * passed to fn are plaintext (decrypted). */
ds_status ds_engine_scan(ds_engine *e, uint32_t ns, const char *after,
                         size_t after_len, size_t limit, int with_values,
                         ds_store_row_fn fn, void *ctx, size_t *n_out,
                         ds_error *err);

/* When every key of ns is in the hot tier (memory mode, or nothing was ever
 * evicted), a sorted array of new references to its entries: DS_OK, *out
 * malloc'd. Otherwise DS_NEED_IO: iterate with ds_engine_scan instead. */
ds_status ds_engine_snapshot(ds_engine *e, uint32_t ns, ds_entry ***out,
                             size_t *n);

/* Namespaces holding data (committed or pending), in sorted order. */
ds_status ds_engine_list_ns(ds_engine *e,
                            int (*fn)(const char *tbl, size_t tlen, void *ctx),
                            void *ctx, ds_error *err);

/* ---- for the worker pool (pool.h) ----------------------------------------
 *
 * A reader connection: a second SQLite connection to the engine's file, for
 * one thread's cold reads beside the writer (WAL lets readers run while a
 * commit is in progress). Close it with ds_store_close before the engine. */
ds_status ds_engine_open_reader(ds_engine *e, ds_store **out, ds_error *err);

/* ds_engine_get with allow_io = 1, reading SQLite through conn (a reader
 * connection; NULL for the engine's own). */
ds_status ds_engine_get_via(ds_engine *e, ds_store *conn, uint32_t ns, const char *key,
                            size_t klen, uint64_t hash, ds_entry **out, ds_error *err);

/* One write request of a group (ds_engine_write_group). */
typedef enum ds_write_kind {
    DS_WRITE_PUT,    /* items[0..n) (owners must be NULL: the bytes are copied) */
    DS_WRITE_DELETE, /* key; DS_NOTFOUND if absent */
    DS_WRITE_FLUSH,  /* commit everything pending */
} ds_write_kind;

typedef struct ds_write_req {
    ds_write_kind kind;
    uint32_t ns;
    const ds_put_item *items;
    size_t n;
    const char *key;
    size_t klen;
    uint64_t hash;
    ds_status st;   /* the request's own outcome */
    ds_error err;
    void *undo_;    /* engine-private */
} ds_write_req;

/* Group commit: apply every request in order (each one as a whole or not at
 * all), then commit them in one transaction when the persist mode commits
 * writes (writethrough, once buffer_size writes are pending) or a FLUSH
 * request asks for it. If that commit fails, every writethrough request of
 * the group that was still pending is taken back and gets the error, so each
 * request either committed or changed nothing. Lazy puts stay accepted (they
 * are retried by the next flush). Runs without the GIL (it blocks). */
void ds_engine_write_group(ds_engine *e, ds_write_req *const *reqs, size_t n);

void ds_engine_get_stats(ds_engine *e, ds_engine_stats *out);

/* Errors the background flusher met since the last call (0 if none); the
 * message of the latest is copied into err. */
uint64_t ds_engine_take_flusher_errors(ds_engine *e, ds_error *err);
/* The counter behind it, for a cheap check on every call (one relaxed load;
 * nonzero: call ds_engine_take_flusher_errors). Valid until the engine is
 * freed. */
const _Atomic uint64_t *ds_engine_flusher_errors_ptr(ds_engine *e);

#ifdef __cplusplus
}
#endif
#endif
