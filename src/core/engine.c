/* ds_engine: open and close, the tiers (reads, writes, the write path that
 * takes a failed call back, group commit) and the flush that commits the
 * write buffer. These share the write path's invariants and its locks, so
 * they stay together; the namespace registry, the flusher thread, the
 * encryption setup, cross-instance sync and iteration each have a file of
 * their own (see engine_internal.h). The lock order is documented in
 * include/dictsqlite/engine.h; every function here follows it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_internal.h"

/* Evictions one put can cause: one per insert in steady state, more right
 * after a burst of promotions; the hot map keeps the rest and sheds them on
 * later puts. */
#define MAX_EVICT 32

/* ---- open / close ------------------------------------------------------ */

static size_t default_shards(void)
{
    /* A few shards per core keep contention low with the async worker pool;
     * more would only cost memory for the per-shard tables. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = 1;
    while (n < (size_t)(cpus > 0 ? cpus : 1) * 4)
        n <<= 1;
    return n < 8 ? 8 : n;
}

static void free_tiers(ds_engine *e)
{
    if (e->hot)
        ds_hotmap_free(e->hot);
    if (e->warm)
        ds_warm_free(e->warm);
    if (e->wbuf)
        ds_wbuf_free(e->wbuf);
    e->hot = NULL;
    e->warm = NULL;
    e->wbuf = NULL;
    for (size_t c = 0; c < NS_CHUNKS; c++) {
        ds_ns **chunk = atomic_load(&e->ns_chunks[c]);
        if (!chunk)
            continue;
        for (size_t i = 0; i < NS_CHUNK; i++) {
            if (chunk[i]) {
                ds_keyset_free(chunk[i]->keys);
                free(chunk[i]->name);
                free(chunk[i]);
            }
        }
        free(chunk);
        atomic_store(&e->ns_chunks[c], NULL);
    }
}

ds_status ds_engine_open(const ds_engine_config *cfg, ds_engine **out, ds_error *err)
{
    *out = NULL;
    ds_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return ds_error_set(err, DS_NOMEM, "out of memory opening the database");
    e->persist = cfg->persist;
    e->buffer_size = cfg->buffer_size ? cfg->buffer_size : 1;
    e->flush_interval_ms = cfg->flush_interval_ms ? cfg->flush_interval_ms : 1000;
    e->max_pending_bytes = cfg->max_pending_bytes ? cfg->max_pending_bytes
                                                  : DS_ENGINE_DEFAULT_PENDING_BYTES;
    e->read_only = cfg->persist != DS_PERSIST_MEMORY && cfg->store.read_only;
    pthread_mutex_init(&e->flush_lock, NULL);
    pthread_mutex_init(&e->write_lock, NULL);
    pthread_mutex_init(&e->ns_lock, NULL);
    pthread_mutex_init(&e->flusher_mutex, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->flusher_cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->write_seq, 0);
    if (ds_retire_init(&e->retire) != 0) {
        free(e);
        return ds_error_set(err, DS_NOMEM, "out of memory opening the database");
    }

    ds_status st = DS_OK;
    int memory = cfg->persist == DS_PERSIST_MEMORY;
    size_t nshards = cfg->nshards ? cfg->nshards : default_shards();
    /* With eviction on, more shards than hot_capacity would make most puts
     * evict from another shard than their own. */
    while (!memory && nshards > 1 && nshards > cfg->hot_capacity)
        nshards >>= 1;
    e->hot = ds_hotmap_new(nshards, cfg->hot_capacity, !memory, &e->retire);
    if (!memory) {
        e->warm = ds_warm_new(cfg->warm_bytes, &e->retire);
        e->wbuf = ds_wbuf_new(&e->retire);
    }
    if (!e->hot || (!memory && (!e->warm || !e->wbuf))) {
        st = ds_error_set(err, DS_NOMEM, "out of memory opening the database");
        goto fail;
    }
    if (!memory) {
        e->store_opts = cfg->store;
        st = ds_store_open(cfg->path, &cfg->store, &e->store, err);
        if (st != DS_OK)
            goto fail;
        /* read_only: map an existing counter read-only, never create one */
        st = cfg->store.read_only ? ds_gencounter_open_readonly(cfg->path, &e->gen, err)
                                  : ds_gencounter_open(cfg->path, &e->gen, err);
        if (st != DS_OK)
            goto fail;
        atomic_init(&e->seen_gen, ds_gencounter_load(e->gen));
        st = check_encryption_state(e, cfg, err);
        if (st == DS_OK && cfg->password)
            st = setup_crypto(e, cfg, err);
        if (st != DS_OK)
            goto fail;
        if (cfg->enable_flusher && !e->read_only && start_flusher(e) != DS_OK) {
            st = ds_error_set(err, DS_NOMEM, "cannot start the flusher thread");
            goto fail;
        }
    }
    *out = e;
    return DS_OK;

fail:
    ds_crypto_free(e->crypto);
    ds_gencounter_close(e->gen);
    ds_store_close(e->store);
    e->store = NULL;
    free_tiers(e);
    ds_retire_destroy(&e->retire);
    free(e);
    return st;
}

ds_status ds_engine_close(ds_engine *e, int force, ds_error *err)
{
    if (e->closed)
        return DS_OK;
    int had_flusher = e->flusher_started;
    stop_flusher(e);
    ds_status st = DS_OK;
    if (e->store) {
        st = ds_engine_flush(e, err);
        if (st != DS_OK && !force) {
            if (had_flusher)
                start_flusher(e);
            return st;
        }
        ds_store_close(e->store);
        e->store = NULL;
        ds_gencounter_close(e->gen);
        e->gen = NULL;
        ds_crypto_free(e->crypto);
        e->crypto = NULL;
    }
    free_tiers(e);
    e->closed = 1;
    return st;
}

