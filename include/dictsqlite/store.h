/* The cold tier: SQLite, in our own schema.
 *
 *   CREATE TABLE dictsqlite_meta(name TEXT PRIMARY KEY, value BLOB NOT NULL);
 *   CREATE TABLE kv(tbl TEXT NOT NULL, key TEXT NOT NULL,
 *                   codec INTEGER NOT NULL, value BLOB NOT NULL,
 *                   PRIMARY KEY (tbl, key)) WITHOUT ROWID;
 *
 * Values with the JSON codec are bound as TEXT so SQLite's json functions can
 * read them; all others as BLOB. Statements are prepared once at open.
 *
 * Threading: one connection, serialized by the store's own mutex, so any
 * thread may call any function. Callers release the GIL before calling: every
 * function here may block on disk or on the mutex.
 */
#ifndef DICTSQLITE_STORE_H
#define DICTSQLITE_STORE_H

#include <stdint.h>
#include <stddef.h>

#include "dictsqlite/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DS_FORMAT_VERSION 1

typedef struct ds_store ds_store;

typedef struct ds_store_options {
    int sync_full;          /* PRAGMA synchronous=FULL instead of NORMAL */
    int busy_timeout_ms;    /* 0 selects the default (5000) */
    int64_t cache_size_kib; /* 0 selects the default (64 MiB) */
    int64_t mmap_size;      /* 0 selects the default (256 MiB); -1 disables */
} ds_store_options;

/* One row to write or delete, as the engine hands it over (values already
 * encrypted when the database is encrypted). */
typedef struct ds_store_item {
    const char *tbl;
    size_t tlen;
    const char *key;
    size_t klen;
    const void *value;
    size_t vlen;
    uint8_t codec;
    uint8_t is_delete;
} ds_store_item;

/* Open or create path (":memory:" works). An existing empty file is treated as
 * a new database. Sets the PRAGMAs (WAL, synchronous, cache_size, mmap_size,
 * temp_store=MEMORY, busy_timeout), creates the schema if absent and records
 * the format version in dictsqlite_meta.
 * Errors: DS_IO with the path and SQLite's message (unwritable directory,
 * not a database, ...); DS_CORRUPT if the file holds a newer format version or
 * is a Rust-dictsqlite file (table kv_store without kv), with a message saying
 * so. */
ds_status ds_store_open(const char *path, const ds_store_options *opt,
                        ds_store **out, ds_error *err);

/* Finalize statements and close. Safe on NULL. */
void ds_store_close(ds_store *s);

const char *ds_store_path(const ds_store *s);

/* Point read. On DS_OK, *value is malloc'd (free() it; non-NULL even when
 * *vlen == 0). DS_NOTFOUND if absent. */
ds_status ds_store_get(ds_store *s, const char *tbl, size_t tlen, const char *key,
                       size_t klen, uint8_t *codec, void **value, size_t *vlen,
                       ds_error *err);

/* DS_OK if present, DS_NOTFOUND if not. */
ds_status ds_store_exists(ds_store *s, const char *tbl, size_t tlen,
                          const char *key, size_t klen, ds_error *err);

/* Apply items in one transaction (BEGIN IMMEDIATE ... COMMIT): upsert rows,
 * delete rows with is_delete. On any failure the transaction is rolled back,
 * nothing is applied, and the error is returned. */
ds_status ds_store_write_batch(ds_store *s, const ds_store_item *items, size_t n,
                               ds_error *err);

/* Rows in namespace tbl. */
ds_status ds_store_count(ds_store *s, const char *tbl, size_t tlen, int64_t *out,
                         ds_error *err);

/* Delete every row of namespace tbl, in its own transaction. */
ds_status ds_store_clear_ns(ds_store *s, const char *tbl, size_t tlen,
                            ds_error *err);

/* Call fn once per namespace that holds rows, in sorted order. fn returning
 * non-zero stops the walk (that value is returned as DS_OK still). */
ds_status ds_store_list_ns(ds_store *s,
                           int (*fn)(const char *tbl, size_t tlen, void *ctx),
                           void *ctx, ds_error *err);

/* Keyset pagination over namespace tbl in key order (SQLite's BINARY
 * collation, i.e. memcmp of UTF-8): calls fn for up to limit rows whose key is
 * greater than after (all rows when after is NULL). *n_out gets the number of
 * rows visited. with_values = 0 passes value NULL / vlen 0 and does not read
 * values (cheaper for keys()). fn returning non-zero stops early. No read
 * transaction stays open between calls, so writers are never blocked. */
typedef int (*ds_store_row_fn)(const char *key, size_t klen, uint8_t codec,
                               const void *value, size_t vlen, void *ctx);
ds_status ds_store_scan(ds_store *s, const char *tbl, size_t tlen,
                        const char *after, size_t after_len, size_t limit,
                        int with_values, ds_store_row_fn fn, void *ctx,
                        size_t *n_out, ds_error *err);

/* dictsqlite_meta access. meta_get: DS_NOTFOUND if absent; *value malloc'd. */
ds_status ds_store_meta_get(ds_store *s, const char *name, void **value,
                            size_t *vlen, ds_error *err);
ds_status ds_store_meta_set(ds_store *s, const char *name, const void *value,
                            size_t vlen, ds_error *err);

/* PRAGMA data_version: changes when another connection commits to the file. */
ds_status ds_store_data_version(ds_store *s, int64_t *out, ds_error *err);

/* Page count * page size, for stats (0 for ":memory:"). */
ds_status ds_store_file_size(ds_store *s, int64_t *out, ds_error *err);

/* Run PRAGMA integrity_check; DS_OK if it says "ok", else DS_CORRUPT with the
 * first message. */
ds_status ds_store_integrity_check(ds_store *s, ds_error *err);

#ifdef __cplusplus
}
#endif
#endif
