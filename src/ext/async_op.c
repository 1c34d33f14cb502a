/* AsyncOp: the awaitable of the async API (see async_op.h for its states).
 *
 * It implements the iterator protocol that `await` drives (am_send, and
 * send/throw/close for code that drives it by hand): a READY op returns its
 * value at the first step, which is what makes a hot hit cost no more than
 * a method call and an object; a WAITING op delegates to its future. */
#include "async_op.h"

#include <stddef.h>

#include "db_ops.h"

AsyncOpObject *ds_async_op_new(DictSQLiteV4Object *db, ds_async_what what)
{
    PyTypeObject *tp = db->state->AsyncOp_Type;
    AsyncOpObject *op = (AsyncOpObject *)tp->tp_alloc(tp, 0);
    if (!op)
        return NULL;
    op->db = (DictSQLiteV4Object *)Py_NewRef((PyObject *)db);
    op->what = what;
    op->state = DS_OP_READY;
    ds_encoded_init(&op->enc);
    ds_buf_init(&op->arena);
    return op;
}

/* Take the pending exception as an instance. */
static PyObject *fetch_exception(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb && v)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

PyObject *ds_async_op_ready(AsyncOpObject *op, PyObject *value)
{
    op->state = DS_OP_READY;
    if (value)
        op->result = value;
    else
        op->exc = fetch_exception();
    return (PyObject *)op;
}

PyObject *ds_async_ready(DictSQLiteV4Object *db, PyObject *value)
{
    return ds_async_ready_value(db->state, value, value ? NULL : fetch_exception());
}

/* What the op's inputs hold: keys (with their str), encoded values, the
 * arena. Released with the GIL once the job is back (or never sent). */
static void release_inputs(AsyncOpObject *op)
{
    ds_key_release(&op->k);
    ds_encoded_release(&op->enc);
    if (op->keys) {
        for (size_t i = 0; i < op->n; i++)
            ds_key_release(&op->keys[i]);
        PyMem_Free(op->keys);
        op->keys = NULL;
    }
    PyMem_Free(op->items);
    op->items = NULL;
    PyMem_Free(op->offsets);
    op->offsets = NULL;
    ds_buf_release(&op->arena); /* leaves it empty and reusable */
    Py_CLEAR(op->pairs);
    PyMem_Free(op->sent_at);
    op->sent_at = NULL;
    Py_CLEAR(op->partial);
}

static void release_outputs(AsyncOpObject *op)
{
    ds_retire *retire = op->db->engine ? ds_engine_retire(op->db->engine) : NULL;
    if (op->job.out && retire)
        ds_entry_decref(op->job.out, retire);
    op->job.out = NULL;
    if (op->outs) {
        for (size_t i = 0; i < op->job.nkeys; i++)
            if (op->outs[i] && retire)
                ds_entry_decref(op->outs[i], retire);
        PyMem_Free(op->outs);
        op->outs = NULL;
    }
    if (op->db->engine)
        dsv4_drain_retired(op->db);
}

/* ---- completion (the loop's thread) ------------------------------------ */

static PyObject *raise_status(AsyncOpObject *op)
{
    if (op->job.st == DS_NOTFOUND)
        ds_set_key_error(op->key);
    else
        dsv4_raise(op->db, op->job.st, &op->job.err);
    return NULL;
}

/* The job's outcome as a Python value: a new reference, or NULL with the
 * exception set. */
