/* The engine's private parts, shared by the files that implement ds_engine
 * (engine.c, namespaces.c, flusher.c, engine_crypto.c, engine_sync.c,
 * engine_scan.c): the struct itself and the few helpers one file calls in
 * another. Not installed and not under include/: the binding and every other
 * caller see only engine.h, so the struct can change without them. The lock
 * order of everything here is documented in include/dictsqlite/engine.h. */
#ifndef DICTSQLITE_ENGINE_INTERNAL_H
#define DICTSQLITE_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dictsqlite/crypto.h"
#include "dictsqlite/engine.h"
#include "dictsqlite/gencounter.h"
#include "dictsqlite/hotmap.h"
#include "dictsqlite/keyset.h"
#include "dictsqlite/store.h"
#include "dictsqlite/warm.h"
#include "dictsqlite/wbuf.h"

/* Namespaces live in fixed chunks that never move, so a lookup by id needs no
 * lock: ids are only handed out after their slot is written. 256 chunks of
 * 256 give 65,536 namespaces per database. */
#define NS_CHUNK 256
#define NS_CHUNKS 256

typedef struct ds_ns {
    char *name;
    size_t len;
    _Atomic int64_t count;
    /* 1 while every key of the namespace is known to the hot tier or the write
     * buffer, so a miss there is a definite "absent" without asking SQLite.
     * True for a namespace that was empty when first used; cleared for good
     * by the first eviction. */
    atomic_int complete;
    /* Hashes (ds_hash_bytes) of every key, built from SQLite the first time a
     * write needs it after the namespace stopped being complete; guarded by
     * write_lock. Without it, each new key would cost a SQLite lookup. */
    ds_keyset *keys;
    /* 1 after another connection changed the file: count is unknown until
     * ds_engine_recount, and puts skip the existence check that only served
     * the count. */
    atomic_int count_stale;
    /* existence checks answered by SQLite since the last invalidation; the
     * key set is only rebuilt once they add up (see ensure_keyset) */
    uint32_t store_lookups;
} ds_ns;

struct ds_engine {
    ds_persist_mode persist;
    size_t buffer_size;
    unsigned flush_interval_ms;
    ds_store *store; /* NULL in memory mode */
    ds_store_options store_opts; /* for reader connections */
    ds_hotmap *hot;
    ds_warm *warm;   /* NULL in memory mode */
    ds_wbuf *wbuf;   /* NULL in memory mode */
    ds_retire retire;

    pthread_mutex_t flush_lock;
    /* The row array of the last flush, reused by the next (flush_lock):
     * see FLUSH_ROWS_KEEP. */
    ds_store_item *flush_rows;
    size_t flush_rows_cap;
    pthread_mutex_t write_lock;
    pthread_mutex_t ns_lock;
    ds_ns **_Atomic ns_chunks[NS_CHUNKS];
    uint32_t ns_count; /* under ns_lock */

    /* Bumped by every mutation (bump_write_seq, under write_lock); a reader
     * that went to SQLite only caches what it read if no write happened
     * meanwhile (else it could cache a value older than one written and
     * already evicted in between). */
    atomic_uint_fast64_t write_seq;

    /* Commits of every connection to the file (shared memory) and the value
     * this engine has accounted for; they differ once another connection
     * commits. seen is written under flush_lock. */
    ds_crypto *crypto; /* NULL: values are stored in plain text */
    ds_gencounter *gen;
    _Atomic uint64_t seen_gen;
    uint64_t external_changes; /* under flush_lock */

    /* background flusher */
    pthread_t flusher;
    int flusher_started;
    int flusher_stop; /* under flusher_mutex */
    int flusher_kick; /* under flusher_mutex: flush now, not at the interval */
    atomic_uint puts_since_check;
    pthread_mutex_t flusher_mutex;
    pthread_cond_t flusher_cond;
    /* written under flusher_mutex; atomic so the binding can look at it
     * on every call without the mutex (ds_engine_flusher_errors_ptr) */
    _Atomic uint64_t flusher_errors;
    ds_error flusher_error;  /* under flusher_mutex */

    atomic_uint_fast64_t cold_reads, cold_hits, flushes, rows_flushed,
        flush_failures;
    size_t max_pending_bytes;
    int read_only;        /* opened with read_only: every write is refused */
    /* An encrypted file opened without its password: it reads nothing and
     * refuses every write, so no plaintext value can mix with ciphertext. */
    int locked_encrypted;
    /* The codec byte is part of each value's associated data (files
     * encrypted since it was; meta "aad"). */
    int aad_codec;
    int closed;
};

