/* The DictSQLiteV4 constructor's option table (v4_options.h).
 *
 * The first thirteen options are the Rust package's, in its positional
 * order; ours come after them and are keyword-only. Arguments are matched to
 * the table by hand rather than with PyArg_ParseTupleAndKeywords so that the
 * table stays the single declaration: names, positions, defaults and checks
 * all live in one row. */
#include "v4_options.h"

#include <math.h>
#include <stddef.h>

#include "options.h"

typedef struct option option;
/* Check value and store it in field: 0, or -1 with an exception naming o. */
typedef int (*option_parser)(const option *o, PyObject *value, void *field);

struct option {
    const char *name;
    int positional;
    option_parser parse;
    size_t offset;            /* of the field in ds_v4_options */
    long long min, max;       /* parse_count */
    long long default_int;    /* counts, bools and choices (a value) */
    double default_real;      /* parse_seconds */
    const char *const *choices; /* parse_choice: names, NULL-terminated */
    const int *choice_values;
    const char *choices_text;
};

static int type_error(const option *o, const char *expected, PyObject *value)
{
    PyErr_Format(PyExc_TypeError, "%s must be %s, got %.200s", o->name, expected,
                 Py_TYPE(value)->tp_name);
    return -1;
}

/* An int in [min, max]. bool is refused: hot_capacity=True is a mistake. */
static int parse_count(const option *o, PyObject *value, void *field)
{
    if (PyBool_Check(value) || !PyIndex_Check(value))
        return type_error(o, "an int", value);
    PyObject *n = PyNumber_Index(value);
    if (!n)
        return -1;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(n, &overflow);
    Py_DECREF(n);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow || x < o->min || x > o->max) {
        PyErr_Format(PyExc_ValueError, "%s must be between %lld and %lld, got %R", o->name,
                     o->min, o->max, value);
        return -1;
    }
    *(long long *)field = x;
    return 0;
}

/* True/False (or the ints 0 and 1). A str is refused: "no" is truthy. */
static int parse_bool(const option *o, PyObject *value, void *field)
{
    if (PyBool_Check(value)) {
        *(int *)field = value == Py_True;
        return 0;
    }
    if (PyLong_CheckExact(value)) {
        long x = PyLong_AsLong(value);
        if (x == 0 || x == 1) {
            *(int *)field = (int)x;
            return 0;
        }
    }
    if (PyLong_Check(value)) {
        PyErr_Format(PyExc_ValueError, "%s must be True or False, got %R", o->name, value);
        return -1;
    }
    return type_error(o, "True or False", value);
}

static int parse_choice(const option *o, PyObject *value, void *field)
{
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, one of %s; got %.200s", o->name,
                     o->choices_text, Py_TYPE(value)->tp_name);
        return -1;
    }
    int i = ds_parse_choice(o->name, value, o->choices, o->choices_text);
    if (i < 0)
        return -1;
    *(int *)field = o->choice_values ? o->choice_values[i] : i;
    return 0;
}

static int parse_storage(const option *o, PyObject *value, void *field)
{
    if (!PyUnicode_Check(value))
        return type_error(o, "a str ('pickle', 'json', 'jsonb' or 'bytes')", value);
    ds_storage_mode mode;
    if (ds_storage_mode_from_name(value, &mode) < 0)
        return -1;
    *(int *)field = (int)mode;
    return 0;
}

static int parse_str(const option *o, PyObject *value, void *field)
{
    if (!PyUnicode_Check(value))
        return type_error(o, "a str", value);
    *(PyObject **)field = Py_NewRef(value);
    return 0;
}

