/* AsyncDictSQLite: the asyncio face of the engine. Its object is a
 * DictSQLiteV4Object (same engine, codecs, lifetime and exit-time flush), so
 * every sync member is the sync class's own; the a-methods (async_methods.c)
 * finish in the call when they can and otherwise run on the instance's
 * worker pool (pool.h), which close() and aclose() stop. */
#include "async_methods.h"
#include "async_op.h"
#include "db_ops.h"
#include "mapping.h"
#include "v4_options.h"

#include <structmember.h>

static int Async_init(DictSQLiteV4Object *self, PyObject *args, PyObject *kwds)
{
    if (dsv4_init_from(self, &DS_ASYNC_SIGNATURE, args, kwds) < 0)
        return -1;
    /* The Rust package's async class pickles bytes like any other value. */
    if (self->storage == DS_STORAGE_PICKLE)
        self->storage = DS_STORAGE_PICKLE_ALL;
    return 0;
}

PyObject *ds_async_table_proxy_new(DictSQLiteV4Object *db, uint32_t ns, PyObject *name);

static PyObject *Async_table(DictSQLiteV4Object *self, PyObject *name)
{
    CHECK_USABLE_OR_NULL(self);
    uint32_t ns;
    if (dsv4_namespace(self, name, &ns) < 0)
        return NULL;
    return ds_async_table_proxy_new(self, ns, name);
}

static int set_item(PyObject *d, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItemString(d, name, v);
    Py_DECREF(v);
    return rc;
}

/* The sync class's statistics, plus the Rust package's size and capacity
 * and the group-commit figures. */
static PyObject *Async_stats(DictSQLiteV4Object *self, PyObject *unused)
{
    PyObject *d = dsv4_stats(self, unused);
    if (!d)
        return NULL;
    uint64_t groups = 0, writes = 0;
    if (self->pool)
        ds_pool_write_stats(self->pool, &groups, &writes);
    if (set_item(d, "size", Py_NewRef(PyDict_GetItemString(d, "len"))) < 0 ||
        set_item(d, "capacity", Py_NewRef(PyDict_GetItemString(d, "hot_tier_capacity"))) < 0 ||
        set_item(d, "pool_size", PyLong_FromSize_t(self->pool_size)) < 0 ||
        set_item(d, "async_commit_groups", PyLong_FromUnsignedLongLong(groups)) < 0 ||
        set_item(d, "async_grouped_writes", PyLong_FromUnsignedLongLong(writes)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *Async_aenter(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    if (DSV4_USABLE(self) < 0)
        return ds_async_ready(self, NULL);
    return ds_async_ready(self, Py_NewRef((PyObject *)self));
}

static PyObject *Async_aexit(DictSQLiteV4Object *self, PyObject *args)
{
    (void)args;
    return dsasync_aclose((PyObject *)self, NULL);
}

/* Docstrings start with a __text_signature__ line (see DS_MAPPING_METHODS). */
static PyMethodDef Async_methods[] = {
    DS_ASYNC_METHODS,
    {"aclose", (PyCFunction)dsasync_aclose, METH_NOARGS,
     "aclose($self, /)\n--\n\n"
     "Awaitable that commits what is pending, then closes; later calls raise "
     "DatabaseClosedError."},
    DS_MAPPING_METHODS,
    {"table", (PyCFunction)Async_table, METH_O,
     "table($self, name, /)\n--\n\nAn AsyncTableProxy with the API of table `name`."},
    {"tables", (PyCFunction)dsv4_tables, METH_NOARGS,
     "tables($self, /)\n--\n\nA sorted list of the tables that hold data."},
    {"flush", (PyCFunction)dsv4_flush, METH_NOARGS,
     "flush($self, /)\n--\n\nCommit every pending write in one transaction."},
    {"close", (PyCFunction)dsv4_close, METH_NOARGS,
     "close($self, /)\n--\n\nFinish queued async work, flush and close."},
    {"stats", (PyCFunction)Async_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nA dict with size, capacity, tier sizes and counters."},
    {"__enter__", (PyCFunction)dsv4_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturn the database itself."},
    {"__exit__", (PyCFunction)dsv4_exit, METH_VARARGS,
     "__exit__($self, /, *exc_info)\n--\n\n"
     "close(); returns False, so an exception goes on."},
    {"__aenter__", (PyCFunction)Async_aenter, METH_NOARGS,
     "__aenter__($self, /)\n--\n\nAwaitable of the database itself."},
    {"__aexit__", (PyCFunction)Async_aexit, METH_VARARGS,
     "__aexit__($self, /, *exc_info)\n--\n\n"
     "Same as aclose(); an exception goes on."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Async_getset[] = {
    {"closed", (getter)dsv4_get_closed, NULL, "True once close() has run.", NULL},
    {"path", (getter)dsv4_get_path, NULL, "The database path.", NULL},
    {"table_name", (getter)dsv4_get_table_name, NULL, "The instance's table.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Async_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(DictSQLiteV4Object, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Async_slots[] = {
    /* The first line is the class's __text_signature__: it must list the rows
     * of ASYNC_OPTIONS (v4_options.c) with their defaults. */
    {Py_tp_doc, "AsyncDictSQLite(db_path, capacity=1000000, persist_mode='lazy', "
                "storage_mode='pickle', table_name='main', buffer_size=100, "
                "table_mode='prefix', *, hot_capacity=..., encryption_password=None, "
                "enable_safe_pickle=False, safe_pickle_allowed_modules=None, "
                "enable_async=True, pool_size=4, flush_interval_ms=1000, "
                "synchronous='normal', read_only=False, timeout=5.0, "
                "max_pending_bytes=67108864)\n--\n\n"
                "A persistent dict for asyncio: await db.aget(k), await db.aset(k, v).\n\n"
                "capacity and hot_capacity are two names of one option: pass one "
                "(hot_capacity=... in the signature means it has no default of its "
                "own). "
                "The mode names are case-insensitive, as for DictSQLiteV4."},
    {Py_tp_new, dsv4_new},
    {Py_tp_init, Async_init},
    {Py_tp_dealloc, dsv4_dealloc},
    {Py_tp_traverse, dsv4_traverse},
    {Py_tp_clear, dsv4_clear_refs},
    {Py_tp_repr, dsv4_repr},
    {Py_tp_methods, Async_methods},
    {Py_tp_getset, Async_getset},
    {Py_tp_members, Async_members},
    DS_MAPPING_SLOTS,
    {0, NULL},
};

PyType_Spec AsyncDictSQLite_spec = {
    .name = "dictsqlite.AsyncDictSQLite",
    .basicsize = sizeof(DictSQLiteV4Object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_MAPPING | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Async_slots,
};
