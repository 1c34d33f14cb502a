/* DictSQLiteV4: the persistent dict type. Its dict API lives in mapping.c
 * (shared with TableProxy); this file holds what is specific to a database:
 * construction, options, close, flush, stats, repr and tables. */
#include "dictsqlite_v4.h"

#include <stdatomic.h>
#include <structmember.h>
#include <unistd.h>

#include "db_ops.h"
#include "mapping.h"
#include "options.h"

/* ---- construction and lifetime ----------------------------------------- */

static int parse_persist_mode(PyObject *name, ds_persist_mode *out)
{
    static const char *const names[] = {"memory", "lazy", "writethrough", "write_through",
                                        NULL};
    static const ds_persist_mode modes[] = {DS_PERSIST_MEMORY, DS_PERSIST_LAZY,
                                            DS_PERSIST_WRITETHROUGH,
                                            DS_PERSIST_WRITETHROUGH};
    int i = ds_parse_choice("persist_mode", name, names,
                            "'memory', 'lazy', 'writethrough'");
    if (i < 0)
        return -1;
    *out = modes[i];
    return 0;
}

static PyObject *make_safe_policy(PyObject *allowed)
{
    PyObject *mod = PyImport_ImportModule("dictsqlite.modules.safe_pickle");
    if (!mod)
        return NULL;
    PyObject *cls = PyObject_GetAttrString(mod, "SafePolicy");
    Py_DECREF(mod);
    if (!cls)
        return NULL;
    PyObject *kwargs = PyDict_New();
    PyObject *prefixes = NULL;
    if (kwargs && allowed != Py_None) {
        prefixes = PySequence_Tuple(allowed);
        if (!prefixes || PyDict_SetItemString(kwargs, "allowed_module_prefixes", prefixes) < 0)
            Py_CLEAR(kwargs);
    }
    PyObject *empty = PyTuple_New(0);
    PyObject *policy = kwargs && empty ? PyObject_Call(cls, empty, kwargs) : NULL;
    Py_XDECREF(empty);
    Py_XDECREF(prefixes);
    Py_XDECREF(kwargs);
    Py_DECREF(cls);
    return policy;
}

