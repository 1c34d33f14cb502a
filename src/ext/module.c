/* dictsqlite._native: module init (multi-phase, PEP 489) and per-module
 * state. The public package `dictsqlite` re-exports the types from here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <sqlite3.h>

#include "dictsqlite_v4.h"
#include "legacy_crypto.h"
#include "module_state.h"
#include "pickle_fast.h"
#include "dictsqlite/faults.h"
#include "options.h"

unsigned long ds_fork_generation = 0;

static void on_fork_child(void) { ds_fork_generation++; }

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

static struct PyModuleDef native_module;

ds_module_state *ds_get_module_state_by_type(PyTypeObject *type)
{
    PyObject *mod = PyType_GetModuleByDef(type, &native_module);
    return mod ? (ds_module_state *)PyModule_GetState(mod) : NULL;
}

static ds_module_state *state_of(PyObject *mod)
{
    return (ds_module_state *)PyModule_GetState(mod);
}

static PyObject *sqlite_version(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    return PyUnicode_FromString(sqlite3_libversion());
}

/* Registered with atexit by the package: lazy writes must survive a normal
 * interpreter exit even when the program never calls close(). Errors are
 * printed, not raised, so one broken database does not stop the others from
 * being flushed. */
static PyObject *flush_all(PyObject *mod, PyObject *unused)
{
    (void)unused;
    ds_module_state *st = state_of(mod);
    PyObject *values = PyObject_CallMethod(st->live_instances, "values", NULL);
    PyObject *snapshot = values ? PySequence_List(values) : NULL;
    Py_XDECREF(values);
    if (!snapshot)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(snapshot); i++) {
        DictSQLiteV4Object *db = (DictSQLiteV4Object *)PyList_GET_ITEM(snapshot, i);
        if (db->closed || db->fork_generation != ds_fork_generation)
            continue;
        PyObject *r = PyObject_CallMethod((PyObject *)db, "flush", NULL);
        if (!r)
            dsv4_write_unraisable(db, "flushing at interpreter exit");
        Py_XDECREF(r);
    }
    Py_DECREF(snapshot);
    Py_RETURN_NONE;
}

/* Test hook: the fast pickle writer's output, or None where it gives up. */
static PyObject *pickle_dumps_fast(PyObject *mod, PyObject *args)
{
    PyObject *value;
    int protocol = state_of(mod)->pickle_protocol_num;
    if (!PyArg_ParseTuple(args, "O|i:_pickle_dumps_fast", &value, &protocol))
        return NULL;
    ds_buf buf;
    ds_buf_init(&buf);
    int rc = ds_pickle_fast_dumps(value, protocol, &buf);
    PyObject *r = rc == 0   ? PyBytes_FromStringAndSize(buf.data, (Py_ssize_t)buf.len)
                  : rc == 1 ? Py_NewRef(Py_None)
                            : NULL;
    ds_buf_release(&buf);
    return r;
}

/* Test hook: (value,) as the fast pickle reader reads data, or None where
 * it gives up (a 1-tuple, since None is a value it can read). */
static PyObject *pickle_loads_fast(PyObject *mod, PyObject *data)
{
    (void)mod;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "_pickle_loads_fast takes bytes");
        return NULL;
    }
    PyObject *v = ds_pickle_fast_loads(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
    if (!v) /* the reader never leaves an exception set */
        Py_RETURN_NONE;
    PyObject *r = PyTuple_Pack(1, v);
    Py_DECREF(v);
    return r;
}

#ifdef DS_FAULTS
/* Test builds only (include/dictsqlite/faults.h). */
static int fault_kind(PyObject *name, ds_fault_kind *out)
{
    static const char *const kinds[] = {"step", "prepare", "evp", NULL};
    int i = ds_parse_choice("kind", name, kinds, "'step', 'prepare', 'evp'");
    if (i < 0)
        return -1;
    *out = (ds_fault_kind)i;
    return 0;
}

static PyObject *inject_fault(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *name;
    long n;
    ds_fault_kind kind;
    if (!PyArg_ParseTuple(args, "Ol:_inject_fault", &name, &n) || fault_kind(name, &kind) < 0)
        return NULL;
    if (n < 0)
        return PyErr_Format(PyExc_ValueError,
                            "_inject_fault: n must be >= 0 (0 disarms), not %ld", n);
    ds_fault_arm(kind, n);
    Py_RETURN_NONE;
}

static PyObject *fault_count(PyObject *mod, PyObject *name)
{
    (void)mod;
    ds_fault_kind kind;
    if (fault_kind(name, &kind) < 0)
        return NULL;
    return PyLong_FromLong(ds_fault_count(kind));
}
#endif

