/* Walking a namespace in key order (UTF-8 byte order), for keys(), values(),
 * items(), ==, repr and iteration.
 *
 * A cursor reads either a sorted snapshot of the hot tier's entries (memory
 * mode, where there is no SQLite, or when allowed and the hot tier holds
 * every key) or SQLite a page at a time with the GIL released, so walking a
 * large database never holds more than one page. */
#ifndef DICTSQLITE_EXT_SCAN_H
#define DICTSQLITE_EXT_SCAN_H

#include "dictsqlite_v4.h"

typedef struct ds_row {
    const char *key;
    size_t klen;
    uint8_t codec;
    const char *value;
    size_t vlen;
    ds_entry *entry; /* set when the row comes from the hot tier */
} ds_row;

typedef struct ds_scan_page ds_scan_page;

typedef struct ds_cursor {
    DictSQLiteV4Object *db;
    uint32_t ns;
    int with_values;
    int started;
    int done;
    /* snapshot source (used when from_snapshot is set) */
    int from_snapshot;
    ds_entry **entries;
    size_t n_entries, pos;
    /* SQLite source */
    ds_scan_page *page;
    size_t page_pos;
    char *after;
    size_t after_len;
    ds_row row;
} ds_cursor;

/* allow_snapshot: use the hot tier when it holds every key (fast, but takes
 * a reference to every entry up front); memory mode always does. */
void ds_cursor_init(ds_cursor *c, DictSQLiteV4Object *db, uint32_t ns, int with_values,
                    int allow_snapshot);
/* 1 with *row valid until the next call, 0 at the end, -1 with an exception. */
int ds_cursor_next(ds_cursor *c, const ds_row **row);
void ds_cursor_release(ds_cursor *c);

/* Call fn (with the GIL held) for each row, at most limit rows (-1: all).
 * fn returns 0 to go on, -1 to stop with its exception. 0 or -1. */
int ds_scan_rows(DictSQLiteV4Object *self, uint32_t ns, int with_values,
                 Py_ssize_t limit, int (*fn)(const ds_row *row, void *ctx), void *ctx);

#endif
