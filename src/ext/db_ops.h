/* The per-namespace operations that the dict API (mapping.c), the table
 * proxies and the iterators are built from, the one path by which they call
 * the core, and the mapping of core failures to Python exceptions.
 *
 * Each operation assumes DSV4_USABLE was checked and returns what its
 * Python counterpart does (0 / -1, a new reference or NULL) with an
 * exception set on failure. */
#ifndef DICTSQLITE_EXT_DB_OPS_H
#define DICTSQLITE_EXT_DB_OPS_H

#include "dictsqlite_v4.h"

/* A core call that can run with the GIL held (allow_io = 0: it must not
 * block or touch SQLite, and answers DS_NEED_IO when it would have to) and
 * without it (allow_io = 1). */
typedef ds_status (*ds_op_fn)(ds_engine *e, int allow_io, void *ctx, ds_error *err);

/* Run fn: first with allow_io = 0 (unless io_first), then, if it answered
 * DS_NEED_IO, again with the GIL released inside DS_WITHOUT_GIL (calling
 * before_retry first, with the GIL, if given); then release what the core
 * retired. Returns fn's status, err filled on failure. */
ds_status ds_run_op(DictSQLiteV4Object *self, ds_op_fn fn, void *ctx, int io_first,
                    void (*before_retry)(void *ctx), ds_error *err);
/* The same, raising the exception for a failure: 0 or -1. */
int ds_run_op_or_raise(DictSQLiteV4Object *self, ds_op_fn fn, void *ctx, int io_first,
                       void (*before_retry)(void *ctx));

/* Raise the Python exception for a core failure:
 *   DS_NOMEM -> MemoryError, DS_INVALID -> ValueError,
 *   DS_CORRUPT -> CorruptValueError, DS_CLOSED -> DatabaseClosedError,
 *   DS_BUSY -> DatabaseLockedError (errno EBUSY),
 *   DS_READONLY -> ReadOnlyError (errno EROFS or EACCES),
 *   anything else -> OSError(errno, message, path), errno never 0. */
void dsv4_raise(DictSQLiteV4Object *self, ds_status st, const ds_error *err);
/* The same for a failure to open: DS_CORRUPT (not a database, a foreign
 * format) is an OSError naming the path, not CorruptValueError. */
void dsv4_raise_open(DictSQLiteV4Object *self, ds_status st, const ds_error *err);
void ds_set_key_error(PyObject *key);

/* Release the cached decoded objects of entries the core freed. */
void dsv4_drain_retired(DictSQLiteV4Object *self);

/* Take and log (WARNING) the background flusher's failures, if any; never
 * fails. */
void dsv4_collect_flusher_errors(DictSQLiteV4Object *self);

/* Commit pending writes with the GIL released. 0 or -1. */
int dsv4_flush_now(DictSQLiteV4Object *self);

/* Decode an entry's value, caching immutable results on the entry. */
PyObject *dsv4_decode_entry(DictSQLiteV4Object *self, ds_entry *x, PyObject *key);

/* dsv4_get: new reference; NULL with KeyError(key) when missing and
 * *missing set to 1 (so callers with a default can clear it cheaply).
 * The writes follow the failure rule: one that raises changed nothing. */
PyObject *dsv4_get(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, int *missing);
int dsv4_set(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, PyObject *value);
/* Store prepared items (keys and encoded values) as one call of the core:
 * all of them, or (when it raises) none; in writethrough through the async
 * class's group commits where it has them. The core takes the items' owner
 * references. 0, or -1 with an exception. */
int dsv4_put_items(DictSQLiteV4Object *self, uint32_t ns, ds_put_item *items, size_t n);
int dsv4_delete(DictSQLiteV4Object *self, uint32_t ns, PyObject *key);
int dsv4_contains(DictSQLiteV4Object *self, uint32_t ns, PyObject *key);
/* progress: NULL, or a callable called as progress(done, total) after each
 * chunk of pairs is encoded and last as (total, total), before the pairs
 * are stored; an exception it raises aborts the call (nothing stored). */
int dsv4_update_pairs(DictSQLiteV4Object *self, uint32_t ns, PyObject *pairs,
                      PyObject *progress);
int dsv4_clear(DictSQLiteV4Object *self, uint32_t ns);

#endif
