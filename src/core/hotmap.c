/* The hot tier (see hotmap.h): per-shard open addressing with linear probing.
 *
 * A slot stores the full hash next to the entry pointer, so a probe that
 * meets a different key almost always rejects it without touching the entry
 * (one cache miss saved per collision). Deletion uses backward shifting, so
 * there are no tombstones and a lookup stops at the first empty slot.
 *
 * Entries are released (ds_entry_decref) after the shard lock is dropped:
 * the last decref may take the retire lock, and a shard lock is a leaf.
 * Removed entries are collected in an array rather than chained through
 * their lru links, since once out of the map another thread may legitimately
 * link them into the warm cache.
 */
#include <stdlib.h>
#include <string.h>

#include "dictsqlite/hotmap.h"

typedef struct hslot {
    uint64_t hash;
    ds_entry *e; /* NULL: empty */
} hslot;

#define SLOT_NONE SIZE_MAX
#define MIN_SLOTS 8
/* Presizing beyond this would commit memory for capacity that may never be
 * used (capacity is only a hint in memory mode); growth is amortized anyway. */
#define MAX_INITIAL_SLOTS 4096

/* Aligned to a cache line so two threads hitting neighbouring shards do not
 * bounce one line between cores. */
typedef struct shard {
    pthread_mutex_t lock;
    hslot *slots;
    size_t mask; /* slot count - 1 */
    size_t count;
    ds_entry *lru_head; /* most recently used */
    ds_entry *lru_tail;
    size_t bytes; /* sum of entry footprints */
    uint64_t hits, misses, evictions;
} __attribute__((aligned(64))) shard;

struct ds_hotmap {
    shard *shards;
    size_t nshards;
    unsigned shard_shift; /* 64 - log2(nshards), or 0 with one shard */
    size_t shard_mask;
    size_t capacity;
    size_t limit;      /* per-shard entry bound, SIZE_MAX when not evicting */
    size_t init_slots; /* table size a shard starts (and restarts) with */
    int lru;
    ds_retire *retire;
};

static inline shard *shard_of(const ds_hotmap *m, uint64_t hash)
{
    /* The mask makes a single shard work without a shift by 64 (UB). */
    return &m->shards[(size_t)(hash >> m->shard_shift) & m->shard_mask];
}

static inline int same_key(const ds_entry *e, uint32_t ns, const char *key, size_t klen)
{
    return e->ns == ns && e->klen == klen && memcmp(e->data, key, klen) == 0;
}

static inline size_t find_slot(const shard *s, uint32_t ns, const char *key,
                               size_t klen, uint64_t hash)
{
    const hslot *slots = s->slots;
    size_t mask = s->mask, i = (size_t)hash & mask;
    for (;;) {
        const hslot *sl = &slots[i];
        if (!sl->e)
            return SLOT_NONE;
        if (sl->hash == hash && same_key(sl->e, ns, key, klen))
            return i;
        i = (i + 1) & mask;
    }
}

/* The slot holding this exact entry, which must be in the table. */
static size_t find_ptr(const shard *s, const ds_entry *e)
{
    size_t mask = s->mask, i = (size_t)e->hash & mask;
    while (s->slots[i].e != e)
        i = (i + 1) & mask;
    return i;
}

static inline void place(hslot *slots, size_t mask, uint64_t hash, ds_entry *e)
{
    size_t i = (size_t)hash & mask;
    while (slots[i].e)
        i = (i + 1) & mask;
    slots[i].hash = hash;
    slots[i].e = e;
}

/* Backward-shift deletion: pull later members of the cluster into the hole
 * whenever that does not move them before their home slot, so every key
 * stays reachable from its home without tombstones. */
