/* The per-namespace operations of DictSQLiteV4 and TableProxy (db_ops.h):
 * each turns Python arguments into one engine call and the result back.
 *
 * Every call goes through run_op: the core is tried with allow_io = 0 while
 * holding the GIL (hot-tier work is a few hundred nanoseconds); when it
 * answers DS_NEED_IO the call is repeated with the GIL released, inside
 * DS_WITHOUT_GIL so close() waits for it; what the core retired meanwhile is
 * released with the GIL afterwards. Writethrough writes commit, so they skip
 * the first try.
 */
#include "db_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdatomic.h>

#include "log.h"

int dsv4_check_usable(DictSQLiteV4Object *self)
{
    if (self->fork_generation != ds_fork_generation && !self->closed) {
        PyErr_Format(self->state->DatabaseClosedError,
                     "this DictSQLiteV4 (%R) was opened before fork(); a child "
                     "process must open the database again", self->path);
        return -1;
    }
    PyErr_Format(self->state->DatabaseClosedError,
                 "the database %R is closed", self->path ? self->path : Py_None);
    return -1;
}

/* The background flusher cannot raise or log (it never takes the GIL): it
 * counts its failures in the engine, and the first call from Python after
 * one takes them, logs them, and raises (dsv4_take_flusher_errors), unless
 * that call is a flush, which commits the same writes and warns instead
 * (dsv4_collect_flusher_errors). Either way the writes stay buffered and
 * are retried. */
static uint64_t take_and_log(DictSQLiteV4Object *self, ds_error *err)
{
    uint64_t n = ds_engine_take_flusher_errors(self->engine, err);
    if (n)
        ds_log(self->state, DS_LOG_WARNING,
               "the background flush of %R failed %llu time(s) (last error: %s); the "
               "writes stay buffered and are retried at the next flush", self->path,
               (unsigned long long)n, err->msg[0] ? err->msg : ds_status_name(err->status));
    return n;
}

void dsv4_collect_flusher_errors(DictSQLiteV4Object *self)
{
    if (self->closed || self->fork_generation != ds_fork_generation)
        return;
    ds_error err;
    uint64_t n = take_and_log(self, &err);
    if (n) {
        self->flusher_unwarned += n;
        self->flusher_last_error = err;
    }
}

int dsv4_take_flusher_errors(DictSQLiteV4Object *self)
{
    ds_error err;
    uint64_t n = take_and_log(self, &err);
    /* a logging handler may have closed the database */
    if (self->closed || self->fork_generation != ds_fork_generation)
        return dsv4_check_usable(self);
    if (n) {
        /* The call that meets the failure does nothing and says so, once;
         * the writes are not lost, so the next call goes on. */
        ds_error told = err;
        snprintf(told.msg, sizeof(told.msg), "the background flush failed %llu time(s), "
                 "so this call did nothing; the buffered writes are kept and retried "
                 "(flush() commits them now). Last error: %.300s", (unsigned long long)n,
                 err.msg[0] ? err.msg : ds_status_name(err.status));
        dsv4_raise(self, err.status, &told);
        return -1;
    }
    if (self->gen_ptr && atomic_load_explicit(self->gen_ptr, memory_order_acquire) !=
                             atomic_load_explicit(self->seen_ptr, memory_order_acquire))
        return dsv4_sync(self);
    return 0;
}

/* ---- the one path into the core ---------------------------------------- */

ds_status ds_run_op(DictSQLiteV4Object *self, ds_op_fn fn, void *ctx, int io_first,
                    void (*before_retry)(void *ctx), ds_error *err)
{
    /* The caller may have run Python code (str() of a key, pickling a
     * value) since it checked, and that code may have closed the database. */
    if (DS_UNLIKELY(self->closed))
        return DS_CLOSED;
    ds_status st = DS_NEED_IO;
    if (!io_first)
        st = fn(self->engine, 0, ctx, err);
    if (st == DS_NEED_IO) {
        if (before_retry && !io_first)
            before_retry(ctx);
        DS_WITHOUT_GIL(self, st, fn(self->engine, 1, ctx, err));
    }
    dsv4_drain_retired(self);
    return st;
}