void ds_engine_free(ds_engine *e)
{
    if (!e)
        return;
    if (!e->closed) {
        ds_error ignored;
        ds_engine_close(e, 1, &ignored);
    }
    void **items;
    size_t n = ds_retire_take(&e->retire, &items);
    (void)n; /* the binding drains before freeing; anything left is dropped */
    free(items);
    ds_retire_destroy(&e->retire);
    free(e->flush_rows);
    pthread_mutex_destroy(&e->flush_lock);
    pthread_mutex_destroy(&e->write_lock);
    pthread_mutex_destroy(&e->ns_lock);
    pthread_mutex_destroy(&e->flusher_mutex);
    pthread_cond_destroy(&e->flusher_cond);
    free(e);
}

void ds_engine_abandon(ds_engine *e)
{
    /* After fork() the SQLite connection, the flusher thread and every lock
     * belong to the parent; touching them here could corrupt the file or
     * deadlock. Leaking the memory is the safe choice. */
    (void)e;
}

int ds_engine_is_closed(const ds_engine *e) { return e->closed; }
ds_persist_mode ds_engine_persist_mode(const ds_engine *e) { return e->persist; }
ds_retire *ds_engine_retire(ds_engine *e) { return &e->retire; }

/* ---- tier helpers (write_lock held unless said otherwise) -------------- */

/* Clean evicted entries go to the warm tier; dirty ones are still referenced
 * by the write buffer, which serves them until they are committed. */
static void settle_evicted(ds_engine *e, ds_entry **evicted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ds_entry *x = evicted[i];
        if (atomic_exchange(&ns_at(e, x->ns)->complete, 0))
            keyset_from_hot(e, x->ns, evicted, n);
        if (e->warm && !ds_wbuf_holds(e->wbuf, x))
            ds_warm_put(e->warm, x);
        else
            ds_entry_decref(x, &e->retire);
    }
}

/* Put x into the hot map (taking a reference of the caller's). On OOM the
 * key's old hot entry is removed instead, so the hot tier never shadows a
 * newer value held by the write buffer. */
static void hot_insert(ds_engine *e, ds_entry *x, int *replaced)
{
    ds_entry *evicted[MAX_EVICT];
    size_t nev = 0;
    if (ds_hotmap_put(e->hot, x, replaced, evicted, MAX_EVICT, &nev) != DS_OK) {
        /* The reference is still ours, and so is x's key for the removal. */
        ds_entry *old = ds_hotmap_remove(e->hot, x->ns, ds_entry_key(x), x->klen, x->hash);
        if (old)
            ds_entry_decref(old, &e->retire);
        if (replaced)
            *replaced = old != NULL;
        ds_entry_decref(x, &e->retire);
    }
    settle_evicted(e, evicted, nev);
}

/* Cache an entry read below the hot tier, unless a write happened since the
 * read began (seq) or a writer holds the lock (caching is optional; a
 * reader never waits for it). */
static void promote(ds_engine *e, ds_entry *x, uint64_t seq)
{
    if (pthread_mutex_trylock(&e->write_lock) != 0)
        return;
    if (atomic_load(&e->write_seq) == seq && !ds_engine_changed(e))
        hot_insert(e, ds_entry_incref(x), NULL);
    pthread_mutex_unlock(&e->write_lock);
}

static int lock_writes(ds_engine *e, int allow_io)
{
    if (allow_io) {
        pthread_mutex_lock(&e->write_lock);
        return 1;
    }
    return pthread_mutex_trylock(&e->write_lock) == 0;
}

/* Does the key have a value? Sets *exists. DS_NEED_IO if only SQLite knows
 * and allow_io is 0. */
static ds_status exists_locked(ds_engine *e, uint32_t ns, const char *key,
                               size_t klen, uint64_t hash, int allow_io,
                               int *exists, ds_error *err)
{
    if (ds_hotmap_contains(e->hot, ns, key, klen, hash)) {
        *exists = 1;
        return DS_OK;
    }
    if (!e->store) {
        *exists = 0;
        return DS_OK;
    }
    ds_entry *b = ds_wbuf_get(e->wbuf, ns, key, klen, hash);
    if (b) {
        *exists = !(b->flags & DS_ENTRY_TOMBSTONE);
        ds_entry_decref(b, &e->retire);
        return DS_OK;
    }
    if (ds_warm_contains(e->warm, ns, key, klen, hash)) {
        *exists = 1;
        return DS_OK;
    }
    ds_ns *n = ns_at(e, ns);
    if (atomic_load(&n->complete) ||
        (n->keys && !ds_keyset_maybe(n->keys, ds_hash_bytes(key, klen)))) {
        *exists = 0;
        return DS_OK;
    }
    if (!allow_io)
        return DS_NEED_IO;
    n->store_lookups++;
    ds_status st = ds_store_exists(e->store, n->name, n->len, key, klen, err);
    if (st == DS_OK || st == DS_NOTFOUND) {
        *exists = st == DS_OK;
        return DS_OK;
    }
    return st;
}

static int flush_is_due(ds_engine *e)
{
    return e->persist == DS_PERSIST_WRITETHROUGH &&
           ds_wbuf_pending(e->wbuf) >= e->buffer_size;
}

/* Where a cold read puts the value: straight into a new entry, except
 * ciphertext, which goes to a scratch buffer and is decrypted into the
 * entry afterwards. */
