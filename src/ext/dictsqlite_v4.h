/* The DictSQLiteV4 object and the per-namespace operations that its methods
 * (and table proxies) are built from. */
#ifndef DICTSQLITE_EXT_DICTSQLITE_V4_H
#define DICTSQLITE_EXT_DICTSQLITE_V4_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>

#include "codec.h"
#include "dictsqlite/engine.h"
#include "dictsqlite/pool.h"
#include "mapping.h"
#include "module_state.h"

typedef struct DictSQLiteV4Object {
    DS_MAPPING_HEAD            /* db == self; ns is the instance's table_name */
    ds_engine *engine;         /* set by __init__; stays allocated until dealloc
                                * (close() closes it), so a call that raced
                                * close() finds a closed engine, never freed
                                * memory */
    ds_module_state *state;
    ds_storage_mode storage;
    int closed;                /* 1 until __init__ succeeds, and after close();
                                * written with the GIL held */
    /* Calls running with the GIL released (DS_WITHOUT_GIL). close() waits
     * on idle_cond until none is left; the last one out signals it when
     * `closing` is set. */
    atomic_int in_flight;
    atomic_int closing;
    pthread_mutex_t idle_lock;
    pthread_cond_t idle_cond;
    int password_in_memory;    /* memory mode was given encryption_password */
    unsigned long fork_generation;
    /* the shared commit counter and the value this engine caught up with
     * (ds_engine_gen_pointers); gen_ptr is NULL in memory mode */
    const _Atomic uint64_t *gen_ptr;
    const _Atomic uint64_t *seen_ptr;
    size_t buffer_size;        /* effective (writethrough's default is 1) */
    /* The engine's count of failed background commits
     * (ds_engine_flusher_errors_ptr): looked at on every call, so a failure
     * is logged at the next call; the failures taken and not yet warned
     * about by flush(), with the latest error (dsv4_take_flusher_errors). */
    const _Atomic uint64_t *flusher_errors;
    uint64_t flusher_unwarned;
    ds_error flusher_last_error;
    /* The async API's worker pool (started at its first use, stopped by
     * close) and the event loop it last served with that loop's completion
     * queue (async_loop.c); NULL for the sync class. */
    ds_pool *pool;
    size_t pool_size;
    PyObject *loop;
    PyObject *loop_queue;
    PyObject *path;            /* str */
    PyObject *table_name;      /* str */
    PyObject *safe_policy;     /* SafePolicy or NULL */
    PyObject *weakreflist;
} DictSQLiteV4Object;

extern PyType_Spec DictSQLiteV4_spec;
extern PyType_Spec AsyncDictSQLite_spec;
extern PyType_Spec AsyncTableProxy_spec;
extern PyType_Spec AsyncOp_spec;
extern PyType_Spec Ready_spec;
extern PyType_Spec LoopQueue_spec;
extern PyType_Spec TableProxy_spec;
extern PyType_Spec KeyIterator_spec;

/* A lazy iterator over the keys of a DictSQLiteV4 or TableProxy. */
PyObject *ds_key_iterator_new(PyObject *mapping);

/* The last call running without the GIL wakes a waiting close(). Called
 * without the GIL: it takes only idle_lock, which nobody holds while waiting
 * for the GIL. */
static inline void dsv4_unpin(DictSQLiteV4Object *self)
{
    if (atomic_fetch_sub(&self->in_flight, 1) == 1 && atomic_load(&self->closing)) {
        pthread_mutex_lock(&self->idle_lock);
        pthread_cond_broadcast(&self->idle_cond);
        pthread_mutex_unlock(&self->idle_lock);
    }
}

/* The one place the binding releases the GIL (tests/python/test_gil_release.py
 * checks that no other exists): st = call, run without the GIL.
 *
 * pin is the object whose engine the call uses: the call is counted in its
 * in_flight, so close() waits for it, and it does not run at all if the
 * object was closed meanwhile (st = DS_CLOSED; err is left untouched).
 * pin is NULL only where no other thread can be using the engine: while
 * __init__ opens it, and inside close() once it has waited. */
#define DS_WITHOUT_GIL(pin, st, call)                                          \
    do {                                                                       \
        DictSQLiteV4Object *pin_ = (pin);                                      \
        if (pin_) {                                                            \
            if (DS_UNLIKELY(pin_->closed)) {                                   \
                (st) = DS_CLOSED;                                              \
                break;                                                         \
            }                                                                  \
            atomic_fetch_add(&pin_->in_flight, 1);                             \
        }                                                                      \
        Py_BEGIN_ALLOW_THREADS                                                 \
        (st) = (call);                                                         \
        if (pin_)                                                              \
            dsv4_unpin(pin_);                                                  \
        Py_END_ALLOW_THREADS                                                   \
    } while (0)

