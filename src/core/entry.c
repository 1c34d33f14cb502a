/* ds_entry allocation and the retire list that keeps Python objects out of
 * the core (see entry.h). */
#include <stdlib.h>
#include <string.h>

#include "dictsqlite/entry.h"

/* An entry with room for the key and stored bytes of the value, every
 * field but the value set. */
static ds_entry *entry_alloc(uint32_t ns, const char *key, size_t klen, uint64_t hash,
                             uint8_t codec, size_t vlen, size_t stored, uint8_t flags)
{
    if (klen > UINT32_MAX || stored > SIZE_MAX - sizeof(ds_entry) - klen - 1)
        return NULL;
    ds_entry *e = malloc(sizeof(ds_entry) + klen + 1 + stored);
    if (!e)
        return NULL;
    e->lru_prev = e->lru_next = NULL;
    atomic_init(&e->aux, NULL);
    e->hash = hash;
    e->vlen = vlen;
    atomic_init(&e->refcnt, 1);
    e->klen = (uint32_t)klen;
    e->ns = ns;
    e->codec = codec;
    e->flags = flags;
    if (klen)
        memcpy(e->data, key, klen);
    e->data[klen] = '\0';
    return e;
}

ds_entry *ds_entry_new(uint32_t ns, const char *key, size_t klen, uint64_t hash,
                       uint8_t codec, const void *value, size_t vlen, uint8_t flags)
{
    ds_entry *e = entry_alloc(ns, key, klen, hash, codec, vlen, vlen, flags);
    if (e && vlen)
        memcpy(e->data + klen + 1, value, vlen);
    return e;
}

ds_entry *ds_entry_new_unfilled(uint32_t ns, const char *key, size_t klen,
                                uint64_t hash, uint8_t codec, size_t vlen)
{
    return entry_alloc(ns, key, klen, hash, codec, vlen, vlen, 0);
}

ds_entry *ds_entry_new_external(uint32_t ns, const char *key, size_t klen,
                                uint64_t hash, uint8_t codec, const void *value,
                                size_t vlen, void *owner, ds_retire *r)
{
    ds_entry *e = entry_alloc(ns, key, klen, hash, codec, vlen, sizeof(value),
                              DS_ENTRY_EXTERNAL);
    if (!e) {
        ds_retire_push(r, owner);
        return NULL;
    }
    memcpy(e->data + klen + 1, &value, sizeof(value));
    atomic_init(&e->aux, owner);
    return e;
}

void ds_retire_push(ds_retire *r, void *item)
{
    pthread_mutex_lock(&r->lock);
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        void **items = realloc(r->items, cap * sizeof(*items));
        if (!items) {
            /* Leaking one cached decoded object is the lesser evil: dropping
             * the pointer can't free it (that needs the GIL) and aborting
             * would lose data. */
            pthread_mutex_unlock(&r->lock);
            return;
        }
        r->items = items;
        r->cap = cap;
    }
    r->items[r->len++] = item;
    atomic_store_explicit(&r->pending, r->len, memory_order_release);
    pthread_mutex_unlock(&r->lock);
}

void ds_entry_decref(ds_entry *e, ds_retire *r)
{
    if (atomic_fetch_sub_explicit(&e->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    void *aux = atomic_load_explicit(&e->aux, memory_order_acquire);
    if (aux && r)
        ds_retire_push(r, aux);
    free(e);
}

size_t ds_entry_footprint(const ds_entry *e)
{
    /* glibc malloc: 8 bytes of header, 16-byte granularity */
    /* An external value is counted all the same: the entry keeps it alive. */
    size_t n = sizeof(ds_entry) + e->klen + 1 + e->vlen + 8;
    return (n + 15) & ~(size_t)15;
}

int ds_retire_init(ds_retire *r)
{
    r->items = NULL;
    r->len = r->cap = 0;
    atomic_init(&r->pending, 0);
    return pthread_mutex_init(&r->lock, NULL) == 0 ? 0 : -1;
}

void ds_retire_destroy(ds_retire *r)
{
    free(r->items);
    r->items = NULL;
    r->len = r->cap = 0;
    pthread_mutex_destroy(&r->lock);
}

size_t ds_retire_take(ds_retire *r, void ***out)
{
    *out = NULL;
    if (atomic_load_explicit(&r->pending, memory_order_acquire) == 0)
        return 0;
    pthread_mutex_lock(&r->lock);
    size_t n = r->len;
    *out = r->items;
    r->items = NULL;
    r->len = r->cap = 0;
    atomic_store_explicit(&r->pending, 0, memory_order_release);
    pthread_mutex_unlock(&r->lock);
    return n;
}
