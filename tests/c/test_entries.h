/* Entry helpers shared by the unit tests of the tiers that hold entries
 * (hot map, warm cache, write buffer): building entries from C strings and
 * looking at them. static inline, so a test that uses only some of them
 * compiles without unused-function warnings. */
#ifndef DICTSQLITE_TEST_ENTRIES_H
#define DICTSQLITE_TEST_ENTRIES_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dictsqlite/entry.h"

static inline uint64_t key_hash(uint32_t ns, const char *key)
{
    return ds_hash_with_ns(ds_hash_bytes(key, strlen(key)), ns);
}

/* An entry with a caller-chosen hash (to build collisions on purpose) and
 * flags; exits on out of memory, which no test means to provoke here. */
static inline ds_entry *entry_with_hash(uint32_t ns, const char *key, uint64_t hash,
                                        const char *val, uint8_t flags)
{
    ds_entry *e = ds_entry_new(ns, key, strlen(key), hash, DS_CODEC_BYTES, val,
                               strlen(val), flags);
    if (!e) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return e;
}

static inline ds_entry *mk(uint32_t ns, const char *key, const char *val)
{
    return entry_with_hash(ns, key, key_hash(ns, key), val, 0);
}

static inline unsigned refs(const ds_entry *e) { return atomic_load(&e->refcnt); }

static inline int value_is(const ds_entry *e, const char *val)
{
    return e && e->vlen == strlen(val) && memcmp(ds_entry_value(e), val, e->vlen) == 0;
}

#endif
