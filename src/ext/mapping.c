/* The dict API of DictSQLiteV4 and TableProxy, on one namespace (see
 * mapping.h), and the per-namespace operations it is built from.
 *
 * Calls try the core with allow_io = 0 while holding the GIL (hot-tier work
 * is a few hundred nanoseconds); when the core answers DS_NEED_IO the call is
 * repeated with the GIL released. Writethrough writes always commit, so they
 * release the GIL straight away.
 */
#include "mapping.h"

#include <stdatomic.h>

#include "dictsqlite_v4.h"
#include "scan.h"

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

/* Run a whole-database engine call (SQLite work) with the GIL released,
 * then release what it retired and turn a failure into the exception. */
static int run_engine_call(DictSQLiteV4Object *self,
                           ds_status (*call)(ds_engine *, ds_error *))
{
    ds_error err;
    ds_status st;
    DS_WITHOUT_GIL(self, st = call(self->engine, &err));
    dsv4_drain_retired(self);
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

int dsv4_sync(DictSQLiteV4Object *self)
{
    return run_engine_call(self, ds_engine_sync);
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
void dsv4_drain_retired(DictSQLiteV4Object *self)
{
    void **items;
    size_t n = ds_retire_take(ds_engine_retire(self->engine), &items);
    for (size_t i = 0; i < n; i++)
        Py_DECREF((PyObject *)items[i]);
    free(items);
}

/* ---- reads ------------------------------------------------------------- */

/* Values at least this long are handed to the core by reference instead of
 * copied: below it a copy costs less than the retire-list round trip that
 * releasing the reference later takes. */
#define DS_EXTERNAL_MIN 256

/* Can an entry hold obj, len bytes stored with this codec, by reference?
 * Only an exact bytes object stored as it is: then obj itself is the
 * decoded value a read returns. */
static int holds_by_reference(PyObject *obj, size_t len, uint8_t codec)
{
    return len >= DS_EXTERNAL_MIN && codec == (DS_CODEC_BYTES | DS_CODEC_FLAG_IMMUTABLE) &&
           obj && PyBytes_CheckExact(obj);
}

/* A large bytes value just decoded from an entry that holds its own copy
 * (read from SQLite or the warm tier): let the hot tier keep the decoded
 * object instead, so the value sits in memory once. */
static void share_decoded(DictSQLiteV4Object *self, ds_entry *x, PyObject *v)
{
    if ((x->flags & DS_ENTRY_EXTERNAL) || !holds_by_reference(v, x->vlen, x->codec))
        return;
    ds_retire *retire = ds_engine_retire(self->engine);
    ds_entry *x2 = ds_entry_new_external(x->ns, ds_entry_key(x), x->klen, x->hash,
                                         x->codec, PyBytes_AS_STRING(v), x->vlen,
                                         Py_NewRef(v), retire);
    if (x2)
        ds_engine_share_value(self->engine, x, x2);
}

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
        if (v)
            share_decoded(self, x, v);
        ds_entry_decref(x, ds_engine_retire(self->engine));
        dsv4_drain_retired(self);
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
int dsv4_flush_now(DictSQLiteV4Object *self)
{
    return run_engine_call(self, ds_engine_flush);
}

/* An item for the core, lending it a reference to the value's bytes object
 * when the entry can use it in place (see ds_put_item.owner). */
static ds_put_item put_item(const ds_key *k, const ds_encoded *enc)
{
    void *owner = NULL;
    if (holds_by_reference(enc->owner, enc->len, enc->codec))
        owner = Py_NewRef(enc->owner);
    return (ds_put_item){k->utf8, (size_t)k->len, k->hash, enc->codec, enc->data,
                         enc->len, owner};
}

/* Lend the items' owners again before a retry: the failed call consumed
 * the references it was given. */
static void lend_owners_again(ds_put_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        Py_XINCREF((PyObject *)items[i].owner);
}

/* Apply prepared items under one write-lock round trip: in memory with the
 * GIL held when the core can, else (writethrough, or the core needs I/O)
 * with the GIL released. */
static int apply_items(DictSQLiteV4Object *self, uint32_t ns, ds_put_item *items,
                       size_t n)
{
    size_t done_n = 0, total = 0;
    ds_error err;
    ds_status st = DS_OK;
    int due = 0;
    if (self->persist != DS_PERSIST_WRITETHROUGH)
        st = ds_engine_put_many(self->engine, ns, items, n, 0, &done_n, &due, &err);
    total = done_n;
    if (self->persist == DS_PERSIST_WRITETHROUGH || st == DS_NEED_IO) {
        if (st == DS_NEED_IO)
            lend_owners_again(items + total, n - total);
        DS_WITHOUT_GIL(self, st = ds_engine_put_many(self->engine, ns, items + total,
                                                     n - total, 1, &done_n, NULL, &err));
        due = 0;
    }
    dsv4_drain_retired(self);
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return due ? dsv4_flush_now(self) : 0;
}

int dsv4_set(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, PyObject *value)
{
    ds_key k;
    if (ds_key_from_object(key, ns, &k) < 0)
        return -1;
    ds_engine_prefetch(self->engine, k.hash);
    ds_encoded enc;
    ds_encoded_init(&enc);
    int rc = -1;
    if (ds_encode_value(self->state, self->storage, value, self->safe_policy, &enc) == 0) {
        ds_put_item item = put_item(&k, &enc);
        rc = apply_items(self, ns, &item, 1);
    }
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
    dsv4_drain_retired(self);
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

/* Encode pairs [first, first + n) of seq, then apply them under one
 * write-lock round trip and (writethrough) one commit: a value that fails to
 * encode stops the chunk before any of it is stored. */
static int apply_pairs(DictSQLiteV4Object *self, uint32_t ns, PyObject *seq,
                       Py_ssize_t first, Py_ssize_t n)
{
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
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, first + i);
        PyObject *kv = PySequence_Fast(pair, "");
        if (!kv || PySequence_Fast_GET_SIZE(kv) != 2) {
            Py_XDECREF(kv);
            PyErr_Format(PyExc_ValueError,
                         "update sequence element #%zd must be a (key, value) pair, "
                         "got %.200s", first + i, Py_TYPE(pair)->tp_name);
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
    }
    /* Only now, with nothing left to fail, lend the core any references. */
    for (Py_ssize_t i = 0; i < n; i++)
        items[i] = put_item(&keys[i], &encs[i]);
    rc = apply_items(self, ns, items, (size_t)n);
done:
    for (Py_ssize_t i = 0; i < prepared; i++) {
        ds_key_release(&keys[i]);
        ds_encoded_release(&encs[i]);
    }
    PyMem_Free(keys);
    PyMem_Free(encs);
    PyMem_Free(items);
    return rc;
}

/* Pairs per chunk outside writethrough mode: the background flusher commits
 * one chunk while the next is encoded, and the encoded copies of a large
 * update never all sit in memory at once. */
#define UPDATE_CHUNK 8192

/* Writethrough: the whole batch is one commit, all or nothing. Lazy and
 * memory modes apply it chunk by chunk, like dict.update: a bad value stops
 * the update there, with the earlier pairs stored. */
int dsv4_update_pairs(DictSQLiteV4Object *self, uint32_t ns, PyObject *pairs)
{
    PyObject *seq = PySequence_Fast(pairs, "update expects pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Py_ssize_t chunk = self->persist == DS_PERSIST_WRITETHROUGH ? n : UPDATE_CHUNK;
    int rc;
    Py_ssize_t first = 0;
    do {
        Py_ssize_t len = n - first < chunk ? n - first : chunk;
        rc = apply_pairs(self, ns, seq, first, len);
        first += len;
    } while (rc == 0 && first < n);
    Py_DECREF(seq);
    return rc;
}

int dsv4_clear(DictSQLiteV4Object *self, uint32_t ns)
{
    ds_error err;
    ds_status st;
    DS_WITHOUT_GIL(self, st = ds_engine_clear(self->engine, ns, &err));
    dsv4_drain_retired(self);
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

/* ---- mapping protocol --------------------------------------------------- */

Py_ssize_t dsmap_length(PyObject *mapping)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return -1;
    int64_t n = ds_engine_len(self->engine, ns);
    if (DS_UNLIKELY(n < 0)) {
        /* another connection changed the table: count it again, once */
        ds_error err;
        ds_status st;
        DS_WITHOUT_GIL(self, st = ds_engine_recount(self->engine, ns, &err));
        if (st != DS_OK) {
            dsv4_raise(self, st, &err);
            return -1;
        }
        n = ds_engine_len(self->engine, ns);
    }
    return (Py_ssize_t)n;
}

PyObject *dsmap_subscript(PyObject *mapping, PyObject *key)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return NULL;
    int missing;
    return dsv4_get(self, ns, key, &missing);
}

int dsmap_ass_subscript(PyObject *mapping, PyObject *key, PyObject *value)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return -1;
    if (value)
        return dsv4_set(self, ns, key, value);
    return dsv4_delete(self, ns, key);
}

int dsmap_sq_contains(PyObject *mapping, PyObject *key)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return -1;
    return dsv4_contains(self, ns, key);
}

