/* Records on logging.getLogger("dictsqlite"): see log.h for what is logged
 * and why nothing here runs on a per-operation path. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int interpreter_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* The logger, looked up at the first record and kept in the module state
 * (getLogger returns the same object for a name for the life of the
 * interpreter). logging is not imported here: the package imports it and
 * adds the NullHandler; a program without it in sys.modules, or an
 * interpreter tearing its modules down (a database freed at exit), gets no
 * records rather than an import or a half-dead logging module.
 * New reference; NULL without an exception when there is no logger to ask;
 * NULL with one on failure. */
static PyObject *get_logger(ds_module_state *st)
{
    if (interpreter_finalizing())
        return NULL;
    if (st->logger)
        return Py_NewRef(st->logger);
    PyObject *name = PyUnicode_FromString("logging");
    if (!name)
        return NULL;
    PyObject *logging = PyImport_GetModule(name);
    Py_DECREF(name);
    if (!logging)
        return NULL;
    PyObject *logger = PyObject_CallMethod(logging, "getLogger", "s", "dictsqlite");
    Py_DECREF(logging);
    if (!logger)
        return NULL;
    /* getLogger may have let another thread run and cache it first */
    if (!st->logger)
        st->logger = Py_NewRef(logger);
    return logger;
}

static void report_failure(const char *doing)
{
    PyObject *where = PyUnicode_FromFormat("dictsqlite: %s", doing);
    PyErr_WriteUnraisable(where);
    Py_XDECREF(where);
}

/* The logger when it is enabled for level (new reference), else NULL;
 * *failed set when asking raised (the exception is set). */
static PyObject *enabled_logger(ds_module_state *st, int level, int *failed)
{
    *failed = 0;
    PyObject *logger = get_logger(st);
    if (!logger) {
        *failed = PyErr_Occurred() != NULL;
        return NULL;
    }
    PyObject *r = PyObject_CallMethod(logger, "isEnabledFor", "i", level);
    int on = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    if (on <= 0) {
        *failed = on < 0;
        Py_DECREF(logger);
        return NULL;
    }
    return logger;
}

int ds_log_enabled(ds_module_state *st, int level)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int failed;
    PyObject *logger = enabled_logger(st, level, &failed);
    if (failed)
        report_failure("asking the 'dictsqlite' logger whether it is enabled");
    int on = logger != NULL;
    Py_XDECREF(logger);
    PyErr_Restore(t, v, tb);
    return on;
}

void ds_log(ds_module_state *st, int level, const char *fmt, ...)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int failed;
    PyObject *logger = enabled_logger(st, level, &failed);
    if (logger) {
        va_list ap;
        va_start(ap, fmt);
        PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
        va_end(ap);
        /* "%s" with the text as its argument: a '%' in a path must not be
         * taken for a format by logging */
        PyObject *r = msg ? PyObject_CallMethod(logger, "log", "isO", level, "%s", msg) : NULL;
        Py_XDECREF(msg);
        failed = r == NULL;
        Py_XDECREF(r);
        Py_DECREF(logger);
    }
    if (failed)
        report_failure("writing a record to the 'dictsqlite' logger");
    PyErr_Restore(t, v, tb);
}

double ds_log_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *ds_log_ms_since(double t0, char *buf, size_t size)
{
    snprintf(buf, size, "%.3f", (ds_log_now() - t0) * 1e3);
    return buf;
}