typedef struct cold_read {
    const ds_engine *e;
    uint32_t ns;
    const char *key;
    size_t klen;
    uint64_t hash;
    ds_entry *x;
    void *sealed;
} cold_read;

static void *cold_read_alloc(uint8_t codec, size_t vlen, void *ctx)
{
    cold_read *r = ctx;
    if ((codec & DS_CODEC_FLAG_ENCRYPTED) && r->e->crypto)
        return r->sealed = malloc(vlen ? vlen : 1);
    r->x = ds_entry_new_unfilled(r->ns, r->key, r->klen, r->hash, codec, vlen);
    return r->x ? ds_entry_value_mut(r->x) : NULL;
}

/* The entry for an encrypted value read from SQLite, holding its
 * plaintext. Without a password the value stays sealed (cold_read_alloc
 * kept it) and the binding reports it. */
static ds_status unseal(ds_engine *e, const ds_ns *n, cold_read *r, uint8_t codec,
                        size_t vlen, ds_error *err)
{
    r->x = ds_entry_new_unfilled(r->ns, r->key, r->klen, r->hash,
                                 (uint8_t)(codec & ~DS_CODEC_FLAG_ENCRYPTED),
                                 plain_len_of(vlen));
    if (!r->x)
        return ds_error_set(err, DS_NOMEM, "out of memory decrypting a value");
    return open_value(e, n, r->key, r->klen, codec, r->sealed, vlen,
                      ds_entry_value_mut(r->x), err);
}

/* ---- reads ------------------------------------------------------------- */

int ds_engine_peek_hot(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash, void **aux, ds_entry **ref)
{
    return ds_hotmap_peek_aux(e->hot, ns, key, klen, hash, aux, ref);
}

/* ds_engine_get, reading SQLite through conn. */
static ds_status get_from(ds_engine *e, ds_store *conn, uint32_t ns, const char *key,
                          size_t klen, uint64_t hash, int allow_io, ds_entry **out,
                          ds_error *err)
{
    ds_entry *x = ds_hotmap_get(e->hot, ns, key, klen, hash);
    if (x) {
        *out = x;
        return DS_OK;
    }
    if (!e->store)
        return DS_NOTFOUND;
    uint64_t seq = atomic_load(&e->write_seq);
    x = ds_wbuf_get(e->wbuf, ns, key, klen, hash);
    if (x) {
        if (x->flags & DS_ENTRY_TOMBSTONE) {
            ds_entry_decref(x, &e->retire);
            return DS_NOTFOUND;
        }
        promote(e, x, seq);
        *out = x;
        return DS_OK;
    }
    x = ds_warm_take(e->warm, ns, key, klen, hash);
    if (x) {
        promote(e, x, seq);
        *out = x;
        return DS_OK;
    }
    if (DS_UNLIKELY(e->locked_encrypted))
        return locked_error(e, err);
    ds_ns *n = ns_at(e, ns);
    if (atomic_load(&n->complete))
        return DS_NOTFOUND;
    if (!allow_io)
        return DS_NEED_IO;

    uint8_t codec;
    size_t vlen;
    cold_read r = {e, ns, key, klen, hash, NULL, NULL};
    atomic_fetch_add_explicit(&e->cold_reads, 1, memory_order_relaxed);
    ds_status st = ds_store_get_into(conn, n->name, n->len, key, klen, &codec,
                                     cold_read_alloc, &r, &vlen, err);
    if (st == DS_OK && r.sealed)
        st = unseal(e, n, &r, codec, vlen, err);
    else if (st == DS_OK && e->crypto)
        st = unencrypted_row_error(n, key, klen, err);
    free(r.sealed);
    if (st != DS_OK) {
        if (r.x)
            ds_entry_decref(r.x, &e->retire);
        return st;
    }
    atomic_fetch_add_explicit(&e->cold_hits, 1, memory_order_relaxed);
    x = r.x;
    promote(e, x, seq);
    *out = x;
    return DS_OK;
}

ds_status ds_engine_get(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash, int allow_io, ds_entry **out, ds_error *err)
{
    return get_from(e, e->store, ns, key, klen, hash, allow_io, out, err);
}

/* A reader connection sees every commit made before its statement starts,
 * and the write buffer is looked at first: a row leaves the buffer only
 * after its commit, so the read cannot miss a write that was acknowledged. */
ds_status ds_engine_get_via(ds_engine *e, ds_store *conn, uint32_t ns, const char *key,
                            size_t klen, uint64_t hash, ds_entry **out, ds_error *err)
{
    return get_from(e, conn ? conn : e->store, ns, key, klen, hash, 1, out, err);
}

ds_status ds_engine_open_reader(ds_engine *e, ds_store **out, ds_error *err)
{
    *out = NULL;
    if (!e->store)
        return ds_error_set(err, DS_INVALID, "a memory-mode database has no file to read");
    return ds_store_open(ds_store_file_name(e->store), &e->store_opts, out, err);
}

void ds_engine_share_value(ds_engine *e, ds_entry *old, ds_entry *x2)
{
    int used = 0;
    /* write_lock keeps writers of the key out while we look; a pending entry
     * stays as it is, since the engine relies on the hot entry of a buffered
     * key being the buffer's own (settle_evicted). */
    if (pthread_mutex_trylock(&e->write_lock) == 0) {
        if (!e->wbuf || !ds_wbuf_holds(e->wbuf, old))
            used = ds_hotmap_replace_exact(e->hot, old, x2);
        pthread_mutex_unlock(&e->write_lock);
    }
    if (!used)
        ds_entry_decref(x2, &e->retire);
}

