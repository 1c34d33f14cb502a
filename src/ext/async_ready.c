/* _Ready: the awaitable of an a-method that finished in the call (a hot hit,
 * a lazy or memory write, an error found before any work). Awaiting it
 * returns, or raises, at the first step.
 *
 * It is a separate type from AsyncOp because it is the hot path: a small
 * object without GC tracking (it references a value and an exception
 * instance made before it, never itself) kept on a free list, so a hot
 * `await db.aget(k)` costs a method call, the lookup and this object. */
#include "async_op.h"

typedef struct {
    PyObject_HEAD
    PyObject *value; /* or NULL with exc */
    PyObject *exc;
} ReadyObject;

/* Objects kept for reuse: enough for bursts of gathered hits, small enough
 * not to matter. Only touched with the GIL held. */
#define READY_FREE_MAX 64
static ReadyObject *ready_free[READY_FREE_MAX];
static int ready_nfree;

PyObject *ds_async_ready_value(ds_module_state *st, PyObject *value, PyObject *exc)
{
    ReadyObject *r;
    if (ready_nfree > 0 && Py_TYPE(ready_free[ready_nfree - 1]) == st->Ready_Type) {
        r = ready_free[--ready_nfree];
        PyObject_Init((PyObject *)r, st->Ready_Type); /* counts the type too */
    } else {
        r = PyObject_New(ReadyObject, st->Ready_Type);
        if (!r) {
            Py_XDECREF(value);
            Py_XDECREF(exc);
            return NULL;
        }
    }
    r->value = value;
    r->exc = exc;
    return (PyObject *)r;
}

static void ready_dealloc(ReadyObject *r)
{
    PyTypeObject *tp = Py_TYPE(r);
    Py_CLEAR(r->value);
    Py_CLEAR(r->exc);
    if (ready_nfree < READY_FREE_MAX) {
        ready_free[ready_nfree++] = r;
    } else {
        PyObject_Free(r);
    }
    Py_DECREF(tp);
}

static PySendResult ready_send(ReadyObject *r, PyObject *arg, PyObject **result)
{
    (void)arg;
    if (r->exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(r->exc), r->exc);
        return PYGEN_ERROR;
    }
    *result = Py_NewRef(r->value ? r->value : Py_None);
    return PYGEN_RETURN;
}

static PyObject *ready_await(ReadyObject *r)
{
    return Py_NewRef((PyObject *)r);
}

static PyObject *ready_iternext(ReadyObject *r)
{
    PyObject *value = NULL;
    PySendResult res = ready_send(r, Py_None, &value); /* before value is read */
    return ds_async_stop_with(res, value);
}

static PyObject *ready_send_method(ReadyObject *r, PyObject *arg)
{
    PyObject *value = NULL;
    PySendResult res = ready_send(r, arg, &value);
    return ds_async_stop_with(res, value);
}

static PyObject *ready_throw(ReadyObject *r, PyObject *const *args, Py_ssize_t nargs)
{
    (void)r;
    return ds_async_throw_args(args, nargs);
}

static PyObject *ready_close(ReadyObject *r, PyObject *unused)
{
    (void)r;
    (void)unused;
    Py_RETURN_NONE;
}

static PyObject *ready_done(ReadyObject *r, PyObject *unused)
{
    (void)r;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *ready_repr(ReadyObject *r)
{
    return PyUnicode_FromFormat("<dictsqlite async result (%s)>", r->exc ? "error" : "ready");
}

static PyMethodDef ready_methods[] = {
    /* the same coroutine methods as _AsyncOp's (async_op.c) */
    {"send", (PyCFunction)ready_send_method, METH_O, "send($self, value, /)\n--\n\nFinish."},
    {"throw", (PyCFunction)(void (*)(void))ready_throw, METH_FASTCALL,
     "throw($self, typ, val=None, tb=None, /)\n--\n\nRaise the exception."},
    {"close", (PyCFunction)ready_close, METH_NOARGS,
     "close($self, /)\n--\n\nNothing to give up."},
    {"done", (PyCFunction)ready_done, METH_NOARGS, "done($self, /)\n--\n\nAlways True."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot ready_slots[] = {
    {Py_tp_doc, "The awaitable of an AsyncDictSQLite call that finished at once."},
    {Py_am_await, ready_await},
    {Py_am_send, ready_send},
    {Py_tp_iter, ready_await},
    {Py_tp_iternext, ready_iternext},
    {Py_tp_methods, ready_methods},
    {Py_tp_repr, ready_repr},
    {Py_tp_dealloc, ready_dealloc},
    {0, NULL},
};

PyType_Spec Ready_spec = {
    .name = "dictsqlite._Ready",
    .basicsize = sizeof(ReadyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = ready_slots,
};
