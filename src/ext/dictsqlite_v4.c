/* DictSQLiteV4: the persistent dict type. Its dict API lives in mapping.c
 * (shared with TableProxy); this file holds what is specific to a database:
 * construction, options, close, flush, stats, repr and tables. */
#include "dictsqlite_v4.h"

#include <stdatomic.h>
#include <structmember.h>

#include "buffer.h"
#include "db_ops.h"
#include "log.h"
#include "mapping.h"
#include "raw_access.h"
#include "v4_options.h"

/* ---- construction and lifetime ----------------------------------------- */

/* The persist_mode option's own spelling, for log records. */
static const char *persist_name(ds_persist_mode m)
{
    switch (m) {
    case DS_PERSIST_MEMORY: return "memory";
    case DS_PERSIST_LAZY: return "lazy";
    case DS_PERSIST_WRITETHROUGH: return "writethrough";
    }
    return "?";
}

/* Writes not yet committed, for a log record about the flush that commits
 * them. pin as for DS_WITHOUT_GIL (the stats read the file size). */
static size_t pending_writes(DictSQLiteV4Object *self, DictSQLiteV4Object *pin)
{
    ds_engine_stats s;
    ds_status st;
    DS_WITHOUT_GIL(pin, st, (ds_engine_get_stats(self->engine, &s), DS_OK));
    return st == DS_OK ? s.dirty_entries : 0;
}

int dsv4_init_from(DictSQLiteV4Object *self, const ds_options_signature *sig,
                   PyObject *args, PyObject *kwds)
{
    if (self->engine) {
        PyErr_Format(PyExc_RuntimeError, "%s.__init__ called twice", Py_TYPE(self)->tp_name);
        return -1;
    }
    /* Everything is validated before the file is touched. */
    ds_v4_options opts;
    if (ds_options_parse(sig, args, kwds, &opts) < 0)
        return -1;
    ds_engine_config cfg;
    if (ds_v4_options_engine_config(&opts, &cfg) < 0) {
        ds_v4_options_release(&opts);
        return -1;
    }
    Py_XSETREF(self->path, Py_NewRef(opts.path));
    double t0 = ds_log_now();
    ds_engine *engine = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st;
    /* unpinned: no other thread can reach an engine that is not set yet */
    DS_WITHOUT_GIL(NULL, st, ds_engine_open(&cfg, &engine, &err));
    if (st == DS_OK) {
        Py_ssize_t tlen;
        const char *tname = PyUnicode_AsUTF8AndSize(opts.table_name, &tlen);
        if (!tname)
            st = DS_NOMEM; /* the exception is already set */
        else
            DS_WITHOUT_GIL(NULL, st, ds_engine_ns(engine, tname, (size_t)tlen, &self->ns, &err));
        if (st != DS_OK) {
            if (!PyErr_Occurred())
                dsv4_raise_open(self, st, &err);
            ds_error ignored;
            DS_WITHOUT_GIL(NULL, st, ds_engine_close(engine, 1, &ignored));
            ds_engine_free(engine);
            ds_v4_options_release(&opts);
            return -1;
        }
    } else {
        dsv4_raise_open(self, st, &err);
        ds_v4_options_release(&opts);
        return -1;
    }
    self->engine = engine;
    ds_engine_gen_pointers(engine, &self->gen_ptr, &self->seen_ptr);
    self->flusher_errors = ds_engine_flusher_errors_ptr(engine);
    self->flusher_unwarned = 0;
    self->storage = (ds_storage_mode)opts.storage;
    self->pool_size = (size_t)opts.pool_size;
    self->buffer_size = cfg.buffer_size;
    self->password_in_memory = opts.password && cfg.persist == DS_PERSIST_MEMORY;
    Py_XSETREF(self->table_name, Py_NewRef(opts.table_name));
    Py_XSETREF(self->safe_policy, opts.safe_policy ? Py_NewRef(opts.safe_policy) : NULL);
    int read_only = opts.read_only, encrypted = opts.password != NULL;
    ds_v4_options_release(&opts);
    if (ds_log_enabled(self->state, DS_LOG_DEBUG)) {
        char ms[32];
        ds_log(self->state, DS_LOG_DEBUG,
               "open %s(%R): persist_mode=%s, storage_mode=%s, table_name=%R, "
               "buffer_size=%zu, read_only=%s, encrypted=%s, in %s ms",
               Py_TYPE(self)->tp_name, self->path, persist_name(cfg.persist),
               ds_storage_mode_name(self->storage), self->table_name, self->buffer_size,
               read_only ? "True" : "False", encrypted ? "True" : "False",
               ds_log_ms_since(t0, ms, sizeof ms));
    }
    self->fork_generation = ds_fork_generation;
    self->closed = 0;
    PyObject *id = PyLong_FromVoidPtr(self);
    int rc = id ? PyObject_SetItem(self->state->live_instances, id, (PyObject *)self) : -1;
    Py_XDECREF(id);
    return rc;
}