static PyMethodDef native_methods[] = {
#ifdef DS_FAULTS
    /* Docstrings start with a __text_signature__ line, as the types' do. */
    {"_inject_fault", inject_fault, METH_VARARGS,
     "_inject_fault($module, kind, n, /)\n--\n\n"
     "The nth 'step', 'prepare' or 'evp' call from now fails (n = 0 disarms). "
     "Fault-injection builds only."},
    {"_fault_count", fault_count, METH_O,
     "_fault_count($module, kind, /)\n--\n\n"
     "Calls of kind since it was armed. Fault-injection builds only."},
#endif
    {"_pickle_dumps_fast", pickle_dumps_fast, METH_VARARGS,
     "_pickle_dumps_fast($module, value, protocol=..., /)\n--\n\n"
     "bytes, or None where the fast writer gives up (tests only). protocol "
     "defaults to pickle.HIGHEST_PROTOCOL."},
    {"_pickle_loads_fast", pickle_loads_fast, METH_O,
     "_pickle_loads_fast($module, data, /)\n--\n\n"
     "(value,), or None where the fast reader gives up (tests only)."},
    {"_legacy_aes256gcm_decrypt", ds_legacy_aes256gcm_decrypt, METH_VARARGS,
     DS_LEGACY_DECRYPT_DOC},
    {"_flush_all", flush_all, METH_NOARGS,
     "_flush_all($module, /)\n--\n\nFlush every open database (run at interpreter exit)."},
    {"sqlite_version", sqlite_version, METH_NOARGS,
     "sqlite_version($module, /)\n--\n\n"
     "The version of the SQLite library the extension runs on."},
    {NULL, NULL, 0, NULL},
};

static int add_exception(PyObject *mod, PyObject **slot, const char *name,
                         const char *doc, PyObject *base)
{
    *slot = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    if (!*slot)
        return -1;
    const char *short_name = strrchr(name, '.') + 1;
    return PyModule_AddObjectRef(mod, short_name, *slot);
}

static int native_exec(PyObject *mod)
{
    ds_module_state *st = state_of(mod);
    pthread_once(&atfork_once, register_atfork);

    st->DictSQLiteV4_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &DictSQLiteV4_spec, NULL);
    if (!st->DictSQLiteV4_Type || PyModule_AddType(mod, st->DictSQLiteV4_Type) < 0)
        return -1;
    st->TableProxy_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &TableProxy_spec, NULL);
    if (!st->TableProxy_Type || PyModule_AddType(mod, st->TableProxy_Type) < 0)
        return -1;
    st->KeyIterator_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &KeyIterator_spec, NULL);
    if (!st->KeyIterator_Type)
        return -1;
    st->AsyncDictSQLite_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &AsyncDictSQLite_spec, NULL);
    if (!st->AsyncDictSQLite_Type || PyModule_AddType(mod, st->AsyncDictSQLite_Type) < 0)
        return -1;
    st->AsyncTableProxy_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &AsyncTableProxy_spec, NULL);
    if (!st->AsyncTableProxy_Type || PyModule_AddType(mod, st->AsyncTableProxy_Type) < 0)
        return -1;
    st->AsyncOp_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &AsyncOp_spec, NULL);
    if (!st->AsyncOp_Type)
        return -1;
    st->Ready_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &Ready_spec, NULL);
    if (!st->Ready_Type)
        return -1;
    st->LoopQueue_Type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &LoopQueue_spec, NULL);
    if (!st->LoopQueue_Type || PyModule_AddObjectRef(mod, "_LoopQueue", (PyObject *)st->LoopQueue_Type) < 0)
        return -1;
    if (add_exception(mod, &st->DatabaseClosedError, "dictsqlite.DatabaseClosedError",
                      "Raised when a closed database (or one inherited through fork()) "
                      "is used.", PyExc_ValueError) < 0)
        return -1;
    if (add_exception(mod, &st->CorruptValueError, "dictsqlite.CorruptValueError",
                      "Raised when a stored value cannot be decoded; the message names "
                      "the key.", PyExc_ValueError) < 0)
        return -1;
    if (add_exception(mod, &st->DatabaseLockedError, "dictsqlite.DatabaseLockedError",
                      "Raised when another connection held the database's write lock "
                      "for longer than the timeout option; nothing was changed. "
                      "errno is EBUSY.", PyExc_OSError) < 0)
        return -1;
    if (add_exception(mod, &st->ReadOnlyError, "dictsqlite.ReadOnlyError",
                      "Raised by a write to a database opened with read_only=True, "
                      "or to a file this process may not write.", PyExc_OSError) < 0)
        return -1;

    if (!(st->str_create_future = PyUnicode_InternFromString("create_future")) ||
        !(st->str_done = PyUnicode_InternFromString("done")) ||
        !(st->str_set_result = PyUnicode_InternFromString("set_result")) ||
        !(st->str_set_exception = PyUnicode_InternFromString("set_exception")))
        return -1;

    PyObject *weakref = PyImport_ImportModule("weakref");
    if (!weakref)
        return -1;
    /* keyed by id(): instances are unhashable, as dicts are */
    st->live_instances = PyObject_CallMethod(weakref, "WeakValueDictionary", NULL);
    Py_DECREF(weakref);
    if (!st->live_instances)
        return -1;

    PyObject *pickle = PyImport_ImportModule("pickle");
    if (!pickle)
        return -1;
    st->pickle_dumps = PyObject_GetAttrString(pickle, "dumps");
    st->pickle_loads = PyObject_GetAttrString(pickle, "loads");
    st->pickle_protocol = PyObject_GetAttrString(pickle, "HIGHEST_PROTOCOL");
    Py_DECREF(pickle);
    if (!st->pickle_dumps || !st->pickle_loads || !st->pickle_protocol)
        return -1;
    long protocol = PyLong_AsLong(st->pickle_protocol);
    if (protocol == -1 && PyErr_Occurred())
        return -1;
    /* any other value just keeps pickle.dumps */
    st->pickle_protocol_num = protocol >= 0 && protocol <= 5 ? (int)protocol : -1;
    return 0;
}

