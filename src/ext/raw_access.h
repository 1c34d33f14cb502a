/* Raw access to stored values (raw_access.c): (key, codec, payload) triples
 * with the payload exactly as the codec wrote it (decrypted, never decoded),
 * for the command line (dump, load, verify, get) and for migration. Nothing
 * here unpickles: a pickle travels as its bytes.
 *
 * Codec names: "pickle", "json", "msgpack", "bytes", and "prepickled" for
 * bytes that were stored in pickle mode because they already were a pickle
 * (DS_CODEC_FLAG_PREPICKLED): those are read back only through the
 * restricted unpickler, so a dump and load must keep them apart from
 * pickles this library wrote itself, or a load would turn untrusted bytes
 * into a pickle that pickle.loads runs. */
#ifndef DICTSQLITE_EXT_RAW_ACCESS_H
#define DICTSQLITE_EXT_RAW_ACCESS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *ds_raw_items(PyObject *mapping, PyObject *args, PyObject *kwds);
PyObject *ds_raw_set_many(PyObject *mapping, PyObject *items);
PyObject *ds_raw_get(PyObject *mapping, PyObject *key);
PyObject *ds_raw_decode(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs);

/* The entries of DictSQLiteV4's and TableProxy's method tables. */
#define DS_RAW_METHODS                                                         \
    {"_raw_items", (PyCFunction)(void (*)(void))ds_raw_items,                  \
     METH_VARARGS | METH_KEYWORDS,                                             \
     "_raw_items($self, /, after=None, limit=-1, values=True)\n--\n\n"         \
     "List of (key, codec, payload) of this table in key order: the payload "  \
     "is the stored bytes (decrypted, not decoded; nothing is unpickled), "    \
     "codec one of 'pickle', 'json', 'msgpack', 'bytes', 'prepickled'. Only "  \
     "keys greater than after, at most limit of them (-1: all); with "         \
     "values=False, a list of keys."},                                         \
    {"_raw_set_many", (PyCFunction)ds_raw_set_many, METH_O,                    \
     "_raw_set_many($self, items, /)\n--\n\n"                                  \
     "Store (key, codec, payload) triples as they are (encrypted when the "    \
     "database is), as one batch: all of them or, when it raises, none."},    \
    {"_raw_get", (PyCFunction)ds_raw_get, METH_O,                              \
     "_raw_get($self, key, /)\n--\n\n"                                         \
     "(codec, payload) of key, decrypted but not decoded; KeyError if "        \
     "missing."},                                                              \
    {"_raw_decode", (PyCFunction)(void (*)(void))ds_raw_decode, METH_FASTCALL, \
     "_raw_decode($self, codec, payload, key=None, /)\n--\n\n"                           \
     "Decode a 'json', 'msgpack' or 'bytes' payload as a read would; pickles " \
     "are refused (use dictsqlite.modules.safe_pickle). key names the value in "  \
     "errors."}

/* DictSQLiteV4._rekey (rekey.c). */
struct DictSQLiteV4Object;
PyObject *dsv4_rekey(struct DictSQLiteV4Object *self, PyObject *new_password);

#define DS_REKEY_METHOD                                                        \
    {"_rekey", (PyCFunction)dsv4_rekey, METH_O,                                \
     "_rekey($self, new_password, /)\n--\n\n"                                  \
     "Re-encrypt every value of every table under new_password (a str), "      \
     "encrypt a plaintext file in place, or with None store every value in "   \
     "plain text; one transaction, so on an error nothing changed. Holds the " \
     "GIL throughout (no other thread may read meanwhile: reads decrypt "      \
     "without a lock); refused once the async API started its workers."}

#endif
