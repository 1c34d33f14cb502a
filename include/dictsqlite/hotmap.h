/* The hot tier: a sharded hash map of ds_entry references with one mutex per
 * shard and optional eviction in approximate LRU order.
 *
 * Keys are (ns, key bytes) with a caller-supplied 64-bit hash (already folded
 * with ns). The shard is chosen from the hash's high bits, the bucket from its
 * low bits, so the two choices stay independent; bits 32..47 are kept in the
 * table as a tag, which lets a probe pass most other keys without loading
 * them. A hash should therefore be well mixed in all 64 bits (a poor one
 * costs speed, never correctness).
 *
 * Capacity: with capacity > 0 the map holds at most capacity entries (one
 * more per thread putting at the same moment, briefly), however unevenly
 * the keys fall into shards; a put that takes it over evicts from its own
 * shard, or from the others when its shard holds nothing else (the entry
 * just put is never the victim).
 * Eviction is CLOCK (second chance), per shard: each read or write of an
 * entry sets a reference bit, and the victim is the next entry the shard's
 * clock hand finds with its bit clear, clearing the bits it passes. An entry
 * used since the hand last passed it is kept over one that was not; a key
 * outlives at least one turn of the hand after its last use. Per shard
 * rather than global, to avoid a global lock on every read. The engine never
 * uses more shards than entries. With track_lru = 0 (memory mode) reads
 * write nothing and the map never evicts: capacity is then only a sizing
 * hint.
 *
 * Lock order: a shard lock is a leaf. No other core lock is taken while one
 * is held, and no callback runs under it.
 */
#ifndef DICTSQLITE_HOTMAP_H
#define DICTSQLITE_HOTMAP_H

#include "dictsqlite/entry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ds_hotmap ds_hotmap;

typedef struct ds_hotmap_stats {
    size_t entries;   /* entries now in the map */
    size_t bytes;     /* sum of ds_entry_footprint over them, plus tables */
    uint64_t hits, misses, evictions;
} ds_hotmap_stats;

/* nshards is rounded up to a power of two (at least 1). Returns NULL on OOM.
 * retire receives aux pointers of entries the map frees. */
ds_hotmap *ds_hotmap_new(size_t nshards, size_t capacity, int track_lru,
                         ds_retire *retire);
void ds_hotmap_free(ds_hotmap *m);

size_t ds_hotmap_nshards(const ds_hotmap *m);
size_t ds_hotmap_capacity(const ds_hotmap *m); /* as passed to _new */

/* A new reference to the entry, or NULL if absent. Counts a hit or miss and,
 * with eviction on, marks the entry referenced. */
ds_entry *ds_hotmap_get(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                        uint64_t hash);

/* Start loading the slot where a key of this hash would sit, without
 * taking the shard lock: a hint only (it may read a table being replaced,
 * and prefetching a stale address is harmless). A writer calls it before
 * encoding the value, so the cache miss overlaps the encode. */
void ds_hotmap_prefetch(const ds_hotmap *m, uint64_t hash);

/* The fastest read for the binding: if the key is present, returns 1 and
 * either sets *aux_out to the entry's cached decoded object (then *ref_out is
 * NULL and the refcount is untouched) or, when there is none, sets *aux_out to
 * NULL and *ref_out to a new reference to the entry; returns 0 if absent.
 * Skipping the refcount is only valid for callers that keep aux alive by other
 * means (the binding holds the GIL, and retired aux pointers are only freed
 * under the GIL). Counts hits/misses and marks the entry like _get. */
int ds_hotmap_peek_aux(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash, void **aux_out, ds_entry **ref_out);

/* Is the key present? Counts nothing and marks nothing. */
int ds_hotmap_contains(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash);

/* Insert or replace with e (the map takes the caller's reference).
 * *replaced (if not NULL) is set to 1 when an entry with the same key was
 * there (and is released), else 0.
 * Entries pushed out to respect the capacity are appended to *evicted (the
 * caller owns those references), at most max_evicted of them; the map never
 * evicts e itself. Returns DS_OK or DS_NOMEM (then the map is unchanged and
 * the reference to e stays the caller's). */
ds_status ds_hotmap_put(ds_hotmap *m, ds_entry *e, int *replaced,
                        ds_entry **evicted, size_t max_evicted, size_t *n_evicted);

/* Put e in the place of old, which must hold the same key, only if old is
 * still the key's entry. On success the map takes the caller's reference to
 * e and returns 1 (old is released); otherwise returns 0 and changes
 * nothing (the caller keeps its reference). */
int ds_hotmap_replace_exact(ds_hotmap *m, ds_entry *old, ds_entry *e);

/* Remove e only if it is still its key's entry (then released): 1 if it
 * was, else 0 and nothing changes. */
int ds_hotmap_remove_exact(ds_hotmap *m, const ds_entry *e);

/* Remove the key. Returns the removed entry (caller owns the reference) or
 * NULL if absent. */
ds_entry *ds_hotmap_remove(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                           uint64_t hash);

/* Remove every entry of namespace ns (all namespaces if ns == UINT32_MAX). */
void ds_hotmap_clear(ds_hotmap *m, uint32_t ns);

/* New references to every entry of namespace ns, in no particular order.
 * *out is malloc'd (free() it after releasing the references); returns the
 * count, or (size_t)-1 on OOM (then *out is NULL). */
size_t ds_hotmap_collect(ds_hotmap *m, uint32_t ns, ds_entry ***out);

/* ds_hash_bytes of the key of every entry of namespace ns (all namespaces if
 * ns == UINT32_MAX), in no particular order, in a malloc'd *out (free() it).
 * Returns the count, or (size_t)-1 on OOM (then *out is NULL). Made for a
 * large map: no reference is taken, and entries are loaded ahead of use. */
size_t ds_hotmap_key_hashes(ds_hotmap *m, uint32_t ns, uint64_t **out);

size_t ds_hotmap_size(ds_hotmap *m);
void ds_hotmap_get_stats(ds_hotmap *m, ds_hotmap_stats *out);

#ifdef __cplusplus
}
#endif
#endif
