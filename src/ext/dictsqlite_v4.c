/* DictSQLiteV4: the persistent dict type.
 *
 * Every method goes through the per-namespace operations (dsv4_get, ...),
 * which table proxies reuse with their own namespace id. Calls try the core
 * with allow_io = 0 while holding the GIL (hot-tier work is a few hundred
 * nanoseconds); when the core answers DS_NEED_IO the call is repeated with
 * the GIL released. Writethrough writes always commit, so they release the
 * GIL straight away.
 */
#include "dictsqlite_v4.h"

#include <stdatomic.h>
#include <structmember.h>
#include <unistd.h>

#include "scan.h"

/* ---- errors ------------------------------------------------------------ */

int dsv4_check_usable(DictSQLiteV4Object *self)
{
    if (self->fork_generation != ds_fork_generation && self->engine) {
        PyErr_Format(self->state->DatabaseClosedError,
                     "this DictSQLiteV4 (%R) was opened before fork(); a child "
                     "process must open the database again", self->path);
        return -1;
    }
    PyErr_Format(self->state->DatabaseClosedError,
                 "the database %R is closed", self->path ? self->path : Py_None);
    return -1;
}

void dsv4_raise(DictSQLiteV4Object *self, ds_status st, const ds_error *err)
{
    const char *msg = err && err->msg[0] ? err->msg : ds_status_name(st);
    switch (st) {
    case DS_NOMEM:
        PyErr_NoMemory();
        return;
    case DS_CLOSED:
        PyErr_Format(self->state->DatabaseClosedError, "the database %R is closed",
                     self->path);
        return;
    case DS_INVALID:
        PyErr_SetString(PyExc_ValueError, msg);
        return;
    case DS_CORRUPT:
        PyErr_SetString(self->state->CorruptValueError, msg);
        return;
    default: {
        /* OSError(errno, message, filename) picks the subclass from errno
         * (PermissionError, FileNotFoundError, ...). */
        int code = err ? err->sys_errno : 0;
        PyObject *exc = PyObject_CallFunction(PyExc_OSError, "isO", code, msg,
                                              self->path ? self->path : Py_None);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return;
    }
    }
}

static void set_key_error(PyObject *key)
{
    PyObject *args = PyTuple_Pack(1, key);
    if (args) {
        PyErr_SetObject(PyExc_KeyError, args);
        Py_DECREF(args);
    }
}

/* Release cached decoded objects of entries the core freed. */
static inline void drain_retired(DictSQLiteV4Object *self)
{
    void **items;
    size_t n = ds_retire_take(ds_engine_retire(self->engine), &items);
    for (size_t i = 0; i < n; i++)
        Py_DECREF((PyObject *)items[i]);
    free(items);
}

/* ---- reads ------------------------------------------------------------- */

PyObject *dsv4_decode_entry(DictSQLiteV4Object *self, ds_entry *x, PyObject *key)
{
    PyObject *v = ds_decode_value(self->state, x->codec, (const char *)ds_entry_value(x),
                                  x->vlen, key, self->safe_policy);
    if (v && (x->codec & DS_CODEC_FLAG_IMMUTABLE)) {
        /* Cache the decoded object for later hot reads; the entry owns one
         * reference, released through the retire list. */
        void *expected = NULL;
        Py_INCREF(v);
        if (!atomic_compare_exchange_strong(&x->aux, &expected, (void *)v))
            Py_DECREF(v);
    }
    return v;
}

PyObject *dsv4_get(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, int *missing)
{
    ds_key k;
    *missing = 0;
    if (ds_key_from_object(key, ns, &k) < 0)
        return NULL;
    void *aux;
    ds_entry *x = NULL;
    ds_error err;
    ds_status st = DS_OK;
    if (ds_engine_peek_hot(self->engine, ns, k.utf8, (size_t)k.len, k.hash, &aux, &x)) {
        if (aux) {
            ds_key_release(&k);
            return Py_NewRef((PyObject *)aux);
        }
    } else {
        st = ds_engine_get(self->engine, ns, k.utf8, (size_t)k.len, k.hash, 0, &x, &err);
        if (st == DS_NEED_IO)
            DS_WITHOUT_GIL(self, st = ds_engine_get(self->engine, ns, k.utf8, (size_t)k.len,
                                                    k.hash, 1, &x, &err));
    }
    PyObject *v = NULL;
    if (st == DS_OK) {
        v = dsv4_decode_entry(self, x, key);
        ds_entry_decref(x, ds_engine_retire(self->engine));
        drain_retired(self);
    } else if (st == DS_NOTFOUND) {
        *missing = 1;
        set_key_error(key);
    } else {
        dsv4_raise(self, st, &err);
    }
    ds_key_release(&k);
    return v;
}

