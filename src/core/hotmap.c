/* The hot tier (see hotmap.h): each shard is one open-addressing hash table
 * (linear probing) of 8-byte slots, and a slot holds the entry pointer
 * itself, with 16 bits of the key's hash in the pointer's unused top bits.
 * A hit costs two dependent loads at random addresses: the slot, then the
 * entry (hash and key compare).
 *
 * Why: a read in random order is bounded by dependent cache misses. The
 * previous layout was a compact table in the manner of CPython's dict since
 * 3.6 (an idea borrowed, no code): a sparse index of uint32 slots pointing
 * into a dense array of entry pointers, so a hit loaded index slot, dense
 * element, entry. perf annotate of ds_hotmap_peek_aux over 100k random-key
 * reads put about 25% of its time on the index load, 25% on the dense load
 * and 50% on the entry load. The slot now points at the entry directly,
 * which removes the middle miss. (CPython's dict keeps its dense array
 * because it must keep insertion order; nothing here does: collect is in no
 * particular order and the engine sorts snapshots by key.)
 *
 * Why the hash bits live inside the pointer: slots of {64-bit hash, entry}
 * (16 bytes) measured slower, because the table must stay sparse (at most
 * 2/3 full) and at 100k keys the 16-byte slots of 8 shards took 4 MB, so
 * nearly every read missed the cache on its slot. 8-byte slots cost 12 to 24
 * bytes per entry depending on where the table is between growths, about as
 * much as the former 4-byte index slots plus 8-byte dense elements (with
 * their growth slack). The 16 tag bits are hash bits 32..47: the shard comes
 * from the top bits (at most 16 of them) and the home slot from the low
 * bits, so the tag is independent of both. A probe compares the tag first
 * and loads the entry only when it matches, so a key met while probing is
 * rejected without a cache miss (a false match is 1 in 65536).
 *
 * Portability: user-space pointers fit in 48 bits on x86-64 and aarch64
 * Linux, but correctness does not depend on it. Every insert checks the
 * entry's address; the first one with any of bits 48..63 set switches its
 * shard to untagged slots for good (tag_mask 0: the slot is the plain
 * pointer, and a probe compares every entry it meets, as a table without
 * tags would). Where pointers are narrower than 64 bits, slots are never
 * tagged.
 *
 * Slot values: 0 is EMPTY and ends a probe, 1 is DUMMY (a deleted key: a
 * probe goes on past it, an insert may reuse it); an entry is never at
 * address 0 or 1, and its address leaves bit 1 free for the reference bit
 * (SLOT_REF). A deletion leaves a DUMMY only where a probe could
 * continue: when the next slot is empty, the slot and the DUMMY run just
 * before it become EMPTY again. used counts live and DUMMY slots; it stays
 * below 2/3 of the table (the load at which CPython's dict resizes too;
 * linear probing stays short up to there and an empty slot ends every
 * probe). An insert that would pass it rebuilds the shard sized for its
 * live keys: larger when they grew, the same or smaller when it is DUMMY
 * slots that piled up. Rebuilds read each entry's hash from the entry.
 *
 * Entries are released (ds_entry_decref) after the shard lock is dropped:
 * the last decref may take the retire lock, and a shard lock is a leaf.
 * Removed entries are collected in an array rather than chained through
 * their lru links: those belong to the warm tier, and once out of the map an
 * entry may legitimately be linked into it by another thread.
 *
 * Eviction (with a capacity, in the persistent modes) is CLOCK, with the
 * reference bit in bit 1 of the slot: see clock_victim.
 */
#include <stdlib.h>
#include <string.h>

#include "dictsqlite/hotmap.h"

#define SLOT_EMPTY ((uintptr_t)0)
#define SLOT_DUMMY ((uintptr_t)1) /* a deleted key: probes continue past it */
/* In an entry's slot: read or written since the clock hand last passed it
 * (see clock_victim). An entry address never has this bit. */
#define SLOT_REF ((uintptr_t)2)
#define SLOT_NONE SIZE_MAX
#define MIN_INDEX 8
/* Presizing beyond this would commit memory for capacity that may never be
 * used (capacity is only a hint in memory mode, 1M by default, and there are
 * 8+ shards); growth is amortized anyway. */