ds_status ds_engine_contains(ds_engine *e, uint32_t ns, const char *key,
                             size_t klen, uint64_t hash, int allow_io, ds_error *err)
{
    if (ds_hotmap_contains(e->hot, ns, key, klen, hash))
        return DS_OK;
    if (!e->store)
        return DS_NOTFOUND;
    ds_entry *x = NULL;
    ds_status st = ds_engine_get(e, ns, key, klen, hash, allow_io, &x, err);
    if (x)
        ds_entry_decref(x, &e->retire);
    return st;
}

/* ---- writes ------------------------------------------------------------ */

void ds_engine_prefetch(ds_engine *e, uint64_t hash)
{
    ds_hotmap_prefetch(e->hot, hash);
    if (e->wbuf)
        ds_wbuf_prefetch(e->wbuf, hash);
}

/* Hand the owner references of items the engine did not store to the
 * retire list (see ds_put_item). */
static void release_owners(ds_engine *e, const ds_put_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (items[i].owner)
            ds_retire_push(&e->retire, items[i].owner);
}

/* ---- the write path: a call that fails changes nothing -----------------
 *
 * A put or delete runs in three steps:
 *   1. check  (write_lock held) everything that can fail: the refusals, the
 *             existence checks (which may need SQLite), the new entries and
 *             the buffer room. Nothing has changed yet, so a failure here
 *             just returns.
 *   2. apply  the entries to the buffer and the hot tier. Nothing here can
 *             fail.
 *   3. commit (writethrough, once buffer_size writes are pending) under
 *             flush_lock. If the commit fails, the call takes back exactly
 *             its own writes (undo_writes) before it returns the error, so a
 *             write that raised is neither visible nor committed later.
 * Flushes begin under write_lock (flush_locked), so a batch always holds
 * the whole of a call's writes or none of them. */

/* One write of a call in flight, kept until its commit so it can be taken
 * back: the entry it buffered and the buffered entry it replaced (NULL if
 * none), both referenced. */
typedef struct undo_rec {
    ds_entry *mine;
    ds_entry *prev;
} undo_rec;

static void undo_recs_release(ds_engine *e, undo_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i].mine)
            ds_entry_decref(recs[i].mine, &e->retire);
        if (recs[i].prev)
            ds_entry_decref(recs[i].prev, &e->retire);
    }
}

/* Take back the writes of a call whose commit failed; flush_lock and
 * write_lock held, so no batch is in flight and the buffer is stable.
 * Returns how many were still pending (and are now gone). One that is no
 * longer pending was either committed by an earlier flush of another call,
 * or replaced by a newer write: in both cases it is not this call's to undo.
 * The namespace loses its complete and counted state, since the key's older
 * value may now only be in SQLite. */
static size_t undo_writes(ds_engine *e, uint32_t ns, undo_rec *recs, size_t n)
{
    size_t undone = 0;
    for (size_t i = 0; i < n; i++) {
        ds_entry *mine = recs[i].mine;
        if (!mine || !ds_wbuf_undo(e->wbuf, mine, recs[i].prev))
            continue;
        undone++;
        /* An undone delete needs nothing here: its key's value is found
         * again in the buffer (prev) or in SQLite. */
        if (!(mine->flags & DS_ENTRY_TOMBSTONE))
            ds_hotmap_remove_exact(e->hot, mine);
    }
    if (undone) {
        ds_ns *nsp = ns_at(e, ns);
        atomic_store(&nsp->complete, 0);
        atomic_store(&nsp->count_stale, 1);
        bump_write_seq(e);
    }
    return undone;
}

/* Refusals that hold for every write, checked before anything changes. */
static ds_status refuse_writes(ds_engine *e, ds_error *err)
{
    if (DS_UNLIKELY(e->read_only))
        return ds_error_set(err, DS_READONLY, "%s was opened with read_only=True; "
                            "writes are refused", ds_store_path(e->store));
    if (DS_UNLIKELY(e->locked_encrypted))
        return locked_error(e, err);
    return DS_OK;
}

/* Can a value of vlen bytes ever be stored? Refused up front, not at the
 * commit: a row SQLite rejects would fail every later flush too. */
static ds_status check_value_len(ds_engine *e, const char *key, size_t klen,
                                 size_t vlen, ds_error *err)
{
    if (!e->store)
        return DS_OK;
    size_t stored = e->crypto ? ds_crypto_sealed_len(vlen) : vlen;
    size_t max = ds_store_max_value_len(e->store);
    if (DS_LIKELY(stored <= max && stored >= vlen))
        return DS_OK;
    return ds_error_set(err, DS_INVALID, "the value for key '%.*s' is %zu bytes; "
                        "SQLite stores at most %zu bytes per value",
                        (int)(klen > 200 ? 200 : klen), key, vlen, max);
}

/* Lazy mode bounds the buffer by memory too: a writer that would take it
 * past max_pending_bytes commits what is pending first (before its own
 * writes, so a failure leaves them out). DS_NEED_IO when that is due and
 * allow_io is 0. */
static ds_status make_room(ds_engine *e, size_t incoming, int allow_io, ds_error *err)
{
    if (!e->wbuf || incoming > e->max_pending_bytes)
        incoming = e->wbuf ? e->max_pending_bytes : 0;
    if (!e->wbuf || ds_wbuf_pending_bytes(e->wbuf) + incoming <= e->max_pending_bytes ||
        ds_wbuf_pending(e->wbuf) == 0)
        return DS_OK;
    if (!allow_io)
        return DS_NEED_IO;
    return ds_engine_flush(e, err);
}

