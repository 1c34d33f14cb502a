/* A growing byte buffer that encoders write into, so an encoded value is
 * built in one allocation and copied once into its ds_entry. */
#ifndef DICTSQLITE_EXT_BUFFER_H
#define DICTSQLITE_EXT_BUFFER_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct ds_buf {
    char *data;
    size_t len, cap;
    /* Encoders start in this inline space; small values never malloc. */
    char inline_space[256];
} ds_buf;

static inline void ds_buf_init(ds_buf *b)
{
    b->data = b->inline_space;
    b->len = 0;
    b->cap = sizeof(b->inline_space);
}

static inline void ds_buf_release(ds_buf *b)
{
    if (b->data != b->inline_space)
        free(b->data);
    ds_buf_init(b);
}

/* Make room for extra more bytes. 0, or -1 on overflow/OOM (no exception set:
 * callers raise MemoryError). */
static inline int ds_buf_reserve(ds_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        return -1;
    size_t cap = b->cap * 2;
    if (cap < need)
        cap = need;
    char *p;
    if (b->data == b->inline_space) {
        p = malloc(cap);
        if (p)
            memcpy(p, b->data, b->len);
    } else {
        p = realloc(b->data, cap);
    }
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int ds_buf_append(ds_buf *b, const void *src, size_t n)
{
    if (ds_buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

static inline int ds_buf_putc(ds_buf *b, char c)
{
    if (b->len == b->cap && ds_buf_reserve(b, 1) < 0)
        return -1;
    b->data[b->len++] = c;
    return 0;
}

#endif
