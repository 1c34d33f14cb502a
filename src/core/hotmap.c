/* The hot tier (see hotmap.h): each shard is a compact hash table laid out
 * like CPython's dict since 3.6 (the idea, not its code): a sparse index of
 * uint32 slots pointing into a dense array of entry pointers kept in
 * insertion order.
 *
 * Why not one array of {hash, entry} slots: that array must stay sparse, so
 * at 100k keys the 16-byte slots of 8 shards took 4 MB and nearly every read
 * missed the cache on its slot. The index is the only part probed at random
 * and costs 4 bytes a slot, a quarter of that. The dense array and the
 * entries (allocated as they are inserted) are in insertion order, so reads
 * in that order walk both sequentially, which the prefetcher handles, and the
 * dense array needs no spare room beyond its growth slack. The price is one
 * more dependent load for reads in random order.
 *
 * A probe that meets another key almost always rejects it by the hash bits
 * stored in the index slot, without touching its dense element or entry
 * (a cache miss saved per collision). Keeping the full hash in the dense
 * array as well measured slower for reads in random order (a dense array
 * twice the size) and cost 8 bytes per entry; rebuilds read it from the
 * entries instead.
 * Probing is linear: index slots are small, so a short run of them usually
 * shares one cache line.
 *
 * A deletion turns the key's index slot into DUMMY (lookups go on past it)
 * and its dense element into a hole (e == NULL). Holes and DUMMY slots are
 * dropped when the shard is rebuilt, which happens when the index would get
 * over 2/3 full counting them, or when the dense array is full and over a
 * quarter of it is holes. used (dense elements, holes included) bounds the
 * filled index slots, so bounding it bounds the load and guarantees an
 * empty slot to end every probe.
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

typedef struct dent {
    ds_entry *e; /* NULL: a hole left by a deletion */
} dent;

/* An index slot holds a dense position in its low log2(slots) bits and, in
 * the bits above, the same bits of the key's hash (the ones just above those
 * that pick the home slot). That tag rejects most keys met while probing
 * without loading their dense element, which is a cache miss of its own when
 * it is not the element sought. The two sentinels hold positions an index of
 * that size never addresses (a position is below 2/3 of the slot count). */
#define IX_EMPTY UINT32_MAX
#define IX_DUMMY (UINT32_MAX - 1) /* a deleted key: probes continue past it */
#define SLOT_NONE SIZE_MAX
#define MIN_INDEX 8
#define MIN_DENSE 8
/* Presizing beyond this would commit memory for capacity that may never be
 * used (capacity is only a hint in memory mode, 1M by default, and there are
 * 8+ shards); growth is amortized anyway. */
#define MAX_INITIAL_INDEX 256
/* Dense positions must stay below IX_DUMMY; 2/3 of 2^32 does. */
#define MAX_INDEX ((uint64_t)1 << 32)

/* Aligned to a cache line so two threads hitting neighbouring shards do not
 * bounce one line between cores. The fields a read needs come first, next
 * to the lock. */
typedef struct shard {
    pthread_mutex_t lock;
    uint32_t *index; /* IX_EMPTY, IX_DUMMY or tag | position in dense */
    dent *dense;
    size_t mask; /* index slots - 1 */
    uint64_t hits, misses;
    ds_entry *lru_head; /* most recently used */
    ds_entry *lru_tail;
    size_t used;      /* dense elements in use, holes included */
    size_t dense_cap; /* dense elements allocated */
    size_t count;     /* live entries */
    size_t bytes;     /* sum of entry footprints */
    uint64_t evictions;
    /* This shard's share of the capacity (SIZE_MAX when not evicting). The
     * shares add up to the capacity exactly, so the map as a whole never
     * holds more than it. */
    size_t limit;
} __attribute__((aligned(64))) shard;

struct ds_hotmap {
    shard *shards;
    size_t nshards;
    unsigned shard_shift; /* 64 - log2(nshards), or 0 with one shard */
    size_t shard_mask;
    size_t capacity;
    size_t init_index; /* index size a shard starts (and restarts) with */
    int lru;
    ds_retire *retire;
};