#define MAX_INITIAL_INDEX 256
#define MAX_SHARD_BITS 16

_Static_assert(_Alignof(ds_entry) >= 4,
               "an entry address never equals SLOT_DUMMY nor has SLOT_REF");
_Static_assert(sizeof(uintptr_t) >= sizeof(ds_entry *), "a slot holds a pointer");

#if UINTPTR_MAX == UINT64_MAX
/* Tagged slots: bits 0..47 the entry's address, 48..63 hash bits 32..47. */
#define TAG_SHIFT 48
#define ADDR_MASK (((uintptr_t)1 << TAG_SHIFT) - 1)
/* The tag must stay clear of the shard bits (the top MAX_SHARD_BITS) and of
 * the home slot's low bits (tables stay far below 2^32 slots). */
_Static_assert(64 - MAX_SHARD_BITS >= 32 + 16, "tag bits overlap the shard bits");

static inline uintptr_t tag_of(uint64_t hash)
{
    return (uintptr_t)((hash >> 32) & 0xFFFFu) << TAG_SHIFT;
}
#else
/* No spare pointer bits: slots are plain pointers. */
#define ADDR_MASK UINTPTR_MAX
static inline uintptr_t tag_of(uint64_t hash)
{
    (void)hash;
    return 0;
}
#endif

/* Does e's address need the tag bits? Tests can make ordinary entries
 * count as such, to drive the untagged fallback. */
#ifdef DS_TESTING
void ds_hotmap_test_set_wide(int (*is_wide)(const ds_entry *e));
void ds_hotmap_test_tables(ds_hotmap *m, size_t *slots, size_t *filled,
                           size_t *tagged_shards);
void ds_hotmap_test_fail_rebuilds(int n);
static int (*test_is_wide)(const ds_entry *e);
static int test_failing_rebuilds;
#define IS_WIDE(e) (((uintptr_t)(e) & ~ADDR_MASK) != 0 || (test_is_wide && test_is_wide(e)))
#else
#define IS_WIDE(e) (((uintptr_t)(e) & ~ADDR_MASK) != 0)
#endif

/* Aligned to a cache line so two threads hitting neighbouring shards do not
 * bounce one line between cores. The fields a read needs come first, next
 * to the lock. */
typedef struct shard {
    pthread_mutex_t lock;
    uintptr_t *slots; /* SLOT_EMPTY, SLOT_DUMMY or tag | entry address */
    size_t mask;      /* slots - 1 */
    /* The slot bits holding the tag: ~ADDR_MASK, or 0 once an entry's
     * address needed them (see the top comment). */
    uintptr_t tag_mask;
    uint64_t hits, misses;
    size_t hand; /* the clock hand: the next slot eviction looks at */
    size_t used;  /* live and DUMMY slots */
    size_t count; /* live entries */
    size_t bytes; /* sum of entry footprints */
    uint64_t evictions;
} __attribute__((aligned(64))) shard;

struct ds_hotmap {
    shard *shards;
    size_t nshards;
    unsigned shard_shift; /* 64 - log2(nshards), or 0 with one shard */
    size_t shard_mask;
    size_t capacity;
    size_t init_index; /* slots a shard starts (and restarts) with */
    int lru;
    ds_retire *retire;
    /* Live entries of all shards, kept only with eviction on: the bound is
     * on the map, not on each shard (see ds_hotmap_put). Its own cache line,
     * as every new key of every thread writes it. */
    _Alignas(64) atomic_size_t total;
};

static inline shard *shard_of(const ds_hotmap *m, uint64_t hash)
{
    /* The mask makes a single shard work without a shift by 64 (UB). */
    return &m->shards[(size_t)(hash >> m->shard_shift) & m->shard_mask];
}

/* How many live and DUMMY slots a table of n slots may hold: 2/3 of it. */
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

static inline int is_entry(uintptr_t v) { return v > SLOT_DUMMY; }

/* The slot value for e in shard s (whose mode e must fit, see admit). */
static inline uintptr_t slot_of(const shard *s, const ds_entry *e)
{
    return (uintptr_t)e | (tag_of(e->hash) & s->tag_mask);
}

static inline ds_entry *entry_in(const shard *s, uintptr_t v)
{
    return (ds_entry *)(v & ~(s->tag_mask | SLOT_REF));
}

