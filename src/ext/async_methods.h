/* The awaitable members shared by AsyncDictSQLite and AsyncTableProxy
 * (async_methods.c). Like the mapping methods (mapping.h), they read the
 * DS_MAPPING_HEAD of self: the database and the namespace. */
#ifndef DICTSQLITE_EXT_ASYNC_METHODS_H
#define DICTSQLITE_EXT_ASYNC_METHODS_H

#include "dictsqlite_v4.h"

PyObject *dsasync_aget(PyObject *self, PyObject *key);
PyObject *dsasync_acontains(PyObject *self, PyObject *key);
PyObject *dsasync_aset(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *dsasync_adelete(PyObject *self, PyObject *key);
PyObject *dsasync_abatch_get(PyObject *self, PyObject *keys);
PyObject *dsasync_abatch_set(PyObject *self, PyObject *items);
PyObject *dsasync_aflush(PyObject *self, PyObject *unused);
PyObject *dsasync_aclose(PyObject *self, PyObject *unused);
/* batch_get(keys) -> list aligned with keys, None where missing */
PyObject *dsasync_batch_get(PyObject *self, PyObject *keys);

/* Listed before DS_MAPPING_METHODS: the first of two entries with one name
 * is the one a type gets, so batch_get here replaces the mapping's. Each
 * docstring starts with its __text_signature__ (see DS_MAPPING_METHODS). The
 * a-methods return an awaitable that is also a coroutine (it has __await__,
 * send, throw and close), so asyncio.create_task() takes it. */
#define DS_ASYNC_METHODS                                                       \
    {"aget", (PyCFunction)dsasync_aget, METH_O,                                \
     "aget($self, key, /)\n--\n\n"                                             \
     "Awaitable of the value of key; KeyError if missing."},                   \
    {"acontains", (PyCFunction)dsasync_acontains, METH_O,                      \
     "acontains($self, key, /)\n--\n\nAwaitable of key in db."},               \
    {"aset", (PyCFunction)(void (*)(void))dsasync_aset, METH_FASTCALL,         \
     "aset($self, key, value, /)\n--\n\n"                                      \
     "Awaitable that stores value (durable when it returns, in writethrough "  \
     "mode)."},                                                                \
    {"adelete", (PyCFunction)dsasync_adelete, METH_O,                          \
     "adelete($self, key, /)\n--\n\n"                                          \
     "Awaitable that deletes key; KeyError if missing."},                      \
    {"abatch_get", (PyCFunction)dsasync_abatch_get, METH_O,                    \
     "abatch_get($self, keys, /)\n--\n\n"                                      \
     "Awaitable of a list aligned with keys (None where missing)."},           \
    {"abatch_set", (PyCFunction)dsasync_abatch_set, METH_O,                    \
     "abatch_set($self, items, /)\n--\n\n"                                     \
     "Awaitable that stores a dict or an iterable of (key, value) pairs as "   \
     "one batch."},                                                            \
    {"aflush", (PyCFunction)dsasync_aflush, METH_NOARGS,                       \
     "aflush($self, /)\n--\n\nAwaitable that commits every pending write."},   \
    {"batch_get", (PyCFunction)dsasync_batch_get, METH_O,                      \
     "batch_get($self, keys, /)\n--\n\n"                                       \
     "A list aligned with keys (None where missing)."},                        \
    {"get_async", (PyCFunction)(void (*)(void))dsmap_get_method, METH_FASTCALL, \
     "get_async($self, key, default=None, /)\n--\n\n"                          \
     "Same as get() (no await)."},                                             \
    {"set_async", (PyCFunction)(void (*)(void))dsmap_set_method, METH_FASTCALL, \
     "set_async($self, key, value, /)\n--\n\nSame as set() (no await)."}

#endif