static void slot_delete(shard *s, size_t i)
{
    hslot *slots = s->slots;
    size_t mask = s->mask, j = i;
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

/* Grow at 3/4 load: linear probing degrades quickly beyond that, and the
 * hash stored in the slot keeps long-ish runs cheap up to there. */
static inline int needs_grow(const shard *s)
{
    size_t cap = s->mask + 1;
    return (s->count + 1) > cap - cap / 4;
}

static int grow(shard *s)
{
    size_t old_cap = s->mask + 1, cap = old_cap * 2;
    if (cap < old_cap || cap > SIZE_MAX / sizeof(hslot))
        return -1;
    hslot *slots = calloc(cap, sizeof(hslot));
    if (!slots)
        return -1;
    for (size_t i = 0; i < old_cap; i++)
        if (s->slots[i].e)
            place(slots, cap - 1, s->slots[i].hash, s->slots[i].e);
    free(s->slots);
    s->slots = slots;
    s->mask = cap - 1;
    return 0;
}

static inline void lru_unlink(shard *s, ds_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        s->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        s->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static inline void lru_push_front(shard *s, ds_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = s->lru_head;
    if (s->lru_head)
        s->lru_head->lru_prev = e;
    else
        s->lru_tail = e;
    s->lru_head = e;
}

static inline void lru_touch(shard *s, ds_entry *e)
{
    if (s->lru_head != e) {
        lru_unlink(s, e);
        lru_push_front(s, e);
    }
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n && p <= SIZE_MAX / 2)
        p <<= 1;
    return p;
}

ds_hotmap *ds_hotmap_new(size_t nshards, size_t capacity, int track_lru,
                         ds_retire *retire)
{
    if (nshards == 0)
        nshards = 1;
    if (nshards > ((size_t)1 << 16))
        nshards = (size_t)1 << 16;
    nshards = pow2_at_least(nshards);
    unsigned bits = 0;
    while (((size_t)1 << bits) < nshards)
        bits++;

    ds_hotmap *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nshards = nshards;
    m->shard_shift = bits ? 64 - bits : 0;
    m->shard_mask = nshards - 1;
    m->capacity = capacity;
    /* Without a bound there is nothing to evict, so keeping the list would
     * only cost writes on every read. */
    m->lru = track_lru && capacity > 0;
    m->limit = m->lru ? capacity / nshards + (capacity % nshards != 0) : SIZE_MAX;
    m->retire = retire;

    size_t per_shard = capacity / nshards + 1;
    size_t want = per_shard + per_shard / 3 + 1;
    if (want > MAX_INITIAL_SLOTS)
        want = MAX_INITIAL_SLOTS;
    m->init_slots = pow2_at_least(want < MIN_SLOTS ? MIN_SLOTS : want);

    m->shards = aligned_alloc(64, nshards * sizeof(shard));
    if (!m->shards) {
        free(m);
        return NULL;
    }
    memset(m->shards, 0, nshards * sizeof(shard));
    for (size_t i = 0; i < nshards; i++) {
        shard *s = &m->shards[i];
        s->slots = calloc(m->init_slots, sizeof(hslot));
        if (!s->slots || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->slots);
            for (size_t j = 0; j < i; j++) {
                free(m->shards[j].slots);
                pthread_mutex_destroy(&m->shards[j].lock);
            }
            free(m->shards);
            free(m);
            return NULL;
        }
        s->mask = m->init_slots - 1;
    }
    return m;
}

void ds_hotmap_free(ds_hotmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        for (size_t j = 0; j <= s->mask; j++)
            if (s->slots[j].e)
                ds_entry_decref(s->slots[j].e, m->retire);
        free(s->slots);
        pthread_mutex_destroy(&s->lock);
    }
    free(m->shards);
    free(m);
}

size_t ds_hotmap_nshards(const ds_hotmap *m) { return m->nshards; }
size_t ds_hotmap_capacity(const ds_hotmap *m) { return m->capacity; }

/* Lock the key's shard and find the entry, counting the hit or miss and
 * marking it recently used. Returns the entry (NULL if absent) with *sp
 * locked; the caller unlocks. */
static inline ds_entry *find_locked(ds_hotmap *m, uint32_t ns, const char *key,
                                    size_t klen, uint64_t hash, shard **sp)
{
    shard *s = *sp = shard_of(m, hash);
    pthread_mutex_lock(&s->lock);
    size_t i = find_slot(s, ns, key, klen, hash);
    if (DS_UNLIKELY(i == SLOT_NONE)) {
        s->misses++;
        return NULL;
    }
    ds_entry *e = s->slots[i].e;
    s->hits++;
    if (m->lru)
        lru_touch(s, e);
    return e;
}