static inline shard *shard_of(const ds_hotmap *m, uint64_t hash)
{
    /* The mask makes a single shard work without a shift by 64 (UB). */
    return &m->shards[(size_t)(hash >> m->shard_shift) & m->shard_mask];
}

/* How many dense elements an index of n slots may address: 2/3 of it, the
 * load at which CPython's dict resizes too. Linear probing stays short up
 * to there, and it keeps an empty slot to end every probe. */
static inline size_t usable(size_t nslots)
{
    return (size_t)(((uint64_t)nslots * 2) / 3);
}

/* Keys of 8 to 16 bytes (typical ones) compare as two overlapping words
 * inline; a memcmp call costs more than the comparison itself. */
static inline int bytes_equal(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

static inline int same_key(const ds_entry *e, uint32_t ns, const char *key, size_t klen)
{
    return e->ns == ns && e->klen == klen && bytes_equal(e->data, key, klen);
}

static inline uint32_t ix_tag(uint64_t hash, size_t mask)
{
    return (uint32_t)hash & ~(uint32_t)mask;
}

static inline size_t ix_pos(uint32_t ix, size_t mask) { return ix & (uint32_t)mask; }

/* The index slot of the key, or SLOT_NONE. */
static inline size_t find_slot(const shard *s, uint32_t ns, const char *key,
                               size_t klen, uint64_t hash)
{
    const uint32_t *index = s->index;
    const dent *dense = s->dense;
    size_t mask = s->mask, i = (size_t)hash & mask;
    uint32_t tag = ix_tag(hash, mask), tag_mask = ~(uint32_t)mask;
    for (;;) {
        uint32_t ix = index[i];
        if (ix == IX_EMPTY)
            return SLOT_NONE;
        if ((ix & tag_mask) == tag && ix != IX_DUMMY) {
            const dent *d = &dense[ix_pos(ix, mask)];
            if (d->e->hash == hash && same_key(d->e, ns, key, klen))
                return i;
        }
        i = (i + 1) & mask;
    }
}

/* The index slot pointing at this exact entry, which must be in the table. */
static size_t find_ptr(const shard *s, const ds_entry *e)
{
    size_t mask = s->mask, i = (size_t)e->hash & mask;
    for (;;) {
        uint32_t ix = s->index[i];
        if (ix < IX_DUMMY && s->dense[ix_pos(ix, mask)].e == e)
            return i;
        i = (i + 1) & mask;
    }
}

/* Point a free index slot (empty, or DUMMY: any slot a lookup passes
 * anyway) at pos, for a key known to be absent. */
static inline void place(uint32_t *index, size_t mask, uint64_t hash, size_t pos)
{
    size_t i = (size_t)hash & mask;
    while (index[i] < IX_DUMMY)
        i = (i + 1) & mask;
    index[i] = ix_tag(hash, mask) | (uint32_t)pos;
}

static inline void index_reset(uint32_t *index, size_t nslots)
{
    memset(index, 0xFF, nslots * sizeof(*index)); /* all IX_EMPTY */
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n && p <= SIZE_MAX / 2)
        p <<= 1;
    return p;
}

/* Index size for a shard about to hold n entries: at most half full, so
 * after a rebuild at least a sixth of it is free for new keys (and the
 * rebuilds are amortized), never below the starting size. */
static size_t index_size_for(const ds_hotmap *m, size_t n)
{
    size_t want = n <= SIZE_MAX / 2 ? pow2_at_least(2 * n) : SIZE_MAX;
    return want < m->init_index ? m->init_index : want;
}

/* Rebuild the shard with an index of nslots: drop the holes (the dense
 * array keeps its order, so insertion-order locality survives) and every
 * DUMMY. Returns -1 on OOM with the shard unchanged. */