int ds_run_op_or_raise(DictSQLiteV4Object *self, ds_op_fn fn, void *ctx, int io_first,
                       void (*before_retry)(void *ctx))
{
    ds_error err;
    ds_status st = ds_run_op(self, fn, ctx, io_first, before_retry, &err);
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

/* Whole-database calls: always SQLite work. */
static ds_status call_sync(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    (void)allow_io;
    (void)ctx;
    return ds_engine_sync(e, err);
}

static ds_status call_flush(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    (void)allow_io;
    (void)ctx;
    return ds_engine_flush(e, err);
}

int dsv4_sync(DictSQLiteV4Object *self)
{
    return ds_run_op_or_raise(self, call_sync, NULL, 1, NULL);
}

int dsv4_flush_now(DictSQLiteV4Object *self)
{
    return ds_run_op_or_raise(self, call_flush, NULL, 1, NULL);
}

/* ---- errors -------------------------------------------------------------- */

/* exc_type(errno, message, path): for OSError itself the errno picks the
 * subclass (FileNotFoundError, PermissionError, ...). */
static void raise_os_error(DictSQLiteV4Object *self, PyObject *exc_type, int code,
                           const char *msg)
{
    PyObject *exc = PyObject_CallFunction(exc_type, "isO", code, msg,
                                          self->path ? self->path : Py_None);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

void dsv4_raise(DictSQLiteV4Object *self, ds_status st, const ds_error *err)
{
    if (st == DS_CLOSED) {
        /* err may be untouched: DS_WITHOUT_GIL refuses a closed object */
        PyErr_Format(self->state->DatabaseClosedError, "the database %R is closed",
                     self->path);
        return;
    }
    const char *msg = err && err->msg[0] ? err->msg : ds_status_name(st);
    int code = err ? err->sys_errno : 0;
    switch (st) {
    case DS_NOMEM:
        /* The core's message names the path and what ran out (a failed
         * prepare at open, say); PyErr_NoMemory() alone says nothing. */
        if (err && err->msg[0])
            PyErr_SetString(PyExc_MemoryError, err->msg);
        else
            PyErr_NoMemory();
        return;
    case DS_INVALID:
        PyErr_SetString(PyExc_ValueError, msg);
        return;
    case DS_CORRUPT:
        PyErr_SetString(self->state->CorruptValueError, msg);
        return;
    case DS_BUSY:
        raise_os_error(self, self->state->DatabaseLockedError, code ? code : EBUSY, msg);
        return;
    case DS_READONLY:
        raise_os_error(self, self->state->ReadOnlyError, code ? code : EROFS, msg);
        return;
    default:
        /* An OS-level error always carries an errno; EIO when neither SQLite
         * nor the OS gave one. */
        raise_os_error(self, PyExc_OSError, code ? code : EIO, msg);
        return;
    }
}

void dsv4_raise_open(DictSQLiteV4Object *self, ds_status st, const ds_error *err)
{
    /* At open, "corrupt" means the file itself: not a database, or one of
     * another format. That is an OSError about the path; EINVAL, as
     * SQLite's own "file is not a database" carries no errno. */
    if (st == DS_CORRUPT) {
        int code = err && err->sys_errno ? err->sys_errno : EINVAL;
        raise_os_error(self, PyExc_OSError, code,
                       err && err->msg[0] ? err->msg : ds_status_name(st));
        return;
    }
    dsv4_raise(self, st, err);
}

void ds_set_key_error(PyObject *key)
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
    /* decoding ran Python code, which may have closed the database */
    if (self->closed || (x->flags & DS_ENTRY_EXTERNAL) ||
        !holds_by_reference(v, x->vlen, x->codec))
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

/* A point operation on one key of one namespace. */
typedef struct key_op {
    uint32_t ns;
    const ds_key *k;
    ds_entry *x; /* get: the entry found */
} key_op;

static ds_status call_get(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    key_op *o = ctx;
    return ds_engine_get(e, o->ns, o->k->utf8, (size_t)o->k->len, o->k->hash, allow_io,
                         &o->x, err);
}

static ds_status call_contains(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    key_op *o = ctx;
    return ds_engine_contains(e, o->ns, o->k->utf8, (size_t)o->k->len, o->k->hash,
                              allow_io, err);
}

static ds_status call_delete(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    key_op *o = ctx;
    return ds_engine_delete(e, o->ns, o->k->utf8, (size_t)o->k->len, o->k->hash,
                            allow_io, NULL, err);
}

PyObject *dsv4_get(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, int *missing)
{
    ds_key k;
    *missing = 0;
    if (ds_key_from_object(key, ns, &k) < 0)
        return NULL;
    void *aux;
    key_op o = {ns, &k, NULL};
    ds_error err;
    ds_status st = DS_OK;
    /* the hot-tier fast path: the cached decoded object, no entry reference
     * (str() of a key may have closed the database) */
    if (DS_UNLIKELY(self->closed))
        st = DS_CLOSED;
    else if (ds_engine_peek_hot(self->engine, ns, k.utf8, (size_t)k.len, k.hash, &aux, &o.x)) {
        if (aux) {
            ds_key_release(&k);
            return Py_NewRef((PyObject *)aux);
        }
    } else {
        st = ds_run_op(self, call_get, &o, 0, NULL, &err);
    }
    PyObject *v = NULL;
    if (st == DS_OK) {
        v = dsv4_decode_entry(self, o.x, key);
        if (v)
            share_decoded(self, o.x, v);
        ds_entry_decref(o.x, ds_engine_retire(self->engine));
        dsv4_drain_retired(self);
    } else if (st == DS_NOTFOUND) {
        *missing = 1;
        ds_set_key_error(key);
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
    key_op o = {ns, &k, NULL};
    ds_error err;
    ds_status st = ds_run_op(self, call_contains, &o, 0, NULL, &err);
    ds_key_release(&k);
    if (st == DS_OK || st == DS_NOTFOUND)
        return st == DS_OK;
    dsv4_raise(self, st, &err);
    return -1;
}

/* ---- writes ------------------------------------------------------------ */

/* Writethrough writes commit before they return: straight to the GIL-free
 * call. */
static int io_first_for_writes(DictSQLiteV4Object *self)
{
    return ds_engine_persist_mode(self->engine) == DS_PERSIST_WRITETHROUGH;
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

typedef struct put_op {
    uint32_t ns;
    ds_put_item *items;
    size_t n;
} put_op;

static ds_status call_put_many(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    put_op *o = ctx;
    size_t done = 0;
    return ds_engine_put_many(e, o->ns, o->items, o->n, allow_io, &done, NULL, err);
}

/* The core consumed the owner references of a call that answered
 * DS_NEED_IO (it changed nothing): lend them again for the retry. */
static void lend_owners_again(void *ctx)
{
    put_op *o = ctx;
    for (size_t i = 0; i < o->n; i++)
        Py_XINCREF((PyObject *)o->items[i].owner);
}

/* A writethrough write of the async class's sync members goes through the
 * pool's writer, so it joins the group commits of the async writers and of
 * other threads instead of committing alone. NULL: commit directly (the sync
 * class, the modes that do not commit per write, or no memory for a pool,
 * where committing directly is just as correct). */
static ds_pool *writer_pool(DictSQLiteV4Object *self)
{
    if (!io_first_for_writes(self) ||
        !PyObject_TypeCheck((PyObject *)self, self->state->AsyncDictSQLite_Type))
        return NULL;
    if (!self->pool)
        self->pool = ds_pool_new(self->engine, self->pool_size);
    return self->pool;
}

typedef struct writer_op {
    ds_pool *pool;
    ds_write_req req;
} writer_op;

static ds_status call_via_writer(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    (void)e;
    (void)allow_io;
    writer_op *o = ctx;
    return ds_pool_write_wait(o->pool, &o->req, err);
}

int dsv4_put_items(DictSQLiteV4Object *self, uint32_t ns, ds_put_item *items, size_t n)
{
    ds_pool *pool = writer_pool(self);
    if (pool) {
        /* The writer copies the bytes, so it takes no lent references. */
        for (size_t i = 0; i < n; i++) {
            Py_XDECREF((PyObject *)items[i].owner);
            items[i].owner = NULL;
        }
        writer_op w = {pool, {.kind = DS_WRITE_PUT, .ns = ns, .items = items, .n = n}};
        return ds_run_op_or_raise(self, call_via_writer, &w, 1, NULL);
    }
    put_op o = {ns, items, n};
    return ds_run_op_or_raise(self, call_put_many, &o, io_first_for_writes(self),
                              lend_owners_again);
}

int dsv4_set(DictSQLiteV4Object *self, uint32_t ns, PyObject *key, PyObject *value)
{
    ds_key k;
    if (ds_key_from_object(key, ns, &k) < 0)
        return -1;
    if (DS_LIKELY(!self->closed)) /* str() of a key may have closed it */
        ds_engine_prefetch(self->engine, k.hash);
    ds_encoded enc;
    ds_encoded_init(&enc);
    int rc = -1;
    if (ds_encode_value_of_key(self->state, self->storage, value, self->safe_policy, key,
                               &enc) == 0) {
        ds_put_item item = put_item(&k, &enc);
        rc = dsv4_put_items(self, ns, &item, 1);
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
    ds_status st;
    ds_pool *pool = writer_pool(self);
    if (pool) {
        writer_op w = {pool, {.kind = DS_WRITE_DELETE, .ns = ns, .key = k.utf8,
                              .klen = (size_t)k.len, .hash = k.hash}};
        st = ds_run_op(self, call_via_writer, &w, 1, NULL, &err);
    } else {
        key_op o = {ns, &k, NULL};
        st = ds_run_op(self, call_delete, &o, io_first_for_writes(self), NULL, &err);
    }
    ds_key_release(&k);
    if (st == DS_NOTFOUND) {
        ds_set_key_error(key);
        return -1;
    }
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return -1;
    }
    return 0;
}

/* progress(done, total) is called after each chunk of this many items, or
 * of this many bytes of encoded values, whichever comes first: often enough
 * for a progress bar on large values, rarely enough that a Python call per
 * chunk is lost in the encoding (a chunk of small values is ~100 us). */
#define DS_PROGRESS_CHUNK_ITEMS 1024
#define DS_PROGRESS_CHUNK_BYTES ((size_t)4 << 20)

static int report_progress(PyObject *progress, Py_ssize_t done, Py_ssize_t total)
{
    PyObject *r = PyObject_CallFunction(progress, "nn", done, total);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Encode every pair of seq, then store them as one call of the core (one
 * commit in writethrough mode): a value that fails to encode, a progress
 * callback that raises, or a core call that fails, leaves the namespace as
 * it was. That is why progress's last call, (n, n), comes once everything
 * is encoded but before the batch is stored: an exception it raises can
 * still abort the whole batch. */
int dsv4_update_pairs(DictSQLiteV4Object *self, uint32_t ns, PyObject *pairs,
                      PyObject *progress)
{
    PyObject *seq = PySequence_Fast(pairs, "update expects pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ds_key *keys = PyMem_Calloc((size_t)n + 1, sizeof(*keys));
    ds_encoded *encs = PyMem_Calloc((size_t)n + 1, sizeof(*encs));
    ds_put_item *items = PyMem_Calloc((size_t)n + 1, sizeof(*items));
    Py_ssize_t prepared = 0, reported = 0;
    size_t chunk_bytes = 0;
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
        if (ds_encode_value_of_key(self->state, self->storage, value, self->safe_policy,
                                   key, &encs[i]) < 0) {
            Py_DECREF(kv);
            goto done;
        }
        Py_DECREF(kv);
        chunk_bytes += encs[i].len;
        if (progress && i + 1 < n &&
            (i + 1 - reported >= DS_PROGRESS_CHUNK_ITEMS || chunk_bytes >= DS_PROGRESS_CHUNK_BYTES)) {
            reported = i + 1;
            chunk_bytes = 0;
            if (report_progress(progress, reported, n) < 0)
                goto done;
        }
    }
    if (progress && report_progress(progress, n, n) < 0)
        goto done;
    /* Only now, with nothing left to fail, lend the core any references. */
    for (Py_ssize_t i = 0; i < n; i++)
        items[i] = put_item(&keys[i], &encs[i]);
    rc = n ? dsv4_put_items(self, ns, items, (size_t)n) : 0;
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

typedef struct ns_op {
    uint32_t ns;
} ns_op;

static ds_status call_clear(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    (void)allow_io;
    return ds_engine_clear(e, ((ns_op *)ctx)->ns, err);
}

int dsv4_clear(DictSQLiteV4Object *self, uint32_t ns)
{
    ns_op o = {ns};
    return ds_run_op_or_raise(self, call_clear, &o, 1, NULL);
}
