/* Walking a namespace in key order, for keys()/values()/items(), ==, repr
 * and iteration. Rows come from a sorted snapshot of the hot tier when it
 * holds every key (no SQLite, no flush), else from SQLite a page at a time
 * with the GIL released. */
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

/* Call fn (with the GIL held) for each row, at most limit rows (-1: all).
 * fn returns 0 to go on, -1 to stop with its exception. 0 or -1. */
int ds_scan_rows(DictSQLiteV4Object *self, uint32_t ns, int with_values,
                 Py_ssize_t limit, int (*fn)(const ds_row *row, void *ctx), void *ctx);

/* Decode an entry's value, caching immutable results on the entry. */
PyObject *dsv4_decode_entry(DictSQLiteV4Object *self, ds_entry *x, PyObject *key);

#endif
