/* ds_entry: one immutable (namespace, key, codec, value) record.
 *
 * Every tier (hot map, warm cache, write buffer) holds entries by reference
 * count instead of copying bytes, so a value written once is shared by the
 * hot tier and the pending write without a second copy, and a reader can
 * decode it after dropping the shard lock. Key and value bytes never change
 * after creation; a write creates a new entry.
 *
 * Two mutable parts, each owned by one party:
 *  - lru_prev/lru_next belong to the warm cache while it holds the entry,
 *    and are only touched under its lock (the hot map keeps its recency in
 *    its slots instead).
 *  - aux is the binding's cached decoded object for immutable values. It is
 *    set at most once (compare-and-swap). The core never interprets it: when
 *    the last reference goes, a non-NULL aux is handed to a ds_retire list,
 *    which the binding drains while it holds the GIL. That way the core never
 *    calls into Python, even from the flusher thread.
 */
#ifndef DICTSQLITE_ENTRY_H
#define DICTSQLITE_ENTRY_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>

#include "dictsqlite/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* codec byte layout, also the value of the kv.codec column */
enum {
    DS_CODEC_PICKLE = 1,
    DS_CODEC_JSON = 2,
    DS_CODEC_MSGPACK = 3,
    DS_CODEC_BYTES = 4,
    DS_CODEC_MASK = 0x0F,
    /* the value bytes in SQLite are AES-256-GCM ciphertext */
    DS_CODEC_FLAG_ENCRYPTED = 0x10,
    /* the decoded value is immutable (str, bytes, int, ... or tuples of
     * them), so the binding may cache one decoded object per entry */
    DS_CODEC_FLAG_IMMUTABLE = 0x20,
};

/* flags */
enum {
    DS_ENTRY_TOMBSTONE = 0x01, /* a pending delete in the write buffer */
    /* The value bytes live in aux (an immutable object of the binding that
     * is also the decoded value); data holds a pointer to them after the key
     * instead of a copy. See ds_entry_new_external. */
    DS_ENTRY_EXTERNAL = 0x02,
};

typedef struct ds_entry {
    struct ds_entry *lru_prev;
    struct ds_entry *lru_next;
    void *_Atomic aux;
    uint64_t hash; /* already folded with ns (ds_hash_with_ns) */
    size_t vlen;
    atomic_uint refcnt;
    uint32_t klen;
    uint32_t ns;
    uint8_t codec;
    uint8_t flags;
    /* key bytes, a NUL (handy for SQLite and messages), then value bytes */
    char data[];
} ds_entry;

static inline const char *ds_entry_key(const ds_entry *e) { return e->data; }
static inline const unsigned char *ds_entry_value(const ds_entry *e)
{
    const unsigned char *p = (const unsigned char *)e->data + e->klen + 1;
    if (e->flags & DS_ENTRY_EXTERNAL)
        memcpy(&p, p, sizeof(p));
    return p;
}

/* A list of aux pointers whose entries died; drained by the binding. */
typedef struct ds_retire {
    pthread_mutex_t lock;
    void **items;
    size_t len, cap;
    atomic_size_t pending; /* == len, readable without the lock */
} ds_retire;

int ds_retire_init(ds_retire *r);
void ds_retire_destroy(ds_retire *r); /* the list must have been drained */
/* Move every retired pointer out; the caller frees *out with free(). */
size_t ds_retire_take(ds_retire *r, void ***out);

/* New entry with refcnt 1. value may be NULL when vlen is 0. */
ds_entry *ds_entry_new(uint32_t ns, const char *key, size_t klen, uint64_t hash,
                       uint8_t codec, const void *value, size_t vlen, uint8_t flags);

/* New entry with room for vlen value bytes, which the caller fills (through
 * ds_entry_value_mut) before anyone else sees the entry. */
ds_entry *ds_entry_new_unfilled(uint32_t ns, const char *key, size_t klen,
                                uint64_t hash, uint8_t codec, size_t vlen);

static inline unsigned char *ds_entry_value_mut(ds_entry *e)
{
    return (unsigned char *)e->data + e->klen + 1;
}

/* New entry whose value is not copied: value points into owner, an object of
 * the binding that stays alive and unchanged as long as it is referenced and
 * that is itself the decoded value (so it becomes aux). The entry takes over
 * one reference to owner, which goes to the retire list with the entry (or
 * at once to r if the allocation fails, then NULL is returned). Large values
 * written by the binding skip a copy (and a big malloc/free pair) this way. */
ds_entry *ds_entry_new_external(uint32_t ns, const char *key, size_t klen,
                                uint64_t hash, uint8_t codec, const void *value,
                                size_t vlen, void *owner, ds_retire *r);

/* Queue a binding object for release under the GIL (see ds_retire). */
void ds_retire_push(ds_retire *r, void *item);

static inline ds_entry *ds_entry_incref(ds_entry *e)
{
    atomic_fetch_add_explicit(&e->refcnt, 1, memory_order_relaxed);
    return e;
}

/* Drop a reference; on the last one, hand aux (if any) to r and free. r may
 * be NULL only if aux is known to be NULL (C tests). */
void ds_entry_decref(ds_entry *e, ds_retire *r);

/* Same (ns, key)? Compares hash first, then bytes. */
static inline int ds_entry_matches(const ds_entry *e, uint32_t ns, const char *key,
                                   size_t klen, uint64_t hash)
{
    return e->hash == hash && e->ns == ns && e->klen == klen &&
           memcmp(e->data, key, klen) == 0;
}

/* Bytes an entry costs (header, key, value, allocator slack estimate), for
 * the warm tier's byte bound and for stats. */
size_t ds_entry_footprint(const ds_entry *e);

#ifdef __cplusplus
}
#endif
#endif
