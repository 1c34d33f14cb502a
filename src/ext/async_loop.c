/* LoopQueue: one event loop's completion queue (a ds_cq, completion.h) and
 * how an instance finds the queue of the loop it is called from.
 *
 * Workers push finished jobs without the GIL; the queue's eventfd becomes
 * readable once per batch, and the loop, which watches it with add_reader
 * (python/dictsqlite/_loops.py registers it, or runs a waker thread where a
 * loop has no add_reader), calls _drain: one callback resolves every future
 * that completed since the last one. */
#include "async_op.h"

#include <stddef.h>

#include "dictsqlite/completion.h"

typedef struct {
    PyObject_HEAD
    ds_cq *cq;
} LoopQueueObject;

static PyObject *LoopQueue_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "_LoopQueue() takes no arguments");
        return NULL;
    }
    LoopQueueObject *self = (LoopQueueObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    ds_error err;
    if (ds_cq_new(&self->cq, &err) != DS_OK) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void complete_all(ds_job *list)
{
    while (list) {
        ds_job *job = list;
        list = job->next;
        ds_async_op_complete(ds_async_op_of(job));
    }
}

static void LoopQueue_dealloc(LoopQueueObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->cq) {
        /* Results that arrived for a loop that is gone: their futures are
         * skipped by complete (a closed loop's future is never called). */
        complete_all(ds_cq_take(self->cq));
        ds_cq_free(self->cq);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *LoopQueue_fileno(LoopQueueObject *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromLong(ds_cq_fd(self->cq));
}

static PyObject *LoopQueue_drain(LoopQueueObject *self, PyObject *unused)
{
    (void)unused;
    complete_all(ds_cq_take(self->cq));
    Py_RETURN_NONE;
}

static PyObject *LoopQueue_stats(LoopQueueObject *self, PyObject *unused)
{
    (void)unused;
    uint64_t signals, jobs;
    ds_cq_stats(self->cq, &signals, &jobs);
    return Py_BuildValue("{sKsK}", "wakeups", (unsigned long long)signals, "completions",
                         (unsigned long long)jobs);
}

void ds_loop_queue_push(PyObject *loop_queue, ds_job *job)
{
    ds_cq_push(((LoopQueueObject *)loop_queue)->cq, job);
}

static PyMethodDef LoopQueue_methods[] = {
    {"fileno", (PyCFunction)LoopQueue_fileno, METH_NOARGS,
     "fileno($self, /)\n--\n\nThe eventfd that is readable while results wait."},
    {"_drain", (PyCFunction)LoopQueue_drain, METH_NOARGS,
     "_drain($self, /)\n--\n\n"
     "Resolve every future whose job completed (the loop's reader callback)."},
    {"stats", (PyCFunction)LoopQueue_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nWakeups (one per batch) and completions so far."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot LoopQueue_slots[] = {
    {Py_tp_doc, "_LoopQueue()\n--\n\nThe completion queue of one event loop (internal)."},
    {Py_tp_new, LoopQueue_new},
    {Py_tp_dealloc, LoopQueue_dealloc},
    {Py_tp_methods, LoopQueue_methods},
    {0, NULL},
};

PyType_Spec LoopQueue_spec = {
    .name = "dictsqlite._LoopQueue",
    .basicsize = sizeof(LoopQueueObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = LoopQueue_slots,
};

/* ---- finding the running loop's queue ---------------------------------- */

/* A callable looked up once: module.name. */
static PyObject *lookup(PyObject **slot, const char *module, const char *name)
{
    if (!*slot) {
        PyObject *mod = PyImport_ImportModule(module);
        if (!mod)
            return NULL;
        *slot = PyObject_GetAttrString(mod, name);
        Py_DECREF(mod);
    }
    return *slot;
}

PyObject *ds_async_loop_queue(DictSQLiteV4Object *db, PyObject **loop_out)
{
    ds_module_state *st = db->state;
    *loop_out = NULL;
    PyObject *get = lookup(&st->get_running_loop, "asyncio.events", "_get_running_loop");
    if (!get)
        return NULL;
    PyObject *loop = PyObject_CallNoArgs(get);
    if (!loop)
        return NULL;
    if (loop == Py_None) {
        Py_DECREF(loop);
        return NULL;
    }
    /* one lookup per change of loop, not per call */
    if (loop != db->loop) {
        PyObject *queue_for = lookup(&st->queue_for, "dictsqlite._loops", "queue_for");
        PyObject *q = queue_for ? PyObject_CallOneArg(queue_for, loop) : NULL;
        if (!q) {
            Py_DECREF(loop);
            return NULL;
        }
        if (!PyObject_TypeCheck(q, st->LoopQueue_Type)) {
            PyErr_SetString(PyExc_TypeError, "dictsqlite._loops.queue_for returned no _LoopQueue");
            Py_DECREF(q);
            Py_DECREF(loop);
            return NULL;
        }
        Py_XSETREF(db->loop_queue, q);
        Py_XSETREF(db->loop, Py_NewRef(loop));
    }
    *loop_out = loop;
    return db->loop_queue;
}