/* ---- methods ------------------------------------------------------------ */


PyObject *dsmap_get_method(PyObject *mapping, PyObject *const *args,
                               Py_ssize_t nargs)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (!_PyArg_CheckPositional("get", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, ns, args[0], &missing);
    if (!v && missing) {
        PyErr_Clear();
        return Py_NewRef(nargs > 1 ? args[1] : Py_None);
    }
    return v;
}

/* set(), delete() and contains() are the [] =, del and in slots by name. */
PyObject *dsmap_set_method(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs)
{
    if (!_PyArg_CheckPositional("set", nargs, 2, 2))
        return NULL;
    if (dsmap_ass_subscript(mapping, args[0], args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsmap_delete_method(PyObject *mapping, PyObject *key)
{
    if (dsmap_ass_subscript(mapping, key, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsmap_contains_method(PyObject *mapping, PyObject *key)
{
    int r = dsmap_sq_contains(mapping, key);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

PyObject *dsmap_pop(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (!_PyArg_CheckPositional("pop", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, ns, args[0], &missing);
    if (!v) {
        if (missing && nargs > 1) {
            PyErr_Clear();
            return Py_NewRef(args[1]);
        }
        return NULL;
    }
    if (dsv4_delete(self, ns, args[0]) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

PyObject *dsmap_setdefault(PyObject *mapping, PyObject *const *args,
                               Py_ssize_t nargs)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (!_PyArg_CheckPositional("setdefault", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, ns, args[0], &missing);
    if (v || !missing)
        return v;
    PyErr_Clear();
    PyObject *dflt = nargs > 1 ? args[1] : Py_None;
    if (dsv4_set(self, ns, args[0], dflt) < 0)
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

/* update(), bulk_insert() and batch_set(): collect the pairs, store them. */
static PyObject *store_pairs(PyObject *mapping, PyObject *other, PyObject *kwds)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    CHECK_USABLE_OR_NULL(self);
    PyObject *pairs = dsv4_collect_update_pairs(other, kwds);
    if (!pairs)
        return NULL;
    int rc = dsv4_update_pairs(self, DS_NS(mapping), pairs);
    Py_DECREF(pairs);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsmap_update(PyObject *mapping, PyObject *args, PyObject *kwds)
{
    PyObject *other = NULL;
    if (!PyArg_UnpackTuple(args, "update", 0, 1, &other))
        return NULL;
    return store_pairs(mapping, other, kwds);
}

PyObject *dsmap_bulk_insert(PyObject *mapping, PyObject *items)
{
    return store_pairs(mapping, items, NULL);
}

PyObject *dsmap_batch_get(PyObject *mapping, PyObject *keys)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    CHECK_USABLE_OR_NULL(self);
    PyObject *it = PyObject_GetIter(keys);
    if (!it)
        return NULL;
    PyObject *result = PyDict_New();
    PyObject *k;
    while (result && (k = PyIter_Next(it))) {
        int missing;
        PyObject *v = dsv4_get(self, ns, k, &missing);
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

static PyObject *list_of(PyObject *mapping, int what)
{
    CHECK_USABLE_OR_NULL(DS_DB(mapping));
    return dsv4_list(DS_DB(mapping), DS_NS(mapping), what, -1);
}

PyObject *dsmap_keys(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    return list_of(mapping, DSV4_KEYS);
}

PyObject *dsmap_values(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    return list_of(mapping, DSV4_VALUES);
}

PyObject *dsmap_items(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    return list_of(mapping, DSV4_ITEMS);
}

PyObject *dsmap_iter(PyObject *mapping)
{
    CHECK_USABLE_OR_NULL(DS_DB(mapping));
    return ds_key_iterator_new(mapping);
}

PyObject *dsmap_clear(PyObject *mapping, PyObject *unused)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    if (dsv4_clear(self, ns) < 0)
        return NULL;
    Py_RETURN_NONE;
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

int dsv4_is_mapping(ds_module_state *st, PyObject *obj)
{
    return PyObject_TypeCheck(obj, st->DictSQLiteV4_Type) ||
           PyObject_TypeCheck(obj, st->TableProxy_Type);
}

PyObject *dsmap_richcompare(PyObject *mapping, PyObject *other, int op)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if ((op != Py_EQ && op != Py_NE) ||
        !(PyDict_Check(other) || dsv4_is_mapping(self->state, other)))
        Py_RETURN_NOTIMPLEMENTED;
    CHECK_USABLE_OR_NULL(self);
    PyObject *theirs;
    if (PyDict_Check(other)) {
        theirs = Py_NewRef(other);
    } else {
        DictSQLiteV4Object *odb = DS_DB(other);
        if (DSV4_USABLE(odb) < 0)
            return NULL;
        theirs = dsv4_as_dict(odb, DS_NS(other));
        if (!theirs)
            return NULL;
    }
    PyObject *mine = dsv4_as_dict(self, ns);
    PyObject *r = mine ? PyObject_RichCompare(mine, theirs, op) : NULL;
    Py_XDECREF(mine);
    Py_DECREF(theirs);
    return r;
}

/* At most this many items in repr(); the rest is summarized by a count. */
#define REPR_PREVIEW_ITEMS 10

PyObject *dsmap_preview(PyObject *mapping)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
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
    Py_ssize_t total = dsmap_length(mapping);
    if (total < 0) {
        Py_DECREF(text);
        return NULL;
    }
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

