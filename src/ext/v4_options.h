/* The constructors' options (DictSQLiteV4, AsyncDictSQLite), declared once
 * per class (v4_options.c):
 * each has a name, a position (or none: keyword-only), a default and a
 * parser that checks its type, range or choices with an error naming it.
 * Parsing touches nothing on disk, so a bad option never creates a file. */
#ifndef DICTSQLITE_EXT_V4_OPTIONS_H
#define DICTSQLITE_EXT_V4_OPTIONS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "codec.h"
#include "dictsqlite/engine.h"

typedef struct ds_v4_options {
    /* owned references, NULL when not given */
    PyObject *path;            /* str (os.fspath'ed, bytes decoded) */
    PyObject *table_name;      /* str; "main" by default */
    PyObject *password;        /* str or bytes, or NULL */
    PyObject *allowed_modules; /* safe_pickle_allowed_modules as given */
    PyObject *safe_policy;     /* SafePolicy when enable_safe_pickle, else NULL */
    long long hot_capacity, buffer_size, pool_size, flush_interval_ms, max_pending_bytes;
    int enable_async, enable_safe_pickle, read_only;
    int persist, storage, encoding, table_mode, synchronous; /* choice values */
    double timeout;            /* seconds */
} ds_v4_options;

/* The parameter table of one class: DictSQLiteV4's or AsyncDictSQLite's
 * (the Rust package's positional order and defaults for each). */
typedef struct ds_options_signature ds_options_signature;
extern const ds_options_signature DS_V4_SIGNATURE;
extern const ds_options_signature DS_ASYNC_SIGNATURE;

/* Parse Class(*args, **kwds) into out (zeroed first). 0, or -1 with
 * TypeError/ValueError naming the argument; out holds no references then. */
int ds_options_parse(const ds_options_signature *sig, PyObject *args, PyObject *kwds,
                     ds_v4_options *out);

/* Fill cfg from parsed options. cfg borrows strings from opts, which must
 * outlive it. 0, or -1 with an exception. */
int ds_v4_options_engine_config(const ds_v4_options *opts, ds_engine_config *cfg);

void ds_v4_options_release(ds_v4_options *opts);

#endif