ds_entry *ds_hotmap_get(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash)
{
    shard *s;
    ds_entry *e = find_locked(m, ns, key, klen, hash, &s);
    if (e)
        ds_entry_incref(e);
    pthread_mutex_unlock(&s->lock);
    return e;
}

int ds_hotmap_peek_aux(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash, void **aux_out, ds_entry **ref_out)
{
    shard *s;
    ds_entry *e = find_locked(m, ns, key, klen, hash, &s);
    if (DS_UNLIKELY(!e)) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    /* Reading aux under the lock is what makes skipping the refcount safe:
     * the entry cannot be freed before we have the pointer, and the caller's
     * GIL keeps the object itself alive afterwards. Only without a cached
     * object does the caller need the entry itself. */
    void *aux = atomic_load_explicit(&e->aux, memory_order_acquire);
    *aux_out = aux;
    *ref_out = aux ? NULL : ds_entry_incref(e);
    pthread_mutex_unlock(&s->lock);
    return 1;
}

int ds_hotmap_contains(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash)
{
    shard *s = shard_of(m, hash);
    pthread_mutex_lock(&s->lock);
    int found = find_slot(s, ns, key, klen, hash) != SLOT_NONE;
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* Unlink e (at slot i) from the table and LRU list; the reference moves to
 * the caller. */
static void take_out(const ds_hotmap *m, shard *s, size_t i, ds_entry *e)
{
    slot_delete(s, i);
    if (m->lru)
        lru_unlink(s, e);
    s->count--;
    s->bytes -= ds_entry_footprint(e);
}

ds_status ds_hotmap_put(ds_hotmap *m, ds_entry *e, int *replaced,
                        ds_entry **evicted, size_t max_evicted, size_t *n_evicted)
{
    shard *s = shard_of(m, e->hash);
    ds_entry *old = NULL;
    size_t nev = 0;
    if (!evicted)
        max_evicted = 0;

    pthread_mutex_lock(&s->lock);
    size_t i = find_slot(s, e->ns, e->data, e->klen, e->hash);
    if (i != SLOT_NONE) {
        old = s->slots[i].e;
        s->slots[i].e = e;
        s->bytes = s->bytes - ds_entry_footprint(old) + ds_entry_footprint(e);
        if (m->lru) {
            lru_unlink(s, old);
            lru_push_front(s, e);
        }
    } else {
        if (needs_grow(s) && grow(s) != 0) {
            pthread_mutex_unlock(&s->lock);
            ds_entry_decref(e, m->retire);
            if (replaced)
                *replaced = 0;
            if (n_evicted)
                *n_evicted = 0;
            return DS_NOMEM;
        }
        place(s->slots, s->mask, e->hash, e);
        s->count++;
        s->bytes += ds_entry_footprint(e);
        if (m->lru)
            lru_push_front(s, e);
    }
    /* Also on replacement: an earlier put may have left the shard over its
     * bound when the caller's eviction buffer was full. */
    while (s->count > m->limit && nev < max_evicted) {
        ds_entry *victim = s->lru_tail;
        if (victim == e)
            break;
        take_out(m, s, find_ptr(s, victim), victim);
        s->evictions++;
        evicted[nev++] = victim;
    }
    pthread_mutex_unlock(&s->lock);

    if (old)
        ds_entry_decref(old, m->retire);
    if (replaced)
        *replaced = old != NULL;
    if (n_evicted)
        *n_evicted = nev;
    return DS_OK;
}

ds_entry *ds_hotmap_remove(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                           uint64_t hash)
{
    shard *s = shard_of(m, hash);
    pthread_mutex_lock(&s->lock);
    size_t i = find_slot(s, ns, key, klen, hash);
    ds_entry *e = NULL;
    if (i != SLOT_NONE) {
        e = s->slots[i].e;
        take_out(m, s, i, e);
    }
    pthread_mutex_unlock(&s->lock);
    return e;
}

/* Remove the matching entries of one shard (all if ns == UINT32_MAX) and
 * return them in a malloc'd array, to be released once the lock is dropped.
 * Returns NULL with *n == 0 when nothing matched; if the array cannot be
 * allocated the entries are released under the lock instead (correct, just
 * longer to hold it). */
static ds_entry **shard_clear(const ds_hotmap *m, shard *s, uint32_t ns, size_t *n)
{
    *n = 0;
    if (s->count == 0)
        return NULL;
    ds_entry **out = malloc(s->count * sizeof(*out));
    size_t k = 0;
    if (ns == UINT32_MAX) {
        for (size_t j = 0; j <= s->mask; j++) {
            ds_entry *e = s->slots[j].e;
            if (!e)
                continue;
            if (m->lru)
                e->lru_prev = e->lru_next = NULL;
            if (out)
                out[k++] = e;
            else
                ds_entry_decref(e, m->retire);
        }
        /* Give a large table back rather than keep it for entries that are
         * gone; if the small one cannot be allocated, reuse the old one. */
        hslot *fresh = NULL;
        if (s->mask + 1 > m->init_slots)
            fresh = calloc(m->init_slots, sizeof(hslot));
        if (fresh) {
            free(s->slots);
            s->slots = fresh;
            s->mask = m->init_slots - 1;
        } else {
            memset(s->slots, 0, (s->mask + 1) * sizeof(hslot));
        }
        s->count = 0;
        s->bytes = 0;
        s->lru_head = s->lru_tail = NULL;
    } else {
        /* Deleting in place while scanning is sound with backward shifting:
         * entries only move towards the hole, i.e. to the current index
         * (which is examined again) or, across the wrap-around, to slots
         * already scanned, and whatever moves there was scanned and kept. */
        size_t j = 0;
        while (j <= s->mask) {
            ds_entry *e = s->slots[j].e;
            if (e && e->ns == ns) {
                take_out(m, s, j, e);
                if (out)
                    out[k++] = e;
                else
                    ds_entry_decref(e, m->retire);
                continue;
            }
            j++;
        }
    }
    *n = k;
    return out;
}

void ds_hotmap_clear(ds_hotmap *m, uint32_t ns)
{
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        size_t n;
        pthread_mutex_lock(&s->lock);
        ds_entry **dead = shard_clear(m, s, ns, &n);
        pthread_mutex_unlock(&s->lock);
        for (size_t k = 0; k < n; k++)
            ds_entry_decref(dead[k], m->retire);
        free(dead);
    }
}