/* Step 1 for one put (write_lock held): its existence (when the count
 * needs it) and its entry. Consumes it->owner on failure. */
static ds_status prepare_put(ds_engine *e, uint32_t ns, const ds_put_item *it,
                             int allow_io, int *exists, ds_entry **out, ds_error *err)
{
    ds_ns *n = ns_at(e, ns);
    *exists = -1; /* unknown: answered by the hot map in a complete namespace */
    if (!atomic_load(&n->complete) && !atomic_load(&n->count_stale)) {
        ds_status st = exists_locked(e, ns, it->key, it->klen, it->hash, allow_io,
                                     exists, err);
        if (st != DS_OK) {
            release_owners(e, it, 1);
            return st;
        }
    }
    *out = it->owner
        ? ds_entry_new_external(ns, it->key, it->klen, it->hash, it->codec, it->value,
                                it->vlen, it->owner, &e->retire)
        : ds_entry_new(ns, it->key, it->klen, it->hash, it->codec, it->value,
                       it->vlen, 0);
    if (!*out)
        return ds_error_set(err, DS_NOMEM, "out of memory storing a value of %zu bytes",
                            it->vlen);
    return DS_OK;
}

/* Step 2 for one put (write_lock held; the buffer has room): cannot fail.
 * Takes the reference to x. exists is prepare_put's answer. */
static int apply_put(ds_engine *e, uint32_t ns, ds_entry *x, int exists, undo_rec *u)
{
    ds_ns *n = ns_at(e, ns);
    int stale = atomic_load(&n->count_stale);
    if (e->wbuf) {
        if (u) {
            u->prev = ds_wbuf_get(e->wbuf, ns, ds_entry_key(x), x->klen, x->hash);
            u->mine = ds_entry_incref(x);
        }
        /* ds_wbuf_reserve made the room, so this cannot fail */
        (void)ds_wbuf_put(e->wbuf, ds_entry_incref(x));
        ds_warm_remove(e->warm, ns, ds_entry_key(x), x->klen, x->hash);
    }
    int replaced = 0;
    /* An eviction in hot_insert may build the key set, with this key in it. */
    ds_keyset *keys_before = n->keys;
    uint64_t khash = n->keys || exists < 0 ? ds_hash_bytes(ds_entry_key(x), x->klen) : 0;
    hot_insert(e, x, &replaced);
    if (exists < 0)
        exists = replaced;
    if (!exists && !stale) {
        atomic_fetch_add_explicit(&n->count, 1, memory_order_relaxed);
        if (keys_before && ds_keyset_add(n->keys, khash) < 0) {
            /* Without the hash the set could answer "absent" wrongly; drop it
             * and fall back to asking SQLite. */
            ds_keyset_free(n->keys);
            n->keys = NULL;
        }
    }
    bump_write_seq(e);
    return exists;
}

/* Step 3 (no lock held): commit a writethrough call's writes, or take them
 * back if that fails. With fewer than buffer_size writes pending there is
 * nothing to commit yet: they were accepted into the buffer. */
static ds_status commit_or_undo(ds_engine *e, uint32_t ns, undo_rec *recs, size_t n,
                                ds_error *err)
{
    if (!flush_is_due(e))
        return DS_OK;
    pthread_mutex_lock(&e->flush_lock);
    ds_status st = flush_locked(e, 0, err);
    if (st != DS_OK) {
        pthread_mutex_lock(&e->write_lock);
        /* none of ours pending: committed by another call's flush already */
        if (undo_writes(e, ns, recs, n) == 0)
            st = DS_OK;
        pthread_mutex_unlock(&e->write_lock);
    }
    pthread_mutex_unlock(&e->flush_lock);
    return st;
}

/* Writethrough commits inside the call, which needs SQLite: with allow_io
 * 0 the caller is told to come back without the GIL. */
static int must_commit(const ds_engine *e)
{
    return e->persist == DS_PERSIST_WRITETHROUGH;
}

static ds_status put_items(ds_engine *e, uint32_t ns, const ds_put_item *items,
                           size_t n, int allow_io, size_t *done, int *existed_first,
                           ds_error *err);

ds_status ds_engine_put(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash, uint8_t codec, const void *value,
                        size_t vlen, int allow_io, int *existed, int *flush_due,
                        ds_error *err)
{
    ds_put_item it = {key, klen, hash, codec, value, vlen, NULL};
    size_t done = 0;
    int ex = 0;
    ds_status st = put_items(e, ns, &it, 1, allow_io, &done, &ex, err);
    if (existed)
        *existed = ex;
    if (flush_due)
        *flush_due = 0;
    return st;
}

/* Steps 1 and 2 of a put call: on DS_OK every item is applied, and recs
 * (n records, or NULL when nothing will be taken back) describes them. */
