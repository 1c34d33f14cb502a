/* The a-methods of AsyncDictSQLite and AsyncTableProxy (async_methods.h).
 *
 * Each one first tries to finish in the call, holding the GIL, exactly as the
 * sync class would with allow_io = 0: a hot hit, an answer from the write
 * buffer or the warm tier, a write in memory or lazy mode. Only what needs
 * SQLite or a commit becomes a job for the worker pool. Errors surface when
 * the awaitable is awaited, as they would from a coroutine. */
#include "async_methods.h"

#include "async_op.h"
#include "db_ops.h"

/* Items a step of a large abatch_set encodes before it yields to the loop:
 * about a millisecond of pickling small values. */
#define ENCODE_CHUNK 1024

static int persist_commits(DictSQLiteV4Object *db)
{
    return ds_engine_persist_mode(db->engine) == DS_PERSIST_WRITETHROUGH;
}

/* The error of a call that could not start, as an awaitable that raises. */
static PyObject *failed(DictSQLiteV4Object *db)
{
    return ds_async_ready(db, NULL);
}

static PyObject *decode_now(DictSQLiteV4Object *db, ds_entry *x, PyObject *key)
{
    PyObject *v = dsv4_decode_entry(db, x, key);
    ds_entry_decref(x, ds_engine_retire(db->engine));
    dsv4_drain_retired(db);
    return v;
}

/* A point call's op, holding its key. */
static AsyncOpObject *key_op(DictSQLiteV4Object *db, ds_async_what what, uint32_t ns,
                             PyObject *key, ds_key *k)
{
    AsyncOpObject *op = ds_async_op_new(db, what);
    if (!op) {
        ds_key_release(k);
        return NULL;
    }
    op->k = *k;
    k->str = NULL;
    op->key = Py_NewRef(key);
    op->job.ns = ns;
    op->job.key = op->k.utf8;
    op->job.klen = (size_t)op->k.len;
    op->job.hash = op->k.hash;
    return op;
}

static PyObject *submit(AsyncOpObject *op)
{
    return op ? ds_async_op_submit(op) : NULL;
}

/* The start of a point call: the database usable and the key converted.
 * 0, or -1 with the exception (k then holds nothing). */
static int start_key_call(DictSQLiteV4Object *db, uint32_t ns, PyObject *key, ds_key *k)
{
    if (DSV4_USABLE(db) < 0 || ds_key_from_object(key, ns, k) < 0)
        return -1;
    if (DS_UNLIKELY(db->closed)) { /* str() of the key ran Python code */
        ds_key_release(k);
        return dsv4_check_usable(db);
    }
    return 0;
}

PyObject *dsasync_aget(PyObject *self, PyObject *key)
{
    DictSQLiteV4Object *db = DS_DB(self);
    uint32_t ns = DS_NS(self);
    ds_key k;
    if (start_key_call(db, ns, key, &k) < 0)
        return failed(db);
    void *aux;
    ds_entry *x = NULL;
    if (ds_engine_peek_hot(db->engine, ns, k.utf8, (size_t)k.len, k.hash, &aux, &x)) {
        ds_key_release(&k);
        return ds_async_ready(db, aux ? Py_NewRef((PyObject *)aux) : decode_now(db, x, key));
    }
    ds_error err;
    ds_status st = ds_engine_get(db->engine, ns, k.utf8, (size_t)k.len, k.hash, 0, &x, &err);
    if (st == DS_NEED_IO)
        return submit(key_op(db, DS_ASYNC_GET, ns, key, &k));
    ds_key_release(&k);
    if (st == DS_OK)
        return ds_async_ready(db, decode_now(db, x, key));
    if (st == DS_NOTFOUND)
        ds_set_key_error(key);
    else
        dsv4_raise(db, st, &err);
    return failed(db);
}

PyObject *dsasync_acontains(PyObject *self, PyObject *key)
{
    DictSQLiteV4Object *db = DS_DB(self);
    uint32_t ns = DS_NS(self);
    ds_key k;
    if (start_key_call(db, ns, key, &k) < 0)
        return failed(db);
    ds_error err;
    ds_status st = ds_engine_contains(db->engine, ns, k.utf8, (size_t)k.len, k.hash, 0, &err);
    if (st == DS_NEED_IO)
        return submit(key_op(db, DS_ASYNC_CONTAINS, ns, key, &k));
    ds_key_release(&k);
    dsv4_drain_retired(db);
    if (st == DS_OK || st == DS_NOTFOUND)
        return ds_async_ready(db, PyBool_FromLong(st == DS_OK));
    dsv4_raise(db, st, &err);
    return failed(db);
}

