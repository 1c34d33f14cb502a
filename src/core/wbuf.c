/* The write buffer (see wbuf.h), laid out like CPython's compact dict: an
 * array of entry pointers in first-write order plus an open-addressing index
 * of positions into it. Replacing a key overwrites its array cell, so the
 * order never changes and a flush walks the array as is.
 *
 * The only failure the engine cannot report is end_flush(0), which must put
 * the batch back. So it never allocates: while a batch is in flight, the
 * pending table is kept large enough to absorb the batch (cap >= pending +
 * in flight), paying for that room in put() and begin_flush(), which can
 * fail cleanly.
 *
 * Entries are released after the lock is dropped: the last decref may take
 * the retire lock, and this lock is a leaf.
 */
#include <stdlib.h>
#include <string.h>

#include "dictsqlite/wbuf.h"

/* 8 bytes a slot: the low 32 bits of the hash, and a 32-bit position (which
 * keeps a large bulk load's index small). The bits above the slot number
 * filter almost every mismatch without touching the entry, and since the
 * slot number itself comes from the same 32 bits (the index never exceeds
 * 2^32 slots), growing the index rehashes from the slots alone: it never
 * reads the entries, which a write-heavy load would otherwise pull through
 * the cache once per doubling. */
typedef struct widx {
    uint32_t tag;
    uint32_t pos; /* POS_NONE: empty */
} widx;

#define POS_NONE UINT32_MAX /* an empty index slot */
#define NOT_FOUND SIZE_MAX  /* lookup()'s answer for an absent key */
#define MIN_CAP 16
#define MAX_CAP ((size_t)1 << 31) /* positions stay below POS_NONE */

static inline uint32_t tag_of(uint64_t hash) { return (uint32_t)hash; }

/* cap array cells and 2 * cap index slots (load <= 1/2, and no deletions
 * other than full rebuilds, so no tombstones). */
typedef struct wtab {
    ds_entry **order;
    size_t n, cap;
    widx *idx;
    size_t mask;
} wtab;

/* The last committed batch's arrays are kept for the next begin_flush when
 * no larger than this: a lazy bulk load flushes batches of EARLY_FLUSH_ROWS
 * (engine.c) back to back, and allocating (and, past glibc's mmap
 * threshold, faulting in and unmapping) 1.5 MB of tables per batch cost
 * the writer page faults and TLB-shootdown interrupts. A one-off larger
 * batch still frees its tables, so it pins nothing. */
#define SPARE_MAX_CAP ((size_t)1 << 17)
/* ...and they serve only a batch that needs at least 1/SPARE_MAX_OVERSIZE of
 * their room, since taking them clears their whole index. Without this
 * bound, a writethrough store that once flushed a large update() kept
 * clearing that update's index (up to 2 MB) on every later one-row commit,
 * which made the commit about twice as slow. */
#define SPARE_MAX_OVERSIZE 4

struct ds_wbuf {
    pthread_mutex_t lock;
    wtab pend;
    wtab flight;
    wtab spare; /* no entries: arrays only, or nothing */
    int in_flight;
    /* value bytes of the pending entries (not the batch in flight), so the
     * engine can bound a lazy buffer by memory as well as by count */
    size_t pend_bytes;
    ds_retire *retire;
};

static size_t bytes_of(ds_entry *const *order, size_t n)
{
    size_t total = 0;
    for (size_t p = 0; p < n; p++)
        if (order[p])
            total += order[p]->vlen;
    return total;
}

static inline int ns_match(const ds_entry *e, uint32_t ns)
{
    return ns == UINT32_MAX || e->ns == ns;
}

/* Position of the key in t, comparing against base[] (which is t->order
 * except during the merge, when the array has been shifted). Cells may be
 * NULL during the merge; those never match. */
static size_t lookup(const wtab *t, ds_entry *const *base, uint32_t ns,
                     const char *key, size_t klen, uint64_t hash)
{
    if (!t->idx)
        return NOT_FOUND;
    size_t mask = t->mask, i = (size_t)tag_of(hash) & mask;
    uint32_t tag = tag_of(hash);
    for (;;) {
        const widx *s = &t->idx[i];
        if (s->pos == POS_NONE)
            return NOT_FOUND;
        if (s->tag == tag) {
            const ds_entry *e = base[s->pos];
            if (e && e->hash == hash && e->ns == ns && e->klen == klen &&
                memcmp(e->data, key, klen) == 0)
                return s->pos;
        }
        i = (i + 1) & mask;
    }
}

static inline size_t lookup_entry(const wtab *t, const ds_entry *e)
{
    return lookup(t, t->order, e->ns, e->data, e->klen, e->hash);
}

static void index_clear(widx *idx, size_t nslots)
{
    memset(idx, 0xff, nslots * sizeof(widx)); /* pos = POS_NONE */
}

