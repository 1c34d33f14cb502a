/* The engine's namespace registry: interning names to ids, the per-namespace
 * counts, and the key sets that tell a new key from an existing one once the
 * hot tier no longer holds a namespace whole. Separate because it has its own
 * lock (ns_lock, a leaf) and its own lifetime rules (slots never move, so
 * lookups by id take no lock); the tiers only read it through ns_at(). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ---- namespaces -------------------------------------------------------- */

ds_status ds_engine_ns(ds_engine *e, const char *name, size_t len, uint32_t *id,
                       ds_error *err)
{
    pthread_mutex_lock(&e->ns_lock);
    for (uint32_t i = 0; i < e->ns_count; i++) {
        ds_ns *ns = ns_at(e, i);
        if (ns->len == len && memcmp(ns->name, name, len) == 0) {
            *id = i;
            pthread_mutex_unlock(&e->ns_lock);
            return DS_OK;
        }
    }
    pthread_mutex_unlock(&e->ns_lock);

    /* Count outside ns_lock: it is a leaf and SQLite can take a while. */
    int64_t count = 0;
    if (e->store) {
        ds_status st = ds_store_count(e->store, name, len, &count, err);
        if (st != DS_OK)
            return st;
    }
    ds_ns *ns = calloc(1, sizeof(*ns));
    char *copy = malloc(len + 1);
    if (!ns || !copy) {
        free(ns);
        free(copy);
        return ds_error_set(err, DS_NOMEM, "out of memory");
    }
    memcpy(copy, name, len);
    copy[len] = '\0';
    ns->name = copy;
    ns->len = len;
    atomic_init(&ns->count, count);
    atomic_init(&ns->complete, count == 0);
    atomic_init(&ns->count_stale, 0);

    pthread_mutex_lock(&e->ns_lock);
    /* Another thread may have interned the same name meanwhile. */
    for (uint32_t i = 0; i < e->ns_count; i++) {
        ds_ns *other = ns_at(e, i);
        if (other->len == len && memcmp(other->name, name, len) == 0) {
            *id = i;
            pthread_mutex_unlock(&e->ns_lock);
            free(copy);
            free(ns);
            return DS_OK;
        }
    }
    if (e->ns_count == NS_CHUNK * NS_CHUNKS) {
        pthread_mutex_unlock(&e->ns_lock);
        free(copy);
        free(ns);
        return ds_error_set(err, DS_INVALID, "too many tables in one database (limit %d)",
                            NS_CHUNK * NS_CHUNKS);
    }
    uint32_t nid = e->ns_count;
    ds_ns **chunk = atomic_load(&e->ns_chunks[nid / NS_CHUNK]);
    if (!chunk) {
        chunk = calloc(NS_CHUNK, sizeof(*chunk));
        if (!chunk) {
            pthread_mutex_unlock(&e->ns_lock);
            free(copy);
            free(ns);
            return ds_error_set(err, DS_NOMEM, "out of memory");
        }
    }
    chunk[nid % NS_CHUNK] = ns;
    atomic_store_explicit(&e->ns_chunks[nid / NS_CHUNK], chunk, memory_order_release);
    e->ns_count = nid + 1;
    pthread_mutex_unlock(&e->ns_lock);
    *id = nid;
    return DS_OK;
}

const char *ds_engine_ns_name(ds_engine *e, uint32_t id, size_t *len)
{
    ds_ns *ns = ns_at(e, id);
    *len = ns->len;
    return ns->name;
}

int64_t ds_engine_len(ds_engine *e, uint32_t ns)
{
    ds_ns *n = ns_at(e, ns);
    if (atomic_load(&n->count_stale))
        return -1;
    return atomic_load_explicit(&n->count, memory_order_relaxed);
}