static ds_status apply_puts(ds_engine *e, uint32_t ns, const ds_put_item *items,
                            size_t n, int allow_io, undo_rec *recs, int *existed_first,
                            ds_error *err)
{
    ds_status st = refuse_writes(e, err);
    size_t incoming = 0;
    for (size_t i = 0; i < n && st == DS_OK; i++) {
        st = check_value_len(e, items[i].key, items[i].klen, items[i].vlen, err);
        incoming += items[i].vlen;
    }
    if (st == DS_OK && !allow_io && must_commit(e))
        st = DS_NEED_IO;
    if (st == DS_OK)
        st = make_room(e, incoming, allow_io, err);
    if (st != DS_OK) {
        release_owners(e, items, n);
        return st;
    }
    if (allow_io)
        ensure_keyset(e, ns);

    /* step 1 */
    ds_entry *one_x;
    int one_exists;
    ds_entry **xs = n == 1 ? &one_x : malloc(n * sizeof(*xs));
    int *exists = n == 1 ? &one_exists : malloc(n * sizeof(*exists));
    if (!xs || !exists) {
        if (n != 1) {
            free(xs);
            free(exists);
        }
        release_owners(e, items, n);
        return ds_error_set(err, DS_NOMEM, "out of memory storing %zu values", n);
    }
    if (!lock_writes(e, allow_io)) {
        st = DS_NEED_IO;
        release_owners(e, items, n);
        goto out;
    }
    size_t made = 0;
    for (; made < n; made++) {
        st = prepare_put(e, ns, &items[made], allow_io, &exists[made], &xs[made], err);
        if (st != DS_OK)
            break;
    }
    if (st == DS_OK && e->wbuf && ds_wbuf_reserve(e->wbuf, n) != DS_OK)
        st = ds_error_set(err, DS_NOMEM, "out of memory buffering %zu writes", n);
    if (st != DS_OK) {
        pthread_mutex_unlock(&e->write_lock);
        for (size_t i = 0; i < made; i++)
            ds_entry_decref(xs[i], &e->retire);
        if (made < n) /* prepare_put consumed items[made]'s owner */
            release_owners(e, items + made + 1, n - made - 1);
        goto out;
    }
    /* step 2 */
    for (size_t i = 0; i < n; i++) {
        int ex = apply_put(e, ns, xs[i], exists[i], recs ? &recs[i] : NULL);
        if (i == 0 && existed_first)
            *existed_first = ex;
    }
    pthread_mutex_unlock(&e->write_lock);
out:
    if (n != 1) {
        free(xs);
        free(exists);
    }
    return st;
}

/* Undo records for a call of n writes: one inline, more on the heap; NULL
 * when the mode never takes writes back (*ok = 0 when out of memory). */
static undo_rec *undo_recs_new(ds_engine *e, size_t n, undo_rec *one, int *ok)
{
    *ok = 1;
    if (!must_commit(e) || !e->wbuf)
        return NULL;
    if (n <= 1) {
        *one = (undo_rec){NULL, NULL};
        return one;
    }
    undo_rec *recs = calloc(n, sizeof(*recs));
    *ok = recs != NULL;
    return recs;
}

static void undo_recs_free(ds_engine *e, undo_rec *recs, size_t n, const undo_rec *one)
{
    if (!recs)
        return;
    undo_recs_release(e, recs, n ? n : 1);
    if (recs != one)
        free(recs);
}

/* The body of put and put_many. *existed_first: whether items[0]'s key had
 * a value. */
static ds_status put_items(ds_engine *e, uint32_t ns, const ds_put_item *items,
                           size_t n, int allow_io, size_t *done, int *existed_first,
                           ds_error *err)
{
    *done = 0;
    undo_rec one;
    int ok;
    undo_rec *recs = undo_recs_new(e, n, &one, &ok);
    if (!ok) {
        release_owners(e, items, n);
        return ds_error_set(err, DS_NOMEM, "out of memory storing %zu values", n);
    }
    ds_status st = apply_puts(e, ns, items, n, allow_io, recs, existed_first, err);
    /* step 3 */
    if (st == DS_OK && recs)
        st = commit_or_undo(e, ns, recs, n, err);
    else if (st == DS_OK)
        maybe_kick_flusher(e, n);
    if (st == DS_OK)
        *done = n;
    undo_recs_free(e, recs, n, &one);
    return st;
}

ds_status ds_engine_put_many(ds_engine *e, uint32_t ns, const ds_put_item *items,
                             size_t n, int allow_io, size_t *done, int *flush_due,
                             ds_error *err)
{
    if (flush_due)
        *flush_due = 0;
    if (n == 0) {
        *done = 0;
        return refuse_writes(e, err);
    }
    return put_items(e, ns, items, n, allow_io, done, NULL, err);
}

/* Steps 1 and 2 of a delete; rec (NULL when nothing will be taken back)
 * describes it on DS_OK. */
static ds_status apply_delete(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                              uint64_t hash, int allow_io, undo_rec *rec, ds_error *err)
{
    ds_status st = refuse_writes(e, err);
    if (st == DS_OK && !allow_io && must_commit(e))
        st = DS_NEED_IO;
    if (st != DS_OK)
        return st;
    if (allow_io)
        ensure_keyset(e, ns);
    if (!lock_writes(e, allow_io))
        return DS_NEED_IO;
    int exists = 0;
    ds_entry *tomb = NULL;
    st = exists_locked(e, ns, key, klen, hash, allow_io, &exists, err);
    if (st == DS_OK && !exists)
        st = DS_NOTFOUND;
    if (st == DS_OK && e->wbuf) {
        tomb = ds_entry_new(ns, key, klen, hash, 0, NULL, 0, DS_ENTRY_TOMBSTONE);
        if (!tomb)
            st = ds_error_set(err, DS_NOMEM, "out of memory deleting a key");
        else if (ds_wbuf_reserve(e->wbuf, 1) != DS_OK)
            st = ds_error_set(err, DS_NOMEM, "out of memory buffering a delete");
    }
    if (st == DS_OK) {
        if (tomb) {
            if (rec) {
                rec->prev = ds_wbuf_get(e->wbuf, ns, key, klen, hash);
                rec->mine = ds_entry_incref(tomb);
            }
            (void)ds_wbuf_put(e->wbuf, tomb); /* room reserved above */
            tomb = NULL;
            ds_warm_remove(e->warm, ns, key, klen, hash);
        }
        ds_entry *old = ds_hotmap_remove(e->hot, ns, key, klen, hash);
        if (old)
            ds_entry_decref(old, &e->retire);
        ds_ns *n = ns_at(e, ns);
        if (!atomic_load(&n->count_stale))
            atomic_fetch_sub_explicit(&n->count, 1, memory_order_relaxed);
        if (n->keys)
            ds_keyset_remove(n->keys, ds_hash_bytes(key, klen));
        bump_write_seq(e);
    }
    pthread_mutex_unlock(&e->write_lock);
    if (tomb)
        ds_entry_decref(tomb, &e->retire);
    return st;
}