static void index_insert(widx *idx, size_t mask, uint64_t hash, size_t pos)
{
    size_t i = (size_t)tag_of(hash) & mask;
    while (idx[i].pos != POS_NONE)
        i = (i + 1) & mask;
    idx[i].tag = tag_of(hash);
    idx[i].pos = (uint32_t)pos;
}

/* Move the slots of old (old_mask + 1 of them) into idx, a larger empty
 * index: the stored tag is all a slot's home depends on. */
static void rehash_slots(widx *idx, size_t mask, const widx *old, size_t old_mask)
{
    for (size_t j = 0; j <= old_mask; j++)
        if (old[j].pos != POS_NONE)
            index_insert(idx, mask, old[j].tag, old[j].pos);
}

static void reindex(wtab *t)
{
    index_clear(t->idx, t->mask + 1);
    for (size_t p = 0; p < t->n; p++)
        index_insert(t->idx, t->mask, t->order[p]->hash, p);
}

/* An empty table with room for cap entries. */
static int wtab_init(wtab *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    if (cap > MAX_CAP)
        return -1;
    t->order = malloc(cap * sizeof(*t->order));
    t->idx = malloc(2 * cap * sizeof(widx));
    if (!t->order || !t->idx) {
        free(t->order);
        free(t->idx);
        memset(t, 0, sizeof(*t));
        return -1;
    }
    t->cap = cap;
    t->mask = 2 * cap - 1;
    index_clear(t->idx, 2 * cap);
    return 0;
}

/* Room for need entries; on failure t is unchanged. */
static int wtab_reserve(wtab *t, size_t need)
{
    if (need <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : MIN_CAP;
    while (cap < need) {
        if (cap >= MAX_CAP)
            return -1;
        cap *= 2;
    }
    widx *idx = malloc(2 * cap * sizeof(widx));
    if (!idx)
        return -1;
    ds_entry **order = realloc(t->order, cap * sizeof(*order));
    if (!order) {
        free(idx);
        return -1;
    }
    size_t mask = 2 * cap - 1;
    index_clear(idx, mask + 1);
    if (t->idx)
        rehash_slots(idx, mask, t->idx, t->mask);
    free(t->idx);
    t->order = order;
    t->idx = idx;
    t->cap = cap;
    t->mask = mask;
    return 0;
}

static void wtab_release_entries(wtab *t, ds_retire *retire)
{
    for (size_t p = 0; p < t->n; p++)
        if (t->order[p])
            ds_entry_decref(t->order[p], retire);
    t->n = 0;
}

static void wtab_release(wtab *t, ds_retire *retire)
{
    wtab_release_entries(t, retire);
    free(t->order);
    free(t->idx);
    memset(t, 0, sizeof(*t));
}

/* An empty table with room for cap entries, from the spare arrays when
 * they are large enough and not too large (see SPARE_MAX_OVERSIZE). */
static int wtab_take(ds_wbuf *b, wtab *t, size_t cap)
{
    if (b->spare.cap >= cap && b->spare.cap / SPARE_MAX_OVERSIZE <= cap) {
        *t = b->spare;
        memset(&b->spare, 0, sizeof(b->spare));
        index_clear(t->idx, t->mask + 1);
        return 0;
    }
    return wtab_init(t, cap);
}

ds_wbuf *ds_wbuf_new(ds_retire *retire)
{
    ds_wbuf *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        return NULL;
    }
    b->retire = retire;
    return b;
}

