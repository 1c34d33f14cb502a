/* The dict API shared by DictSQLiteV4 and TableProxy.
 *
 * Both object structs start with DS_MAPPING_HEAD: the database that does the
 * work (the object itself for DictSQLiteV4, the parent for a proxy) and the
 * namespace id. The methods below read those two fields, so one
 * implementation serves both types and a proxy costs one extra pointer hop.
 */
#ifndef DICTSQLITE_EXT_MAPPING_H
#define DICTSQLITE_EXT_MAPPING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

struct DictSQLiteV4Object;

#define DS_MAPPING_HEAD                                                        \
    PyObject_HEAD                                                              \
    struct DictSQLiteV4Object *db; /* borrowed when it is the object itself */ \
    uint32_t ns;

typedef struct ds_mapping {
    DS_MAPPING_HEAD
} ds_mapping;

#define DS_DB(obj) (((ds_mapping *)(obj))->db)
#define DS_NS(obj) (((ds_mapping *)(obj))->ns)

Py_ssize_t dsmap_length(PyObject *mapping);
PyObject *dsmap_subscript(PyObject *mapping, PyObject *key);
int dsmap_ass_subscript(PyObject *mapping, PyObject *key, PyObject *value);
int dsmap_sq_contains(PyObject *mapping, PyObject *key);
PyObject *dsmap_get_method(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs);
PyObject *dsmap_set_method(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs);
PyObject *dsmap_delete_method(PyObject *mapping, PyObject *key);
PyObject *dsmap_contains_method(PyObject *mapping, PyObject *key);
PyObject *dsmap_pop(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs);
PyObject *dsmap_popitem(PyObject *mapping, PyObject *unused);
PyObject *dsmap_setdefault(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs);
PyObject *dsmap_update(PyObject *mapping, PyObject *args, PyObject *kwds);
PyObject *dsmap_bulk_insert(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames);
PyObject *dsmap_batch_set(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *dsmap_batch_get(PyObject *mapping, PyObject *keys);
PyObject *dsmap_keys(PyObject *mapping, PyObject *unused);
PyObject *dsmap_values(PyObject *mapping, PyObject *unused);
PyObject *dsmap_items(PyObject *mapping, PyObject *unused);
PyObject *dsmap_iter(PyObject *mapping);
PyObject *dsmap_clear(PyObject *mapping, PyObject *unused);
PyObject *dsmap_richcompare(PyObject *mapping, PyObject *other, int op);
/* "{'k': v, ..., ... (N more)}": the first items and a count of the rest */
PyObject *dsmap_preview(PyObject *mapping);

/* Each docstring starts with its __text_signature__ ("name($self, ...)\n--\n\n"),
 * so inspect.signature() and help() show the parameters; the names and the
 * "/" match what the C code accepts (these all take positional arguments
 * only). pop's "default=..." stands for "no default" (its [default] form
 * cannot be written as a signature that inspect parses). */

/* batch_set and bulk_insert are one method under two names (the Rust
 * package has both). */
#define DS_BATCH_DOC(name)                                                     \
    name "($self, items, /, *, progress=None)\n--\n\n"                         \
    "Store a dict or an iterable of (key, value) pairs as one batch (one "     \
    "transaction in writethrough mode): all of them or, when it raises, "      \
    "none.\n\nprogress, if given, is called as progress(done, total) after "   \
    "each chunk of items is encoded (1024 items or 4 MiB of values), and "     \
    "last as progress(total, total) once all are encoded, just before the "   \
    "batch is stored. total is always known: the items are gathered into a "   \
    "list first, iterators included. An exception raised by progress aborts " \
    "the call and nothing is stored. update() takes no progress: its "        \
    "keywords are items, as for dict.update."

#define DS_MAPPING_METHODS                                                     \
    {"get", (PyCFunction)(void (*)(void))dsmap_get_method, METH_FASTCALL,      \
     "get($self, key, default=None, /)\n--\n\n"                                \
     "The value of key, or default if it is missing."},                        \
    {"set", (PyCFunction)(void (*)(void))dsmap_set_method, METH_FASTCALL,      \
     "set($self, key, value, /)\n--\n\nSame as db[key] = value."},             \
    {"delete", (PyCFunction)dsmap_delete_method, METH_O,                       \
     "delete($self, key, /)\n--\n\nSame as del db[key]; KeyError if missing."}, \
    {"contains", (PyCFunction)dsmap_contains_method, METH_O,                   \
     "contains($self, key, /)\n--\n\nSame as key in db."},                     \
    {"pop", (PyCFunction)(void (*)(void))dsmap_pop, METH_FASTCALL,             \
     "pop($self, key, default=..., /)\n--\n\n"                                 \
     "Remove key and return its value. If key is missing, return default "     \
     "when one is given, else raise KeyError."},                               \
    {"popitem", (PyCFunction)dsmap_popitem, METH_NOARGS,                       \
     "popitem($self, /)\n--\n\n"                                               \
     "Remove and return the first (key, value) pair in key order; "            \
     "KeyError if empty."},                                                    \
    {"setdefault", (PyCFunction)(void (*)(void))dsmap_setdefault, METH_FASTCALL, \
     "setdefault($self, key, default=None, /)\n--\n\n"                         \
     "The value of key, storing default first if it is missing."},             \
    {"update", (PyCFunction)(void (*)(void))dsmap_update, METH_VARARGS | METH_KEYWORDS, \
     "update($self, other=(), /, **kwargs)\n--\n\n"                            \
     "Store the pairs of other (a mapping or an iterable of (key, value) "     \
     "pairs), then kwargs, as one batch (one transaction in writethrough mode)."}, \
    {"bulk_insert", (PyCFunction)(void (*)(void))dsmap_bulk_insert,            \
     METH_FASTCALL | METH_KEYWORDS, DS_BATCH_DOC("bulk_insert")},              \
    {"batch_set", (PyCFunction)(void (*)(void))dsmap_batch_set,                \
     METH_FASTCALL | METH_KEYWORDS, DS_BATCH_DOC("batch_set")},                \
    {"batch_get", (PyCFunction)dsmap_batch_get, METH_O,                        \
     "batch_get($self, keys, /)\n--\n\n"                                       \
     "A dict of the keys found, with their values (missing keys are left out)."}, \
    {"keys", (PyCFunction)dsmap_keys, METH_NOARGS,                             \
     "keys($self, /)\n--\n\nA list of the keys, in key order."},               \
    {"values", (PyCFunction)dsmap_values, METH_NOARGS,                         \
     "values($self, /)\n--\n\nA list of the values, in key order."},           \
    {"items", (PyCFunction)dsmap_items, METH_NOARGS,                           \
     "items($self, /)\n--\n\nA list of the (key, value) pairs, in key order."}, \
    {"clear", (PyCFunction)dsmap_clear, METH_NOARGS,                           \
     "clear($self, /)\n--\n\n"                                                 \
     "Remove every key of this table (other tables are untouched)."}

#define DS_MAPPING_SLOTS                                                       \
    {Py_tp_richcompare, dsmap_richcompare},                                    \
    {Py_tp_iter, dsmap_iter},                                                  \
    {Py_mp_length, dsmap_length},                                              \
    {Py_mp_subscript, dsmap_subscript},                                        \
    {Py_mp_ass_subscript, dsmap_ass_subscript},                                \
    {Py_sq_contains, dsmap_sq_contains},                                       \
    {Py_sq_length, dsmap_length}

#endif