/* Wait until no call of self is running without the GIL (in_flight is 0).
 * close() calls it without the GIL; _rekey with it held, which cannot
 * deadlock: those calls finish their core work and signal without the GIL.
 * Returns DS_OK. */
ds_status dsv4_wait_idle(DictSQLiteV4Object *self);

/* Report the pending exception as Python reports errors in __del__
 * ("Exception ignored in: ..."), naming what was being done and the path.
 * Never the object itself: its repr shows values (and at dealloc it is
 * being freed). */
void dsv4_write_unraisable(DictSQLiteV4Object *self, const char *doing);

/* The members DictSQLiteV4 and AsyncDictSQLite share (dictsqlite_v4.c). */
struct ds_options_signature;
int dsv4_init_from(DictSQLiteV4Object *self, const struct ds_options_signature *sig,
                   PyObject *args, PyObject *kwds);
/* Flush and close the engine (its memory stays until dealloc); force: at
 * dealloc, close even if the flush fails. 0, or -1 with the exception. */
int dsv4_close_engine(DictSQLiteV4Object *self, int force);
PyObject *dsv4_new(PyTypeObject *type, PyObject *args, PyObject *kwds);
void dsv4_dealloc(DictSQLiteV4Object *self);
int dsv4_traverse(DictSQLiteV4Object *self, visitproc visit, void *arg);
int dsv4_clear_refs(DictSQLiteV4Object *self);
PyObject *dsv4_flush(DictSQLiteV4Object *self, PyObject *unused);
PyObject *dsv4_close(DictSQLiteV4Object *self, PyObject *unused);
PyObject *dsv4_enter(DictSQLiteV4Object *self, PyObject *unused);
PyObject *dsv4_exit(DictSQLiteV4Object *self, PyObject *args);
PyObject *dsv4_stats(DictSQLiteV4Object *self, PyObject *unused);
PyObject *dsv4_repr(DictSQLiteV4Object *self);
PyObject *dsv4_get_closed(DictSQLiteV4Object *self, void *unused);
PyObject *dsv4_get_path(DictSQLiteV4Object *self, void *unused);
PyObject *dsv4_get_table_name(DictSQLiteV4Object *self, void *unused);
PyObject *dsv4_tables(DictSQLiteV4Object *self, PyObject *unused);

/* 0 if the object may be used; else -1 with DatabaseClosedError (closed, or
 * inherited through fork()). */
int dsv4_check_usable(DictSQLiteV4Object *self);

/* Catch up with another connection's commits (SQLite work, GIL released).
 * 0 or -1 with an exception. */
int dsv4_sync(DictSQLiteV4Object *self);

/* Take the background flusher's failures from the engine (logged as a
 * WARNING, kept for flush()'s RuntimeWarning), then check the object as
 * DSV4_USABLE does: logging ran Python code. 0 or -1 with an exception. */
int dsv4_take_flusher_errors(DictSQLiteV4Object *self);

/* Every operation starts here: usable, in step with other connections to
 * the same file, and any failure of the background flusher logged (two
 * relaxed/acquire loads when nothing happened). */
static inline int DSV4_USABLE(DictSQLiteV4Object *self)
{
    if (DS_LIKELY(!self->closed && self->fork_generation == ds_fork_generation)) {
        if (DS_UNLIKELY(atomic_load_explicit(self->flusher_errors, memory_order_relaxed)))
            return dsv4_take_flusher_errors(self);
        if (DS_UNLIKELY(self->gen_ptr &&
                        atomic_load_explicit(self->gen_ptr, memory_order_acquire) !=
                            atomic_load_explicit(self->seen_ptr, memory_order_acquire)))
            return dsv4_sync(self);
        return 0;
    }
    return dsv4_check_usable(self);
}

#define CHECK_USABLE_OR_NULL(self)                                             \
    do {                                                                       \
        if (DSV4_USABLE(self) < 0)                                             \
            return NULL;                                                       \
    } while (0)

/* keys / values / items as lists, in key order */
enum { DSV4_KEYS, DSV4_VALUES, DSV4_ITEMS };
PyObject *dsv4_list(DictSQLiteV4Object *self, uint32_t ns, int what, Py_ssize_t limit);

/* Intern table name (a str) as a namespace id. 0, or -1 with an exception. */
int dsv4_namespace(DictSQLiteV4Object *self, PyObject *name, uint32_t *ns);

/* A new TableProxy for namespace ns of db (defined in table_proxy.c). */
PyObject *ds_table_proxy_new(DictSQLiteV4Object *db, uint32_t ns, PyObject *name);

/* True for DictSQLiteV4 and TableProxy objects (and subclasses). */
int dsv4_is_mapping(ds_module_state *st, PyObject *obj);

#endif
