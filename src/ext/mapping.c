/* The dict API of DictSQLiteV4 and TableProxy, on one namespace (see
 * mapping.h): the protocol slots and methods. The operations they are built
 * from are in db_ops.c. */
#include "mapping.h"

#include "db_ops.h"
#include "log.h"
#include "scan.h"

/* The public form of CPython's positional-count check: 1 if nargs is in
 * [min, max], else 0 with the TypeError CPython would raise. */
static int check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max)
{
    if (nargs >= min && nargs <= max)
        return 1;
    if (min == max)
        PyErr_Format(PyExc_TypeError, "%s expected %zd argument%s, got %zd", name, min,
                     min == 1 ? "" : "s", nargs);
    else if (nargs < min)
        PyErr_Format(PyExc_TypeError, "%s expected at least %zd argument%s, got %zd",
                     name, min, min == 1 ? "" : "s", nargs);
    else
        PyErr_Format(PyExc_TypeError, "%s expected at most %zd argument%s, got %zd",
                     name, max, max == 1 ? "" : "s", nargs);
    return 0;
}

/* ---- lists of keys, values, items --------------------------------------- */

typedef struct {
    DictSQLiteV4Object *self;
    PyObject *list;
    int what;
} list_ctx;

static int list_row(const ds_row *row, void *ctx_)
{
    list_ctx *ctx = ctx_;
    PyObject *key = PyUnicode_DecodeUTF8(row->key, (Py_ssize_t)row->klen, "surrogatepass");
    if (!key)
        return -1;
    PyObject *item;
    if (ctx->what == DSV4_KEYS) {
        item = key;
    } else {
        PyObject *value = row->entry ? dsv4_decode_entry(ctx->self, row->entry, key)
                                     : ds_decode_value(ctx->self->state, row->codec,
                                                       row->value, row->vlen, key,
                                                       ctx->self->safe_policy);
        if (!value) {
            Py_DECREF(key);
            return -1;
        }
        if (ctx->what == DSV4_VALUES) {
            Py_DECREF(key);
            item = value;
        } else {
            item = PyTuple_Pack(2, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (!item)
                return -1;
        }
    }
    int rc = PyList_Append(ctx->list, item);
    Py_DECREF(item);
    return rc;
}

PyObject *dsv4_list(DictSQLiteV4Object *self, uint32_t ns, int what, Py_ssize_t limit)
{
    list_ctx ctx = {self, PyList_New(0), what};
    if (!ctx.list)
        return NULL;
    if (ds_scan_rows(self, ns, what != DSV4_KEYS, limit, list_row, &ctx) < 0) {
        Py_DECREF(ctx.list);
        return NULL;
    }
    return ctx.list;
}

/* ---- mapping protocol --------------------------------------------------- */

/* A DEBUG record for a recount (SQLite counted a table's rows again, as
 * another connection had changed it). */
static void log_recount(DictSQLiteV4Object *self, uint32_t ns, int64_t n, double t0)
{
    if (!ds_log_enabled(self->state, DS_LOG_DEBUG))
        return;
    size_t len;
    const char *name = ds_engine_ns_name(self->engine, ns, &len);
    PyObject *table = name ? PyUnicode_DecodeUTF8(name, (Py_ssize_t)len, "surrogatepass")
                           : Py_NewRef(Py_None);
    if (!table) { /* a record is not worth a failed len(): reported instead */
        PyObject *where = PyUnicode_FromFormat("dictsqlite: logging a recount of %R", self->path);
        PyErr_WriteUnraisable(where);
        Py_XDECREF(where);
        return;
    }
    char ms[32];
    ds_log(self->state, DS_LOG_DEBUG, "recount %R table %R: %lld keys, in %s ms", self->path,
           table, (long long)n, ds_log_ms_since(t0, ms, sizeof ms));
    Py_DECREF(table);
}

Py_ssize_t dsmap_length(PyObject *mapping)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return -1;
    int64_t n = ds_engine_len(self->engine, ns);
    if (DS_UNLIKELY(n < 0)) {
        /* another connection changed the table: count it again, once */
        ds_error err;
        ds_status st;
        double t0 = ds_log_now();
        DS_WITHOUT_GIL(self, st, ds_engine_recount(self->engine, ns, &err));
        if (st != DS_OK) {
            dsv4_raise(self, st, &err);
            return -1;
        }
        n = ds_engine_len(self->engine, ns);
        log_recount(self, ns, n, t0);
    }
    return (Py_ssize_t)n;
}