PyObject *dsasync_aset(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "aset(key, value) takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    DictSQLiteV4Object *db = DS_DB(self);
    uint32_t ns = DS_NS(self);
    ds_key k;
    if (DSV4_USABLE(db) < 0 || ds_key_from_object(args[0], ns, &k) < 0)
        return failed(db);
    ds_encoded enc;
    ds_encoded_init(&enc);
    if (ds_encode_value_of_key(db->state, db->storage, args[1], db->safe_policy, args[0],
                               &enc) < 0 ||
        (db->closed && dsv4_check_usable(db) < 0)) { /* encoding ran Python code */
        ds_encoded_release(&enc);
        ds_key_release(&k);
        return failed(db);
    }
    if (!persist_commits(db)) {
        ds_put_item item = {k.utf8, (size_t)k.len, k.hash, enc.codec, enc.data, enc.len, NULL};
        size_t done;
        ds_error err;
        ds_status st = ds_engine_put_many(db->engine, ns, &item, 1, 0, &done, NULL, &err);
        if (st != DS_NEED_IO) {
            ds_encoded_release(&enc);
            ds_key_release(&k);
            dsv4_drain_retired(db);
            if (st == DS_OK)
                return ds_async_ready(db, Py_NewRef(Py_None));
            dsv4_raise(db, st, &err);
            return failed(db);
        }
    }
    AsyncOpObject *op = key_op(db, DS_ASYNC_WRITE, ns, args[0], &k);
    if (!op) {
        ds_encoded_release(&enc);
        return NULL;
    }
    ds_encoded_move(&op->enc, &enc);
    op->item = (ds_put_item){op->k.utf8, (size_t)op->k.len, op->k.hash, op->enc.codec,
                             op->enc.data, op->enc.len, NULL};
    op->job.write = (ds_write_req){.kind = DS_WRITE_PUT, .ns = ns, .items = &op->item, .n = 1};
    return submit(op);
}

PyObject *dsasync_adelete(PyObject *self, PyObject *key)
{
    DictSQLiteV4Object *db = DS_DB(self);
    uint32_t ns = DS_NS(self);
    ds_key k;
    if (start_key_call(db, ns, key, &k) < 0)
        return failed(db);
    if (!persist_commits(db)) {
        ds_error err;
        ds_status st = ds_engine_delete(db->engine, ns, k.utf8, (size_t)k.len, k.hash, 0,
                                        NULL, &err);
        if (st != DS_NEED_IO) {
            ds_key_release(&k);
            dsv4_drain_retired(db);
            if (st == DS_OK)
                return ds_async_ready(db, Py_NewRef(Py_None));
            if (st == DS_NOTFOUND)
                ds_set_key_error(key);
            else
                dsv4_raise(db, st, &err);
            return failed(db);
        }
    }
    AsyncOpObject *op = key_op(db, DS_ASYNC_WRITE, ns, key, &k);
    if (!op)
        return NULL;
    op->job.write = (ds_write_req){.kind = DS_WRITE_DELETE, .ns = ns, .key = op->k.utf8,
                                   .klen = (size_t)op->k.len, .hash = op->k.hash};
    return submit(op);
}

/* ---- batches ----------------------------------------------------------- */

/* A batch argument as a list: a dict's items, or the iterable's elements. */
static PyObject *as_list(PyObject *items, const char *what, const char *expected)
{
    if (PyDict_Check(items))
        return PyDict_Items(items);
    if (PyUnicode_Check(items) || PyBytes_Check(items)) {
        PyErr_Format(PyExc_TypeError, "%s expects %s, got %.200s", what, expected,
                     Py_TYPE(items)->tp_name);
        return NULL;
    }
    PyObject *list = PySequence_List(items);
    if (!list && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s expects %s, got %.200s", what, expected,
                     Py_TYPE(items)->tp_name);
    }
    return list;
}