static PyObject *outcome(AsyncOpObject *op)
{
    ds_status st = op->job.st;
    switch (op->what) {
    case DS_ASYNC_GET:
        return st == DS_OK ? dsv4_decode_entry(op->db, op->job.out, op->key) : raise_status(op);
    case DS_ASYNC_CONTAINS:
        if (st == DS_OK || st == DS_NOTFOUND)
            return PyBool_FromLong(st == DS_OK);
        return raise_status(op);
    case DS_ASYNC_GET_MANY: {
        if (st != DS_OK)
            return raise_status(op);
        PyObject *list = op->partial;
        op->partial = NULL;
        for (size_t j = 0; list && j < op->job.nkeys; j++) {
            Py_ssize_t i = (Py_ssize_t)op->sent_at[j];
            PyObject *v = op->outs[j] ? dsv4_decode_entry(op->db, op->outs[j],
                                                          PyList_GET_ITEM(op->key, i))
                                      : Py_NewRef(Py_None);
            if (!v)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, i, v);
        }
        return list;
    }
    case DS_ASYNC_WRITE:
        return st == DS_OK ? Py_NewRef(Py_None) : raise_status(op);
    case DS_ASYNC_CLOSE:
        if (st != DS_OK)
            return raise_status(op);
        if (!op->db->closed && dsv4_close_engine(op->db, 0) < 0)
            return NULL;
        return Py_NewRef(Py_None);
    }
    PyErr_SetString(PyExc_SystemError, "unknown async operation");
    return NULL;
}

/* Hand the outcome to the future, unless it is done already (cancelled,
 * or its loop is gone): a future like that is never called into. */
static void resolve(AsyncOpObject *op, PyObject *value)
{
    PyObject *exc = value ? NULL : fetch_exception();
    ds_module_state *st = op->db->state;
    PyObject *done = PyObject_CallMethodNoArgs(op->fut, st->str_done);
    if (done == Py_False) {
        PyObject *r = value ? PyObject_CallMethodOneArg(op->fut, st->str_set_result, value)
                            : PyObject_CallMethodOneArg(op->fut, st->str_set_exception, exc);
        Py_XDECREF(r);
    }
    Py_XDECREF(done);
    /* a closed loop refuses to schedule the callbacks: nothing to report */
    PyErr_Clear();
    Py_XDECREF(exc);
}

void ds_async_op_complete(AsyncOpObject *op)
{
    PyObject *saved_t, *saved_v, *saved_tb;
    PyErr_Fetch(&saved_t, &saved_v, &saved_tb);
    op->submitted = 0;
    if (atomic_load(&op->job.state) != DS_JOB_CANCELLED) {
        PyObject *value = outcome(op);
        if (op->fut)
            resolve(op, value);
        else
            PyErr_Clear();
        Py_XDECREF(value);
    }
    release_outputs(op);
    release_inputs(op);
    Py_CLEAR(op->loop_queue);
    PyErr_Restore(saved_t, saved_v, saved_tb);
    Py_DECREF(op); /* the reference the job held */
}

/* ---- submission -------------------------------------------------------- */

static void job_done(ds_job *job)
{
    ds_loop_queue_push(ds_async_op_of(job)->loop_queue, job);
}

static ds_job_kind job_kind(ds_async_what what)
{
    switch (what) {
    case DS_ASYNC_GET: return DS_JOB_GET;
    case DS_ASYNC_CONTAINS: return DS_JOB_CONTAINS;
    case DS_ASYNC_GET_MANY: return DS_JOB_GET_MANY;
    case DS_ASYNC_WRITE:
    case DS_ASYNC_CLOSE: break;
    }
    return DS_JOB_WRITE;
}

/* Submit now: a running loop is known. 0, or -1 with an exception. */
static int submit_on(AsyncOpObject *op, PyObject *loop, PyObject *q)
{
    DictSQLiteV4Object *db = op->db;
    if (DSV4_USABLE(db) < 0)
        return -1;
    if (!db->pool && !(db->pool = ds_pool_new(db->engine, db->pool_size))) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *fut = PyObject_CallMethodNoArgs(loop, db->state->str_create_future);
    if (!fut)
        return -1;
    Py_XSETREF(op->fut, fut);
    Py_XSETREF(op->loop_queue, Py_NewRef(q));
    op->job.kind = job_kind(op->what);
    op->job.done = job_done;
    op->state = DS_OP_WAITING;
    Py_INCREF(op); /* held by the job until complete */
    op->submitted = 1;
    ds_error err;
    ds_status st = ds_pool_submit(db->pool, &op->job, &err);
    if (st != DS_OK) {
        op->submitted = 0;
        Py_DECREF(op);
        dsv4_raise(db, st, &err);
        return -1;
    }
    return 0;
}