PyObject *dsmap_subscript(PyObject *mapping, PyObject *key)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return NULL;
    int missing;
    return dsv4_get(self, ns, key, &missing);
}

int dsmap_ass_subscript(PyObject *mapping, PyObject *key, PyObject *value)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return -1;
    if (value)
        return dsv4_set(self, ns, key, value);
    return dsv4_delete(self, ns, key);
}

int dsmap_sq_contains(PyObject *mapping, PyObject *key)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (DSV4_USABLE(self) < 0)
        return -1;
    return dsv4_contains(self, ns, key);
}

/* ---- methods ------------------------------------------------------------ */


PyObject *dsmap_get_method(PyObject *mapping, PyObject *const *args,
                               Py_ssize_t nargs)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (!check_nargs("get", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, ns, args[0], &missing);
    if (!v && missing) {
        PyErr_Clear();
        return Py_NewRef(nargs > 1 ? args[1] : Py_None);
    }
    return v;
}

/* set(), delete() and contains() are the [] =, del and in slots by name. */
PyObject *dsmap_set_method(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs)
{
    if (!check_nargs("set", nargs, 2, 2))
        return NULL;
    if (dsmap_ass_subscript(mapping, args[0], args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsmap_delete_method(PyObject *mapping, PyObject *key)
{
    if (dsmap_ass_subscript(mapping, key, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *dsmap_contains_method(PyObject *mapping, PyObject *key)
{
    int r = dsmap_sq_contains(mapping, key);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

PyObject *dsmap_pop(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (!check_nargs("pop", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, ns, args[0], &missing);
    if (!v) {
        if (missing && nargs > 1) {
            PyErr_Clear();
            return Py_NewRef(args[1]);
        }
        return NULL;
    }
    if (dsv4_delete(self, ns, args[0]) < 0) {
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* MutableMapping.popitem: the first item in key order (iteration order),
 * removed. Another thread may delete that key between the read and the
 * delete; then the next first item is tried. */
PyObject *dsmap_popitem(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    for (;;) {
        CHECK_USABLE_OR_NULL(self);
        PyObject *first = dsv4_list(self, ns, DSV4_ITEMS, 1);
        if (!first)
            return NULL;
        if (PyList_GET_SIZE(first) == 0) {
            Py_DECREF(first);
            PyErr_SetString(PyExc_KeyError, "popitem(): the table is empty");
            return NULL;
        }
        PyObject *item = Py_NewRef(PyList_GET_ITEM(first, 0));
        Py_DECREF(first);
        if (dsv4_delete(self, ns, PyTuple_GET_ITEM(item, 0)) == 0)
            return item;
        Py_DECREF(item);
        if (!PyErr_ExceptionMatches(PyExc_KeyError))
            return NULL;
        PyErr_Clear();
    }
}

PyObject *dsmap_setdefault(PyObject *mapping, PyObject *const *args,
                               Py_ssize_t nargs)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if (!check_nargs("setdefault", nargs, 1, 2))
        return NULL;
    CHECK_USABLE_OR_NULL(self);
    int missing;
    PyObject *v = dsv4_get(self, ns, args[0], &missing);
    if (v || !missing)
        return v;
    PyErr_Clear();
    PyObject *dflt = nargs > 1 ? args[1] : Py_None;
    if (dsv4_set(self, ns, args[0], dflt) < 0)
        return NULL;
    return Py_NewRef(dflt);
}

/* Turn update()'s arguments into a list of pairs, as dict.update does: a
 * mapping (keys() + []), or an iterable of pairs, then keywords. */
PyObject *dsv4_collect_update_pairs(PyObject *other, PyObject *kwds)
{
    PyObject *pairs = PyList_New(0);
    if (!pairs)
        return NULL;
    if (other) {
        PyObject *items = NULL;
        if (PyDict_Check(other)) {
            items = PyDict_Items(other);
        } else {
            PyObject *keys_attr = PyObject_HasAttrString(other, "keys")
                                      ? PyObject_GetAttrString(other, "keys")
                                      : NULL;
            if (!keys_attr && PyErr_Occurred())
                goto fail;
            if (keys_attr) {
                PyObject *keys = PyObject_CallNoArgs(keys_attr);
                Py_DECREF(keys_attr);
                PyObject *it = keys ? PyObject_GetIter(keys) : NULL;
                Py_XDECREF(keys);
                if (!it)
                    goto fail;
                items = PyList_New(0);
                PyObject *k;
                while (items && (k = PyIter_Next(it))) {
                    PyObject *v = PyObject_GetItem(other, k);
                    PyObject *pair = v ? PyTuple_Pack(2, k, v) : NULL;
                    Py_DECREF(k);
                    Py_XDECREF(v);
                    if (!pair || PyList_Append(items, pair) < 0) {
                        Py_XDECREF(pair);
                        Py_CLEAR(items);
                        break;
                    }
                    Py_DECREF(pair);
                }
                Py_DECREF(it);
                if (items && PyErr_Occurred())
                    Py_CLEAR(items);
            } else {
                items = PySequence_List(other);
            }
        }
        if (!items)
            goto fail;
        int rc = PyList_SetSlice(pairs, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, items);
        Py_DECREF(items);
        if (rc < 0)
            goto fail;
    }
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyObject *kwitems = PyDict_Items(kwds);
        int rc = kwitems ? PyList_SetSlice(pairs, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, kwitems) : -1;
        Py_XDECREF(kwitems);
        if (rc < 0)
            goto fail;
    }
    return pairs;
fail:
    Py_DECREF(pairs);
    return NULL;
}

/* update(), bulk_insert() and batch_set(): collect the pairs, store them.
 * progress: NULL or a callable (dsv4_update_pairs). */
static PyObject *store_pairs(PyObject *mapping, PyObject *other, PyObject *kwds,
                             PyObject *progress)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    CHECK_USABLE_OR_NULL(self);
    PyObject *pairs = dsv4_collect_update_pairs(other, kwds);
    if (!pairs)
        return NULL;
    int rc = dsv4_update_pairs(self, DS_NS(mapping), pairs, progress);
    Py_DECREF(pairs);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* update() keeps dict.update's rule that every keyword is an item
 * (update(progress=1) stores the key 'progress'), so it takes no progress
 * callback: batch_set and bulk_insert do. */
PyObject *dsmap_update(PyObject *mapping, PyObject *args, PyObject *kwds)
{
    PyObject *other = NULL;
    if (!PyArg_UnpackTuple(args, "update", 0, 1, &other))
        return NULL;
    return store_pairs(mapping, other, kwds, NULL);
}

/* name(items, /, *, progress=None): the one positional argument and the
 * optional callable (NULL for None). 0 or -1 with TypeError. */
static int parse_items_progress(const char *name, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames, PyObject **progress)
{
    *progress = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *kw = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(kw, "progress") != 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R "
                         "(it takes items, then only progress=)", name, kw);
            return -1;
        }
        *progress = args[nargs + i];
    }
    /* after the keywords, so items=... is named as the mistake it is */
    if (!check_nargs(name, nargs, 1, 1))
        return -1;
    if (*progress == Py_None) {
        *progress = NULL;
    } else if (*progress && !PyCallable_Check(*progress)) {
        PyErr_Format(PyExc_TypeError, "%s(): progress must be None or a callable "
                     "progress(done, total), got %.200s", name, Py_TYPE(*progress)->tp_name);
        return -1;
    }
    return 0;
}

PyObject *dsmap_bulk_insert(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    PyObject *progress;
    if (parse_items_progress("bulk_insert", args, nargs, kwnames, &progress) < 0)
        return NULL;
    return store_pairs(mapping, args[0], NULL, progress);
}

PyObject *dsmap_batch_set(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    PyObject *progress;
    if (parse_items_progress("batch_set", args, nargs, kwnames, &progress) < 0)
        return NULL;
    return store_pairs(mapping, args[0], NULL, progress);
}

PyObject *dsmap_batch_get(PyObject *mapping, PyObject *keys)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    CHECK_USABLE_OR_NULL(self);
    PyObject *it = PyObject_GetIter(keys);
    if (!it)
        return NULL;
    PyObject *result = PyDict_New();
    PyObject *k;
    while (result && (k = PyIter_Next(it))) {
        int missing;
        PyObject *v = dsv4_get(self, ns, k, &missing);
        if (v) {
            if (PyDict_SetItem(result, k, v) < 0)
                Py_CLEAR(result);
            Py_DECREF(v);
        } else if (missing) {
            PyErr_Clear();
        } else {
            Py_CLEAR(result);
        }
        Py_DECREF(k);
    }
    Py_DECREF(it);
    if (result && PyErr_Occurred())
        Py_CLEAR(result);
    return result;
}

static PyObject *list_of(PyObject *mapping, int what)
{
    CHECK_USABLE_OR_NULL(DS_DB(mapping));
    return dsv4_list(DS_DB(mapping), DS_NS(mapping), what, -1);
}

PyObject *dsmap_keys(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    return list_of(mapping, DSV4_KEYS);
}

PyObject *dsmap_values(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    return list_of(mapping, DSV4_VALUES);
}

PyObject *dsmap_items(PyObject *mapping, PyObject *unused)
{
    (void)unused;
    return list_of(mapping, DSV4_ITEMS);
}

PyObject *dsmap_iter(PyObject *mapping)
{
    CHECK_USABLE_OR_NULL(DS_DB(mapping));
    return ds_key_iterator_new(mapping);
}

PyObject *dsmap_clear(PyObject *mapping, PyObject *unused)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    (void)unused;
    CHECK_USABLE_OR_NULL(self);
    if (dsv4_clear(self, ns) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- ==, repr ----------------------------------------------------------- */

PyObject *dsv4_as_dict(DictSQLiteV4Object *self, uint32_t ns)
{
    PyObject *items = dsv4_list(self, ns, DSV4_ITEMS, -1);
    if (!items)
        return NULL;
    PyObject *d = PyDict_New();
    if (d && PyDict_MergeFromSeq2(d, items, 1) < 0)
        Py_CLEAR(d);
    Py_DECREF(items);
    return d;
}

int dsv4_is_mapping(ds_module_state *st, PyObject *obj)
{
    return PyObject_TypeCheck(obj, st->DictSQLiteV4_Type) ||
           PyObject_TypeCheck(obj, st->TableProxy_Type) ||
           PyObject_TypeCheck(obj, st->AsyncDictSQLite_Type) ||
           PyObject_TypeCheck(obj, st->AsyncTableProxy_Type);
}

PyObject *dsmap_richcompare(PyObject *mapping, PyObject *other, int op)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    if ((op != Py_EQ && op != Py_NE) ||
        !(PyDict_Check(other) || dsv4_is_mapping(self->state, other)))
        Py_RETURN_NOTIMPLEMENTED;
    CHECK_USABLE_OR_NULL(self);
    PyObject *theirs;
    if (PyDict_Check(other)) {
        theirs = Py_NewRef(other);
    } else {
        DictSQLiteV4Object *odb = DS_DB(other);
        if (DSV4_USABLE(odb) < 0)
            return NULL;
        theirs = dsv4_as_dict(odb, DS_NS(other));
        if (!theirs)
            return NULL;
    }
    PyObject *mine = dsv4_as_dict(self, ns);
    PyObject *r = mine ? PyObject_RichCompare(mine, theirs, op) : NULL;
    Py_XDECREF(mine);
    Py_DECREF(theirs);
    return r;
}

/* At most this many items in repr(); the rest is summarized by a count. */
#define REPR_PREVIEW_ITEMS 10

PyObject *dsmap_preview(PyObject *mapping)
{
    DictSQLiteV4Object *self = DS_DB(mapping);
    uint32_t ns = DS_NS(mapping);
    PyObject *items = dsv4_list(self, ns, DSV4_ITEMS, REPR_PREVIEW_ITEMS);
    if (!items)
        return NULL;
    PyObject *d = PyDict_New();
    if (d && PyDict_MergeFromSeq2(d, items, 1) < 0)
        Py_CLEAR(d);
    Py_DECREF(items);
    if (!d)
        return NULL;
    PyObject *text = PyObject_Repr(d);
    Py_DECREF(d);
    if (!text)
        return NULL;
    Py_ssize_t total = dsmap_length(mapping);
    if (total < 0) {
        Py_DECREF(text);
        return NULL;
    }
    if (total > REPR_PREVIEW_ITEMS) {
        /* '{..., 'k': v}' -> '{..., 'k': v, ... (N more)}' */
        PyObject *head = PyUnicode_Substring(text, 0, PyUnicode_GET_LENGTH(text) - 1);
        Py_SETREF(text, head ? PyUnicode_FromFormat("%U, ... (%lld more)}", head,
                                                    (long long)(total - REPR_PREVIEW_ITEMS))
                             : NULL);
        Py_XDECREF(head);
    }
    return text;
}