static int V4_init(DictSQLiteV4Object *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"db_path", "hot_capacity", "enable_async", "persist_mode",
                             "storage_mode", "table_name", "encryption_password",
                             "enable_safe_pickle", "safe_pickle_allowed_modules",
                             "buffer_size", "encoding", "table_mode", "pool_size",
                             "flush_interval_ms", "synchronous", NULL};
    PyObject *db_path, *persist_obj = NULL, *storage_obj = NULL, *table_obj = NULL;
    PyObject *password = Py_None, *allowed = Py_None, *encoding = NULL, *table_mode = NULL;
    PyObject *sync_obj = NULL;
    Py_ssize_t hot_capacity = 1000000, buffer_size = 100, pool_size = 20;
    Py_ssize_t flush_interval_ms = 1000;
    int enable_async = 1, enable_safe_pickle = 0;
    if (self->engine) {
        PyErr_SetString(PyExc_RuntimeError, "DictSQLiteV4.__init__ called twice");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|npOOOOpOnOOnnO:DictSQLiteV4", kwlist,
                                     &db_path, &hot_capacity, &enable_async, &persist_obj,
                                     &storage_obj, &table_obj, &password,
                                     &enable_safe_pickle, &allowed, &buffer_size,
                                     &encoding, &table_mode, &pool_size,
                                     &flush_interval_ms, &sync_obj))
        return -1;

    /* Validate everything before the file is touched. */
    ds_persist_mode persist = DS_PERSIST_WRITETHROUGH;
    ds_storage_mode storage = DS_STORAGE_PICKLE;
    if (persist_obj && parse_persist_mode(persist_obj, &persist) < 0)
        return -1;
    if (storage_obj && ds_storage_mode_from_name(storage_obj, &storage) < 0)
        return -1;
    if (table_obj && !PyUnicode_Check(table_obj)) {
        PyErr_Format(PyExc_TypeError, "table_name must be a str, got %.200s",
                     Py_TYPE(table_obj)->tp_name);
        return -1;
    }
    static const char *const table_modes[] = {"prefix", "separate", NULL};
    if (table_mode && ds_parse_choice("table_mode", table_mode, table_modes,
                                   "'prefix', 'separate'") < 0)
        return -1;
    static const char *const encodings[] = {"utf-8", "utf8", NULL};
    if (encoding && ds_parse_choice("encoding", encoding, encodings,
                                 "'utf-8' (keys are stored as UTF-8 text)") < 0)
        return -1;
    static const char *const syncs[] = {"normal", "full", NULL};
    int sync_full = 0;
    if (sync_obj) {
        int i = ds_parse_choice("synchronous", sync_obj, syncs, "'normal', 'full'");
        if (i < 0)
            return -1;
        sync_full = i == 1;
    }
    if (hot_capacity < 1) {
        PyErr_Format(PyExc_ValueError, "hot_capacity must be at least 1, got %zd", hot_capacity);
        return -1;
    }
    if (buffer_size < 1) {
        PyErr_Format(PyExc_ValueError, "buffer_size must be at least 1, got %zd", buffer_size);
        return -1;
    }
    if (pool_size < 1) {
        PyErr_Format(PyExc_ValueError, "pool_size must be at least 1, got %zd", pool_size);
        return -1;
    }
    if (flush_interval_ms < 1 || flush_interval_ms > 86400000) {
        PyErr_Format(PyExc_ValueError,
                     "flush_interval_ms must be between 1 and 86400000, got %zd",
                     flush_interval_ms);
        return -1;
    }
    const char *password_bytes = NULL;
    Py_ssize_t password_len = 0;
    if (password != Py_None) {
        if (PyUnicode_Check(password)) {
            password_bytes = PyUnicode_AsUTF8AndSize(password, &password_len);
            if (!password_bytes)
                return -1;
        } else if (PyBytes_Check(password)) {
            password_bytes = PyBytes_AS_STRING(password);
            password_len = PyBytes_GET_SIZE(password);
        } else {
            PyErr_Format(PyExc_TypeError, "encryption_password must be a str or bytes, "
                         "got %.200s", Py_TYPE(password)->tp_name);
            return -1;
        }
        if (password_len == 0) {
            PyErr_SetString(PyExc_ValueError, "encryption_password must not be empty");
            return -1;
        }
        if (persist == DS_PERSIST_MEMORY) {
            PyErr_SetString(PyExc_ValueError,
                            "encryption_password has no effect in memory mode, which "
                            "stores nothing on disk; leave it out or use 'lazy' or "
                            "'writethrough'");
            return -1;
        }
    }
    PyObject *path = PyOS_FSPath(db_path);
    if (!path)
        return -1;
    if (PyBytes_Check(path)) {
        PyObject *decoded = PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(path),
                                                             PyBytes_GET_SIZE(path));
        Py_SETREF(path, decoded);
        if (!path)
            return -1;
    }
    const char *cpath = PyUnicode_AsUTF8(path);
    if (!cpath) {
        Py_DECREF(path);
        return -1;
    }
    PyObject *policy = NULL;
    if (enable_safe_pickle && !(policy = make_safe_policy(allowed))) {
        Py_DECREF(path);
        return -1;
    }

    ds_engine_config cfg = {0};
    cfg.path = cpath;
    cfg.persist = persist;
    cfg.hot_capacity = (size_t)hot_capacity;
    cfg.warm_bytes = 100u << 20; /* the specification's 100 MB warm tier */
    /* The Rust package's writethrough commits every write when buffer_size
     * is left at its default; an explicit value is honoured. */
    cfg.buffer_size = (persist == DS_PERSIST_WRITETHROUGH &&
                       (!kwds || !PyDict_GetItemString(kwds, "buffer_size")) &&
                       PyTuple_GET_SIZE(args) < 10)
                          ? 1
                          : (size_t)buffer_size;
    cfg.enable_flusher = enable_async && persist != DS_PERSIST_MEMORY &&
                         !(persist == DS_PERSIST_WRITETHROUGH && cfg.buffer_size == 1);
    cfg.flush_interval_ms = (unsigned)flush_interval_ms;
    cfg.store.sync_full = sync_full;
    cfg.password = password_bytes;
    cfg.password_len = (size_t)password_len;

    ds_engine *engine = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st;
    Py_BEGIN_ALLOW_THREADS
    st = ds_engine_open(&cfg, &engine, &err);
    Py_END_ALLOW_THREADS
    self->path = path;
    if (st != DS_OK) {
        /* A damaged or foreign file is an OSError about the path; a wrong
         * password (DS_INVALID) is a ValueError. */
        if (st == DS_CORRUPT)
            PyErr_Format(PyExc_OSError, "%s", err.msg);
        else
            dsv4_raise(self, st, &err);
        Py_XDECREF(policy);
        return -1;
    }
    self->engine = engine;
    ds_engine_gen_pointers(engine, &self->gen_ptr, &self->seen_ptr);
    self->table_name = table_obj ? Py_NewRef(table_obj) : PyUnicode_FromString("main");
    Py_ssize_t tlen;
    const char *tname = self->table_name ? PyUnicode_AsUTF8AndSize(self->table_name, &tlen) : NULL;
    if (tname) {
        Py_BEGIN_ALLOW_THREADS
        st = ds_engine_ns(engine, tname, (size_t)tlen, &self->ns, &err);
        Py_END_ALLOW_THREADS
    }
    if (!tname || st != DS_OK) {
        if (tname)
            dsv4_raise(self, st, &err);
        Py_BEGIN_ALLOW_THREADS
        ds_engine_close(engine, 1, &err);
        Py_END_ALLOW_THREADS
        ds_engine_free(engine);
        self->engine = NULL;
        Py_XDECREF(policy);
        return -1;
    }
    self->storage = storage;
    self->persist = persist;
    self->hot_capacity = (size_t)hot_capacity;
    self->buffer_size = cfg.buffer_size;
    self->safe_policy = policy;
    self->fork_generation = ds_fork_generation;
    self->closed = 0;
    PyObject *id = PyLong_FromVoidPtr(self);
    int rc = id ? PyObject_SetItem(self->state->live_instances, id, (PyObject *)self) : -1;
    Py_XDECREF(id);
    return rc;
}

