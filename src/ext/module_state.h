/* Per-module state of dictsqlite._native (multi-phase init, PEP 489): the
 * types, exceptions and the Python callables the codecs need. Instances keep
 * a pointer to it so hot paths skip PyType_GetModuleState. */
#ifndef DICTSQLITE_EXT_MODULE_STATE_H
#define DICTSQLITE_EXT_MODULE_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct ds_module_state {
    PyTypeObject *DictSQLiteV4_Type;
    PyTypeObject *TableProxy_Type;
    PyTypeObject *KeyIterator_Type;
    PyTypeObject *AsyncDictSQLite_Type;
    PyTypeObject *AsyncTableProxy_Type;
    PyTypeObject *AsyncOp_Type;
    PyTypeObject *Ready_Type;
    PyTypeObject *LoopQueue_Type;
    PyObject *get_running_loop;    /* asyncio.events._get_running_loop, looked up at first use */
    PyObject *queue_for;           /* dictsqlite._loops.queue_for, looked up at first use */
    /* method names the async path calls per request, interned once */
    PyObject *str_create_future, *str_done, *str_set_result, *str_set_exception;
    PyObject *DatabaseClosedError; /* ValueError subclass */
    PyObject *CorruptValueError;   /* ValueError subclass */
    PyObject *DatabaseLockedError; /* OSError subclass, errno EBUSY */
    PyObject *ReadOnlyError;       /* OSError subclass, errno EROFS */
    PyObject *pickle_dumps;        /* pickle.dumps */
    PyObject *pickle_loads;        /* pickle.loads */
    PyObject *pickle_protocol;     /* int: the protocol new pickles use */
    int pickle_protocol_num;       /* the same, as a C int for the fast writer */
    PyObject *safe_loads;          /* unused yet: safe_pickle functions are looked up per call */
    PyObject *logger;              /* logging.getLogger("dictsqlite"), looked up at first use (log.c) */
    PyObject *live_instances;      /* weakref.WeakValueDictionary id -> open instance, flushed at exit */
} ds_module_state;

ds_module_state *ds_get_module_state_by_type(PyTypeObject *type);

/* Set by the pthread_atfork child handler: an object whose fork_generation
 * differs was opened by the parent and must not touch its handles. Reading a
 * counter is cheaper than getpid() on every call. */
extern unsigned long ds_fork_generation;

#endif
