/* Bounds-checked reading from a byte range, for the binary decoders
 * (msgpack_codec.c, pickle_fast.c): every length they read comes from the
 * stored data, so none may be trusted. */
#ifndef DICTSQLITE_EXT_BYTE_READER_H
#define DICTSQLITE_EXT_BYTE_READER_H

#include <stddef.h>

/* The next n bytes of [*p, end), advancing *p past them; NULL (and *p
 * unchanged) if fewer are left. */
static inline const unsigned char *ds_take_bytes(const unsigned char **p,
                                                 const unsigned char *end, size_t n)
{
    if ((size_t)(end - *p) < n)
        return NULL;
    const unsigned char *at = *p;
    *p += n;
    return at;
}

#endif