/* Flush and close the engine. force: at dealloc, free even if the flush
 * fails (reported as unraisable). */
static int close_engine(DictSQLiteV4Object *self, int force)
{
    if (!self->engine)
        return 0;
    if (self->fork_generation != ds_fork_generation) {
        ds_engine_abandon(self->engine);
        self->engine = NULL;
        self->closed = 1;
        return 0;
    }
    self->closed = 1; /* no new calls start from here on */
    while (self->in_flight > 0) {
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    ds_error err;
    ds_error_clear(&err);
    ds_status st;
    Py_BEGIN_ALLOW_THREADS
    st = ds_engine_close(self->engine, force, &err);
    Py_END_ALLOW_THREADS
    if (st != DS_OK && !force) {
        self->closed = 0;
        dsv4_raise(self, st, &err);
        return -1;
    }
    dsv4_drain_retired(self);
    ds_engine_free(self->engine);
    self->engine = NULL;
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

static void V4_dealloc(DictSQLiteV4Object *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->engine) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        if (close_engine(self, 1) < 0)
            PyErr_WriteUnraisable((PyObject *)self);
        PyErr_Restore(t, v, tb);
    }
    Py_CLEAR(self->path);
    Py_CLEAR(self->table_name);
    Py_CLEAR(self->safe_policy);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int V4_traverse(DictSQLiteV4Object *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->safe_policy);
    return 0;
}

static int V4_clear_refs(DictSQLiteV4Object *self)
{
    Py_CLEAR(self->safe_policy);
    return 0;
}

static PyObject *V4_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    DictSQLiteV4Object *self = (DictSQLiteV4Object *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->db = self; /* borrowed: the database is the object itself */
    self->state = ds_get_module_state_by_type(type);
    self->closed = 1;
    self->fork_generation = ds_fork_generation;
    return (PyObject *)self;
}