static int V4_init(DictSQLiteV4Object *self, PyObject *args, PyObject *kwds)
{
    return dsv4_init_from(self, &DS_V4_SIGNATURE, args, kwds);
}

/* Wait until no call is running without the GIL (see dictsqlite_v4.h). */
/* Every job of the pool is done now and sits in its loop's completion
 * queue. A loop that was closed meanwhile (asyncio.run returned while
 * requests were pending) will never drain it, and each op there keeps
 * itself alive for its job: drain it here, where its futures are skipped
 * (resolve() never calls into a closed loop's futures). A loop still open
 * drains its own queue, on its own thread. */
static void drain_closed_loop(DictSQLiteV4Object *self)
{
    if (!self->loop || !self->loop_queue)
        return;
    PyObject *saved_t, *saved_v, *saved_tb;
    PyErr_Fetch(&saved_t, &saved_v, &saved_tb);
    PyObject *closed = PyObject_CallMethod(self->loop, "is_closed", NULL);
    if (closed == Py_True) {
        PyObject *r = PyObject_CallMethod(self->loop_queue, "_drain", NULL);
        Py_XDECREF(r);
    }
    Py_XDECREF(closed);
    PyErr_Clear();
    PyErr_Restore(saved_t, saved_v, saved_tb);
}

ds_status dsv4_wait_idle(DictSQLiteV4Object *self)
{
    atomic_store(&self->closing, 1);
    pthread_mutex_lock(&self->idle_lock);
    while (atomic_load(&self->in_flight) > 0)
        pthread_cond_wait(&self->idle_cond, &self->idle_lock);
    pthread_mutex_unlock(&self->idle_lock);
    atomic_store(&self->closing, 0);
    return DS_OK;
}

/* Flush and close the engine (its memory stays until dealloc). force: at
 * dealloc, close even if the flush fails. 0, or -1 with the exception. */
