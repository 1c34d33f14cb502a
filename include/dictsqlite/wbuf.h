/* The write buffer: writes and deletes not yet committed to SQLite.
 *
 * It coalesces: a second write to the same (ns, key) replaces the first in
 * place, keeping the first one's position, so a flush writes each key once.
 * Positions follow first-write order, which keeps a bulk load's keys in the
 * caller's order for SQLite's B-tree (sorted input inserts much faster).
 *
 * A flush has two phases so SQLite work can run without the buffer lock:
 *   ds_wbuf_begin_flush  moves every pending entry into the "in flight" batch
 *                        (the buffer is empty again and accepts writes);
 *   ds_wbuf_end_flush    success: drops the batch.
 *                        failure: puts the batch back, where a newer pending
 *                        write of the same key wins over the batch's entry.
 * While a batch is in flight, ds_wbuf_get still finds its entries, so a read
 * never falls through to SQLite's older value. Only one batch may be in
 * flight at a time (the engine serializes flushes).
 *
 * Deletes are entries with DS_ENTRY_TOMBSTONE.
 *
 * One mutex guards the buffer. Lock order: the engine's flush mutex may be
 * held when taking it; it is a leaf otherwise.
 */
#ifndef DICTSQLITE_WBUF_H
#define DICTSQLITE_WBUF_H

#include "dictsqlite/entry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ds_wbuf ds_wbuf;

ds_wbuf *ds_wbuf_new(ds_retire *retire);
void ds_wbuf_free(ds_wbuf *b);

/* Start loading the index slot a key of this hash would take, without the
 * lock: a hint only, like ds_hotmap_prefetch. */
void ds_wbuf_prefetch(const ds_wbuf *b, uint64_t hash);

/* Add e (taking the caller's reference), replacing a pending entry of the
 * same key. Returns DS_OK or DS_NOMEM (then e is released, buffer unchanged). */
ds_status ds_wbuf_put(ds_wbuf *b, ds_entry *e);

/* Make room for n more keys, so that the next n puts cannot fail (as long
 * as no flush begins in between: the engine holds its write lock across
 * both). DS_OK or DS_NOMEM, buffer unchanged either way. */
ds_status ds_wbuf_reserve(ds_wbuf *b, size_t n);

/* A new reference to the newest buffered entry for the key (pending first,
 * then in flight), possibly a tombstone; NULL if the key is not buffered. */
ds_entry *ds_wbuf_get(ds_wbuf *b, uint32_t ns, const char *key, size_t klen,
                      uint64_t hash);

/* Is this exact entry (pointer) the newest buffered one for its key? Used to
 * decide whether an evicted entry is clean. */
int ds_wbuf_holds(ds_wbuf *b, const ds_entry *e);

/* Pending entries (not counting the batch in flight). */
size_t ds_wbuf_pending(ds_wbuf *b);
/* Value bytes of the pending entries (not counting the batch in flight). */
size_t ds_wbuf_pending_bytes(ds_wbuf *b);

/* Take back a write that failed: if mine is still the pending entry of its
 * key, put prev (the entry it replaced, which the buffer then references
 * again) in its place, or remove the key when prev is NULL. Returns 1 if
 * mine was pending and is now gone, 0 if it was not (committed by another
 * flush, or superseded by a newer write), changing nothing. */
int ds_wbuf_undo(ds_wbuf *b, const ds_entry *mine, ds_entry *prev);

/* Move pending entries into the in-flight batch. *items points to an array,
 * in first-write order, owned by the buffer and valid until end_flush; *n is
 * its length (may be 0). Returns DS_INVALID if a batch is already in flight. */
ds_status ds_wbuf_begin_flush(ds_wbuf *b, ds_entry *const **items, size_t *n);
void ds_wbuf_end_flush(ds_wbuf *b, int committed);

/* Drop every pending entry of namespace ns (all if UINT32_MAX); used by
 * clear(), which deletes the namespace in SQLite itself. Must not be called
 * while a batch is in flight (the engine holds the flush mutex). */
void ds_wbuf_drop_ns(ds_wbuf *b, uint32_t ns);

/* Call fn for every buffered entry (pending and in flight, newest per key)
 * of namespace ns, under the buffer lock: fn must not call into the buffer. */
void ds_wbuf_foreach(ds_wbuf *b, uint32_t ns,
                     void (*fn)(const ds_entry *e, void *ctx), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