/* A str, bytes or os.PathLike naming a file, or ":memory:". */
static int parse_path(const option *o, PyObject *value, void *field)
{
    PyObject *path = PyOS_FSPath(value);
    if (!path) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            return type_error(o, "a str, bytes or os.PathLike", value);
        }
        return -1;
    }
    if (PyBytes_Check(path))
        Py_SETREF(path, PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(path),
                                                         PyBytes_GET_SIZE(path)));
    if (!path)
        return -1;
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(path, &len);
    if (!utf8) {
        Py_DECREF(path);
        return -1;
    }
    /* SQLite would quietly open a temporary database for "" */
    const char *problem = len == 0 ? "must name a file (or be ':memory:')"
                          : strlen(utf8) != (size_t)len ? "must not contain NUL characters"
                                                        : NULL;
    if (problem) {
        PyErr_Format(PyExc_ValueError, "%s %s, got %R", o->name, problem, value);
        Py_DECREF(path);
        return -1;
    }
    *(PyObject **)field = path;
    return 0;
}

static int parse_password(const option *o, PyObject *value, void *field)
{
    if (value == Py_None)
        return 0;
    if (!PyUnicode_Check(value) && !PyBytes_Check(value))
        return type_error(o, "a str or bytes (or None)", value);
    if ((PyUnicode_Check(value) ? PyUnicode_GET_LENGTH(value) : PyBytes_GET_SIZE(value)) == 0) {
        PyErr_Format(PyExc_ValueError, "%s must not be empty", o->name);
        return -1;
    }
    *(PyObject **)field = Py_NewRef(value);
    return 0;
}

/* Kept as given; safe_pickle.make_policy checks it (see parse_finish). */
static int parse_modules(const option *o, PyObject *value, void *field)
{
    (void)o;
    if (value != Py_None)
        *(PyObject **)field = Py_NewRef(value);
    return 0;
}

/* A number of seconds: int or float, finite, in [0, max]. */
static int parse_seconds(const option *o, PyObject *value, void *field)
{
    if (PyBool_Check(value) || !(PyFloat_Check(value) || PyLong_Check(value)))
        return type_error(o, "a number of seconds (int or float)", value);
    double x = PyFloat_AsDouble(value);
    if (x == -1.0 && PyErr_Occurred())
        return -1;
    if (!isfinite(x) || x < 0 || x > (double)o->max) {
        PyErr_Format(PyExc_ValueError, "%s must be between 0 and %lld seconds, got %R",
                     o->name, o->max, value);
        return -1;
    }
    *(double *)field = x;
    return 0;
}

static const char *const persist_names[] = {"memory", "lazy", "writethrough", "write_through",
                                            NULL};
static const int persist_values[] = {DS_PERSIST_MEMORY, DS_PERSIST_LAZY,
                                     DS_PERSIST_WRITETHROUGH, DS_PERSIST_WRITETHROUGH};
static const char *const encoding_names[] = {"utf-8", "utf8", NULL};
static const int encoding_values[] = {0, 0};
static const char *const table_mode_names[] = {"prefix", "separate", NULL};
static const char *const synchronous_names[] = {"normal", "full", NULL};

#define FIELD(f) offsetof(ds_v4_options, f)
#define CHOICES(names, values, text) .choices = names, .choice_values = values, .choices_text = text

/* SQLite takes the busy timeout in int milliseconds. */
#define MAX_TIMEOUT_S 2147483