int dsv4_close_engine(DictSQLiteV4Object *self, int force)
{
    if (!self->engine || self->closed)
        return 0;
    self->closed = 1; /* no new call starts from here on */
    if (self->fork_generation != ds_fork_generation) {
        ds_engine_abandon(self->engine);
        return 0;
    }
    ds_error err;
    ds_error_clear(&err);
    ds_status st;
    /* Unpinned: the calls that could race this one have been waited for,
     * and new ones see closed. */
    DS_WITHOUT_GIL(NULL, st, dsv4_wait_idle(self));
    int debug = ds_log_enabled(self->state, DS_LOG_DEBUG);
    double t0 = debug ? ds_log_now() : 0;
    size_t pending = debug ? pending_writes(self, NULL) : 0;
    /* The pool's jobs still queued run now (their results reach their event
     * loops later); then its threads stop. */
    if (self->pool) {
        DS_WITHOUT_GIL(NULL, st, (ds_pool_close(self->pool), DS_OK));
        drain_closed_loop(self);
    }
    DS_WITHOUT_GIL(NULL, st, ds_engine_close(self->engine, force, &err));
    if (st != DS_OK && !force) {
        self->closed = 0; /* still open: the caller may retry */
        dsv4_raise(self, st, &err);
        return -1;
    }
    dsv4_drain_retired(self);
    if (debug) {
        char ms[32];
        ds_log(self->state, DS_LOG_DEBUG, "close %R%s: %zu pending writes %s, in %s ms",
               self->path, force ? " (as it was freed)" : "", pending,
               st == DS_OK ? "committed" : "could not be committed",
               ds_log_ms_since(t0, ms, sizeof ms));
    }
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

void dsv4_write_unraisable(DictSQLiteV4Object *self, const char *doing)
{
    PyObject *where = PyUnicode_FromFormat("%s DictSQLiteV4(%R); its last writes could "
                                           "not be committed", doing,
                                           self->path ? self->path : Py_None);
    PyErr_WriteUnraisable(where);
    Py_XDECREF(where);
}

void dsv4_dealloc(DictSQLiteV4Object *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->engine) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        if (dsv4_close_engine(self, 1) < 0)
            dsv4_write_unraisable(self, "closing, as it was freed,");
        PyErr_Restore(t, v, tb);
        /* an engine inherited through fork() is abandoned, never freed */
        if (self->fork_generation == ds_fork_generation) {
            ds_pool_free(self->pool);
            dsv4_drain_retired(self);
            ds_engine_free(self->engine);
        } else {
            ds_pool_abandon(self->pool);
        }
        self->pool = NULL;
        self->engine = NULL;
    }
    Py_CLEAR(self->loop);
    Py_CLEAR(self->loop_queue);
    pthread_cond_destroy(&self->idle_cond);
    pthread_mutex_destroy(&self->idle_lock);
    Py_CLEAR(self->path);
    Py_CLEAR(self->table_name);
    Py_CLEAR(self->safe_policy);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

int dsv4_traverse(DictSQLiteV4Object *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->safe_policy);
    Py_VISIT(self->loop);
    Py_VISIT(self->loop_queue);
    return 0;
}

int dsv4_clear_refs(DictSQLiteV4Object *self)
{
    Py_CLEAR(self->safe_policy);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->loop_queue);
    return 0;
}

PyObject *dsv4_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    DictSQLiteV4Object *self = (DictSQLiteV4Object *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->db = self; /* borrowed: the database is the object itself */
    self->state = ds_get_module_state_by_type(type);
    /* with default attributes these cannot fail on Linux */
    pthread_mutex_init(&self->idle_lock, NULL);
    pthread_cond_init(&self->idle_cond, NULL);
    self->closed = 1;
    self->fork_generation = ds_fork_generation;
    return (PyObject *)self;
}

