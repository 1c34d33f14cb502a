/* AsyncOp: the awaitable every a-method returns (async_op.c), and the
 * per-event-loop completion queues it comes back through (async_loop.c).
 *
 * An op is in one of three states:
 *   READY     the work was done in the call (a hot hit, a write in memory or
 *             lazy mode): awaiting it returns at the first step, no thread
 *             hop, no event-loop round trip;
 *   ENCODING  a large abatch_set still encoding its items: each step encodes
 *             one chunk and yields to the loop, so the loop stays responsive;
 *   WAITING   a job is on the worker pool (pool.h): awaiting it waits on an
 *             asyncio future of the running loop, resolved when the job comes
 *             back through that loop's completion queue.
 * A job whose op is cancelled before a worker took it is not applied
 * (ds_job_cancel); once taken it completes, and its result is dropped. */
#ifndef DICTSQLITE_EXT_ASYNC_OP_H
#define DICTSQLITE_EXT_ASYNC_OP_H

#include <stddef.h>

#include "buffer.h"
#include "codec.h"
#include "dictsqlite_v4.h"

typedef enum ds_async_what {
    DS_ASYNC_GET,
    DS_ASYNC_CONTAINS,
    DS_ASYNC_GET_MANY,
    DS_ASYNC_WRITE, /* put, put_many, delete or flush: result None */
    DS_ASYNC_CLOSE, /* a flush, then close() on the loop's thread */
} ds_async_what;

enum { DS_OP_READY, DS_OP_ENCODING, DS_OP_WAITING };

typedef struct AsyncOpObject {
    PyObject_HEAD
    ds_job job;          /* the worker pool's view: bytes only */
    int state;
    ds_async_what what;
    int submitted;       /* the job is on the pool: self holds a reference */
    PyObject *result;    /* READY: the value, or NULL with exc */
    PyObject *exc;       /* READY: an exception instance */
    PyObject *fut;       /* WAITING: the future of the loop it runs on */
    PyObject *fut_iter;  /* fut.__await__() while awaited */
    PyObject *loop_queue;
    DictSQLiteV4Object *db;
    PyObject *key;       /* the key as given (KeyError, messages), or the key list */
    ds_key k;
    ds_encoded enc;
    ds_put_item item;
    /* many keys (GET_MANY) or items (a batch put) */
    ds_key *keys;
    ds_put_item *items;
    ds_entry **outs;     /* GET_MANY: job.nkeys slots, one per key sent */
    size_t n, cap;
    /* GET_MANY: the answer list, filled where the hot tier answered, and for
     * each key sent to the pool its index in that list */
    PyObject *partial;
    size_t *sent_at;
    /* a batch put's encoded values, one arena (items point into it once
     * every item is encoded) and each item's offset */
    ds_buf arena;
    size_t *offsets;
    PyObject *pairs;     /* ENCODING: the (key, value) pairs, a list or tuple */
    size_t next;         /* ENCODING: the next pair to encode */
} AsyncOpObject;

/* The op a pool job belongs to. */
static inline AsyncOpObject *ds_async_op_of(ds_job *job)
{
    return (AsyncOpObject *)((char *)job - offsetof(AsyncOpObject, job));
}

/* A new op of db (not yet READY or WAITING). */
AsyncOpObject *ds_async_op_new(DictSQLiteV4Object *db, ds_async_what what);

/* Finish op as READY with value (stolen; NULL: take the pending exception). */
PyObject *ds_async_op_ready(AsyncOpObject *op, PyObject *value);

/* A READY op with value (stolen; NULL: take the pending exception). */
PyObject *ds_async_ready(DictSQLiteV4Object *db, PyObject *value);

/* A _Ready awaitable (async_ready.c) holding value, or exc when value is
 * NULL; both stolen. */
PyObject *ds_async_ready_value(ds_module_state *st, PyObject *value, PyObject *exc);

/* The end of one step of an awaitable: PYGEN_NEXT passes value on,
 * PYGEN_RETURN raises StopIteration(value), PYGEN_ERROR keeps the error. */
PyObject *ds_async_stop_with(PySendResult r, PyObject *value);

/* throw(typ[, val[, tb]]) of an awaitable with nothing to delegate to: raise
 * what was thrown. Always NULL. */
PyObject *ds_async_throw_args(PyObject *const *args, Py_ssize_t nargs);

/* Put op's job on db's pool (starting the pool at first use) and make op
 * WAITING on a future of the running loop; without a running loop the
 * submission waits for the op's first step. Returns op (the reference is
 * handed back) or NULL with an exception (op released). */
PyObject *ds_async_op_submit(AsyncOpObject *op);

/* The running loop's completion queue for db: db->loop_queue after it was
 * looked up for the running loop. NULL without a running loop (no
 * exception) or with an exception. */
PyObject *ds_async_loop_queue(DictSQLiteV4Object *db, PyObject **loop);

/* The loop's completion queue (a LoopQueue): push a finished job from any
 * thread, without the GIL. */
void ds_loop_queue_push(PyObject *loop_queue, ds_job *job);

/* Resolve the future of a job that came back (the loop's thread, GIL held;
 * async_op.c). Consumes the op's in-flight reference. */
void ds_async_op_complete(AsyncOpObject *op);

#endif
