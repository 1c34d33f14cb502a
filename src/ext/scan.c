/* Namespace walks for the binding (see scan.h). */
#include "scan.h"

#include <stdlib.h>
#include <string.h>

/* Rows per SQLite page: large enough that the GIL round trip is noise, small
 * enough that a page of 64 KiB values stays a few MB. */
#define SCAN_PAGE_ROWS 256

typedef struct {
    ds_row rows[SCAN_PAGE_ROWS];
    size_t n;
    int oom;
} scan_page;

static int page_add(const char *key, size_t klen, uint8_t codec, const void *value,
                    size_t vlen, void *ctx)
{
    scan_page *page = ctx;
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

static void page_reset(scan_page *page)
{
    for (size_t i = 0; i < page->n; i++)
        free((void *)page->rows[i].key);
    page->n = 0;
}

static int scan_snapshot(ds_entry **arr, size_t n,
                         Py_ssize_t limit, int (*fn)(const ds_row *, void *), void *ctx)
{
    int rc = 0;
    for (size_t i = 0; i < n && (limit < 0 || (Py_ssize_t)i < limit); i++) {
        ds_entry *x = arr[i];
        ds_row row = {ds_entry_key(x), x->klen, x->codec,
                      (const char *)ds_entry_value(x), x->vlen, x};
        if (fn(&row, ctx) < 0) {
            rc = -1;
            break;
        }
    }
    return rc;
}

int ds_scan_rows(DictSQLiteV4Object *self, uint32_t ns, int with_values,
                 Py_ssize_t limit, int (*fn)(const ds_row *row, void *ctx), void *ctx)
{
    ds_entry **arr = NULL;
    size_t n = 0;
    ds_status st;
    DS_WITHOUT_GIL(self, st = ds_engine_snapshot(self->engine, ns, &arr, &n));
    if (st == DS_OK) {
        int rc = scan_snapshot(arr, n, limit, fn, ctx);
        ds_retire *retire = ds_engine_retire(self->engine);
        for (size_t i = 0; i < n; i++)
            ds_entry_decref(arr[i], retire);
        free(arr);
        return rc;
    }
    if (st == DS_NOMEM) {
        PyErr_NoMemory();
        return -1;
    }

    scan_page *page = PyMem_Calloc(1, sizeof(*page));
    if (!page) {
        PyErr_NoMemory();
        return -1;
    }
    char *after = NULL;
    size_t after_len = 0;
    Py_ssize_t seen = 0;
    int rc = 0;
    for (;;) {
        size_t want = SCAN_PAGE_ROWS;
        if (limit >= 0 && (size_t)(limit - seen) < want)
            want = (size_t)(limit - seen);
        if (want == 0)
            break;
        size_t got = 0;
        ds_error err;
        DS_WITHOUT_GIL(self, st = ds_engine_scan(self->engine, ns, after, after_len, want,
                                                 with_values, page_add, page, &got, &err));
        if (page->oom) {
            PyErr_NoMemory();
            rc = -1;
            break;
        }
        if (st != DS_OK) {
            dsv4_raise(self, st, &err);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < page->n; i++) {
            if (fn(&page->rows[i], ctx) < 0) {
                rc = -1;
                break;
            }
        }
        seen += (Py_ssize_t)page->n;
        if (rc < 0 || page->n < want)
            break;
        const ds_row *last = &page->rows[page->n - 1];
        char *next = realloc(after, last->klen ? last->klen : 1);
        if (!next) {
            PyErr_NoMemory();
            rc = -1;
            break;
        }
        after = next;
        memcpy(after, last->key, last->klen);
        after_len = last->klen;
        page_reset(page);
    }
    page_reset(page);
    PyMem_Free(page);
    free(after);
    return rc;
}