size_t ds_hotmap_collect(ds_hotmap *m, uint32_t ns, ds_entry ***out)
{
    ds_entry **items = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        if (n + s->count > cap) {
            /* Sized for the whole shard, so at most one realloc per shard and
             * none inside the scan. */
            size_t want = n + s->count;
            want += want / 2;
            ds_entry **grown = want <= SIZE_MAX / sizeof(*items)
                                   ? realloc(items, want * sizeof(*items))
                                   : NULL;
            if (!grown) {
                pthread_mutex_unlock(&s->lock);
                for (size_t k = 0; k < n; k++)
                    ds_entry_decref(items[k], m->retire);
                free(items);
                return (size_t)-1;
            }
            items = grown;
            cap = want;
        }
        for (size_t j = 0; j <= s->mask; j++) {
            ds_entry *e = s->slots[j].e;
            if (e && (ns == UINT32_MAX || e->ns == ns))
                items[n++] = ds_entry_incref(e);
        }
        pthread_mutex_unlock(&s->lock);
    }
    *out = items;
    return n;
}

size_t ds_hotmap_size(ds_hotmap *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        n += s->count;
        pthread_mutex_unlock(&s->lock);
    }
    return n;
}

void ds_hotmap_get_stats(ds_hotmap *m, ds_hotmap_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->bytes = sizeof(*m) + m->nshards * sizeof(shard);
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        out->entries += s->count;
        out->bytes += s->bytes + (s->mask + 1) * sizeof(hslot);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}