static int rebuild(shard *s, size_t nslots)
{
    if ((uint64_t)nslots > MAX_INDEX || nslots > SIZE_MAX / sizeof(uint32_t))
        return -1;
    uint32_t *index = malloc(nslots * sizeof(*index));
    if (!index)
        return -1;
    index_reset(index, nslots);
    dent *dense = s->dense;
    size_t mask = nslots - 1, w = 0;
    for (size_t j = 0; j < s->used; j++) {
        if (!dense[j].e)
            continue;
        dense[w] = dense[j];
        place(index, mask, dense[w].e->hash, w);
        w++;
    }
    free(s->index);
    s->index = index;
    s->mask = mask;
    s->used = w;
    /* After a shrink the dense array may be larger than the index can
     * address; give the excess back (keeping it on failure is harmless). */
    size_t lim = usable(nslots);
    if (s->dense_cap > lim) {
        dent *smaller = realloc(dense, lim * sizeof(*dense));
        if (smaller) {
            s->dense = smaller;
            s->dense_cap = lim;
        }
    }
    return 0;
}

/* Make room for one more dense element. */
static int make_room(const ds_hotmap *m, shard *s)
{
    size_t lim = usable(s->mask + 1);
    if (s->used >= lim ||
        (s->used == s->dense_cap && s->used - s->count > s->used / 4)) {
        if (rebuild(s, index_size_for(m, s->count + 1)) != 0)
            return -1;
        lim = usable(s->mask + 1);
    }
    if (s->used < s->dense_cap)
        return 0;
    /* Grow by half rather than double: the slack is paid per entry, and
     * realloc of a large block is cheap. used < lim here, so cap > used. */
    size_t cap = s->dense_cap < MIN_DENSE ? MIN_DENSE : s->dense_cap + s->dense_cap / 2;
    if (cap > lim)
        cap = lim;
    if (cap > SIZE_MAX / sizeof(dent))
        return -1;
    dent *dense = realloc(s->dense, cap * sizeof(dent));
    if (!dense)
        return -1;
    s->dense = dense;
    s->dense_cap = cap;
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

/* Empty tables of the starting size. */
static int shard_tables_init(shard *s, size_t init_index)
{
    s->index = malloc(init_index * sizeof(uint32_t));
    s->dense_cap = usable(init_index) < MIN_DENSE ? usable(init_index) : MIN_DENSE;
    s->dense = malloc(s->dense_cap * sizeof(dent));
    if (!s->index || !s->dense) {
        free(s->index);
        free(s->dense);
        s->index = NULL;
        s->dense = NULL;
        return -1;
    }
    index_reset(s->index, init_index);
    s->mask = init_index - 1;
    s->used = 0;
    return 0;
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
    m->retire = retire;

    size_t per_shard = capacity / nshards + 1;
    size_t want = per_shard < MAX_INITIAL_INDEX ? 2 * per_shard : MAX_INITIAL_INDEX;
    m->init_index = pow2_at_least(want < MIN_INDEX ? MIN_INDEX : want);

    m->shards = aligned_alloc(64, nshards * sizeof(shard));
    if (!m->shards) {
        free(m);
        return NULL;
    }
    memset(m->shards, 0, nshards * sizeof(shard));
    for (size_t i = 0; i < nshards; i++) {
        shard *s = &m->shards[i];
        s->limit = m->lru ? capacity / nshards + (i < capacity % nshards) : SIZE_MAX;
        if (shard_tables_init(s, m->init_index) != 0 ||
            pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->index);
            free(s->dense);
            for (size_t j = 0; j < i; j++) {
                free(m->shards[j].index);
                free(m->shards[j].dense);
                pthread_mutex_destroy(&m->shards[j].lock);
            }
            free(m->shards);
            free(m);
            return NULL;
        }
    }
    return m;
}

