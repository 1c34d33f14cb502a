/* The warm tier (see warm.h): one hash index (linear probing, hash kept in
 * the slot, backward-shift deletion) plus one LRU list
 * threaded through the entries' lru links, which are ours while an entry is
 * here (it is never in the hot map at the same time).
 *
 * Entries leaving the cache are released only after the lock is dropped,
 * because the last decref may take the retire lock and this lock is a leaf.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dictsqlite/warm.h"

typedef struct wslot {
    uint64_t hash;
    ds_entry *e; /* NULL: empty */
} wslot;

#define SLOT_NONE SIZE_MAX
#define MIN_SLOTS 16
/* Victims released per lock round trip in put(); a put that displaces more
 * (one large entry replacing many small ones) drops the lock between
 * batches rather than allocate. */
#define RELEASE_BATCH 32

struct ds_warm {
    pthread_mutex_t lock;
    wslot *slots; /* NULL until the first put */
    size_t mask;
    /* Changed under the lock; atomic so ds_warm_remove can see "empty"
     * without taking it. */
    atomic_size_t count;
    ds_entry *head; /* most recently inserted */
    ds_entry *tail;
    size_t bytes, max_bytes;
    uint64_t hits, misses, evictions;
    ds_retire *retire;
};

static size_t find_slot(const ds_warm *w, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash)
{
    if (!w->slots)
        return SLOT_NONE;
    size_t mask = w->mask, i = (size_t)hash & mask;
    for (;;) {
        const wslot *sl = &w->slots[i];
        if (!sl->e)
            return SLOT_NONE;
        if (sl->hash == hash && sl->e->ns == ns && sl->e->klen == klen &&
            memcmp(sl->e->data, key, klen) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static size_t find_ptr(const ds_warm *w, const ds_entry *e)
{
    size_t mask = w->mask, i = (size_t)e->hash & mask;
    while (w->slots[i].e != e)
        i = (i + 1) & mask;
    return i;
}

static void place(wslot *slots, size_t mask, uint64_t hash, ds_entry *e)
{
    size_t i = (size_t)hash & mask;
    while (slots[i].e)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].e = e;
}

/* Backward shift: move each later entry of the probe run into the hole when
 * its home slot is at or before it, so no tombstones are needed and probes
 * stay as short as if the deleted key had never been inserted. */
static void slot_delete(ds_warm *w, size_t i)
{
    wslot *slots = w->slots;
    size_t mask = w->mask, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!slots[j].e)
            break;
        size_t home = (size_t)slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            slots[i] = slots[j];
            i = j;
        }
    }
    slots[i].e = NULL;
    slots[i].hash = 0;
}

/* Make room for one more entry (3/4 load bound). */
static int reserve_one(ds_warm *w)
{
    size_t old_cap = w->slots ? w->mask + 1 : 0;
    if (w->slots && w->count + 1 <= old_cap - old_cap / 4)
        return 0;
    size_t cap = old_cap ? old_cap * 2 : MIN_SLOTS;
    if (cap < old_cap || cap > SIZE_MAX / sizeof(wslot))
        return -1;
    wslot *slots = calloc(cap, sizeof(wslot));
    if (!slots)
        return -1;
    for (size_t i = 0; i < old_cap; i++)
        if (w->slots[i].e)
            place(slots, cap - 1, w->slots[i].hash, w->slots[i].e);
    free(w->slots);
    w->slots = slots;
    w->mask = cap - 1;
    return 0;
}

static void lru_unlink(ds_warm *w, ds_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        w->head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        w->tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(ds_warm *w, ds_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = w->head;
    if (w->head)
        w->head->lru_prev = e;
    else
        w->tail = e;
    w->head = e;
}

/* Unlink the entry at slot i; the cache's reference moves to the caller. */
static void take_out(ds_warm *w, size_t i, ds_entry *e)
{
    slot_delete(w, i);
    lru_unlink(w, e);
    w->count--;
    w->bytes -= ds_entry_footprint(e);
}

ds_warm *ds_warm_new(size_t max_bytes, ds_retire *retire)
{
    ds_warm *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        free(w);
        return NULL;
    }
    w->max_bytes = max_bytes;
    w->retire = retire;
    return w;
}