static PyObject *V4_flush(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    if (dsv4_flush_now(self) < 0)
        return NULL;
    ds_error err;
    uint64_t failures = ds_engine_take_flusher_errors(self->engine, &err);
    if (failures && PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                     "the background flusher failed %llu time(s) "
                                     "(last error: %s); the writes stayed buffered "
                                     "and this flush() committed them",
                                     (unsigned long long)failures, err.msg) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_close(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    if (self->fork_generation == ds_fork_generation && self->closed)
        Py_RETURN_NONE; /* idempotent */
    if (close_engine(self, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_enter(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    return Py_NewRef(self);
}

static PyObject *V4_exit(DictSQLiteV4Object *self, PyObject *args)
{
    (void)args;
    if (V4_close(self, NULL) == NULL)
        return NULL;
    Py_RETURN_FALSE;
}

static const char *persist_display_name(ds_persist_mode m)
{
    switch (m) {
    case DS_PERSIST_MEMORY: return "Memory";
    case DS_PERSIST_LAZY: return "Lazy";
    case DS_PERSIST_WRITETHROUGH: return "WriteThrough";
    }
    return "?";
}

static int stats_set(PyObject *d, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItemString(d, name, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *V4_stats(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    ds_engine_stats s;
    Py_BEGIN_ALLOW_THREADS
    ds_engine_get_stats(self->engine, &s);
    Py_END_ALLOW_THREADS
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (stats_set(d, "hot_tier_size", PyLong_FromSize_t(s.hot_entries)) < 0 ||
        stats_set(d, "hot_tier_capacity", PyLong_FromSize_t(self->hot_capacity)) < 0 ||
        stats_set(d, "hot_tier_bytes", PyLong_FromSize_t(s.hot_bytes)) < 0 ||
        stats_set(d, "num_shards", PyLong_FromSize_t(s.nshards)) < 0 ||
        stats_set(d, "encryption_enabled", PyBool_FromLong(s.encrypted)) < 0 ||
        stats_set(d, "safe_pickle_enabled", PyBool_FromLong(self->safe_policy != NULL)) < 0 ||
        stats_set(d, "persist_mode", PyUnicode_FromString(persist_display_name(self->persist))) < 0 ||
        stats_set(d, "storage_mode", PyUnicode_FromString(ds_storage_mode_name(self->storage))) < 0 ||
        stats_set(d, "buffer_size", PyLong_FromSize_t(self->buffer_size)) < 0 ||
        stats_set(d, "hot_hits", PyLong_FromUnsignedLongLong(s.hot_hits)) < 0 ||
        stats_set(d, "hot_misses", PyLong_FromUnsignedLongLong(s.hot_misses)) < 0 ||
        stats_set(d, "hot_evictions", PyLong_FromUnsignedLongLong(s.hot_evictions)) < 0 ||
        stats_set(d, "warm_tier_size", PyLong_FromSize_t(s.warm_entries)) < 0 ||
        stats_set(d, "warm_tier_bytes", PyLong_FromSize_t(s.warm_bytes)) < 0 ||
        stats_set(d, "warm_tier_max_bytes", PyLong_FromSize_t(s.warm_max_bytes)) < 0 ||
        stats_set(d, "warm_hits", PyLong_FromUnsignedLongLong(s.warm_hits)) < 0 ||
        stats_set(d, "warm_misses", PyLong_FromUnsignedLongLong(s.warm_misses)) < 0 ||
        stats_set(d, "dirty_entries", PyLong_FromSize_t(s.dirty_entries)) < 0 ||
        stats_set(d, "cold_reads", PyLong_FromUnsignedLongLong(s.cold_reads)) < 0 ||
        stats_set(d, "flushes", PyLong_FromUnsignedLongLong(s.flushes)) < 0 ||
        stats_set(d, "rows_flushed", PyLong_FromUnsignedLongLong(s.rows_flushed)) < 0 ||
        stats_set(d, "flush_failures", PyLong_FromUnsignedLongLong(s.flush_failures)) < 0 ||
        stats_set(d, "file_size_bytes", s.file_bytes < 0 ? Py_NewRef(Py_None)
                                                         : PyLong_FromLongLong(s.file_bytes)) < 0 ||
        stats_set(d, "len", PyLong_FromSsize_t(dsmap_length((PyObject *)self))) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *V4_repr(DictSQLiteV4Object *self)
{
    PyObject *tp = PyType_GetQualName(Py_TYPE(self));
    if (!tp)
        return NULL;
    if (self->closed || self->fork_generation != ds_fork_generation) {
        PyObject *r = PyUnicode_FromFormat("<%U %R (closed)>", tp,
                                           self->path ? self->path : Py_None);
        Py_DECREF(tp);
        return r;
    }
    PyObject *preview = dsmap_preview((PyObject *)self);
    if (!preview) {
        Py_DECREF(tp);
        return NULL;
    }
    PyObject *r = PyUnicode_FromFormat("%U(%R, table_name=%R, persist_mode='%s', "
                                       "storage_mode='%s', %U)",
                                       tp, self->path, self->table_name,
                                       persist_display_name(self->persist),
                                       ds_storage_mode_name(self->storage), preview);
    Py_DECREF(tp);
    Py_DECREF(preview);
    return r;
}

static PyObject *V4_get_closed(DictSQLiteV4Object *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->closed);
}

static PyObject *V4_get_path(DictSQLiteV4Object *self, void *unused)
{
    (void)unused;
    return Py_NewRef(self->path ? self->path : Py_None);
}

static PyObject *V4_get_table_name(DictSQLiteV4Object *self, void *unused)
{
    (void)unused;
    return Py_NewRef(self->table_name ? self->table_name : Py_None);
}

/* Intern a table name; SQLite counts its rows the first time, so the GIL is
 * released. 0 or -1. */
int dsv4_namespace(DictSQLiteV4Object *self, PyObject *name, uint32_t *ns)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "table name must be a str, got %.200s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(name, &len);
    if (!utf8)
        return -1;
    ds_error err;
    ds_status st;
    DS_WITHOUT_GIL(self, st = ds_engine_ns(self->engine, utf8, (size_t)len, ns, &err));
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

static PyObject *V4_table(DictSQLiteV4Object *self, PyObject *name)
{
    CHECK_USABLE_OR_NULL(self);
    uint32_t ns;
    if (dsv4_namespace(self, name, &ns) < 0)
        return NULL;
    return ds_table_proxy_new(self, ns, name);
}

static int append_table_name(const char *tbl, size_t tlen, void *ctx)
{
    PyObject *name = PyUnicode_DecodeUTF8(tbl, (Py_ssize_t)tlen, "surrogatepass");
    if (!name || PyList_Append(ctx, name) < 0) {
        Py_XDECREF(name);
        return 1; /* stop; the exception is pending */
    }
    Py_DECREF(name);
    return 0;
}

static PyObject *V4_tables(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    /* The callback builds Python objects, so this runs with the GIL held;
     * listing tables is rare and touches one SQLite index. */
    PyObject *names = PyList_New(0);
    if (!names)
        return NULL;
    ds_error err;
    ds_status st = ds_engine_list_ns(self->engine, append_table_name, names, &err);
    if (PyErr_Occurred()) {
        Py_DECREF(names);
        return NULL;
    }
    if (st != DS_OK) {
        Py_DECREF(names);
        dsv4_raise(self, st, &err);
        return NULL;
    }
    return names;
}

static PyMethodDef V4_methods[] = {
    DS_MAPPING_METHODS,
    {"table", (PyCFunction)V4_table, METH_O,
     "table(name): a TableProxy with the dict API of table `name` in this database."},
    {"tables", (PyCFunction)V4_tables, METH_NOARGS,
     "tables(): sorted list of the tables that hold data."},
    {"flush", (PyCFunction)V4_flush, METH_NOARGS,
     "flush(): commit every pending write in one transaction."},
    {"close", (PyCFunction)V4_close, METH_NOARGS,
     "close(): flush and close; later operations raise DatabaseClosedError."},
    {"stats", (PyCFunction)V4_stats, METH_NOARGS, "stats(): dict of tier sizes and counters."},
    {"__enter__", (PyCFunction)V4_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)V4_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef V4_getset[] = {
    {"closed", (getter)V4_get_closed, NULL, "True once close() has run.", NULL},
    {"path", (getter)V4_get_path, NULL, "The database path.", NULL},
    {"table_name", (getter)V4_get_table_name, NULL, "The instance's table.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef V4_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(DictSQLiteV4Object, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot V4_slots[] = {
    {Py_tp_doc, "DictSQLiteV4(db_path, hot_capacity=1_000_000, enable_async=True, "
                "persist_mode='writethrough', storage_mode='pickle', table_name='main', "
                "encryption_password=None, enable_safe_pickle=False, "
                "safe_pickle_allowed_modules=None, buffer_size=100, encoding='utf-8', "
                "table_mode='prefix', pool_size=20, flush_interval_ms=1000, "
                "synchronous='normal')\n\nA persistent dict stored in SQLite."},
    {Py_tp_new, V4_new},
    {Py_tp_init, V4_init},
    {Py_tp_dealloc, V4_dealloc},
    {Py_tp_traverse, V4_traverse},
    {Py_tp_clear, V4_clear_refs},
    {Py_tp_repr, V4_repr},
    {Py_tp_methods, V4_methods},
    {Py_tp_getset, V4_getset},
    {Py_tp_members, V4_members},
    DS_MAPPING_SLOTS,
    {0, NULL},
};

PyType_Spec DictSQLiteV4_spec = {
    .name = "dictsqlite.DictSQLiteV4",
    .basicsize = sizeof(DictSQLiteV4Object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_MAPPING | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = V4_slots,
};