ds_status ds_engine_delete(ds_engine *e, uint32_t ns, const char *key, size_t klen,
                           uint64_t hash, int allow_io, int *flush_due,
                           ds_error *err)
{
    if (flush_due)
        *flush_due = 0;
    undo_rec one;
    int ok;
    undo_rec *rec = undo_recs_new(e, 1, &one, &ok);
    ds_status st = apply_delete(e, ns, key, klen, hash, allow_io, rec, err);
    if (st == DS_OK && rec)
        st = commit_or_undo(e, ns, rec, 1, err);
    else if (st == DS_OK)
        maybe_kick_flusher(e, 1);
    undo_recs_free(e, rec, 1, &one);
    return st;
}

/* ---- group commit (the worker pool's writer) --------------------------- */

typedef struct group_undo {
    undo_rec one;
    undo_rec *recs;
    size_t n;
    int applied;
} group_undo;

static void group_apply(ds_engine *e, ds_write_req *r, int *want_flush)
{
    group_undo *u = r->undo_;
    int ok = 1;
    ds_error_clear(&r->err);
    switch (r->kind) {
    case DS_WRITE_FLUSH:
        *want_flush = 1;
        r->st = DS_OK;
        return;
    case DS_WRITE_PUT:
        u->n = r->n;
        u->recs = undo_recs_new(e, r->n, &u->one, &ok);
        if (!ok)
            r->st = ds_error_set(&r->err, DS_NOMEM, "out of memory storing %zu values", r->n);
        else if (r->n == 0)
            r->st = refuse_writes(e, &r->err);
        else
            r->st = apply_puts(e, r->ns, r->items, r->n, 1, u->recs, NULL, &r->err);
        break;
    case DS_WRITE_DELETE:
        u->n = 1;
        u->recs = undo_recs_new(e, 1, &u->one, &ok);
        r->st = apply_delete(e, r->ns, r->key, r->klen, r->hash, 1, u->recs, &r->err);
        break;
    }
    u->applied = r->st == DS_OK && r->kind != DS_WRITE_FLUSH;
}

void ds_engine_write_group(ds_engine *e, ds_write_req *const *reqs, size_t n)
{
    enum { STACK_GROUP = 64 };
    group_undo stack_undo[STACK_GROUP];
    group_undo *undo = n <= STACK_GROUP ? memset(stack_undo, 0, n * sizeof(*stack_undo))
                                        : calloc(n, sizeof(*undo));
    if (!undo) {
        for (size_t i = 0; i < n; i++)
            reqs[i]->st = ds_error_set(&reqs[i]->err, DS_NOMEM,
                                       "out of memory committing %zu requests", n);
        return;
    }
    int want_flush = 0;
    size_t applied = 0;
    for (size_t i = 0; i < n; i++) {
        reqs[i]->undo_ = &undo[i];
        group_apply(e, reqs[i], &want_flush);
        applied += undo[i].applied;
    }
    if (e->store && (want_flush || (applied && flush_is_due(e)))) {
        ds_error ferr;
        ds_error_clear(&ferr);
        pthread_mutex_lock(&e->flush_lock);
        ds_status st = flush_locked(e, 0, &ferr);
        if (st != DS_OK) {
            /* Newest first, so a key written twice in the group gets back
             * the value it had before the group. A request with nothing
             * left pending was committed by another caller's flush. */
            pthread_mutex_lock(&e->write_lock);
            for (size_t i = n; i-- > 0;) {
                ds_write_req *r = reqs[i];
                if (r->kind == DS_WRITE_FLUSH ||
                    (undo[i].applied && undo[i].recs &&
                     undo_writes(e, r->ns, undo[i].recs, undo[i].n) > 0)) {
                    r->st = st;
                    r->err = ferr;
                }
            }
            pthread_mutex_unlock(&e->write_lock);
        }
        pthread_mutex_unlock(&e->flush_lock);
    } else if (applied) {
        maybe_kick_flusher(e, applied);
    }
    for (size_t i = 0; i < n; i++) {
        undo_recs_free(e, undo[i].recs, undo[i].n, &undo[i].one);
        reqs[i]->undo_ = NULL;
    }
    if (undo != stack_undo)
        free(undo);
}