static inline ds_entry *entry_at(const shard *s, size_t i)
{
    return entry_in(s, s->slots[i]);
}

/* The slot value for e, put or just replaced: with eviction on it starts
 * referenced, so the hand passes it once before it can be a victim. */
static inline uintptr_t fresh_slot(const ds_hotmap *m, const shard *s, const ds_entry *e)
{
    return slot_of(s, e) | (m->lru ? SLOT_REF : 0);
}

/* The slot holding the key, or SLOT_NONE. */
static inline size_t find_slot(const shard *s, uint32_t ns, const char *key,
                               size_t klen, uint64_t hash)
{
    const uintptr_t *slots = s->slots;
    uintptr_t tag_mask = s->tag_mask, tag = tag_of(hash) & tag_mask;
    size_t mask = s->mask, i = (size_t)hash & mask;
    for (;;) {
        uintptr_t v = slots[i];
        if (v == SLOT_EMPTY)
            return SLOT_NONE;
        /* Untagged, tag_mask and tag are 0: every entry is compared. */
        if ((v & tag_mask) == tag && v != SLOT_DUMMY) {
            const ds_entry *e = (const ds_entry *)(v & ~(tag_mask | SLOT_REF));
            if (e->hash == hash && same_key(e, ns, key, klen))
                return i;
        }
        i = (i + 1) & mask;
    }
}

void ds_hotmap_prefetch(const ds_hotmap *m, uint64_t hash)
{
    const shard *s = shard_of(m, hash);
    /* Relaxed atomic loads: a racing resize is fine for a hint. */
    const uintptr_t *slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
    size_t mask = __atomic_load_n(&s->mask, __ATOMIC_RELAXED);
    if (slots)
        __builtin_prefetch(slots + ((size_t)hash & mask));
}

/* Store v (an entry of that hash, known to be absent) in the first free
 * slot of its probe: empty, or DUMMY (any slot a lookup passes anyway).
 * Returns 1 if it took an empty slot, 0 if it reused a DUMMY. */
static inline int place(uintptr_t *slots, size_t mask, uint64_t hash, uintptr_t v)
{
    size_t i = (size_t)hash & mask;
    while (is_entry(slots[i]))
        i = (i + 1) & mask;
    int fresh = slots[i] == SLOT_EMPTY;
    slots[i] = v;
    return fresh;
}

/* Drop the tags of every slot, for good: e's address needs those bits. */
static void untag(shard *s)
{
    for (size_t i = 0; i <= s->mask; i++)
        if (is_entry(s->slots[i]))
            s->slots[i] &= ADDR_MASK;
    s->tag_mask = 0;
}

/* Make sure e can be stored in s: switch s to untagged slots if e's address
 * uses the tag bits. */
static inline void admit(shard *s, const ds_entry *e)
{
    if (DS_UNLIKELY(IS_WIDE(e)) && s->tag_mask != 0)
        untag(s);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n && p <= SIZE_MAX / 2)
        p <<= 1;
    return p;
}

/* Table size for a shard about to hold n entries: at most half full, so
 * after a rebuild at least a sixth of it is free for new keys (and the
 * rebuilds are amortized), never below the starting size. */
static size_t index_size_for(const ds_hotmap *m, size_t n)
{
    size_t want = n <= SIZE_MAX / 2 ? pow2_at_least(2 * n) : SIZE_MAX;
    return want < m->init_index ? m->init_index : want;
}

/* Rebuild the shard with a table of nslots, dropping every DUMMY. Returns
 * -1 on OOM with the shard unchanged. */
static int rebuild(shard *s, size_t nslots)
{
#ifdef DS_TESTING
    if (test_failing_rebuilds > 0) {
        test_failing_rebuilds--;
        return -1;
    }
#endif
    if (nslots > SIZE_MAX / sizeof(uintptr_t))
        return -1;
    uintptr_t *slots = calloc(nslots, sizeof(*slots)); /* all SLOT_EMPTY */
    if (!slots)
        return -1;
    size_t mask = nslots - 1;
    /* A slot value does not depend on the table size: only its place
     * does, which needs the hash, read from the entry. */
    for (size_t i = 0; i <= s->mask; i++) {
        uintptr_t v = s->slots[i];
        if (is_entry(v))
            place(slots, mask, entry_at(s, i)->hash, v);
    }
    /* The hand stays where it was: an entry keeps its home slot number in a
     * table of the same size, or in a larger one that home or the same plus
     * the old size, so the sweep goes on from about where it stopped. */
    s->hand &= mask;
    free(s->slots);
    s->slots = slots;
    s->mask = mask;
    s->used = s->count;
    return 0;
}