void ds_wbuf_free(ds_wbuf *b)
{
    if (!b)
        return;
    wtab_release(&b->pend, b->retire);
    wtab_release(&b->flight, b->retire);
    wtab_release(&b->spare, b->retire);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void ds_wbuf_prefetch(const ds_wbuf *b, uint64_t hash)
{
    /* Relaxed atomic loads: a begin_flush swapping the table meanwhile only
     * makes the hint useless. */
    const widx *idx = __atomic_load_n(&b->pend.idx, __ATOMIC_RELAXED);
    size_t mask = __atomic_load_n(&b->pend.mask, __ATOMIC_RELAXED);
    if (idx)
        __builtin_prefetch(idx + ((size_t)tag_of(hash) & mask));
}

ds_status ds_wbuf_put(ds_wbuf *b, ds_entry *e)
{
    ds_entry *old = NULL;
    pthread_mutex_lock(&b->lock);
    size_t p = lookup_entry(&b->pend, e);
    if (p != NOT_FOUND) {
        /* old may be e itself: then this drops the caller's extra ref. */
        old = b->pend.order[p];
        b->pend.order[p] = e;
        b->pend_bytes += e->vlen - old->vlen;
    } else {
        size_t need = b->pend.n + 1 + (b->in_flight ? b->flight.n : 0);
        if (wtab_reserve(&b->pend, need) != 0) {
            pthread_mutex_unlock(&b->lock);
            ds_entry_decref(e, b->retire);
            return DS_NOMEM;
        }
        index_insert(b->pend.idx, b->pend.mask, e->hash, b->pend.n);
        b->pend.order[b->pend.n++] = e;
        b->pend_bytes += e->vlen;
    }
    pthread_mutex_unlock(&b->lock);
    if (old)
        ds_entry_decref(old, b->retire);
    return DS_OK;
}

ds_status ds_wbuf_reserve(ds_wbuf *b, size_t n)
{
    pthread_mutex_lock(&b->lock);
    size_t need = b->pend.n + n + (b->in_flight ? b->flight.n : 0);
    int rc = wtab_reserve(&b->pend, need);
    pthread_mutex_unlock(&b->lock);
    return rc == 0 ? DS_OK : DS_NOMEM;
}

ds_entry *ds_wbuf_get(ds_wbuf *b, uint32_t ns, const char *key, size_t klen,
                      uint64_t hash)
{
    ds_entry *e = NULL;
    pthread_mutex_lock(&b->lock);
    size_t p = lookup(&b->pend, b->pend.order, ns, key, klen, hash);
    if (p != NOT_FOUND) {
        e = b->pend.order[p];
    } else if (b->in_flight) {
        p = lookup(&b->flight, b->flight.order, ns, key, klen, hash);
        if (p != NOT_FOUND)
            e = b->flight.order[p];
    }
    /* Under the lock: once it is dropped a flush may release the buffer's
     * reference. */
    if (e)
        ds_entry_incref(e);
    pthread_mutex_unlock(&b->lock);
    return e;
}

int ds_wbuf_holds(ds_wbuf *b, const ds_entry *e)
{
    int held = 0;
    pthread_mutex_lock(&b->lock);
    size_t p = lookup_entry(&b->pend, e);
    if (p != NOT_FOUND) {
        held = b->pend.order[p] == e;
    } else if (b->in_flight) {
        p = lookup_entry(&b->flight, e);
        held = p != NOT_FOUND && b->flight.order[p] == e;
    }
    pthread_mutex_unlock(&b->lock);
    return held;
}

size_t ds_wbuf_pending(ds_wbuf *b)
{
    pthread_mutex_lock(&b->lock);
    size_t n = b->pend.n;
    pthread_mutex_unlock(&b->lock);
    return n;
}

size_t ds_wbuf_pending_bytes(ds_wbuf *b)
{
    pthread_mutex_lock(&b->lock);
    size_t n = b->pend_bytes;
    pthread_mutex_unlock(&b->lock);
    return n;
}

int ds_wbuf_undo(ds_wbuf *b, const ds_entry *mine, ds_entry *prev)
{
    ds_entry *drop = NULL;
    pthread_mutex_lock(&b->lock);
    wtab *t = &b->pend;
    size_t p = lookup_entry(t, mine);
    if (p == NOT_FOUND || t->order[p] != mine) {
        pthread_mutex_unlock(&b->lock);
        return 0;
    }
    drop = t->order[p];
    b->pend_bytes -= drop->vlen;
    if (prev) {
        t->order[p] = ds_entry_incref(prev);
        b->pend_bytes += prev->vlen;
    } else {
        /* Only failed calls get here, so an O(n) compaction is fine; the
         * index has no tombstones, hence the rebuild. */
        memmove(t->order + p, t->order + p + 1, (t->n - p - 1) * sizeof(*t->order));
        t->n--;
        reindex(t);
    }
    pthread_mutex_unlock(&b->lock);
    ds_entry_decref(drop, b->retire);
    return 1;
}

ds_status ds_wbuf_begin_flush(ds_wbuf *b, ds_entry *const **items, size_t *n)
{
    pthread_mutex_lock(&b->lock);
    if (b->in_flight) {
        pthread_mutex_unlock(&b->lock);
        return DS_INVALID;
    }
    /* An empty flush leaves nothing in flight, so an engine that skips
     * end_flush when there was nothing to write cannot wedge the buffer. */
    if (b->pend.n == 0) {
        pthread_mutex_unlock(&b->lock);
        *items = NULL;
        *n = 0;
        return DS_OK;
    }
    /* The fresh pending table must be able to take the whole batch back in
     * end_flush(0), which may not allocate; sized to this batch rather than
     * to the old table, so one bulk load does not pin a large table. */
    size_t cap = MIN_CAP;
    while (cap < b->pend.n)
        cap *= 2;
    wtab fresh;
    if (wtab_take(b, &fresh, cap) != 0) {
        pthread_mutex_unlock(&b->lock);
        return DS_NOMEM;
    }
    b->flight = b->pend;
    b->pend = fresh;
    b->pend_bytes = 0;
    b->in_flight = 1;
    *items = b->flight.order;
    *n = b->flight.n;
    pthread_mutex_unlock(&b->lock);
    return DS_OK;
}

/* Put a failed batch back in front of the writes made meanwhile, in place.
 * Cells of f whose entry moved to pending are set to NULL; the rest were
 * superseded by a newer pending write and remain for the caller to release.
 * Relies on pend.cap >= pend.n + f->n (see the header comment). */
static void merge_back(ds_wbuf *b, wtab *f)
{
    wtab *t = &b->pend;
    ds_entry **o = t->order;
    size_t pn = t->n, fn = f->n;
    memmove(o + fn, o, pn * sizeof(*o));
    ds_entry **base = o + fn; /* pending entries, indexed by t->idx */
    for (size_t i = 0; i < fn; i++) {
        ds_entry *fe = f->order[i];
        size_t p = lookup(t, base, fe->ns, fe->data, fe->klen, fe->hash);
        if (p != NOT_FOUND) {
            /* newer value, first-write position */
            o[i] = base[p];
            base[p] = NULL;
        } else {
            o[i] = fe;
            f->order[i] = NULL;
        }
    }
    size_t w = fn;
    for (size_t r = fn; r < fn + pn; r++)
        if (o[r])
            o[w++] = o[r];
    t->n = w;
    reindex(t);
}

void ds_wbuf_end_flush(ds_wbuf *b, int committed)
{
    pthread_mutex_lock(&b->lock);
    if (!b->in_flight) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    wtab done = b->flight;
    memset(&b->flight, 0, sizeof(b->flight));
    b->in_flight = 0;
    if (!committed) {
        merge_back(b, &done);
        b->pend_bytes = bytes_of(b->pend.order, b->pend.n);
    }
    pthread_mutex_unlock(&b->lock);
    wtab_release_entries(&done, b->retire);
    if (done.cap > SPARE_MAX_CAP) {
        wtab_release(&done, b->retire);
        return;
    }
    /* The latest batch's size is the best guess of the next one's: keeping
     * the largest instead would pin a one-off large batch's tables for good
     * (and wtab_take would pass them over). */
    pthread_mutex_lock(&b->lock);
    wtab old = b->spare;
    b->spare = done;
    pthread_mutex_unlock(&b->lock);
    wtab_release(&old, b->retire);
}

void ds_wbuf_drop_ns(ds_wbuf *b, uint32_t ns)
{
    pthread_mutex_lock(&b->lock);
    wtab *t = &b->pend;
    size_t ndead = 0;
    for (size_t p = 0; p < t->n; p++)
        ndead += ns_match(t->order[p], ns);
    if (ndead == 0) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    /* Without the array, release under the lock: slower, still correct. */
    ds_entry **dead = malloc(ndead * sizeof(*dead));
    size_t k = 0, w = 0;
    for (size_t p = 0; p < t->n; p++) {
        ds_entry *e = t->order[p];
        if (!ns_match(e, ns))
            t->order[w++] = e;
        else if (dead)
            dead[k++] = e;
        else
            ds_entry_decref(e, b->retire);
    }
    t->n = w;
    reindex(t);
    b->pend_bytes = bytes_of(t->order, t->n);
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < k; i++)
        ds_entry_decref(dead[i], b->retire);
    free(dead);
}