PyObject *ds_async_op_submit(AsyncOpObject *op)
{
    PyObject *loop;
    PyObject *q = ds_async_loop_queue(op->db, &loop);
    if (!q && PyErr_Occurred())
        return ds_async_op_ready(op, NULL);
    op->state = DS_OP_WAITING;
    if (!q)
        return (PyObject *)op; /* no loop yet: submitted at the first step */
    int rc = submit_on(op, loop, q);
    Py_DECREF(loop);
    if (rc < 0)
        return ds_async_op_ready(op, NULL);
    return (PyObject *)op;
}

/* ---- the awaitable ----------------------------------------------------- */

int ds_async_encode_step(AsyncOpObject *op); /* async_methods.c */

static PySendResult op_send(AsyncOpObject *op, PyObject *arg, PyObject **result)
{
    if (op->state == DS_OP_ENCODING) {
        int more = ds_async_encode_step(op);
        if (more < 0) {
            ds_async_op_ready(op, NULL);
        } else if (more) {
            *result = Py_NewRef(Py_None); /* a bare yield: the loop runs others */
            return PYGEN_NEXT;
        }
        /* else: encoded, and now READY or WAITING */
    }
    if (op->state == DS_OP_READY) {
        if (op->exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(op->exc), op->exc);
            return PYGEN_ERROR;
        }
        *result = Py_NewRef(op->result ? op->result : Py_None);
        return PYGEN_RETURN;
    }
    if (!op->fut) {
        PyObject *loop;
        PyObject *q = ds_async_loop_queue(op->db, &loop);
        if (!q) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError,
                                "an AsyncDictSQLite call that needs the worker pool must be "
                                "awaited inside a running event loop");
            return PYGEN_ERROR;
        }
        int rc = submit_on(op, loop, q);
        Py_DECREF(loop);
        if (rc < 0)
            return PYGEN_ERROR;
    }
    if (!op->fut_iter) {
        unaryfunc await = Py_TYPE(op->fut)->tp_as_async ? Py_TYPE(op->fut)->tp_as_async->am_await
                                                        : NULL;
        op->fut_iter = await ? await(op->fut) : PyObject_CallMethod(op->fut, "__await__", NULL);
        if (!op->fut_iter)
            return PYGEN_ERROR;
    }
    return PyIter_Send(op->fut_iter, arg, result);
}

static PyObject *op_await(AsyncOpObject *op)
{
    return Py_NewRef((PyObject *)op);
}

PyObject *ds_async_stop_with(PySendResult r, PyObject *value)
{
    if (r == PYGEN_NEXT)
        return value;
    if (r == PYGEN_RETURN) {
        /* StopIteration(value) built explicitly: a tuple value would
         * otherwise be taken as the exception's arguments */
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, value);
        Py_DECREF(value);
        if (stop) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
    }
    return NULL;
}

static PyObject *op_iternext(AsyncOpObject *op)
{
    PyObject *value = NULL;
    PySendResult r = op_send(op, Py_None, &value);
    return ds_async_stop_with(r, value);
}

static PyObject *op_send_method(AsyncOpObject *op, PyObject *arg)
{
    PyObject *value = NULL;
    PySendResult r = op_send(op, arg, &value);
    return ds_async_stop_with(r, value);
}

/* Thrown in by the task that awaits the op, when it is cancelled (or by
 * asyncio.timeout): a job not yet taken by a worker is not applied. */
static PyObject *op_throw(AsyncOpObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (op->submitted)
        ds_job_cancel(&op->job);
    if (op->fut_iter) {
        PyObject *meth = PyObject_GetAttrString(op->fut_iter, "throw");
        PyObject *r = meth ? PyObject_Vectorcall(meth, args, (size_t)nargs, NULL) : NULL;
        Py_XDECREF(meth);
        return r;
    }
    return ds_async_throw_args(args, nargs);
}

