/* DictSQLiteV4._rekey: the binding of ds_engine_rekey (engine.h), for the
 * command line's rekey. */
#include "db_ops.h"
#include "dictsqlite_v4.h"
#include "raw_access.h"

PyObject *dsv4_rekey(DictSQLiteV4Object *self, PyObject *new_password)
{
    CHECK_USABLE_OR_NULL(self);
    const char *pw = NULL;
    Py_ssize_t len = 0;
    if (new_password != Py_None) {
        if (!PyUnicode_Check(new_password)) {
            PyErr_Format(PyExc_TypeError, "_rekey: new_password must be a str or None, "
                         "got %.200s", Py_TYPE(new_password)->tp_name);
            return NULL;
        }
        if (!(pw = PyUnicode_AsUTF8AndSize(new_password, &len)))
            return NULL;
    }
    /* The pool's workers read (and decrypt) on their own threads. */
    if (self->pool) {
        PyErr_Format(PyExc_RuntimeError, "_rekey: the async API of %R has started its "
                     "worker threads; rekey from an instance that has not used it",
                     self->path);
        return NULL;
    }
    /* The core needs the engine to itself (reads decrypt without a lock).
     * With the GIL held no call can start; wait for those running without
     * it, as close() does, and keep the GIL until the rekey is done. */
    dsv4_wait_idle(self);
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_engine_rekey(self->engine, pw, (size_t)len, &err);
    if (st != DS_OK) {
        dsv4_raise(self, st, &err);
        return NULL;
    }
    Py_RETURN_NONE;
}
