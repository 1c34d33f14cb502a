/* Records on the package's logger, logging.getLogger("dictsqlite").
 *
 * What is logged (docs: the "Logging" section of the API reference):
 *   DEBUG    open and close of a database (path, modes, time taken),
 *            explicit flushes (flush(), the final flush of close(): rows
 *            committed and time taken) and recounts of a table's keys
 *            after another connection changed it;
 *   WARNING  a failed commit of the background flusher, at the first call
 *            from Python after it happened (db_ops.c: dsv4_take_flusher_errors).
 * Never logged: the commits a write makes itself (writethrough, a full
 * buffer) and the background flusher's successful commits. They are
 * per-operation events; stats() counts them (flushes, rows_flushed).
 *
 * Every function here needs the GIL: a core thread never logs (it cannot
 * take the GIL), it leaves a counter that the binding reads. A record costs
 * nothing when the logger is not enabled for its level beyond
 * Logger.isEnabledFor, which logging caches itself (and invalidates when a
 * level changes), so the binding never caches the answer. */
#ifndef DICTSQLITE_EXT_LOG_H
#define DICTSQLITE_EXT_LOG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "module_state.h"

/* logging's level numbers (logging.DEBUG, logging.WARNING): fixed by the
 * logging module's documentation. */
#define DS_LOG_DEBUG 10
#define DS_LOG_WARNING 30

/* 1 if a record of this level would be handled, else 0 (also when the
 * logging module is not loaded or the interpreter is finalizing). A failure
 * to ask is reported as unraisable and answers 0: logging never makes a
 * call fail. Any pending exception is kept. */
int ds_log_enabled(ds_module_state *st, int level);

/* Log PyUnicode_FromFormat(fmt, ...) at level, if enabled. Any pending
 * exception is kept; a failure is reported as unraisable. */
void ds_log(ds_module_state *st, int level, const char *fmt, ...);

/* A monotonic clock in seconds, for the durations the records report. */
double ds_log_now(void);

/* "12.345": milliseconds since t0 (ds_log_now), into buf, for a "%s ms"
 * in a record (PyUnicode_FromFormat has no %f). Returns buf. */
const char *ds_log_ms_since(double t0, char *buf, size_t size);

#endif