PyObject *dsasync_abatch_get(PyObject *self, PyObject *keys)
{
    DictSQLiteV4Object *db = DS_DB(self);
    uint32_t ns = DS_NS(self);
    if (DSV4_USABLE(db) < 0)
        return failed(db);
    PyObject *list = as_list(keys, "abatch_get", "an iterable of keys");
    if (!list)
        return failed(db);
    size_t n = (size_t)PyList_GET_SIZE(list);
    AsyncOpObject *op = ds_async_op_new(db, DS_ASYNC_GET_MANY);
    if (!op) {
        Py_DECREF(list);
        return NULL;
    }
    op->key = list;
    op->n = n;
    op->keys = PyMem_Calloc(n ? n : 1, sizeof(*op->keys));
    op->items = PyMem_Calloc(n ? n : 1, sizeof(*op->items));
    op->sent_at = PyMem_Calloc(n ? n : 1, sizeof(*op->sent_at));
    PyObject *result = PyList_New((Py_ssize_t)n);
    if (!op->keys || !op->items || !op->sent_at || !result) {
        Py_XDECREF(result);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return ds_async_op_ready(op, NULL);
    }
    /* Every key the hot tier holds is answered here; only the others go to
     * the pool, and their answers fill the holes of the same list. */
    size_t nsent = 0;
    for (size_t i = 0; i < n; i++) {
        PyObject *key = PyList_GET_ITEM(list, (Py_ssize_t)i);
        if (ds_key_from_object(key, ns, &op->keys[i]) < 0 ||
            (db->closed && dsv4_check_usable(db) < 0)) {
            Py_DECREF(result);
            return ds_async_op_ready(op, NULL);
        }
        ds_key *k = &op->keys[i];
        ds_entry *x = NULL;
        ds_error err;
        ds_status st = ds_engine_get(db->engine, ns, k->utf8, (size_t)k->len, k->hash, 0, &x,
                                     &err);
        PyObject *v = NULL;
        if (st == DS_OK) {
            v = decode_now(db, x, key);
        } else if (st == DS_NOTFOUND) {
            v = Py_NewRef(Py_None);
        } else if (st == DS_NEED_IO) {
            op->items[nsent] = (ds_put_item){k->utf8, (size_t)k->len, k->hash, 0, NULL, 0,
                                             NULL};
            op->sent_at[nsent++] = i;
            continue;
        } else {
            dsv4_raise(db, st, &err);
        }
        if (!v) {
            Py_DECREF(result);
            return ds_async_op_ready(op, NULL);
        }
        PyList_SET_ITEM(result, (Py_ssize_t)i, v);
    }
    if (nsent == 0)
        return ds_async_op_ready(op, result);
    op->outs = PyMem_Calloc(nsent, sizeof(*op->outs));
    if (!op->outs) {
        Py_DECREF(result);
        PyErr_NoMemory();
        return ds_async_op_ready(op, NULL);
    }
    op->partial = result;
    op->job.ns = ns;
    op->job.keys = op->items;
    op->job.nkeys = nsent;
    op->job.outs = op->outs;
    return ds_async_op_submit(op);
}

/* Encode the next chunk of a batch put's pairs into the arena; once all are
 * encoded, store them (here, when memory or lazy mode allows it) or submit
 * them. 1: more to encode; 0: done (op READY or WAITING); -1: error. */
int ds_async_encode_step(AsyncOpObject *op)
{
    DictSQLiteV4Object *db = op->db;
    if (DSV4_USABLE(db) < 0)
        return -1;
    uint32_t ns = op->job.ns;
    size_t end = op->next + ENCODE_CHUNK < op->n ? op->next + ENCODE_CHUNK : op->n;
    for (size_t i = op->next; i < end; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(op->pairs, (Py_ssize_t)i);
        PyObject *kv = PySequence_Fast(pair, "");
        if (!kv || PySequence_Fast_GET_SIZE(kv) != 2) {
            Py_XDECREF(kv);
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError,
                         "abatch_set item #%zu must be a (key, value) pair, got %.200s", i,
                         Py_TYPE(pair)->tp_name);
            return -1;
        }
        ds_encoded enc;
        ds_encoded_init(&enc);
        int rc = ds_key_from_object(PySequence_Fast_GET_ITEM(kv, 0), ns, &op->keys[i]);
        if (rc == 0)
            rc = ds_encode_value_of_key(db->state, db->storage, PySequence_Fast_GET_ITEM(kv, 1),
                                        db->safe_policy, PySequence_Fast_GET_ITEM(kv, 0), &enc);
        Py_DECREF(kv);
        if (rc == 0) {
            op->offsets[i] = op->arena.len;
            if (ds_buf_append(&op->arena, enc.data, enc.len) < 0)
                rc = (PyErr_NoMemory(), -1);
        }
        ds_key *k = &op->keys[i];
        op->items[i] = (ds_put_item){k->utf8, (size_t)k->len, k->hash, enc.codec, NULL,
                                     enc.len, NULL};
        ds_encoded_release(&enc);
        if (rc < 0)
            return -1;
    }
    op->next = end;
    if (end < op->n)
        return 1;
    if (db->closed && dsv4_check_usable(db) < 0) /* encoding ran Python code */
        return -1;
    /* the arena no longer moves: point the items into it */
    for (size_t i = 0; i < op->n; i++)
        op->items[i].value = op->arena.data + op->offsets[i];
    Py_CLEAR(op->pairs);
    /* A small batch is stored here at once; a large one goes to the writer
     * even in lazy mode: storing it holding the GIL would stall the loop. */
    if (!persist_commits(db) && op->n <= ENCODE_CHUNK) {
        size_t done;
        ds_error err;
        ds_status st = ds_engine_put_many(db->engine, ns, op->items, op->n, 0, &done, NULL,
                                          &err);
        dsv4_drain_retired(db);
        if (st == DS_OK) {
            ds_async_op_ready(op, Py_NewRef(Py_None));
            return 0;
        }
        if (st != DS_NEED_IO) {
            dsv4_raise(db, st, &err);
            return -1;
        }
    }
    op->job.write = (ds_write_req){.kind = DS_WRITE_PUT, .ns = ns, .items = op->items,
                                   .n = op->n};
    /* submit hands the reference back; the caller keeps its own */
    Py_INCREF(op);
    PyObject *r = ds_async_op_submit(op);
    Py_DECREF(r);
    return 0;
}

