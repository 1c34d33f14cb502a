/* JSON and MessagePack codecs between Python objects and bytes.
 *
 * Both accept exactly what json.dumps(allow_nan=False) accepts: dict (keys
 * str, or int/float/bool/None converted to str the way json.dumps does),
 * list, tuple (as an array), str, int (any size), float (finite), bool, None.
 * Anything else raises TypeError naming the type; NaN or infinity raises
 * ValueError. Dict key order is kept both ways.
 *
 * JSON: our own encoder writes UTF-8 text straight into a growing buffer
 * (non-ASCII kept as is, floats in repr form so they round-trip); decoding
 * uses cJSON for the structure, plus a side scan of number tokens so that
 * "1" decodes to int, "1.0" to float, and integers of any size stay exact
 * (cJSON itself keeps only a double).
 *
 * MessagePack: packed with msgpack-c; integers beyond 64 bits use ext type 1
 * holding the decimal digits, so they round-trip too. Decoded by our own
 * bounds-checked reader: libmsgpackc 4.0's unpacker has a fixed stack of 32
 * containers (MSGPACK_EMBED_STACK_SIZE), so a value nested 33 deep would be
 * written fine and then be unreadable.
 *
 * Both stop at 1,000 levels of nesting (cJSON's limit); deeper values are
 * refused when written, so nothing is stored that cannot be read back.
 */
#ifndef DICTSQLITE_EXT_JSON_CODECS_H
#define DICTSQLITE_EXT_JSON_CODECS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "buffer.h"

/* Append the encoding of value to out. 0 on success, -1 with an exception
 * set (out may then hold partial output; the caller discards it). */
int ds_json_encode(PyObject *value, ds_buf *out);
int ds_msgpack_encode(PyObject *value, ds_buf *out);

/* The container gate both encoders share, for a value that is not a scalar:
 * TypeError naming the type unless it is a list, tuple or dict; ValueError
 * past max_depth; then Python's recursion guard. Returns 1 for an array,
 * 0 for a dict (the caller then calls Py_LeaveRecursiveCall() when done), or
 * -1 with an exception. mode is "json" or "jsonb", for the messages. */
int ds_jsonlike_enter_container(PyObject *v, int depth, int max_depth, const char *mode);

/* dict[k] = v for the decoders, taking over both references (either may be
 * NULL after a failed decode, which then fails the call). 0 or -1. */
static inline int ds_dict_set_stolen(PyObject *dict, PyObject *k, PyObject *v)
{
    int rc = (k && v) ? PyDict_SetItem(dict, k, v) : -1;
    Py_XDECREF(k);
    Py_XDECREF(v);
    return rc;
}

/* New reference, or NULL with an exception set (ValueError for malformed
 * input, saying what is wrong). */
PyObject *ds_json_decode(const char *data, size_t len);
PyObject *ds_msgpack_decode(const char *data, size_t len);

#endif