static const option V4_OPTIONS[] = {
    {"db_path", 1, parse_path, FIELD(path)},
    {"hot_capacity", 1, parse_count, FIELD(hot_capacity), 1, (long long)1 << 40, 1000000},
    {"enable_async", 1, parse_bool, FIELD(enable_async), .default_int = 1},
    {"persist_mode", 1, parse_choice, FIELD(persist), .default_int = DS_PERSIST_WRITETHROUGH,
     CHOICES(persist_names, persist_values, "'memory', 'lazy', 'writethrough'")},
    {"storage_mode", 1, parse_storage, FIELD(storage), .default_int = DS_STORAGE_PICKLE},
    {"table_name", 1, parse_str, FIELD(table_name)},
    {"encryption_password", 1, parse_password, FIELD(password)},
    {"enable_safe_pickle", 1, parse_bool, FIELD(enable_safe_pickle)},
    {"safe_pickle_allowed_modules", 1, parse_modules, FIELD(allowed_modules)},
    {"buffer_size", 1, parse_count, FIELD(buffer_size), 1, (long long)1 << 30, 100},
    {"encoding", 1, parse_choice, FIELD(encoding),
     CHOICES(encoding_names, encoding_values, "'utf-8' (keys are stored as UTF-8 text)")},
    {"table_mode", 1, parse_choice, FIELD(table_mode),
     CHOICES(table_mode_names, NULL, "'prefix', 'separate'")},
    {"pool_size", 1, parse_count, FIELD(pool_size), 1, 1 << 16, 20},
    /* ours: keyword-only */
    {"flush_interval_ms", 0, parse_count, FIELD(flush_interval_ms), 1, 86400000, 1000},
    {"synchronous", 0, parse_choice, FIELD(synchronous),
     CHOICES(synchronous_names, NULL, "'normal', 'full'")},
    {"read_only", 0, parse_bool, FIELD(read_only)},
    {"timeout", 0, parse_seconds, FIELD(timeout), 0, MAX_TIMEOUT_S, .default_real = 5.0},
    {"max_pending_bytes", 0, parse_count, FIELD(max_pending_bytes), 1, (long long)1 << 50,
     (long long)DS_ENGINE_DEFAULT_PENDING_BYTES},
};

/* AsyncDictSQLite: the Rust package's seven positional parameters (its
 * defaults: lazy, and capacity for hot_capacity), then the sync class's
 * options that apply, keyword-only. */
static const option ASYNC_OPTIONS[] = {
    {"db_path", 1, parse_path, FIELD(path)},
    {"capacity", 1, parse_count, FIELD(hot_capacity), 1, (long long)1 << 40, 1000000},
    {"persist_mode", 1, parse_choice, FIELD(persist), .default_int = DS_PERSIST_LAZY,
     CHOICES(persist_names, persist_values, "'memory', 'lazy', 'writethrough'")},
    {"storage_mode", 1, parse_storage, FIELD(storage), .default_int = DS_STORAGE_PICKLE},
    {"table_name", 1, parse_str, FIELD(table_name)},
    {"buffer_size", 1, parse_count, FIELD(buffer_size), 1, (long long)1 << 30, 100},
    {"table_mode", 1, parse_choice, FIELD(table_mode),
     CHOICES(table_mode_names, NULL, "'prefix', 'separate'")},
    /* ours: keyword-only */
    {"hot_capacity", 0, parse_count, FIELD(hot_capacity), 1, (long long)1 << 40, 1000000},
    {"encryption_password", 0, parse_password, FIELD(password)},
    {"enable_safe_pickle", 0, parse_bool, FIELD(enable_safe_pickle)},
    {"safe_pickle_allowed_modules", 0, parse_modules, FIELD(allowed_modules)},
    {"enable_async", 0, parse_bool, FIELD(enable_async), .default_int = 1},
    {"pool_size", 0, parse_count, FIELD(pool_size), 1, 1024, 4},
    {"flush_interval_ms", 0, parse_count, FIELD(flush_interval_ms), 1, 86400000, 1000},
    {"synchronous", 0, parse_choice, FIELD(synchronous),
     CHOICES(synchronous_names, NULL, "'normal', 'full'")},
    {"read_only", 0, parse_bool, FIELD(read_only)},
    {"timeout", 0, parse_seconds, FIELD(timeout), 0, MAX_TIMEOUT_S, .default_real = 5.0},
    {"max_pending_bytes", 0, parse_count, FIELD(max_pending_bytes), 1, (long long)1 << 50,
     (long long)DS_ENGINE_DEFAULT_PENDING_BYTES},
};

struct ds_options_signature {
    const char *cls;
    const option *rows;
    Py_ssize_t n;
};