ds_status ds_engine_clear(ds_engine *e, uint32_t ns, ds_error *err)
{
    ds_status refused = refuse_writes(e, err);
    if (refused != DS_OK)
        return refused;
    pthread_mutex_lock(&e->flush_lock);
    pthread_mutex_lock(&e->write_lock);
    ds_ns *n = ns_at(e, ns);
    ds_status st = DS_OK;
    /* SQLite first: if it fails, every tier still holds what it held. */
    if (e->store)
        st = ds_store_clear_ns(e->store, n->name, n->len, err);
    if (st == DS_OK && e->store)
        note_own_commit(e);
    if (st == DS_OK) {
        if (e->wbuf)
            ds_wbuf_drop_ns(e->wbuf, ns);
        if (e->warm)
            ds_warm_clear(e->warm, ns);
        ds_hotmap_clear(e->hot, ns);
        atomic_store(&n->count, 0);
        atomic_store(&n->count_stale, 0);
        atomic_store(&n->complete, 1);
        ds_keyset_free(n->keys);
        n->keys = NULL;
        bump_write_seq(e);
    }
    pthread_mutex_unlock(&e->write_lock);
    pthread_mutex_unlock(&e->flush_lock);
    return st;
}

/* ---- flush ------------------------------------------------------------ */

/* Largest row array a flush keeps for the next one: the batches of a lazy
 * bulk load (EARLY_FLUSH_ROWS) fit, and a rare huge flush does not pin its
 * array. Like the write buffer's spare tables (wbuf.c), this spares each
 * batch an allocation large enough to be mmapped, faulted in and unmapped. */
#define FLUSH_ROWS_KEEP ((size_t)1 << 17)

static ds_store_item *flush_rows(ds_engine *e, size_t n)
{
    if (n <= e->flush_rows_cap)
        return e->flush_rows;
    if (n > FLUSH_ROWS_KEEP)
        return malloc(n * sizeof(ds_store_item));
    /* Grown to the batches seen, so a database flushed a row at a time
     * keeps a small array. */
    size_t cap = e->flush_rows_cap ? e->flush_rows_cap : 16;
    while (cap < n)
        cap *= 2;
    ds_store_item *rows = realloc(e->flush_rows, cap * sizeof(*rows));
    if (!rows)
        return NULL;
    e->flush_rows = rows;
    e->flush_rows_cap = cap;
    return rows;
}

static void flush_rows_done(ds_engine *e, ds_store_item *rows)
{
    if (rows != e->flush_rows)
        free(rows);
}

/* Commit the write buffer; flush_lock held. The batch is taken under
 * write_lock, so it holds all of a call's writes or none (see the write
 * path above). */
ds_status flush_locked(ds_engine *e, int have_write_lock, ds_error *err)
{
    ds_entry *const *items;
    size_t n = 0;
    if (!have_write_lock)
        pthread_mutex_lock(&e->write_lock);
    ds_status st = ds_wbuf_begin_flush(e->wbuf, &items, &n);
    if (!have_write_lock)
        pthread_mutex_unlock(&e->write_lock);
    if (st != DS_OK)
        return ds_error_set(err, st, "internal error: a flush is already in flight");
    if (n == 0) {
        ds_wbuf_end_flush(e->wbuf, 1);
        return DS_OK;
    }
    ds_store_item *rows = flush_rows(e, n);
    if (!rows) {
        ds_wbuf_end_flush(e->wbuf, 0);
        return ds_error_set(err, DS_NOMEM, "out of memory flushing %zu writes", n);
    }
    /* With encryption, every value is sealed into one arena for the batch. */
    uint8_t *sealed = NULL;
    if (e->crypto) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            if (!(items[i]->flags & DS_ENTRY_TOMBSTONE))
                total += ds_crypto_sealed_len(items[i]->vlen);
        sealed = malloc(total ? total : 1);
        if (!sealed) {
            ds_wbuf_end_flush(e->wbuf, 0);
            flush_rows_done(e, rows);
            return ds_error_set(err, DS_NOMEM, "out of memory encrypting %zu writes", n);
        }
    }
    size_t off = 0;
    st = DS_OK;
    for (size_t i = 0; i < n && st == DS_OK; i++) {
        const ds_entry *x = items[i];
        ds_ns *ns = ns_at(e, x->ns);
        rows[i].tbl = ns->name;
        rows[i].tlen = ns->len;
        rows[i].key = ds_entry_key(x);
        rows[i].klen = x->klen;
        rows[i].value = ds_entry_value(x);
        rows[i].vlen = x->vlen;
        rows[i].codec = x->codec;
        rows[i].is_delete = (x->flags & DS_ENTRY_TOMBSTONE) != 0;
        if (sealed && !rows[i].is_delete) {
            st = ds_crypto_seal(e->crypto, ns->name, ns->len, ds_entry_key(x), x->klen,
                                aad_codec_of(e, x->codec), ds_entry_value(x), x->vlen,
                                sealed + off, err);
            rows[i].value = sealed + off;
            rows[i].vlen = ds_crypto_sealed_len(x->vlen);
            rows[i].codec = x->codec | DS_CODEC_FLAG_ENCRYPTED;
            off += rows[i].vlen;
        }
    }
    if (st == DS_OK)
        st = ds_store_write_batch(e->store, rows, n, err);
    ds_wbuf_end_flush(e->wbuf, st == DS_OK);
    flush_rows_done(e, rows);
    free(sealed);
    if (st == DS_OK) {
        note_own_commit(e);
        atomic_fetch_add(&e->flushes, 1);
        atomic_fetch_add(&e->rows_flushed, n);
    } else {
        atomic_fetch_add(&e->flush_failures, 1);
    }
    return st;
}

ds_status ds_engine_flush(ds_engine *e, ds_error *err)
{
    if (!e->store)
        return DS_OK;
    pthread_mutex_lock(&e->flush_lock);
    ds_status st = flush_locked(e, 0, err);
    pthread_mutex_unlock(&e->flush_lock);
    return st;
}