int dsv4_contains(DictSQLiteV4Object *self, uint32_t ns, PyObject *key)
{
    ds_key k;
    if (ds_key_from_object(key, ns, &k) < 0)
        return -1;
    ds_error err;
    ds_status st = ds_engine_contains(self->engine, ns, k.utf8, (size_t)k.len, k.hash, 0, &err);
    if (st == DS_NEED_IO)
        DS_WITHOUT_GIL(self, st = ds_engine_contains(self->engine, ns, k.utf8,
                                                     (size_t)k.len, k.hash, 1, &err));
    ds_key_release(&k);
    if (st == DS_OK || st == DS_NOTFOUND)
        return st == DS_OK;
    dsv4_raise(self, st, &err);
    return -1;
}

/* ---- writes ------------------------------------------------------------ */

/* Commit what the core said is due, with the GIL released. */
static int flush_now(DictSQLiteV4Object *self)
{
    ds_error err;
    ds_status st;
    DS_WITHOUT_GIL(self, st = ds_engine_flush(self->engine, &err));
    drain_retired(self);
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

int dsv4_set(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, PyObject *value)
{
    ds_key k;
    if (ds_key_from_object(key, ns, &k) < 0)
        return -1;
    ds_encoded enc;
    ds_encoded_init(&enc);
    int rc = -1;
    if (ds_encode_value(self->state, self->storage, value, self->safe_policy, &enc) < 0)
        goto done;
    ds_error err;
    ds_status st;
    int due = 0;
    if (self->persist == DS_PERSIST_WRITETHROUGH) {
        DS_WITHOUT_GIL(self, st = ds_engine_put(self->engine, ns, k.utf8, (size_t)k.len,
                                                k.hash, enc.codec, enc.data, enc.len, 1,
                                                NULL, NULL, &err));
    } else {
        st = ds_engine_put(self->engine, ns, k.utf8, (size_t)k.len, k.hash, enc.codec,
                           enc.data, enc.len, 0, NULL, &due, &err);
        if (st == DS_NEED_IO)
            DS_WITHOUT_GIL(self, st = ds_engine_put(self->engine, ns, k.utf8,
                                                    (size_t)k.len, k.hash, enc.codec,
                                                    enc.data, enc.len, 1, NULL, NULL,
                                                    &err));
    }
    drain_retired(self);
    if (st != DS_OK)
        dsv4_raise(self, st, &err);
    else
        rc = due ? flush_now(self) : 0;
done:
    ds_encoded_release(&enc);
    ds_key_release(&k);
    return rc;
}

int dsv4_delete(DictSQLiteV4Object *self, uint32_t ns, PyObject *key)
{
    ds_key k;
    if (ds_key_from_object(key, ns, &k) < 0)
        return -1;
    ds_error err;
    int due = 0;
    ds_status st = ds_engine_delete(self->engine, ns, k.utf8, (size_t)k.len, k.hash, 0,
                                    &due, &err);
    if (st == DS_NEED_IO || due) {
        due = 0;
        if (st == DS_NEED_IO)
            DS_WITHOUT_GIL(self, st = ds_engine_delete(self->engine, ns, k.utf8,
                                                       (size_t)k.len, k.hash, 1, NULL,
                                                       &err));
        else
            DS_WITHOUT_GIL(self, st = ds_engine_flush(self->engine, &err));
    }
    drain_retired(self);
    ds_key_release(&k);
    if (st == DS_NOTFOUND) {
        set_key_error(key);
        return -1;
    }
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

/* Encode every pair first, so a value that fails to encode stops the whole
 * batch before anything is stored; then apply them under one write-lock
 * round trip and (writethrough) one commit. */
int dsv4_update_pairs(DictSQLiteV4Object *self, uint32_t ns, PyObject *pairs)
{
    PyObject *seq = PySequence_Fast(pairs, "update expects pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ds_key *keys = PyMem_Calloc((size_t)n + 1, sizeof(*keys));
    ds_encoded *encs = PyMem_Calloc((size_t)n + 1, sizeof(*encs));
    ds_put_item *items = PyMem_Calloc((size_t)n + 1, sizeof(*items));
    Py_ssize_t prepared = 0;
    int rc = -1;
    if (!keys || !encs || !items) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *kv = PySequence_Fast(pair, "");
        if (!kv || PySequence_Fast_GET_SIZE(kv) != 2) {
            Py_XDECREF(kv);
            PyErr_Format(PyExc_ValueError,
                         "update sequence element #%zd must be a (key, value) pair, "
                         "got %.200s", i, Py_TYPE(pair)->tp_name);
            goto done;
        }
        PyObject *key = PySequence_Fast_GET_ITEM(kv, 0);
        PyObject *value = PySequence_Fast_GET_ITEM(kv, 1);
        ds_encoded_init(&encs[i]);
        if (ds_key_from_object(key, ns, &keys[i]) < 0) {
            Py_DECREF(kv);
            goto done;
        }
        prepared = i + 1;
        if (ds_encode_value(self->state, self->storage, value, self->safe_policy,
                            &encs[i]) < 0) {
            Py_DECREF(kv);
            goto done;
        }
        Py_DECREF(kv);
        items[i] = (ds_put_item){keys[i].utf8, (size_t)keys[i].len, keys[i].hash,
                                 encs[i].codec, encs[i].data, encs[i].len};
    }
    size_t done_n = 0, total = 0;
    ds_error err;
    ds_status st = DS_OK;
    int due = 0;
    if (self->persist != DS_PERSIST_WRITETHROUGH)
        st = ds_engine_put_many(self->engine, ns, items, (size_t)n, 0, &done_n, &due, &err);
    total = done_n;
    if (self->persist == DS_PERSIST_WRITETHROUGH || st == DS_NEED_IO) {
        DS_WITHOUT_GIL(self, st = ds_engine_put_many(self->engine, ns, items + total,
                                                     (size_t)n - total, 1, &done_n,
                                                     NULL, &err));
        due = 0;
    }
    drain_retired(self);
    if (st != DS_OK)
        dsv4_raise(self, st, &err);
    else
        rc = due ? flush_now(self) : 0;
done:
    for (Py_ssize_t i = 0; i < prepared; i++) {
        ds_key_release(&keys[i]);
        ds_encoded_release(&encs[i]);
    }
    PyMem_Free(keys);
    PyMem_Free(encs);
    PyMem_Free(items);
    Py_DECREF(seq);
    return rc;
}

int dsv4_clear(DictSQLiteV4Object *self, uint32_t ns)
{
    ds_error err;
    ds_status st;
    DS_WITHOUT_GIL(self, st = ds_engine_clear(self->engine, ns, &err));
    drain_retired(self);
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

/* ---- lists of keys, values, items --------------------------------------- */

typedef struct {
    DictSQLiteV4Object *self;
    PyObject *list;
    int what;
} list_ctx;

static int list_row(const ds_row *row, void *ctx_)
{
    list_ctx *ctx = ctx_;
    PyObject *key = PyUnicode_DecodeUTF8(row->key, (Py_ssize_t)row->klen, "surrogatepass");
    if (!key)
        return -1;
    PyObject *item;
    if (ctx->what == DSV4_KEYS) {
        item = key;
    } else {
        PyObject *value = row->entry ? dsv4_decode_entry(ctx->self, row->entry, key)
                                     : ds_decode_value(ctx->self->state, row->codec,
                                                       row->value, row->vlen, key,
                                                       ctx->self->safe_policy);
        if (!value) {
            Py_DECREF(key);
            return -1;
        }
        if (ctx->what == DSV4_VALUES) {
            Py_DECREF(key);
            item = value;
        } else {
            item = PyTuple_Pack(2, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (!item)
                return -1;
        }
    }
    int rc = PyList_Append(ctx->list, item);
    Py_DECREF(item);
    return rc;
}

PyObject *dsv4_list(DictSQLiteV4Object *self, uint32_t ns, int what, Py_ssize_t limit)
{
    list_ctx ctx = {self, PyList_New(0), what};
    if (!ctx.list)
        return NULL;
    if (ds_scan_rows(self, ns, what != DSV4_KEYS, limit, list_row, &ctx) < 0) {
        Py_DECREF(ctx.list);
        return NULL;
    }
    return ctx.list;
}

/* ---- construction and lifetime ----------------------------------------- */

static int parse_persist_mode(PyObject *name, ds_persist_mode *out)
{
    static const struct {
        const char *name;
        ds_persist_mode mode;
    } names[] = {{"memory", DS_PERSIST_MEMORY},
                 {"lazy", DS_PERSIST_LAZY},
                 {"writethrough", DS_PERSIST_WRITETHROUGH},
                 {"write_through", DS_PERSIST_WRITETHROUGH}};
    if (PyUnicode_Check(name)) {
        PyObject *lower = PyObject_CallMethod(name, "lower", NULL);
        if (!lower)
            return -1;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (PyUnicode_CompareWithASCIIString(lower, names[i].name) == 0) {
                Py_DECREF(lower);
                *out = names[i].mode;
                return 0;
            }
        }
        Py_DECREF(lower);
    }
    PyErr_Format(PyExc_ValueError,
                 "persist_mode must be one of 'memory', 'lazy', 'writethrough'; got %R",
                 name);
    return -1;
}

/* Case-insensitive match of name against a NULL-terminated list of choices;
 * -1 with ValueError naming arg, the value and the choices. */
static int parse_choice(const char *arg, PyObject *name, const char *const *choices,
                        const char *choices_text)
{
    if (PyUnicode_Check(name)) {
        PyObject *lower = PyObject_CallMethod(name, "lower", NULL);
        if (!lower)
            return -1;
        for (int i = 0; choices[i]; i++) {
            if (PyUnicode_CompareWithASCIIString(lower, choices[i]) == 0) {
                Py_DECREF(lower);
                return i;
            }
        }
        Py_DECREF(lower);
    }
    PyErr_Format(PyExc_ValueError, "%s must be one of %s; got %R", arg, choices_text, name);
    return -1;
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
    if (table_mode && parse_choice("table_mode", table_mode, table_modes,
                                   "'prefix', 'separate'") < 0)
        return -1;
    static const char *const encodings[] = {"utf-8", "utf8", NULL};
    if (encoding && parse_choice("encoding", encoding, encodings,
                                 "'utf-8' (keys are stored as UTF-8 text)") < 0)
        return -1;
    static const char *const syncs[] = {"normal", "full", NULL};
    int sync_full = 0;
    if (sync_obj) {
        int i = parse_choice("synchronous", sync_obj, syncs, "'normal', 'full'");
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
    if (password != Py_None) {
        PyErr_SetString(PyExc_NotImplementedError,
                        "encryption_password: encryption is not available in this "
                        "version of dictsqlite yet; refusing to store the data unencrypted");
        return -1;
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

    ds_engine *engine = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st;
    Py_BEGIN_ALLOW_THREADS
    st = ds_engine_open(&cfg, &engine, &err);
    Py_END_ALLOW_THREADS
    self->path = path;
    if (st != DS_OK) {
        if (st == DS_CORRUPT)
            PyErr_Format(PyExc_OSError, "%s", err.msg);
        else
            dsv4_raise(self, st, &err);
        Py_XDECREF(policy);
        return -1;
    }
    self->engine = engine;
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
    drain_retired(self);
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
    self->state = ds_get_module_state_by_type(type);
    self->closed = 1;
    self->fork_generation = ds_fork_generation;
    return (PyObject *)self;
}

/* ---- mapping protocol --------------------------------------------------- */

static Py_ssize_t V4_length(DictSQLiteV4Object *self)
{
    if (DSV4_USABLE(self) < 0)
        return -1;
    return (Py_ssize_t)ds_engine_len(self->engine, self->ns);
}

static PyObject *V4_subscript(DictSQLiteV4Object *self, PyObject *key)
{
    if (DSV4_USABLE(self) < 0)
        return NULL;
    int missing;
    return dsv4_get(self, self->ns, key, &missing);
}

static int V4_ass_subscript(DictSQLiteV4Object *self, PyObject *key, PyObject *value)
{
    if (DSV4_USABLE(self) < 0)
        return -1;
    if (value)
        return dsv4_set(self, self->ns, key, value);
    return dsv4_delete(self, self->ns, key);
}

static int V4_sq_contains(DictSQLiteV4Object *self, PyObject *key)
{
    if (DSV4_USABLE(self) < 0)
        return -1;
    return dsv4_contains(self, self->ns, key);
}

/* ---- methods ------------------------------------------------------------ */

#define CHECK_USABLE_OR_NULL(self)                                             \
    do {                                                                       \
        if (DSV4_USABLE(self) < 0)                                             \
            return NULL;                                                       \
    } while (0)

static PyObject *V4_get_method(DictSQLiteV4Object *self, PyObject *const *args,
                               Py_ssize_t nargs)
{
    if (!_PyArg_CheckPositional("get", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, self->ns, args[0], &missing);
    if (!v && missing) {
        PyErr_Clear();
        return Py_NewRef(nargs > 1 ? args[1] : Py_None);
    }
    return v;
}

static PyObject *V4_set_method(DictSQLiteV4Object *self, PyObject *const *args,
                               Py_ssize_t nargs)
{
    if (!_PyArg_CheckPositional("set", nargs, 2, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    if (dsv4_set(self, self->ns, args[0], args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_delete_method(DictSQLiteV4Object *self, PyObject *key)
{
    CHECK_USABLE_OR_NULL(self);
    if (dsv4_delete(self, self->ns, key) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_contains_method(DictSQLiteV4Object *self, PyObject *key)
{
    CHECK_USABLE_OR_NULL(self);
    int r = dsv4_contains(self, self->ns, key);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

static PyObject *V4_pop(DictSQLiteV4Object *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!_PyArg_CheckPositional("pop", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, self->ns, args[0], &missing);
    if (!v) {
        if (missing && nargs > 1) {
            PyErr_Clear();
            return Py_NewRef(args[1]);
        }
        return NULL;
    }
    if (dsv4_delete(self, self->ns, args[0]) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

static PyObject *V4_setdefault(DictSQLiteV4Object *self, PyObject *const *args,
                               Py_ssize_t nargs)
{
    if (!_PyArg_CheckPositional("setdefault", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, self->ns, args[0], &missing);
    if (v || !missing)
        return v;
    PyErr_Clear();
    PyObject *dflt = nargs > 1 ? args[1] : Py_None;
    if (dsv4_set(self, self->ns, args[0], dflt) < 0)
        return NULL;
    return Py_NewRef(dflt);
}

/* Turn update()'s arguments into a list of pairs, as dict.update does: a
 * mapping (keys() + []), or an iterable of pairs, then keywords. */
PyObject *dsv4_collect_update_pairs(PyObject *other, PyObject *kwds)
{
    PyObject *pairs = PyList_New(0);
    if (!pairs)
        return NULL;
    if (other) {
        PyObject *items = NULL;
        if (PyDict_Check(other)) {
            items = PyDict_Items(other);
        } else {
            PyObject *keys_attr = PyObject_HasAttrString(other, "keys")
                                      ? PyObject_GetAttrString(other, "keys")
                                      : NULL;
            if (!keys_attr && PyErr_Occurred())
                goto fail;
            if (keys_attr) {
                PyObject *keys = PyObject_CallNoArgs(keys_attr);
                Py_DECREF(keys_attr);
                PyObject *it = keys ? PyObject_GetIter(keys) : NULL;
                Py_XDECREF(keys);
                if (!it)
                    goto fail;
                items = PyList_New(0);
                PyObject *k;
                while (items && (k = PyIter_Next(it))) {
                    PyObject *v = PyObject_GetItem(other, k);
                    PyObject *pair = v ? PyTuple_Pack(2, k, v) : NULL;
                    Py_DECREF(k);
                    Py_XDECREF(v);
                    if (!pair || PyList_Append(items, pair) < 0) {
                        Py_XDECREF(pair);
                        Py_CLEAR(items);
                        break;
                    }
                    Py_DECREF(pair);
                }
                Py_DECREF(it);
                if (items && PyErr_Occurred())
                    Py_CLEAR(items);
            } else {
                items = PySequence_List(other);
            }
        }
        if (!items)
            goto fail;
        int rc = PyList_SetSlice(pairs, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, items);
        Py_DECREF(items);
        if (rc < 0)
            goto fail;
    }
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyObject *kwitems = PyDict_Items(kwds);
        int rc = kwitems ? PyList_SetSlice(pairs, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, kwitems) : -1;
        Py_XDECREF(kwitems);
        if (rc < 0)
            goto fail;
    }
    return pairs;
fail:
    Py_DECREF(pairs);
    return NULL;
}

static PyObject *V4_update(DictSQLiteV4Object *self, PyObject *args, PyObject *kwds)
{
    PyObject *other = NULL;
    if (!PyArg_UnpackTuple(args, "update", 0, 1, &other))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    PyObject *pairs = dsv4_collect_update_pairs(other, kwds);
    if (!pairs)
        return NULL;
    int rc = dsv4_update_pairs(self, self->ns, pairs);
    Py_DECREF(pairs);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_bulk_insert(DictSQLiteV4Object *self, PyObject *items)
{
    CHECK_USABLE_OR_NULL(self);
    PyObject *pairs = dsv4_collect_update_pairs(items, NULL);
    if (!pairs)
        return NULL;
    int rc = dsv4_update_pairs(self, self->ns, pairs);
    Py_DECREF(pairs);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_batch_get(DictSQLiteV4Object *self, PyObject *keys)
{
    CHECK_USABLE_OR_NULL(self);
    PyObject *it = PyObject_GetIter(keys);
    if (!it)
        return NULL;
    PyObject *result = PyDict_New();
    PyObject *k;
    while (result && (k = PyIter_Next(it))) {
        int missing;
        PyObject *v = dsv4_get(self, self->ns, k, &missing);
        if (v) {
            if (PyDict_SetItem(result, k, v) < 0)
                Py_CLEAR(result);
            Py_DECREF(v);
        } else if (missing) {
            PyErr_Clear();
        } else {
            Py_CLEAR(result);
        }
        Py_DECREF(k);
    }
    Py_DECREF(it);
    if (result && PyErr_Occurred())
        Py_CLEAR(result);
    return result;
}

static PyObject *V4_keys(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    return dsv4_list(self, self->ns, DSV4_KEYS, -1);
}

static PyObject *V4_values(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    return dsv4_list(self, self->ns, DSV4_VALUES, -1);
}

static PyObject *V4_items(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    return dsv4_list(self, self->ns, DSV4_ITEMS, -1);
}

static PyObject *V4_iter(DictSQLiteV4Object *self)
{
    CHECK_USABLE_OR_NULL(self);
    PyObject *keys = dsv4_list(self, self->ns, DSV4_KEYS, -1);
    if (!keys)
        return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyObject *V4_clear(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    if (dsv4_clear(self, self->ns) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *V4_flush(DictSQLiteV4Object *self, PyObject *unused)
{
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    if (flush_now(self) < 0)
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
        stats_set(d, "encryption_enabled", Py_NewRef(Py_False)) < 0 ||
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
        stats_set(d, "len", PyLong_FromLongLong(ds_engine_len(self->engine, self->ns))) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* ---- ==, repr ----------------------------------------------------------- */

PyObject *dsv4_as_dict(DictSQLiteV4Object *self, uint32_t ns)
{
    PyObject *items = dsv4_list(self, ns, DSV4_ITEMS, -1);
    if (!items)
        return NULL;
    PyObject *d = PyDict_New();
    if (d && PyDict_MergeFromSeq2(d, items, 1) < 0)
        Py_CLEAR(d);
    Py_DECREF(items);
    return d;
}

static PyObject *V4_richcompare(DictSQLiteV4Object *self, PyObject *other, int op)
{
    if ((op != Py_EQ && op != Py_NE) ||
        !(PyDict_Check(other) || Py_TYPE(other) == Py_TYPE(self)))
        Py_RETURN_NOTIMPLEMENTED;
    CHECK_USABLE_OR_NULL(self);
    PyObject *mine = dsv4_as_dict(self, self->ns);
    if (!mine)
        return NULL;
    PyObject *theirs;
    if (PyDict_Check(other)) {
        theirs = Py_NewRef(other);
    } else {
        DictSQLiteV4Object *o = (DictSQLiteV4Object *)other;
        if (DSV4_USABLE(o) < 0) {
            Py_DECREF(mine);
            return NULL;
        }
        theirs = dsv4_as_dict(o, o->ns);
    }
    PyObject *r = theirs ? PyObject_RichCompare(mine, theirs, op) : NULL;
    Py_DECREF(mine);
    Py_XDECREF(theirs);
    return r;
}

/* At most this many items in repr(); the rest is summarized by a count. */
#define REPR_PREVIEW_ITEMS 10

PyObject *dsv4_preview(DictSQLiteV4Object *self, uint32_t ns)
{
    PyObject *items = dsv4_list(self, ns, DSV4_ITEMS, REPR_PREVIEW_ITEMS);
    if (!items)
        return NULL;
    PyObject *d = PyDict_New();
    if (d && PyDict_MergeFromSeq2(d, items, 1) < 0)
        Py_CLEAR(d);
    Py_DECREF(items);
    if (!d)
        return NULL;
    PyObject *text = PyObject_Repr(d);
    Py_DECREF(d);
    if (!text)
        return NULL;
    int64_t total = ds_engine_len(self->engine, ns);
    if (total > REPR_PREVIEW_ITEMS) {
        /* '{..., 'k': v}' -> '{..., 'k': v, ... (N more)}' */
        PyObject *head = PyUnicode_Substring(text, 0, PyUnicode_GET_LENGTH(text) - 1);
        Py_SETREF(text, head ? PyUnicode_FromFormat("%U, ... (%lld more)}", head,
                                                    (long long)(total - REPR_PREVIEW_ITEMS))
                             : NULL);
        Py_XDECREF(head);
    }
    return text;
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
    PyObject *preview = dsv4_preview(self, self->ns);
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

static PyMethodDef V4_methods[] = {
    {"get", (PyCFunction)(void (*)(void))V4_get_method, METH_FASTCALL,
     "get(key, default=None): the value of key, or default if it is missing."},
    {"set", (PyCFunction)(void (*)(void))V4_set_method, METH_FASTCALL,
     "set(key, value): same as db[key] = value."},
    {"delete", (PyCFunction)V4_delete_method, METH_O,
     "delete(key): same as del db[key]; KeyError if missing."},
    {"contains", (PyCFunction)V4_contains_method, METH_O,
     "contains(key): same as key in db."},
    {"pop", (PyCFunction)(void (*)(void))V4_pop, METH_FASTCALL,
     "pop(key[, default]): remove key and return its value."},
    {"setdefault", (PyCFunction)(void (*)(void))V4_setdefault, METH_FASTCALL,
     "setdefault(key, default=None): db[key], storing default first if missing."},
    {"update", (PyCFunction)(void (*)(void))V4_update, METH_VARARGS | METH_KEYWORDS,
     "update(other=(), **kw): store many pairs as one batch (one transaction in "
     "writethrough mode)."},
    {"bulk_insert", (PyCFunction)V4_bulk_insert, METH_O,
     "bulk_insert(items): store a dict or iterable of pairs as one batch."},
    {"batch_set", (PyCFunction)V4_bulk_insert, METH_O,
     "batch_set(items): store a dict or iterable of pairs as one batch."},
    {"batch_get", (PyCFunction)V4_batch_get, METH_O,
     "batch_get(keys): dict of the keys found, with their values."},
    {"keys", (PyCFunction)V4_keys, METH_NOARGS, "keys(): list of keys, in key order."},
    {"values", (PyCFunction)V4_values, METH_NOARGS, "values(): list of values, in key order."},
    {"items", (PyCFunction)V4_items, METH_NOARGS, "items(): list of (key, value), in key order."},
    {"clear", (PyCFunction)V4_clear, METH_NOARGS, "clear(): remove every key of this table."},
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
    {Py_tp_richcompare, V4_richcompare},
    {Py_tp_iter, V4_iter},
    {Py_tp_methods, V4_methods},
    {Py_tp_getset, V4_getset},
    {Py_tp_members, V4_members},
    {Py_mp_length, V4_length},
    {Py_mp_subscript, V4_subscript},
    {Py_mp_ass_subscript, V4_ass_subscript},
    {Py_sq_contains, V4_sq_contains},
    {Py_sq_length, V4_length},
    {0, NULL},
};

PyType_Spec DictSQLiteV4_spec = {
    .name = "dictsqlite.DictSQLiteV4",
    .basicsize = sizeof(DictSQLiteV4Object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_MAPPING | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = V4_slots,
};