/* Make room for one more key. */
static int make_room(const ds_hotmap *m, shard *s)
{
    if (s->used < usable(s->mask + 1))
        return 0;
    return rebuild(s, index_size_for(m, s->count + 1));
}

/* Eviction is CLOCK (second chance), an approximation of LRU kept in the
 * slots themselves: a hit sets its slot's SLOT_REF bit, and the hand sweeps
 * the table clearing the bits it finds, taking the first entry whose bit was
 * already clear. An entry read or written since the hand last passed it is
 * therefore kept over one that was not (PostgreSQL's buffer manager sweeps
 * its buffers the same way). Why not an LRU list: moving an entry to the
 * front of a doubly linked list writes both of its neighbours, two cache
 * misses on every overwrite of a large map (and on reads of entries not
 * moved recently), where the bit is a write to the slot the lookup has just
 * loaded, and the sweep reads slots in order. In interleaved A/B runs of
 * 100k random-order lazy overwrites of 32 B values, replacing the list made
 * them 11-18% faster.
 * The price is a weaker recency guarantee: a key outlives at least one full
 * turn of the hand after its last use, which under steady insertion is about
 * half as many later inserts into its shard as the shard holds (an exact LRU
 * keeps all of them).
 *
 * The victim is the first unreferenced entry from the hand on, passing over
 * keep (the entry just put, which the caller must keep). The shard must hold
 * an entry besides keep; after one full turn every bit is clear, so the
 * sweep ends within two. */
static size_t clock_victim(shard *s, const ds_entry *keep)
{
    uintptr_t *slots = s->slots;
    size_t mask = s->mask, i = s->hand & mask;
    for (;; i = (i + 1) & mask) {
        uintptr_t v = slots[i];
        if (!is_entry(v))
            continue;
        if (v & SLOT_REF)
            slots[i] = v & ~SLOT_REF;
        else if (entry_in(s, v) != keep)
            break;
    }
    s->hand = (i + 1) & mask;
    return i;
}

/* An empty table of the starting size. */
static int shard_table_init(shard *s, size_t init_index)
{
    uintptr_t *slots = calloc(init_index, sizeof(*slots)); /* all SLOT_EMPTY */
    if (!slots)
        return -1; /* the shard is unchanged */
    s->slots = slots;
    s->mask = init_index - 1;
    s->used = 0;
    s->hand = 0;
    return 0;
}