const ds_options_signature DS_V4_SIGNATURE = {
    "DictSQLiteV4", V4_OPTIONS, (Py_ssize_t)(sizeof V4_OPTIONS / sizeof V4_OPTIONS[0])};
const ds_options_signature DS_ASYNC_SIGNATURE = {
    "AsyncDictSQLite", ASYNC_OPTIONS,
    (Py_ssize_t)(sizeof ASYNC_OPTIONS / sizeof ASYNC_OPTIONS[0])};

/* the longest table: room for the arguments given */
#define MAX_OPTIONS 24

static void set_defaults(const ds_options_signature *sig, ds_v4_options *out)
{
    memset(out, 0, sizeof *out);
    for (Py_ssize_t i = 0; i < sig->n; i++) {
        const option *o = &sig->rows[i];
        void *field = (char *)out + o->offset;
        if (o->parse == parse_count)
            *(long long *)field = o->default_int;
        else if (o->parse == parse_bool || o->parse == parse_choice || o->parse == parse_storage)
            *(int *)field = (int)o->default_int;
        else if (o->parse == parse_seconds)
            *(double *)field = o->default_real;
    }
}

/* Match positional and keyword arguments to rows of the table. */
static int collect(const ds_options_signature *sig, PyObject *args, PyObject *kwds,
                   PyObject **given)
{
    const option *rows = sig->rows;
    Py_ssize_t npos = PyTuple_GET_SIZE(args), max_pos = 0;
    while (max_pos < sig->n && rows[max_pos].positional)
        max_pos++;
    if (npos > max_pos) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %zd positional arguments (%zd given); "
                     "pass the others by keyword", sig->cls, max_pos, npos);
        return -1;
    }
    for (Py_ssize_t i = 0; i < npos; i++)
        given[i] = PyTuple_GET_ITEM(args, i);
    Py_ssize_t pos = 0;
    PyObject *name, *value;
    while (kwds && PyDict_Next(kwds, &pos, &name, &value)) {
        Py_ssize_t i = 0;
        while (i < sig->n && !(PyUnicode_Check(name) &&
                               PyUnicode_CompareWithASCIIString(name, rows[i].name) == 0))
            i++;
        if (i == sig->n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R",
                         sig->cls, name);
            return -1;
        }
        if (given[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         sig->cls, rows[i].name);
            return -1;
        }
        given[i] = value;
    }
    if (!given[0]) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument 'db_path'", sig->cls);
        return -1;
    }
    /* two names of one option (capacity and hot_capacity) */
    for (Py_ssize_t i = 0; i < sig->n; i++)
        for (Py_ssize_t j = i + 1; j < sig->n; j++)
            if (given[i] && given[j] && rows[i].offset == rows[j].offset) {
                PyErr_Format(PyExc_TypeError, "%s() got both '%s' and '%s', two names of "
                             "one option; pass one", sig->cls, rows[i].name, rows[j].name);
                return -1;
            }
    return 0;
}

static PyObject *make_policy(PyObject *allowed)
{
    PyObject *mod = PyImport_ImportModule("dictsqlite.modules.safe_pickle");
    if (!mod)
        return NULL;
    /* not CallMethod("O"): a tuple argument would be taken as the args */
    PyObject *name = PyUnicode_FromString("make_policy");
    PyObject *policy = name ? PyObject_CallMethodOneArg(mod, name, allowed ? allowed : Py_None)
                            : NULL;
    Py_XDECREF(name);
    Py_DECREF(mod);
    return policy;
}