PyObject *dsasync_abatch_set(PyObject *self, PyObject *items)
{
    DictSQLiteV4Object *db = DS_DB(self);
    if (DSV4_USABLE(db) < 0)
        return failed(db);
    PyObject *list = as_list(items, "abatch_set", "a dict or an iterable of (key, value) pairs");
    if (!list)
        return failed(db);
    size_t n = (size_t)PyList_GET_SIZE(list);
    AsyncOpObject *op = ds_async_op_new(db, DS_ASYNC_WRITE);
    if (!op) {
        Py_DECREF(list);
        return NULL;
    }
    op->pairs = list;
    op->n = n;
    op->job.ns = DS_NS(self);
    op->keys = PyMem_Calloc(n ? n : 1, sizeof(*op->keys));
    op->items = PyMem_Calloc(n ? n : 1, sizeof(*op->items));
    op->offsets = PyMem_Calloc(n ? n : 1, sizeof(*op->offsets));
    if (!op->keys || !op->items || !op->offsets) {
        PyErr_NoMemory();
        return ds_async_op_ready(op, NULL);
    }
    if (n > ENCODE_CHUNK) {
        op->state = DS_OP_ENCODING; /* encoded step by step while awaited */
        return (PyObject *)op;
    }
    if (ds_async_encode_step(op) < 0)
        return ds_async_op_ready(op, NULL);
    return (PyObject *)op;
}

static PyObject *flush_op(PyObject *self, ds_async_what what)
{
    DictSQLiteV4Object *db = DS_DB(self);
    dsv4_collect_flusher_errors(db); /* logged, not raised: this flush commits them */
    if (DSV4_USABLE(db) < 0)
        return failed(db);
    AsyncOpObject *op = ds_async_op_new(db, what);
    if (!op)
        return NULL;
    op->job.write = (ds_write_req){.kind = DS_WRITE_FLUSH};
    return ds_async_op_submit(op);
}

PyObject *dsasync_aflush(PyObject *self, PyObject *unused)
{
    (void)unused;
    DictSQLiteV4Object *db = DS_DB(self);
    if (DSV4_USABLE(db) == 0 && ds_engine_persist_mode(db->engine) == DS_PERSIST_MEMORY)
        return ds_async_ready(db, Py_NewRef(Py_None));
    return flush_op(self, DS_ASYNC_WRITE);
}

PyObject *dsasync_aclose(PyObject *self, PyObject *unused)
{
    (void)unused;
    DictSQLiteV4Object *db = DS_DB(self);
    if (db->closed)
        return ds_async_ready(db, Py_NewRef(Py_None)); /* idempotent */
    if (db->fork_generation != ds_fork_generation ||
        ds_engine_persist_mode(db->engine) == DS_PERSIST_MEMORY) {
        PyObject *r = dsv4_close(db, NULL);
        return ds_async_ready(db, r);
    }
    /* The flush runs on the writer after every write queued before it; the
     * close itself then happens on the loop's thread. */
    return flush_op(self, DS_ASYNC_CLOSE);
}

/* ---- sync members with the async class's own shape --------------------- */

PyObject *dsasync_batch_get(PyObject *self, PyObject *keys)
{
    DictSQLiteV4Object *db = DS_DB(self);
    CHECK_USABLE_OR_NULL(db);
    PyObject *list = as_list(keys, "batch_get", "an iterable of keys");
    if (!list)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject *result = PyList_New(n);
    for (Py_ssize_t i = 0; result && i < n; i++) {
        int missing;
        PyObject *v = dsv4_get(db, DS_NS(self), PyList_GET_ITEM(list, i), &missing);
        if (!v && missing) {
            PyErr_Clear();
            v = Py_NewRef(Py_None);
        }
        if (!v)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, i, v);
    }
    Py_DECREF(list);
    return result;
}
