/* Namespace cursors for the binding (see scan.h). */
#include "scan.h"

#include "db_ops.h"

#include <stdlib.h>
#include <string.h>

/* Rows per SQLite page: large enough that the GIL round trip is noise, small
 * enough that a page of 64 KiB values stays a few MB. */
#define SCAN_PAGE_ROWS 256

struct ds_scan_page {
    ds_row rows[SCAN_PAGE_ROWS];
    size_t n;
    int oom;
};

static int page_add(const char *key, size_t klen, uint8_t codec, const void *value,
                    size_t vlen, void *ctx)
{
    ds_scan_page *page = ctx;
    char *copy = malloc(klen + 1 + vlen);
    if (!copy) {
        page->oom = 1;
        return 1;
    }
    memcpy(copy, key, klen);
    copy[klen] = '\0';
    if (vlen)
        memcpy(copy + klen + 1, value, vlen);
    page->rows[page->n++] = (ds_row){copy, klen, codec, copy + klen + 1, vlen, NULL};
    return 0;
}

static void page_reset(ds_scan_page *page)
{
    for (size_t i = 0; i < page->n; i++)
        free((void *)page->rows[i].key);
    page->n = 0;
}

void ds_cursor_init(ds_cursor *c, DictSQLiteV4Object *db, uint32_t ns, int with_values,
                    int allow_snapshot)
{
    memset(c, 0, sizeof(*c));
    c->db = db;
    c->ns = ns;
    c->with_values = with_values;
    /* memory mode has nothing but the hot tier */
    c->started = !allow_snapshot && ds_engine_persist_mode(db->engine) != DS_PERSIST_MEMORY ? 1 : 0;
}

static void release_entries(ds_cursor *c)
{
    if (!c->entries)
        return;
    ds_retire *retire = ds_engine_retire(c->db->engine);
    for (size_t i = 0; i < c->n_entries; i++)
        ds_entry_decref(c->entries[i], retire);
    free(c->entries);
    c->entries = NULL;
}

void ds_cursor_release(ds_cursor *c)
{
    release_entries(c);
    /* Once closed, nothing else drains the engine's retire list (it lives
     * until the database is freed): release the cached objects now. */
    if (c->db->closed)
        dsv4_drain_retired(c->db);
    if (c->page) {
        page_reset(c->page);
        PyMem_Free(c->page);
        c->page = NULL;
    }
    free(c->after);
    c->after = NULL;
}

/* Fetch the next SQLite page after the last key seen. 0 or -1. */
static int fetch_page(ds_cursor *c)
{
    if (!c->page && !(c->page = PyMem_Calloc(1, sizeof(*c->page)))) {
        PyErr_NoMemory();
        return -1;
    }
    if (c->page->n) {
        const ds_row *last = &c->page->rows[c->page->n - 1];
        char *next = realloc(c->after, last->klen ? last->klen : 1);
        if (!next) {
            PyErr_NoMemory();
            return -1;
        }
        c->after = next;
        memcpy(c->after, last->key, last->klen);
        c->after_len = last->klen;
        page_reset(c->page);
    }
    c->page_pos = 0;
    size_t got = 0;
    ds_error err;
    ds_status st;
    DictSQLiteV4Object *db = c->db;
    DS_WITHOUT_GIL(db, st, ds_engine_scan(db->engine, c->ns, c->after, c->after_len,
                                           SCAN_PAGE_ROWS, c->with_values, page_add,
                                           c->page, &got, &err));
    if (c->page->oom) {
        PyErr_NoMemory();
        return -1;
    }
    if (st != DS_OK) {
        dsv4_raise(db, st, &err);
        return -1;
    }
    if (c->page->n < SCAN_PAGE_ROWS)
        c->done = 1; /* after this page */
    return 0;
}

int ds_cursor_next(ds_cursor *c, const ds_row **row)
{
    if (!c->started) {
        c->started = 1;
        ds_status st;
        DictSQLiteV4Object *db = c->db;
        DS_WITHOUT_GIL(db, st, ds_engine_snapshot(db->engine, c->ns, &c->entries,
                                                   &c->n_entries));
        if (st == DS_NOMEM) {
            PyErr_NoMemory();
            return -1;
        }
        /* DS_NEED_IO: the hot tier lacks keys, read SQLite instead */
        c->from_snapshot = st == DS_OK;
    }
    if (c->from_snapshot) {
        if (c->pos >= c->n_entries)
            return 0;
        ds_entry *x = c->entries[c->pos++];
        c->row = (ds_row){ds_entry_key(x), x->klen, x->codec,
                          (const char *)ds_entry_value(x), x->vlen, x};
        *row = &c->row;
        return 1;
    }
    if (!c->page || c->page_pos >= c->page->n) {
        if (c->page && c->done)
            return 0;
        if (fetch_page(c) < 0)
            return -1;
        if (c->page->n == 0)
            return 0;
    }
    *row = &c->page->rows[c->page_pos++];
    return 1;
}

int ds_scan_rows(DictSQLiteV4Object *self, uint32_t ns, int with_values,
                 Py_ssize_t limit, int (*fn)(const ds_row *row, void *ctx), void *ctx)
{
    ds_cursor c;
    ds_cursor_init(&c, self, ns, with_values, 1);
    const ds_row *row;
    int rc = 0;
    for (Py_ssize_t seen = 0; limit < 0 || seen < limit; seen++) {
        rc = ds_cursor_next(&c, &row);
        if (rc <= 0)
            break;
        rc = fn(row, ctx);
        if (rc < 0)
            break;
    }
    ds_cursor_release(&c);
    return rc < 0 ? -1 : 0;
}