void ds_warm_free(ds_warm *w)
{
    if (!w)
        return;
    for (ds_entry *e = w->head; e;) {
        ds_entry *next = e->lru_next;
        e->lru_prev = e->lru_next = NULL;
        ds_entry_decref(e, w->retire);
        e = next;
    }
    free(w->slots);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

ds_entry *ds_warm_take(ds_warm *w, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash)
{
    pthread_mutex_lock(&w->lock);
    size_t i = find_slot(w, ns, key, klen, hash);
    ds_entry *e = NULL;
    if (i != SLOT_NONE) {
        e = w->slots[i].e;
        take_out(w, i, e);
        w->hits++;
    } else {
        w->misses++;
    }
    pthread_mutex_unlock(&w->lock);
    return e;
}

int ds_warm_contains(ds_warm *w, uint32_t ns, const char *key, size_t klen,
                     uint64_t hash)
{
    pthread_mutex_lock(&w->lock);
    int found = find_slot(w, ns, key, klen, hash) != SLOT_NONE;
    pthread_mutex_unlock(&w->lock);
    return found;
}

void ds_warm_put(ds_warm *w, ds_entry *e)
{
    if (w->max_bytes == 0) {
        ds_entry_decref(e, w->retire);
        return;
    }
    size_t fp = ds_entry_footprint(e);
    ds_entry *old = NULL, *drop = NULL;
    ds_entry *victims[RELEASE_BATCH];
    size_t nv = 0;

    pthread_mutex_lock(&w->lock);
    size_t i = find_slot(w, e->ns, e->data, e->klen, e->hash);
    if (fp > w->max_bytes) {
        /* Not kept, and neither is an older copy of the key: the caller
         * evidently has a newer value for it. */
        drop = e;
        if (i != SLOT_NONE) {
            old = w->slots[i].e;
            take_out(w, i, old);
        }
    } else if (i != SLOT_NONE) {
        old = w->slots[i].e;
        w->slots[i].e = e;
        lru_unlink(w, old);
        lru_push_front(w, e);
        w->bytes = w->bytes - ds_entry_footprint(old) + fp;
    } else if (reserve_one(w) != 0) {
        drop = e; /* a cache may decline; the value is safe elsewhere */
    } else {
        place(w->slots, w->mask, e->hash, e);
        lru_push_front(w, e);
        w->count++;
        w->bytes += fp;
    }
    for (;;) {
        /* e itself (fp <= max_bytes) is never the victim: when it is the
         * tail it is the only entry and the bound already holds. */
        while (w->bytes > w->max_bytes && nv < RELEASE_BATCH) {
            ds_entry *victim = w->tail;
            take_out(w, find_ptr(w, victim), victim);
            w->evictions++;
            victims[nv++] = victim;
        }
        int more = w->bytes > w->max_bytes;
        pthread_mutex_unlock(&w->lock);
        for (size_t k = 0; k < nv; k++)
            ds_entry_decref(victims[k], w->retire);
        nv = 0;
        if (!more)
            break;
        pthread_mutex_lock(&w->lock);
    }

    /* old may be e itself (the same entry put twice): the cache keeps one
     * reference and this drops the caller's extra one. */
    if (old)
        ds_entry_decref(old, w->retire);
    if (drop)
        ds_entry_decref(drop, w->retire);
}

void ds_warm_remove(ds_warm *w, uint32_t ns, const char *key, size_t klen,
                    uint64_t hash)
{
    /* Every write calls this; most find the cache empty (nothing evicted
     * yet, or memory-sized workloads). */
    if (atomic_load_explicit(&w->count, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&w->lock);
    size_t i = find_slot(w, ns, key, klen, hash);
    ds_entry *e = NULL;
    if (i != SLOT_NONE) {
        e = w->slots[i].e;
        take_out(w, i, e);
    }
    pthread_mutex_unlock(&w->lock);
    if (e)
        ds_entry_decref(e, w->retire);
}

void ds_warm_clear(ds_warm *w, uint32_t ns)
{
    pthread_mutex_lock(&w->lock);
    if (w->count == 0) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    /* If the array cannot be had, release under the lock: slower to hold,
     * still correct. */
    ds_entry **dead = malloc(w->count * sizeof(*dead));
    size_t n = 0;
    for (ds_entry *e = w->head; e;) {
        ds_entry *next = e->lru_next;
        if (ns == UINT32_MAX || e->ns == ns) {
            take_out(w, find_ptr(w, e), e);
            if (dead)
                dead[n++] = e;
            else
                ds_entry_decref(e, w->retire);
        }
        e = next;
    }
    if (w->count == 0) {
        /* An emptied cache gives its table back. */
        free(w->slots);
        w->slots = NULL;
        w->mask = 0;
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t k = 0; k < n; k++)
        ds_entry_decref(dead[k], w->retire);
    free(dead);
}

void ds_warm_get_stats(ds_warm *w, ds_warm_stats *out)
{
    pthread_mutex_lock(&w->lock);
    out->entries = w->count;
    out->bytes = w->bytes;
    out->max_bytes = w->max_bytes;
    out->hits = w->hits;
    out->misses = w->misses;
    out->evictions = w->evictions;
    pthread_mutex_unlock(&w->lock);
}