ds_hotmap *ds_hotmap_new(size_t nshards, size_t capacity, int track_lru,
                         ds_retire *retire)
{
    if (nshards == 0)
        nshards = 1;
    if (nshards > ((size_t)1 << MAX_SHARD_BITS))
        nshards = (size_t)1 << MAX_SHARD_BITS;
    nshards = pow2_at_least(nshards);
    unsigned bits = 0;
    while (((size_t)1 << bits) < nshards)
        bits++;

    /* aligned_alloc: the struct is aligned to a cache line (total). */
    ds_hotmap *m = aligned_alloc(_Alignof(ds_hotmap), sizeof(*m));
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    atomic_init(&m->total, 0);
    m->nshards = nshards;
    m->shard_shift = bits ? 64 - bits : 0;
    m->shard_mask = nshards - 1;
    m->capacity = capacity;
    /* Without a bound there is nothing to evict, so reference bits would
     * only cost writes on reads. */
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
        s->tag_mask = ~ADDR_MASK;
        if (shard_table_init(s, m->init_index) != 0 ||
            pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->slots);
            for (size_t j = 0; j < i; j++) {
                free(m->shards[j].slots);
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
        for (size_t j = 0; j <= s->mask; j++)
            if (is_entry(s->slots[j]))
                ds_entry_decref(entry_at(s, j), m->retire);
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
    s->hits++;
    /* Only the first hit since the hand passed writes the slot. */
    if (m->lru && !(s->slots[i] & SLOT_REF))
        s->slots[i] |= SLOT_REF;
    return entry_at(s, i);
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

/* Take e (at slot i) out of the table; the reference moves to
 * the caller. */
static void take_out(ds_hotmap *m, shard *s, size_t i, ds_entry *e)
{
    uintptr_t *slots = s->slots;
    size_t mask = s->mask;
    /* A DUMMY is only needed where a probe could continue: if the next slot
     * is empty, no run passes through i, so it and the DUMMY slots just
     * before it can become empty again (shorter probes for misses). */
    if (slots[(i + 1) & mask] == SLOT_EMPTY) {
        do {
            slots[i] = SLOT_EMPTY;
            s->used--;
            i = (i - 1) & mask;
        } while (slots[i] == SLOT_DUMMY);
    } else {
        slots[i] = SLOT_DUMMY;
    }
    s->count--;
    if (m->lru)
        atomic_fetch_sub_explicit(&m->total, 1, memory_order_relaxed);
    s->bytes -= ds_entry_footprint(e);
}

/* Put e, a new entry for the key of old, into old's slot i (same key, so
 * same hash, tag and slot), referenced; the map's reference to old moves to
 * the caller. */
static void replace_at(const ds_hotmap *m, shard *s, size_t i, ds_entry *old, ds_entry *e)
{
    s->slots[i] = fresh_slot(m, s, e);
    s->bytes = s->bytes - ds_entry_footprint(old) + ds_entry_footprint(e);
}

/* The bound is on the whole map: a shard may hold more than its share when
 * the keys fall unevenly, so the map holds capacity entries before the first
 * eviction (with a bound per shard, the fullest shard would start evicting
 * well before, and a working set of exactly hot_capacity keys would never
 * fit). The count is read without a lock: threads putting at the same time
 * may each see the map over its bound and each evict one, or briefly leave
 * it one over per thread, never more. */
static inline int over_capacity(ds_hotmap *m)
{
    return m->lru && atomic_load_explicit(&m->total, memory_order_relaxed) > m->capacity;
}

/* Take the clock's victim out of s (whose lock is held), passing over keep;
 * s must hold an entry other than keep. */
static ds_entry *evict_one(ds_hotmap *m, shard *s, const ds_entry *keep)
{
    size_t v = clock_victim(s, keep);
    ds_entry *victim = entry_at(s, v);
    take_out(m, s, v, victim);
    s->evictions++;
    return victim;
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
    admit(s, e);
    size_t i = find_slot(s, e->ns, e->data, e->klen, e->hash);
    if (i != SLOT_NONE) {
        old = entry_at(s, i);
        replace_at(m, s, i, old, e);
    } else {
        if (make_room(m, s) != 0) {
            pthread_mutex_unlock(&s->lock);
            if (replaced)
                *replaced = 0;
            if (n_evicted)
                *n_evicted = 0;
            return DS_NOMEM;
        }
        s->used += (size_t)place(s->slots, s->mask, e->hash, fresh_slot(m, s, e));
        s->count++;
        s->bytes += ds_entry_footprint(e);
        if (m->lru)
            atomic_fetch_add_explicit(&m->total, 1, memory_order_relaxed);
    }
    /* Also on replacement: an earlier put may have left the map over its
     * bound when the caller's eviction buffer was full. */
    while (over_capacity(m) && s->count > 1 && nev < max_evicted)
        evicted[nev++] = evict_one(m, s, e);
    pthread_mutex_unlock(&s->lock);
    /* Nothing else in this shard to give: the others give, one lock at a
     * time (a shard lock is a leaf). */
    for (size_t k = 1; k < m->nshards && over_capacity(m) && nev < max_evicted; k++) {
        shard *o = &m->shards[((size_t)(s - m->shards) + k) & m->shard_mask];
        pthread_mutex_lock(&o->lock);
        while (over_capacity(m) && o->count > 0 && nev < max_evicted)
            evicted[nev++] = evict_one(m, o, NULL);
        pthread_mutex_unlock(&o->lock);
    }

    if (old)
        ds_entry_decref(old, m->retire);
    if (replaced)
        *replaced = old != NULL;
    if (n_evicted)
        *n_evicted = nev;
    return DS_OK;
}

int ds_hotmap_replace_exact(ds_hotmap *m, ds_entry *old, ds_entry *e)
{
    shard *s = shard_of(m, e->hash);
    pthread_mutex_lock(&s->lock);
    admit(s, e);
    size_t i = find_slot(s, e->ns, e->data, e->klen, e->hash);
    int done = i != SLOT_NONE && entry_at(s, i) == old;
    if (done)
        replace_at(m, s, i, old, e);
    pthread_mutex_unlock(&s->lock);
    if (done)
        ds_entry_decref(old, m->retire);
    return done;
}

int ds_hotmap_remove_exact(ds_hotmap *m, const ds_entry *e)
{
    shard *s = shard_of(m, e->hash);
    pthread_mutex_lock(&s->lock);
    size_t i = find_slot(s, e->ns, e->data, e->klen, e->hash);
    ds_entry *found = i != SLOT_NONE ? entry_at(s, i) : NULL;
    int done = found == e;
    if (done)
        take_out(m, s, i, found);
    pthread_mutex_unlock(&s->lock);
    if (done)
        ds_entry_decref(found, m->retire);
    return done;
}

ds_entry *ds_hotmap_remove(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                           uint64_t hash)
{
    shard *s = shard_of(m, hash);
    pthread_mutex_lock(&s->lock);
    size_t i = find_slot(s, ns, key, klen, hash);
    ds_entry *e = NULL;
    if (i != SLOT_NONE) {
        e = entry_at(s, i);
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
static ds_entry **shard_clear(ds_hotmap *m, shard *s, uint32_t ns, size_t *n)
{
    *n = 0;
    if (s->count == 0)
        return NULL;
    ds_entry **out = malloc(s->count * sizeof(*out));
    size_t k = 0, nslots = s->mask + 1;
    if (ns == UINT32_MAX) {
        for (size_t j = 0; j < nslots; j++) {
            if (!is_entry(s->slots[j]))
                continue;
            ds_entry *e = entry_at(s, j);
            if (out)
                out[k++] = e;
            else
                ds_entry_decref(e, m->retire);
        }
        /* Give a grown table back rather than keep it for entries that are
         * gone; if the small one cannot be allocated, reuse the old one. */
        uintptr_t *old = s->slots;
        if (nslots > m->init_index && shard_table_init(s, m->init_index) == 0) {
            free(old);
        } else {
            memset(s->slots, 0, nslots * sizeof(*s->slots)); /* all SLOT_EMPTY */
            s->used = 0;
        }
        if (m->lru)
            atomic_fetch_sub_explicit(&m->total, s->count, memory_order_relaxed);
        s->count = 0;
        s->bytes = 0;
    } else {
        /* take_out keeps the table valid at every step, and only ever turns
         * slots other than live ones into EMPTY, so the scan sees each live
         * entry exactly once. */
        for (size_t j = 0; j < nslots; j++) {
            if (!is_entry(s->slots[j]))
                continue;
            ds_entry *e = entry_at(s, j);
            if (e->ns != ns)
                continue;
            take_out(m, s, j, e);
            if (out)
                out[k++] = e;
            else
                ds_entry_decref(e, m->retire);
        }
        /* Drop the DUMMY slots left behind (and shrink the table if most of
         * it emptied). Failing is harmless: they are dropped by the next
         * rebuild instead. */
        if (s->used != s->count)
            (void)rebuild(s, index_size_for(m, s->count));
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

/* Room in *arr (of elements of elem bytes, *cap of them) for n + more.
 * Sized for a whole shard at a time, so the scans below realloc at most once
 * a shard and never inside a scan. 0, or -1 on OOM (*arr unchanged). */
static int reserve(void **arr, size_t *cap, size_t n, size_t more, size_t elem)
{
    if (n + more <= *cap)
        return 0;
    size_t want = n + more;
    want += want / 2;
    void *grown = want <= SIZE_MAX / elem ? realloc(*arr, want * elem) : NULL;
    if (!grown)
        return -1;
    *arr = grown;
    *cap = want;
    return 0;
}

size_t ds_hotmap_collect(ds_hotmap *m, uint32_t ns, ds_entry ***out)
{
    ds_entry **items = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        if (reserve((void **)&items, &cap, n, s->count, sizeof(*items)) != 0) {
            pthread_mutex_unlock(&s->lock);
            for (size_t k = 0; k < n; k++)
                ds_entry_decref(items[k], m->retire);
            free(items);
            return (size_t)-1;
        }
        for (size_t j = 0; j <= s->mask; j++) {
            if (!is_entry(s->slots[j]))
                continue;
            ds_entry *e = entry_at(s, j);
            if (ns == UINT32_MAX || e->ns == ns)
                items[n++] = ds_entry_incref(e);
        }
        pthread_mutex_unlock(&s->lock);
    }
    *out = items;
    return n;
}

/* How far ahead of its turn an entry is loaded when hashing a shard's keys:
 * enough misses in flight to cover the memory latency. */
#define HASH_AHEAD 16

/* Write the key hashes of s's entries of ns to out (room for s->count) and
 * return how many. First the entry addresses, read from the slots in order;
 * then the hashes, each entry prefetched HASH_AHEAD turns before it is
 * hashed. In a large map the entries are scattered, and hashing them in slot
 * order waits on one cache miss after another: building the key set of a
 * lazy bulk load of 1M keys took about 180 ms that way. Each hash overwrites
 * the address it came from, which the prefetch, always ahead, has read. */
static size_t shard_key_hashes(const shard *s, uint32_t ns, uint64_t *out)
{
    size_t k = 0;
    for (size_t j = 0; j <= s->mask; j++)
        if (is_entry(s->slots[j]))
            out[k++] = (uint64_t)(uintptr_t)entry_at(s, j);
    size_t w = 0;
    for (size_t i = 0; i < k; i++) {
        if (i + HASH_AHEAD < k) {
            const char *ahead = (const char *)(uintptr_t)out[i + HASH_AHEAD];
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + 64); /* the key may cross a line */
        }
        const ds_entry *e = (const ds_entry *)(uintptr_t)out[i];
        if (ns == UINT32_MAX || e->ns == ns)
            out[w++] = ds_hash_bytes(ds_entry_key(e), e->klen);
    }
    return w;
}

size_t ds_hotmap_key_hashes(ds_hotmap *m, uint32_t ns, uint64_t **out)
{
    _Static_assert(sizeof(uintptr_t) <= sizeof(uint64_t), "an address fits a hash's room");
    uint64_t *hashes = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    /* Sized for the whole map up front (the shards may still grow meanwhile,
     * which the reserve of each shard covers): a large array grown shard by
     * shard is copied and faulted in again at every step. */
    if (reserve((void **)&hashes, &cap, 0, ds_hotmap_size(m), sizeof(*hashes)) != 0)
        return (size_t)-1;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        if (reserve((void **)&hashes, &cap, n, s->count, sizeof(*hashes)) != 0) {
            pthread_mutex_unlock(&s->lock);
            free(hashes);
            return (size_t)-1;
        }
        n += shard_key_hashes(s, ns, hashes + n);
        pthread_mutex_unlock(&s->lock);
    }
    *out = hashes;
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
        out->bytes += s->bytes + (s->mask + 1) * sizeof(*s->slots);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}

#ifdef DS_TESTING
/* Test hooks, compiled only into the C tests (see CMakeLists.txt). */

/* Treat the entries for which is_wide returns nonzero (none if NULL) as
 * not fitting a tagged slot. Set it only while no other thread uses a map. */
void ds_hotmap_test_set_wide(int (*is_wide)(const ds_entry *e)) { test_is_wide = is_wide; }

/* Make the next n table rebuilds fail as if out of memory. Set it only while
 * no other thread uses a map. */
void ds_hotmap_test_fail_rebuilds(int n) { test_failing_rebuilds = n; }

/* Totals over the shards: table slots, live and DUMMY slots, and shards
 * still tagged. */
void ds_hotmap_test_tables(ds_hotmap *m, size_t *slots, size_t *filled,
                           size_t *tagged_shards)
{
    *slots = *filled = *tagged_shards = 0;
    for (size_t i = 0; i < m->nshards; i++) {
        shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        *slots += s->mask + 1;
        *filled += s->used;
        *tagged_shards += s->tag_mask != 0;
        pthread_mutex_unlock(&s->lock);
    }
}
#endif