PyObject *dsv4_flush(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    /* a background failure is warned about below, not raised: this flush
     * commits the writes it left */
    dsv4_collect_flusher_errors(self);
    CHECK_USABLE_OR_NULL(self);
    int debug = ds_log_enabled(self->state, DS_LOG_DEBUG);
    double t0 = debug ? ds_log_now() : 0;
    size_t pending = debug ? pending_writes(self, self) : 0;
    if (dsv4_flush_now(self) < 0)
        return NULL;
    if (debug) {
        char ms[32];
        ds_log(self->state, DS_LOG_DEBUG, "flush %R: %zu pending writes committed in %s ms",
               self->path, pending, ds_log_ms_since(t0, ms, sizeof ms));
    }
    /* failures met since the last call (already logged by then) and those
     * taken earlier: this flush() committed their writes */
    dsv4_collect_flusher_errors(self);
    uint64_t failures = self->flusher_unwarned;
    self->flusher_unwarned = 0;
    if (failures && PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                     "the background flusher failed %llu time(s) "
                                     "(last error: %s); the writes stayed buffered "
                                     "and this flush() committed them",
                                     (unsigned long long)failures,
                                     self->flusher_last_error.msg) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsv4_close(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    if (self->closed)
        Py_RETURN_NONE; /* idempotent */
    dsv4_collect_flusher_errors(self); /* logged; the close flushes those writes */
    if (dsv4_close_engine(self, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsv4_enter(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    return Py_NewRef(self);
}

PyObject *dsv4_exit(DictSQLiteV4Object *self, PyObject *args)
{
    (void)args;
    if (dsv4_close(self, NULL) == NULL)
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

PyObject *dsv4_stats(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    Py_ssize_t len = dsmap_length((PyObject *)self);
    if (len < 0)
        return NULL;
    ds_engine_stats s;
    ds_status st;
    /* get_stats reads the file size: a system call, so without the GIL */
    DS_WITHOUT_GIL(self, st, (ds_engine_get_stats(self->engine, &s), DS_OK));
    if (st != DS_OK) {
        dsv4_raise(self, st, NULL);
        return NULL;
    }
    ds_persist_mode persist = ds_engine_persist_mode(self->engine);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (stats_set(d, "hot_tier_size", PyLong_FromSize_t(s.hot_entries)) < 0 ||
        stats_set(d, "hot_tier_capacity", PyLong_FromSize_t(s.hot_capacity)) < 0 ||
        stats_set(d, "hot_tier_bytes", PyLong_FromSize_t(s.hot_bytes)) < 0 ||
        stats_set(d, "num_shards", PyLong_FromSize_t(s.nshards)) < 0 ||
        stats_set(d, "encryption_enabled", PyBool_FromLong(s.encrypted || self->password_in_memory)) < 0 ||
        stats_set(d, "safe_pickle_enabled", PyBool_FromLong(self->safe_policy != NULL)) < 0 ||
        stats_set(d, "persist_mode", PyUnicode_FromString(persist_display_name(persist))) < 0 ||
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
        stats_set(d, "len", PyLong_FromSsize_t(len)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

PyObject *dsv4_repr(DictSQLiteV4Object *self)
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
                                       persist_display_name(ds_engine_persist_mode(self->engine)),
                                       ds_storage_mode_name(self->storage), preview);
    Py_DECREF(tp);
    Py_DECREF(preview);
    return r;
}

PyObject *dsv4_get_closed(DictSQLiteV4Object *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->closed);
}

PyObject *dsv4_get_path(DictSQLiteV4Object *self, void *unused)
{
    (void)unused;
    return Py_NewRef(self->path ? self->path : Py_None);
}

PyObject *dsv4_get_table_name(DictSQLiteV4Object *self, void *unused)
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
    DS_WITHOUT_GIL(self, st, ds_engine_ns(self->engine, utf8, (size_t)len, ns, &err));
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

/* Table names gathered by the core without the GIL: one buffer of
 * length-prefixed names, turned into str objects afterwards. */
typedef struct name_buffer {
    ds_buf buf;
    int oom;
} name_buffer;

static int append_table_name(const char *tbl, size_t tlen, void *ctx)
{
    name_buffer *b = ctx;
    if (ds_buf_append(&b->buf, &tlen, sizeof(size_t)) < 0 ||
        ds_buf_append(&b->buf, tbl, tlen) < 0) {
        b->oom = 1;
        return 1; /* stop */
    }
    return 0;
}

static PyObject *names_to_list(const ds_buf *b)
{
    PyObject *names = PyList_New(0);
    for (size_t pos = 0; names && pos < b->len;) {
        size_t tlen;
        memcpy(&tlen, b->data + pos, sizeof(size_t));
        pos += sizeof(size_t);
        PyObject *name = PyUnicode_DecodeUTF8(b->data + pos, (Py_ssize_t)tlen, "surrogatepass");
        pos += tlen;
        if (!name || PyList_Append(names, name) < 0)
            Py_CLEAR(names);
        Py_XDECREF(name);
    }
    return names;
}

PyObject *dsv4_tables(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    /* listing flushes pending writes and reads SQLite: no GIL */
    name_buffer b = {.oom = 0};
    ds_buf_init(&b.buf);
    ds_error err;
    ds_status st;
    DS_WITHOUT_GIL(self, st, ds_engine_list_ns(self->engine, append_table_name, &b, &err));
    PyObject *names = NULL;
    if (b.oom)
        PyErr_NoMemory();
    else if (st != DS_OK)
        dsv4_raise(self, st, &err);
    else
        names = names_to_list(&b.buf);
    ds_buf_release(&b.buf);
    return names;
}

/* Docstrings start with a __text_signature__ line (see DS_MAPPING_METHODS). */
static PyMethodDef V4_methods[] = {
    DS_MAPPING_METHODS,
    DS_RAW_METHODS,
    DS_REKEY_METHOD,
    {"table", (PyCFunction)V4_table, METH_O,
     "table($self, name, /)\n--\n\n"
     "A TableProxy with the dict API of table `name` in this database."},
    {"tables", (PyCFunction)dsv4_tables, METH_NOARGS,
     "tables($self, /)\n--\n\nA sorted list of the tables that hold data."},
    {"flush", (PyCFunction)dsv4_flush, METH_NOARGS,
     "flush($self, /)\n--\n\nCommit every pending write in one transaction."},
    {"close", (PyCFunction)dsv4_close, METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Flush and close; later operations raise DatabaseClosedError. Closing twice "
     "does nothing."},
    {"stats", (PyCFunction)dsv4_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nA dict of tier sizes and counters."},
    {"__enter__", (PyCFunction)dsv4_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturn the database itself."},
    {"__exit__", (PyCFunction)dsv4_exit, METH_VARARGS,
     "__exit__($self, /, *exc_info)\n--\n\n"
     "close(); returns False, so an exception goes on."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef V4_getset[] = {
    {"closed", (getter)dsv4_get_closed, NULL, "True once close() has run.", NULL},
    {"path", (getter)dsv4_get_path, NULL, "The database path.", NULL},
    {"table_name", (getter)dsv4_get_table_name, NULL, "The instance's table.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef V4_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(DictSQLiteV4Object, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot V4_slots[] = {
    /* The first line is the class's __text_signature__ (what
     * inspect.signature(DictSQLiteV4) and stubtest read); it must list the
     * rows of V4_OPTIONS (v4_options.c) with their defaults. */
    {Py_tp_doc, "DictSQLiteV4(db_path, hot_capacity=1000000, enable_async=True, "
                "persist_mode='writethrough', storage_mode='pickle', table_name='main', "
                "encryption_password=None, enable_safe_pickle=False, "
                "safe_pickle_allowed_modules=None, buffer_size=100, encoding='utf-8', "
                "table_mode='prefix', pool_size=20, *, flush_interval_ms=1000, "
                "synchronous='normal', read_only=False, timeout=5.0, "
                "max_pending_bytes=67108864)\n--\n\n"
                "A persistent dict stored in SQLite.\n\n"
                "Keys are str (other keys are converted with str()); values are any "
                "picklable object in the default storage_mode='pickle'. The mode "
                "names are case-insensitive: persist_mode is 'memory', 'lazy' or "
                "'writethrough'; storage_mode 'pickle', 'json', 'jsonb' or 'bytes'; "
                "table_mode 'prefix' or 'separate'; synchronous 'normal' or 'full'."},
    {Py_tp_new, dsv4_new},
    {Py_tp_init, V4_init},
    {Py_tp_dealloc, dsv4_dealloc},
    {Py_tp_traverse, dsv4_traverse},
    {Py_tp_clear, dsv4_clear_refs},
    {Py_tp_repr, dsv4_repr},
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
