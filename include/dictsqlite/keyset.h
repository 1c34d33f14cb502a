/* ds_keyset: a multiset of 64-bit key hashes, one per namespace that the hot
 * tier no longer covers completely (after a reopen or an eviction).
 *
 * It answers "could this key exist?" without SQLite: a hash that is absent
 * means the key is absent, which is what writing a new key needs to know to
 * keep len() O(1). A present hash only means "maybe" (two keys can share a
 * hash), and the engine then asks SQLite. Counting duplicates keeps a delete
 * of one key from hiding another key with the same hash.
 *
 * Not thread-safe: the engine guards it with its write lock.
 */
#ifndef DICTSQLITE_KEYSET_H
#define DICTSQLITE_KEYSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct ds_keyset ds_keyset;

ds_keyset *ds_keyset_new(size_t expected);
void ds_keyset_free(ds_keyset *s);
/* 0, or -1 on OOM (the set is unchanged) */
int ds_keyset_add(ds_keyset *s, uint64_t hash);
/* ds_keyset_add of each of n hashes, faster for many; 0, or -1 on OOM (the
 * set is then unchanged). */
int ds_keyset_add_many(ds_keyset *s, const uint64_t *hashes, size_t n);
/* Drop one occurrence; no-op if absent. */
void ds_keyset_remove(ds_keyset *s, uint64_t hash);
int ds_keyset_maybe(const ds_keyset *s, uint64_t hash);
size_t ds_keyset_size(const ds_keyset *s); /* occurrences */
size_t ds_keyset_bytes(const ds_keyset *s);

#endif