static int native_traverse(PyObject *mod, visitproc visit, void *arg)
{
    ds_module_state *st = state_of(mod);
    Py_VISIT(st->DictSQLiteV4_Type);
    Py_VISIT(st->TableProxy_Type);
    Py_VISIT(st->KeyIterator_Type);
    Py_VISIT(st->AsyncDictSQLite_Type);
    Py_VISIT(st->AsyncTableProxy_Type);
    Py_VISIT(st->AsyncOp_Type);
    Py_VISIT(st->Ready_Type);
    Py_VISIT(st->LoopQueue_Type);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->queue_for);
    Py_VISIT(st->str_create_future);
    Py_VISIT(st->str_done);
    Py_VISIT(st->str_set_result);
    Py_VISIT(st->str_set_exception);
    Py_VISIT(st->DatabaseClosedError);
    Py_VISIT(st->CorruptValueError);
    Py_VISIT(st->DatabaseLockedError);
    Py_VISIT(st->ReadOnlyError);
    Py_VISIT(st->pickle_dumps);
    Py_VISIT(st->pickle_loads);
    Py_VISIT(st->pickle_protocol);
    Py_VISIT(st->safe_loads);
    Py_VISIT(st->logger);
    Py_VISIT(st->live_instances);
    return 0;
}

static int native_clear(PyObject *mod)
{
    ds_module_state *st = state_of(mod);
    Py_CLEAR(st->DictSQLiteV4_Type);
    Py_CLEAR(st->TableProxy_Type);
    Py_CLEAR(st->KeyIterator_Type);
    Py_CLEAR(st->AsyncDictSQLite_Type);
    Py_CLEAR(st->AsyncTableProxy_Type);
    Py_CLEAR(st->AsyncOp_Type);
    Py_CLEAR(st->Ready_Type);
    Py_CLEAR(st->LoopQueue_Type);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->queue_for);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_done);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_set_exception);
    Py_CLEAR(st->DatabaseClosedError);
    Py_CLEAR(st->CorruptValueError);
    Py_CLEAR(st->DatabaseLockedError);
    Py_CLEAR(st->ReadOnlyError);
    Py_CLEAR(st->pickle_dumps);
    Py_CLEAR(st->pickle_loads);
    Py_CLEAR(st->pickle_protocol);
    Py_CLEAR(st->safe_loads);
    Py_CLEAR(st->logger);
    Py_CLEAR(st->live_instances);
    return 0;
}

static void native_free(void *mod) { native_clear((PyObject *)mod); }

static PyModuleDef_Slot native_slots[] = {
    {Py_mod_exec, native_exec},
    {0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dictsqlite._native",
    .m_doc = "The C core of dictsqlite. Use the `dictsqlite` package instead.",
    .m_size = sizeof(ds_module_state),
    .m_methods = native_methods,
    .m_slots = native_slots,
    .m_traverse = native_traverse,
    .m_clear = native_clear,
    .m_free = native_free,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModuleDef_Init(&native_module); }