/* The checks that involve more than one option. */
static int parse_finish(ds_v4_options *out)
{
    if (out->allowed_modules && !out->enable_safe_pickle) {
        PyErr_SetString(PyExc_ValueError,
                        "safe_pickle_allowed_modules has no effect without "
                        "enable_safe_pickle=True; pass both, or neither");
        return -1;
    }
    if (out->enable_safe_pickle && !(out->safe_policy = make_policy(out->allowed_modules)))
        return -1;
    if (out->read_only && (out->persist == DS_PERSIST_MEMORY ||
                           PyUnicode_CompareWithASCIIString(out->path, ":memory:") == 0)) {
        PyErr_SetString(PyExc_ValueError,
                        "read_only=True needs an existing database file; an in-memory "
                        "database (persist_mode='memory' or ':memory:') has none");
        return -1;
    }
    if (!out->table_name && !(out->table_name = PyUnicode_FromString("main")))
        return -1;
    return 0;
}

int ds_options_parse(const ds_options_signature *sig, PyObject *args, PyObject *kwds,
                     ds_v4_options *out)
{
    set_defaults(sig, out);
    PyObject *given[MAX_OPTIONS] = {0};
    if (sig->n > MAX_OPTIONS) {
        PyErr_SetString(PyExc_SystemError, "option table longer than MAX_OPTIONS");
        return -1;
    }
    if (collect(sig, args, kwds, given) < 0)
        return -1;
    const option *rows = sig->rows;
    for (Py_ssize_t i = 0; i < sig->n; i++) {
        if (given[i] && rows[i].parse(&rows[i], given[i], (char *)out + rows[i].offset) < 0) {
            ds_v4_options_release(out);
            return -1;
        }
    }
    if (parse_finish(out) < 0) {
        ds_v4_options_release(out);
        return -1;
    }
    return 0;
}

int ds_v4_options_engine_config(const ds_v4_options *opts, ds_engine_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (!(cfg->path = PyUnicode_AsUTF8(opts->path)))
        return -1;
    cfg->persist = (ds_persist_mode)opts->persist;
    cfg->hot_capacity = (size_t)opts->hot_capacity;
    cfg->warm_bytes = 100u << 20; /* the specification's 100 MB warm tier */
    /* The Rust package's writethrough commits every write when buffer_size
     * is left at 100, its default; any other value is honoured. */
    cfg->buffer_size = cfg->persist == DS_PERSIST_WRITETHROUGH && opts->buffer_size == 100
                           ? 1
                           : (size_t)opts->buffer_size;
    cfg->enable_flusher = opts->enable_async && cfg->persist != DS_PERSIST_MEMORY &&
                          !opts->read_only &&
                          !(cfg->persist == DS_PERSIST_WRITETHROUGH && cfg->buffer_size == 1);
    cfg->flush_interval_ms = (unsigned)opts->flush_interval_ms;
    cfg->store.sync_full = opts->synchronous == 1;
    cfg->store.read_only = opts->read_only;
    /* 0 in the store selects its default, so timeout=0 becomes 1 ms: a lock
     * held by someone else fails the write at once. */
    long long ms = (long long)ceil(opts->timeout * 1000.0);
    cfg->store.busy_timeout_ms = (int)(ms < 1 ? 1 : ms > INT_MAX ? INT_MAX : ms);
    cfg->max_pending_bytes = (size_t)opts->max_pending_bytes;
    /* Memory mode takes a password for the Rust package's sake; nothing it
     * holds reaches disk, so nothing is encrypted. */
    if (opts->password && cfg->persist != DS_PERSIST_MEMORY) {
        Py_ssize_t len;
        if (PyUnicode_Check(opts->password)) {
            if (!(cfg->password = PyUnicode_AsUTF8AndSize(opts->password, &len)))
                return -1;
        } else {
            cfg->password = PyBytes_AS_STRING(opts->password);
            len = PyBytes_GET_SIZE(opts->password);
        }
        cfg->password_len = (size_t)len;
    }
    return 0;
}

void ds_v4_options_release(ds_v4_options *opts)
{
    Py_CLEAR(opts->path);
    Py_CLEAR(opts->table_name);
    Py_CLEAR(opts->password);
    Py_CLEAR(opts->allowed_modules);
    Py_CLEAR(opts->safe_policy);
}
