/* Reuse of decoded dict-key strings, for the JSON, MessagePack and pickle
 * decoders.
 *
 * Keys repeat from value to value (every record of a table tends to have the
 * same field names), so recently decoded short keys are kept and shared: a
 * hit costs no allocation, and the str already carries its hash for the dict
 * insert.
 *
 * All access happens with the GIL held and nothing in lookup or update can
 * run Python code, so no lock is needed. A cache is process-wide: fine as
 * long as every interpreter that imports the module shares the main GIL (the
 * module does not declare per-interpreter GIL support). Free-threaded builds
 * have no cache: every key is decoded.
 *
 * Each codec keeps its own cache, since each decides which bytes make a valid
 * key (MessagePack takes lone surrogates in "surrogatepass" form, JSON text
 * does not): a key cached by one must not skip the other's check.
 */
#ifndef DICTSQLITE_EXT_KEY_STRING_CACHE_H
#define DICTSQLITE_EXT_KEY_STRING_CACHE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define DS_KEY_CACHE_SLOTS 256 /* a power of two */
#define DS_KEY_CACHE_MAXLEN 24

typedef struct ds_key_slot {
    PyObject *str;
    size_t len;
    unsigned char bytes[DS_KEY_CACHE_MAXLEN];
} ds_key_slot;

typedef struct ds_key_cache {
#ifndef Py_GIL_DISABLED
    ds_key_slot slots[DS_KEY_CACHE_SLOTS];
#else
    char unused; /* C wants a member */
#endif
} ds_key_cache;

/* The codec's own decoding of n key bytes: a new str, or NULL with an
 * exception set. ctx is passed through from ds_key_cache_get. */
typedef PyObject *(*ds_key_decode_fn)(const void *ctx, const unsigned char *s, size_t n);

/* The str for the n key bytes at s: shared from the cache, or made by
 * decode (and cached when short enough). A new reference, or NULL with the
 * exception decode set. */
PyObject *ds_key_cache_get(ds_key_cache *cache, const unsigned char *s, size_t n,
                           ds_key_decode_fn decode, const void *ctx);

#endif