void ds_wbuf_foreach(ds_wbuf *b, uint32_t ns,
                     void (*fn)(const ds_entry *e, void *ctx), void *ctx)
{
    pthread_mutex_lock(&b->lock);
    /* In the order a flush after a failed one would write them: the batch's
     * keys first (with any newer pending value), then keys new since. */
    if (b->in_flight) {
        for (size_t i = 0; i < b->flight.n; i++) {
            const ds_entry *fe = b->flight.order[i];
            if (!ns_match(fe, ns))
                continue;
            size_t p = lookup_entry(&b->pend, fe);
            fn(p != NOT_FOUND ? b->pend.order[p] : fe, ctx);
        }
    }
    for (size_t p = 0; p < b->pend.n; p++) {
        const ds_entry *e = b->pend.order[p];
        if (!ns_match(e, ns))
            continue;
        if (b->in_flight && lookup_entry(&b->flight, e) != NOT_FOUND)
            continue;
        fn(e, ctx);
    }
    pthread_mutex_unlock(&b->lock);
}

#ifdef DS_TESTING
/* Test hook, compiled only into the C tests (see CMakeLists.txt): the room
 * of the pending table and of the spare arrays. */
void ds_wbuf_test_caps(ds_wbuf *b, size_t *pending_cap, size_t *spare_cap)
{
    pthread_mutex_lock(&b->lock);
    *pending_cap = b->pend.cap;
    *spare_cap = b->spare.cap;
    pthread_mutex_unlock(&b->lock);
}
#endif
