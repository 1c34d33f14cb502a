/* Reuse of decoded dict-key strings: see key_string_cache.h. */
#include "key_string_cache.h"

#include <stdint.h>
#include <string.h>

PyObject *ds_key_cache_get(ds_key_cache *cache, const unsigned char *s, size_t n,
                           ds_key_decode_fn decode, const void *ctx)
{
#ifndef Py_GIL_DISABLED
    if (n <= DS_KEY_CACHE_MAXLEN) {
        /* FNV-1a. Its multiply carries upward only, so the high half is
         * folded into the low bits that pick the slot. */
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++)
            h = (h ^ s[i]) * 16777619u;
        ds_key_slot *slot = &cache->slots[(h ^ (h >> 16)) & (DS_KEY_CACHE_SLOTS - 1)];
        if (slot->str && slot->len == n && memcmp(slot->bytes, s, n) == 0)
            return Py_NewRef(slot->str);
        PyObject *k = decode(ctx, s, n);
        if (!k)
            return NULL;
        Py_XSETREF(slot->str, Py_NewRef(k));
        slot->len = n;
        memcpy(slot->bytes, s, n);
        return k;
    }
#else
    (void)cache;
#endif
    return decode(ctx, s, n);
}