/* The first eviction from a namespace ends the hot tier's complete picture
 * of it: from then on, that a key is new must come from the key set. Right
 * then, and only then, the set can be had without SQLite: every key is in
 * the hot map or among those being evicted. Built here, a lazy bulk load that
 * outgrows hot_capacity never stalls in ensure_keyset's full flush and table
 * scan. Failing is harmless (writes then ask SQLite). Caller holds
 * write_lock, which guards n->keys. */
/* 1, or 0 on OOM. */
static int keyset_add_entry(ds_keyset *ks, const ds_entry *x)
{
    return ds_keyset_add(ks, ds_hash_bytes(ds_entry_key(x), x->klen)) == 0;
}

void keyset_from_hot(ds_engine *e, uint32_t ns, ds_entry **evicted, size_t nev)
{
    ds_ns *n = ns_at(e, ns);
    if (!e->store || n->keys || atomic_load(&n->count_stale))
        return;
    uint64_t *hashes;
    size_t count = ds_hotmap_key_hashes(e->hot, ns, &hashes);
    if (count == (size_t)-1)
        return;
    ds_keyset *ks = ds_keyset_new(count + nev);
    int ok = ks && ds_keyset_add_many(ks, hashes, count) == 0;
    free(hashes);
    for (size_t i = 0; i < nev && ok; i++)
        ok = evicted[i]->ns != ns || keyset_add_entry(ks, evicted[i]);
    if (ok)
        n->keys = ks;
    else
        ds_keyset_free(ks);
}

ds_status ds_engine_recount(ds_engine *e, uint32_t ns, ds_error *err)
{
    ds_ns *n = ns_at(e, ns);
    pthread_mutex_lock(&e->flush_lock);
    pthread_mutex_lock(&e->write_lock);
    ds_status st = DS_OK;
    if (atomic_load(&n->count_stale)) {
        int64_t count = 0;
        st = flush_locked(e, 1, err);
        if (st == DS_OK)
            st = ds_store_count(e->store, n->name, n->len, &count, err);
        if (st == DS_OK) {
            atomic_store(&n->count, count);
            atomic_store(&n->count_stale, 0);
            atomic_store(&n->complete, count == 0);
        }
    }
    pthread_mutex_unlock(&e->write_lock);
    pthread_mutex_unlock(&e->flush_lock);
    return st;
}

static int keyset_add_row(const char *key, size_t klen, uint8_t codec,
                          const void *value, size_t vlen, void *ctx)
{
    (void)codec, (void)value, (void)vlen;
    return ds_keyset_add(ctx, ds_hash_bytes(key, klen)) < 0;
}

/* Build the namespace's key set if a write will need it. Flushing first
 * makes SQLite hold every key, and holding both locks keeps it that way
 * while the keys are read. Failures are not errors: writes then ask SQLite
 * key by key instead. */
void ensure_keyset(ds_engine *e, uint32_t ns)
{
    ds_ns *n = ns_at(e, ns);
    if (!e->store || atomic_load(&n->complete) || n->keys || atomic_load(&n->count_stale))
        return;
    /* While other connections keep writing, every change of theirs drops the
     * set; rebuilding it (a scan of the table) only pays off once enough
     * single-key lookups have been spent instead. */
    if (e->external_changes && n->store_lookups < 1024)
        return;
    pthread_mutex_lock(&e->flush_lock);
    pthread_mutex_lock(&e->write_lock);
    ds_error err;
    if (!n->keys && !atomic_load(&n->complete) && flush_locked(e, 1, &err) == DS_OK) {
        ds_keyset *ks = ds_keyset_new((size_t)atomic_load(&n->count));
        size_t rows = 0;
        if (ks && ds_store_scan(e->store, n->name, n->len, NULL, 0, SIZE_MAX, 0,
                                keyset_add_row, ks, &rows, &err) == DS_OK &&
            ds_keyset_size(ks) == rows)
            n->keys = ks;
        else
            ds_keyset_free(ks);
    }
    pthread_mutex_unlock(&e->write_lock);
    pthread_mutex_unlock(&e->flush_lock);
}
