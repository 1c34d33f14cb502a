/* The cold tier: SQLite, in our own schema.
 *
 *   CREATE TABLE dictsqlite_meta(name TEXT PRIMARY KEY, value BLOB NOT NULL);
 *   CREATE TABLE kv(tbl TEXT NOT NULL, key TEXT NOT NULL,
 *                   codec INTEGER NOT NULL, value BLOB NOT NULL,
 *                   PRIMARY KEY (tbl, key)) WITHOUT ROWID;
 *   CREATE TABLE kv_large(tbl TEXT NOT NULL, key TEXT NOT NULL,
 *                         codec INTEGER NOT NULL, value BLOB NOT NULL,
 *                         PRIMARY KEY (tbl, key));
 *
 * Split by value size: a row whose value is longer than
 * DS_STORE_SMALL_VALUE_MAX bytes lives in kv_large (an ordinary rowid table),
 * every other row in kv (WITHOUT ROWID). A key is in exactly one of the two at
 * any moment: each upsert also deletes the key from the other table, in the
 * same transaction. Reads look in both.
 *
 * Why two tables: a WITHOUT ROWID table is an index b-tree, which is the
 * fastest layout for small rows (one b-tree instead of table + primary-key
 * index; measured with benchmarks/sqlite_limits.c on 4 KiB pages, 32 B values:
 * autocommit insert 24.6 vs 32 us, delete 32 vs 61 us, bulk 1.85 vs
 * 2.47 us/row). But an index b-tree page keeps at most
 * X = (U-12)*64/255 - 23 = 1002 bytes of a row locally (U = 4096), so a row
 * just over that stores only 489 bytes in the page and spills the rest into
 * an overflow page of its own: with 1 KiB values, 3.5 KiB wasted per row, a
 * file 4x too big, and autocommit insert 94 vs 42 us, bulk 40 vs 11 us/row,
 * point select 20 vs 9 us against a rowid table (64 KiB values: select 66 vs
 * 24 us). A rowid table leaf keeps up to U-35 = 4061 bytes locally.
 *
 * Format versions: 1 had kv only. Opening a version-1 file adds kv_large and
 * stamps version 2 (a version-1 reader would not see rows in kv_large, so it
 * must refuse the file). A version-1 file we cannot write (a read-only file)
 * is read as it is, with an empty kv_large in the connection's temp schema
 * standing in (that connection would not see a kv_large another process
 * adds later). Large values written by version 1 stay in kv, are still read
 * from there, and move to kv_large when rewritten.
 *
 * Values with the JSON codec are bound as TEXT (in both tables) so SQLite's
 * json functions can read them; all others as BLOB. Statements are prepared
 * once at open.
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

#define DS_FORMAT_VERSION 2

/* Values longer than this go to kv_large, all others to kv. A kv row stays
 * inline while its record (about 7 bytes of header and codec + namespace +
 * key + value) is at most 1002 bytes on 4 KiB pages (see above), so 800
 * leaves about 190 bytes for namespace and key, which covers real keys (a row
 * with a longer key only spills, it stays correct). Measured with the limits
 * program (11-byte keys): from 400 to 800-byte values the two layouts are
 * within noise of each other (WITHOUT ROWID still ahead on deletes), at 1000
 * bytes WITHOUT ROWID is 1.7x slower on inserts and 2.8x on bulk loads. Larger
 * pages only move the cliff further up, so the value is safe for them. */
#define DS_STORE_SMALL_VALUE_MAX 800

typedef struct ds_store ds_store;

typedef struct ds_store_options {
    int sync_full;          /* PRAGMA synchronous=FULL instead of NORMAL */
    int busy_timeout_ms;    /* 0 selects the default (5000) */
    int64_t cache_size_kib; /* 0 selects the default (64 MiB) */
    int64_t mmap_size;      /* 0 selects the default (256 MiB); -1 disables */
    int read_only;          /* open an existing file without writing to it or
                             * creating anything beside it; writes fail with
                             * DS_READONLY, a missing file with DS_IO/ENOENT */
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
 * so.
 *
 * Every function below reports failures the same way: DS_BUSY when another
 * connection held the lock past the busy timeout (sys_errno EBUSY) or lost a
 * WAL lock race (SQLITE_PROTOCOL, EAGAIN); DS_READONLY (EROFS) for a file
 * that cannot be written; DS_IO with a non-zero sys_errno for everything
 * else that failed on the file, a damaged page and a commit to a file that
 * was deleted or replaced while open (ENOENT, rolled back) included;
 * DS_INVALID only for a bad argument or a row over SQLite's length limit
 * (SQLITE_TOOBIG). Walks (list_ns, scan) skip tbl/key values stored as
 * another type than TEXT, so they always end. */
ds_status ds_store_open(const char *path, const ds_store_options *opt,
                        ds_store **out, ds_error *err);

/* Finalize statements and close. Safe on NULL. */
void ds_store_close(ds_store *s);

const char *ds_store_path(const ds_store *s);
/* The file's absolute name where known (else the path as given): what a
 * second connection to the same file opens. */
const char *ds_store_file_name(const ds_store *s);

/* 1 if the connection cannot write the file (opened with read_only, or a
 * file or directory the process may not write), else 0 (also for NULL). For
 * the engine to refuse writes up front with DS_READONLY instead of buffering
 * rows that could never commit. */
int ds_store_is_readonly(const ds_store *s);

/* The longest value a row can hold (SQLite's length limit less room for
 * the rest of the row). */
size_t ds_store_max_value_len(const ds_store *s);

/* Point read. On DS_OK, *value is malloc'd (free() it; non-NULL even when
 * *vlen == 0). DS_NOTFOUND if absent. */
ds_status ds_store_get(ds_store *s, const char *tbl, size_t tlen, const char *key,
                       size_t klen, uint8_t *codec, void **value, size_t *vlen,
                       ds_error *err);

/* Where a point read puts the value: room for vlen bytes of a value with
 * this codec, or NULL for out of memory. Called under the store's lock:
 * it must not call back into the store. */
typedef void *(*ds_store_alloc_fn)(uint8_t codec, size_t vlen, void *ctx);

/* Point read straight into memory of the caller's choosing (the engine
 * reads into a new entry, saving a copy and an allocation of the size of
 * the value). On DS_OK the value was copied into alloc's memory. */
ds_status ds_store_get_into(ds_store *s, const char *tbl, size_t tlen,
                            const char *key, size_t klen, uint8_t *codec,
                            ds_store_alloc_fn alloc, void *ctx, size_t *vlen,
                            ds_error *err);

/* DS_OK if present, DS_NOTFOUND if not. */
ds_status ds_store_exists(ds_store *s, const char *tbl, size_t tlen,
                          const char *key, size_t klen, ds_error *err);

/* Apply items in one transaction (BEGIN IMMEDIATE ... COMMIT): upsert rows
 * (into kv or kv_large by value size, removing the key from the other table),
 * delete rows with is_delete (from both). On any failure the transaction is
 * rolled back, nothing is applied, and the error is returned. */
ds_status ds_store_write_batch(ds_store *s, const ds_store_item *items, size_t n,
                               ds_error *err);

/* Rows in namespace tbl. */
ds_status ds_store_count(ds_store *s, const char *tbl, size_t tlen, int64_t *out,
                         ds_error *err);

/* Delete every row of namespace tbl (both tables), in one transaction. */
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