static inline ds_ns *ns_at(ds_engine *e, uint32_t id)
{
    ds_ns **chunk = atomic_load_explicit(&e->ns_chunks[id / NS_CHUNK],
                                         memory_order_acquire);
    return chunk[id % NS_CHUNK];
}

/* With write_lock held, the only writer: a plain store, which on x86 costs
 * no locked instruction, as a read-modify-write would on every put. */
static inline void bump_write_seq(ds_engine *e)
{
    uint64_t s = atomic_load_explicit(&e->write_seq, memory_order_relaxed);
    atomic_store_explicit(&e->write_seq, s + 1, memory_order_release);
}

/* Bytes of plaintext in a sealed value of sealed_len bytes. */
static inline size_t plain_len_of(size_t sealed_len)
{
    return sealed_len >= DS_CRYPTO_OVERHEAD ? sealed_len - DS_CRYPTO_OVERHEAD : 0;
}

/* ---- shared between the engine's files (each defined where named) ------ */

/* These were static functions of one engine.c; hidden keeps them out of the
 * extension's exported symbols, so their short names cannot clash with, or
 * be interposed by, another library's, and calls skip the PLT as before. */
#define DS_ENGINE_PRIVATE __attribute__((visibility("hidden")))

/* engine.c: commit the write buffer; flush_lock held. */
DS_ENGINE_PRIVATE ds_status flush_locked(ds_engine *e, int have_write_lock, ds_error *err);

/* namespaces.c: the key sets of namespaces that are no longer complete. */
DS_ENGINE_PRIVATE void ensure_keyset(ds_engine *e, uint32_t ns);
DS_ENGINE_PRIVATE void keyset_from_hot(ds_engine *e, uint32_t ns, ds_entry **evicted,
                                       size_t nev);

/* flusher.c: the background flusher thread. */
DS_ENGINE_PRIVATE ds_status start_flusher(ds_engine *e);
DS_ENGINE_PRIVATE void stop_flusher(ds_engine *e);
DS_ENGINE_PRIVATE void maybe_kick_flusher(ds_engine *e, size_t puts);

/* Meta rows of an encrypted database (engine_crypto.c writes them at open,
 * engine_rekey.c replaces or removes them): the Argon2id salt and
 * parameters, and a key check so a wrong password fails at open rather than
 * at the first read. */
#define META_KDF "kdf"
#define META_KDF_FORMAT "argon2id:t=%u,m=%u,p=%u"
#define META_SALT "kdf_salt"
#define META_CHECK "key_check"
/* What each value's associated data binds. Files encrypted before the codec
 * was bound have no such row and keep table + key. */
#define META_AAD "aad"
#define AAD_WITH_CODEC "tbl,key,codec"

/* engine_crypto.c: the encryption state set up at open, and value decryption. */
DS_ENGINE_PRIVATE ds_status check_encryption_state(ds_engine *e, const ds_engine_config *cfg,
                                                   ds_error *err);
DS_ENGINE_PRIVATE ds_status setup_crypto(ds_engine *e, const ds_engine_config *cfg,
                                         ds_error *err);
DS_ENGINE_PRIVATE ds_status locked_error(ds_engine *e, ds_error *err);
DS_ENGINE_PRIVATE ds_status open_value(ds_engine *e, const ds_ns *n, const char *key,
                                       size_t klen, uint8_t codec, const void *sealed,
                                       size_t vlen, unsigned char *plain, ds_error *err);
/* The codec argument of ds_crypto_seal/open for a value stored with codec. */
static inline int aad_codec_of(const ds_engine *e, uint8_t codec)
{
    return e->aad_codec ? (int)(uint8_t)(codec & ~DS_CODEC_FLAG_ENCRYPTED)
                        : DS_CRYPTO_NO_CODEC;
}
/* A plaintext row in an encrypted file was not written by us: whoever can
 * write the file could otherwise plant any value, a pickle included. */
DS_ENGINE_PRIVATE ds_status unencrypted_row_error(const ds_ns *n, const char *key,
                                                  size_t klen, ds_error *err);

/* engine_sync.c: account for a commit of our own (flush_lock held). */
DS_ENGINE_PRIVATE void note_own_commit(ds_engine *e);

#endif