PyObject *ds_async_throw_args(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    PyObject *typ = args[0];
    if (PyExceptionInstance_Check(typ))
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    else if (PyExceptionClass_Check(typ))
        PyErr_SetObject(typ, nargs > 1 ? args[1] : Py_None);
    else
        PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
    return NULL;
}

static PyObject *op_close(AsyncOpObject *op, PyObject *unused)
{
    (void)unused;
    if (op->submitted)
        ds_job_cancel(&op->job);
    Py_RETURN_NONE;
}

static PyObject *op_done(AsyncOpObject *op, PyObject *unused)
{
    (void)unused;
    if (op->state == DS_OP_READY)
        Py_RETURN_TRUE;
    if (op->fut)
        return PyObject_CallMethodNoArgs(op->fut, op->db->state->str_done);
    Py_RETURN_FALSE;
}

static PyObject *op_repr(AsyncOpObject *op)
{
    static const char *const names[] = {"get", "contains", "batch_get", "write", "close"};
    static const char *const states[] = {"ready", "encoding", "waiting"};
    return PyUnicode_FromFormat("<dictsqlite async %s (%s)>", names[op->what],
                                states[op->state]);
}

static int op_traverse(AsyncOpObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(op->result);
    Py_VISIT(op->exc);
    Py_VISIT(op->fut);
    Py_VISIT(op->fut_iter);
    Py_VISIT(op->loop_queue);
    Py_VISIT((PyObject *)op->db);
    Py_VISIT(op->key);
    Py_VISIT(op->pairs);
    Py_VISIT(op->partial);
    return 0;
}

static int op_clear(AsyncOpObject *op)
{
    /* never while a job runs: the job's own reference keeps op alive */
    Py_CLEAR(op->result);
    Py_CLEAR(op->exc);
    Py_CLEAR(op->fut);
    Py_CLEAR(op->fut_iter);
    Py_CLEAR(op->key);
    Py_CLEAR(op->pairs);
    Py_CLEAR(op->partial);
    return 0;
}

static void op_dealloc(AsyncOpObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    release_outputs(op);
    release_inputs(op);
    op_clear(op);
    Py_CLEAR(op->loop_queue);
    Py_CLEAR(op->db);
    tp->tp_free((PyObject *)op);
    Py_DECREF(tp);
}

static PyMethodDef op_methods[] = {
    /* send, throw and close (with __await__) make it a collections.abc.Coroutine,
     * which asyncio.create_task() requires; the stubs type it as one. */
    {"send", (PyCFunction)op_send_method, METH_O,
     "send($self, value, /)\n--\n\nAdvance the awaitable."},
    {"throw", (PyCFunction)(void (*)(void))op_throw, METH_FASTCALL,
     "throw($self, typ, val=None, tb=None, /)\n--\n\n"
     "Raise the exception at the await; a job not yet started is not applied."},
    {"close", (PyCFunction)op_close, METH_NOARGS, "close($self, /)\n--\n\nGive up waiting."},
    {"done", (PyCFunction)op_done, METH_NOARGS,
     "done($self, /)\n--\n\nTrue once the result is known."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot op_slots[] = {
    {Py_tp_doc, "The awaitable returned by the a-methods of AsyncDictSQLite."},
    {Py_am_await, op_await},
    {Py_am_send, op_send},
    {Py_tp_iter, op_await},
    {Py_tp_iternext, op_iternext},
    {Py_tp_methods, op_methods},
    {Py_tp_repr, op_repr},
    {Py_tp_traverse, op_traverse},
    {Py_tp_clear, op_clear},
    {Py_tp_dealloc, op_dealloc},
    {0, NULL},
};

PyType_Spec AsyncOp_spec = {
    .name = "dictsqlite._AsyncOp",
    .basicsize = sizeof(AsyncOpObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = op_slots,
};
