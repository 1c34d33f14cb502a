/* The warm tier: a byte-bounded LRU cache of clean entries that the hot tier
 * evicted. A read that misses the hot tier and hits here is served without
 * SQLite (and without decryption).
 *
 * It must never serve a stale value. The engine guarantees that by removing a
 * key from here on every write or delete of that key, and by clearing the
 * cache when another connection changes the file. Only entries that are
 * already committed ("clean") are put here.
 *
 * One mutex guards the whole cache; it is a leaf lock like the hot shards.
 */
#ifndef DICTSQLITE_WARM_H
#define DICTSQLITE_WARM_H

#include "dictsqlite/entry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ds_warm ds_warm;

typedef struct ds_warm_stats {
    size_t entries, bytes, max_bytes;
    uint64_t hits, misses, evictions;
} ds_warm_stats;

/* max_bytes == 0 disables the tier (every put is dropped). */
ds_warm *ds_warm_new(size_t max_bytes, ds_retire *retire);
void ds_warm_free(ds_warm *w);

/* Take the entry out of the cache (it is being promoted to the hot tier):
 * returns the cache's reference, or NULL. Counts a hit or miss. */
ds_entry *ds_warm_take(ds_warm *w, uint32_t ns, const char *key, size_t klen,
                       uint64_t hash);

int ds_warm_contains(ds_warm *w, uint32_t ns, const char *key, size_t klen,
                     uint64_t hash);

/* Insert e (taking the caller's reference), replacing any entry with the same
 * key, then evict least recently used entries until the byte bound holds.
 * An entry larger than max_bytes on its own is not kept. */
void ds_warm_put(ds_warm *w, ds_entry *e);

/* Drop the key if present. Returns at once, without the lock, when the
 * cache looks empty: exact as long as puts cannot run concurrently with the
 * call (the engine holds its write lock around both). */
void ds_warm_remove(ds_warm *w, uint32_t ns, const char *key, size_t klen,
                    uint64_t hash);

/* Drop every entry of namespace ns (all if ns == UINT32_MAX). */
void ds_warm_clear(ds_warm *w, uint32_t ns);

void ds_warm_get_stats(ds_warm *w, ds_warm_stats *out);

#ifdef __cplusplus
}
#endif
#endif
