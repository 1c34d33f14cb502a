/* Open-addressing multiset of 64-bit hashes (see keyset.h). */
#include <stdlib.h>

#include "dictsqlite/keyset.h"

typedef struct {
    uint64_t hash; /* 0 marks an empty slot; hash 0 is stored as 1 */
    uint32_t count;
} kslot;

struct ds_keyset {
    kslot *slots;
    size_t mask;
    size_t used;  /* distinct hashes */
    size_t total; /* occurrences */
};

static inline uint64_t norm(uint64_t h) { return h ? h : 1; }

static size_t pow2_for(size_t n)
{
    size_t cap = 16;
    while (cap < n + n / 2 + 1)
        cap <<= 1;
    return cap;
}

ds_keyset *ds_keyset_new(size_t expected)
{
    ds_keyset *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    size_t cap = pow2_for(expected);
    s->slots = calloc(cap, sizeof(kslot));
    if (!s->slots) {
        free(s);
        return NULL;
    }
    s->mask = cap - 1;
    return s;
}

void ds_keyset_free(ds_keyset *s)
{
    if (s) {
        free(s->slots);
        free(s);
    }
}

static inline size_t home(uint64_t h, size_t mask) { return (size_t)(h ^ (h >> 29)) & mask; }

/* The slot holding h, or the empty slot where it would go. */
static size_t probe(const kslot *slots, size_t mask, uint64_t h)
{
    size_t i = home(h, mask);
    while (slots[i].hash && slots[i].hash != h)
        i = (i + 1) & mask;
    return i;
}

static int grow(ds_keyset *s)
{
    size_t cap = (s->mask + 1) * 2;
    kslot *slots = calloc(cap, sizeof(kslot));
    if (!slots)
        return -1;
    for (size_t i = 0; i <= s->mask; i++)
        if (s->slots[i].hash)
            slots[probe(slots, cap - 1, s->slots[i].hash)] = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->mask = cap - 1;
    return 0;
}

/* Room for more distinct hashes at a load of at most 2/3 (probes stay
 * short, and a slot is only 16 bytes). 0, or -1 on OOM. */
static int make_room(ds_keyset *s, size_t more)
{
    while ((s->used + more) * 3 > (s->mask + 1) * 2)
        if (grow(s) < 0)
            return -1;
    return 0;
}

static inline void add_counted(ds_keyset *s, uint64_t h)
{
    kslot *sl = &s->slots[probe(s->slots, s->mask, h)];
    if (!sl->hash) {
        sl->hash = h;
        s->used++;
    }
    sl->count++;
    s->total++;
}

int ds_keyset_add(ds_keyset *s, uint64_t hash)
{
    if (make_room(s, 1) < 0)
        return -1;
    add_counted(s, norm(hash));
    return 0;
}

/* How far ahead a hash's home slot is prefetched: the hashes come in random
 * order, so each add would otherwise wait on its own cache miss. */
#define ADD_AHEAD 16

int ds_keyset_add_many(ds_keyset *s, const uint64_t *hashes, size_t n)
{
    /* Room for all of them first: the table must not move while its slots
     * are being prefetched. */
    if (make_room(s, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i + ADD_AHEAD < n)
            __builtin_prefetch(&s->slots[home(norm(hashes[i + ADD_AHEAD]), s->mask)]);
        add_counted(s, norm(hashes[i]));
    }
    return 0;
}

void ds_keyset_remove(ds_keyset *s, uint64_t hash)
{
    uint64_t h = norm(hash);
    size_t i = probe(s->slots, s->mask, h);
    if (!s->slots[i].hash)
        return;
    s->total--;
    if (--s->slots[i].count)
        return;
    /* backward-shift deletion keeps every remaining hash reachable */
    size_t j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        if (!s->slots[j].hash)
            break;
        uint64_t hj = s->slots[j].hash;
        size_t home = (size_t)(hj ^ (hj >> 29)) & s->mask;
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].hash = 0;
    s->slots[i].count = 0;
    s->used--;
}

int ds_keyset_maybe(const ds_keyset *s, uint64_t hash)
{
    return s->slots[probe(s->slots, s->mask, norm(hash))].hash != 0;
}

size_t ds_keyset_size(const ds_keyset *s) { return s->total; }
size_t ds_keyset_bytes(const ds_keyset *s) { return (s->mask + 1) * sizeof(kslot); }