void ds_hotmap_free(ds_hotmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        for (size_t j = 0; j < s->used; j++)
            if (s->dense[j].e)
                ds_entry_decref(s->dense[j].e, m->retire);
        free(s->index);
        free(s->dense);
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
    ds_entry *e = s->dense[ix_pos(s->index[i], s->mask)].e;
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

/* Unlink e (at index slot i) from the table and LRU list; the reference
 * moves to the caller. */
static void take_out(const ds_hotmap *m, shard *s, size_t i, ds_entry *e)
{
    uint32_t *index = s->index;
    size_t mask = s->mask;
    s->dense[ix_pos(index[i], mask)].e = NULL;
    /* A DUMMY is only needed where a probe could continue: if the next slot
     * is empty, no run passes through i, so it and the DUMMY slots just
     * before it can become empty again (shorter probes for misses). */
    if (index[(i + 1) & mask] == IX_EMPTY) {
        do {
            index[i] = IX_EMPTY;
            i = (i - 1) & mask;
        } while (index[i] == IX_DUMMY);
    } else {
        index[i] = IX_DUMMY;
    }
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
        /* In place: the key keeps its position in insertion order. */
        dent *d = &s->dense[ix_pos(s->index[i], s->mask)];
        old = d->e;
        d->e = e;
        s->bytes = s->bytes - ds_entry_footprint(old) + ds_entry_footprint(e);
        if (m->lru) {
            lru_unlink(s, old);
            lru_push_front(s, e);
        }
    } else {
        if (make_room(m, s) != 0) {
            pthread_mutex_unlock(&s->lock);
            ds_entry_decref(e, m->retire);
            if (replaced)
                *replaced = 0;
            if (n_evicted)
                *n_evicted = 0;
            return DS_NOMEM;
        }
        size_t pos = s->used++;
        s->dense[pos].e = e;
        place(s->index, s->mask, e->hash, pos);
        s->count++;
        s->bytes += ds_entry_footprint(e);
        if (m->lru)
            lru_push_front(s, e);
    }
    /* Also on replacement: an earlier put may have left the shard over its
     * bound when the caller's eviction buffer was full. */
    while (s->count > s->limit && nev < max_evicted) {
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
        e = s->dense[ix_pos(s->index[i], s->mask)].e;
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
    dent *dense = s->dense;
    if (ns == UINT32_MAX) {
        for (size_t j = 0; j < s->used; j++) {
            ds_entry *e = dense[j].e;
            if (!e)
                continue;
            if (m->lru)
                e->lru_prev = e->lru_next = NULL;
            if (out)
                out[k++] = e;
            else
                ds_entry_decref(e, m->retire);
        }
        /* Give large tables back rather than keep them for entries that are
         * gone; if the small ones cannot be allocated, reuse the old ones. */
        shard fresh;
        if ((s->mask + 1 > m->init_index || s->dense_cap > MIN_DENSE) &&
            shard_tables_init(&fresh, m->init_index) == 0) {
            free(s->index);
            free(s->dense);
            s->index = fresh.index;
            s->dense = fresh.dense;
            s->dense_cap = fresh.dense_cap;
            s->mask = fresh.mask;
        } else {
            index_reset(s->index, s->mask + 1);
        }
        s->used = 0;
        s->count = 0;
        s->bytes = 0;
        s->lru_head = s->lru_tail = NULL;
    } else {
        /* One compacting pass and a fresh index, rather than a DUMMY per
         * removed key: cheaper, and it needs no allocation. */
        size_t w = 0, used = s->used;
        for (size_t j = 0; j < used; j++) {
            ds_entry *e = dense[j].e;
            if (!e)
                continue;
            if (e->ns != ns) {
                dense[w++] = dense[j];
                continue;
            }
            if (m->lru)
                lru_unlink(s, e);
            s->count--;
            s->bytes -= ds_entry_footprint(e);
            if (out)
                out[k++] = e;
            else
                ds_entry_decref(e, m->retire);
        }
        if (w != used) {
            s->used = w;
            index_reset(s->index, s->mask + 1);
            for (size_t j = 0; j < w; j++)
                place(s->index, s->mask, dense[j].e->hash, j);
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
        for (size_t j = 0; j < s->used; j++) {
            ds_entry *e = s->dense[j].e;
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
        out->bytes += s->bytes + (s->mask + 1) * sizeof(uint32_t) +
                      s->dense_cap * sizeof(dent);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}
