/* Raw access to stored values (see raw_access.h): what the command line's
 * dump, load, verify and get, and migration, are built on. */
#include "raw_access.h"

#include <stdlib.h>
#include <string.h>

#include "db_ops.h"
#include "dictsqlite_v4.h"
#include "mapping.h"
#include "scan.h"

/* ---- codec names --------------------------------------------------------- */

#define CODEC_CHOICES "'pickle', 'json', 'msgpack', 'bytes', 'prepickled'"

/* The name of a stored codec byte, or NULL for one no reader knows. */
static const char *codec_name(uint8_t codec)
{
    if (codec & (0x80 | DS_CODEC_FLAG_ENCRYPTED))
        return NULL;
    switch (codec & DS_CODEC_MASK) {
    case DS_CODEC_PICKLE:
        return (codec & DS_CODEC_FLAG_PREPICKLED) ? "prepickled" : "pickle";
    case DS_CODEC_JSON:
        return "json";
    case DS_CODEC_MSGPACK:
        return "msgpack";
    case DS_CODEC_BYTES:
        return "bytes";
    }
    return NULL;
}

/* The codec byte (without the immutable flag) of a name, or -1 with
 * ValueError naming key (may be NULL) and the choices. */
static int codec_from_name(PyObject *name, PyObject *key)
{
    static const struct {
        const char *name;
        int codec;
    } names[] = {
        {"pickle", DS_CODEC_PICKLE},
        {"json", DS_CODEC_JSON},
        {"msgpack", DS_CODEC_MSGPACK},
        {"bytes", DS_CODEC_BYTES},
        {"prepickled", DS_CODEC_PICKLE | DS_CODEC_FLAG_PREPICKLED},
    };
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (s) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcmp(s, names[i].name) == 0)
                return names[i].codec;
    } else if (PyUnicode_Check(name)) {
        return -1; /* not encodable: the exception is set */
    }
    if (key)
        PyErr_Format(PyExc_ValueError, "the codec of key %R must be one of " CODEC_CHOICES
                     ", got %R", key, name);
    else
        PyErr_Format(PyExc_ValueError, "codec must be one of " CODEC_CHOICES ", got %R",
                     name);
    return -1;
}

/* The immutable flag a write of this value would have carried (codec.c):
 * it lets reads cache the decoded object, which is only right for values no
 * caller can mutate. JSON and MessagePack scalars qualify, containers do
 * not; bytes always. A pickle would have to be decoded to tell, so it never
 * gets the flag: a raw pickle reads back correctly, only uncached. */
static uint8_t immutable_flag(int codec, const unsigned char *p, size_t n)
{
    switch (codec) {
    case DS_CODEC_BYTES:
        return DS_CODEC_FLAG_IMMUTABLE;
    case DS_CODEC_JSON: {
        size_t i = 0;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
            i++;
        return i < n && p[i] != '{' && p[i] != '[' ? DS_CODEC_FLAG_IMMUTABLE : 0;
    }
    case DS_CODEC_MSGPACK: {
        if (!n)
            return 0;
        unsigned char c = p[0];
        int container = (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf);
        return container ? 0 : DS_CODEC_FLAG_IMMUTABLE;
    }
    }
    return 0;
}

/* ---- _raw_items ---------------------------------------------------------- */

/* SQLite's order of TEXT keys (memcmp, then the shorter first): is k > a? */
static int key_is_after(const char *k, size_t klen, const char *a, size_t alen)
{
    size_t n = klen < alen ? klen : alen;
    int c = memcmp(k, a, n);
    return c > 0 || (c == 0 && klen > alen);
}

static PyObject *row_key(const char *key, size_t klen)
{
    /* as the key iterator: a stored key is shown whatever its bytes */
    return PyUnicode_DecodeUTF8(key, (Py_ssize_t)klen, "surrogatepass");
}

/* (codec name, payload bytes) of a stored value, or NULL with
 * CorruptValueError naming key. */
static PyObject *codec_and_payload(DictSQLiteV4Object *db, uint8_t codec, const char *value,
                                   size_t vlen, PyObject *key)
{
    const char *name = codec_name(codec);
    if (!name) {
        if (codec & DS_CODEC_FLAG_ENCRYPTED)
            PyErr_Format(db->state->CorruptValueError,
                         "value of key %R is encrypted: open the database with "
                         "encryption_password to read it", key);
        else
            PyErr_Format(db->state->CorruptValueError,
                         "value of key %R has unknown codec %d; the file may be "
                         "corrupt or written by a newer dictsqlite", key, codec);
        return NULL;
    }
    /* y# turns a NULL pointer into None: an empty value is b"" */
    return Py_BuildValue("(sy#)", name, value ? value : "", (Py_ssize_t)vlen);
}

static PyObject *row_item(DictSQLiteV4Object *db, const ds_row *row, int values)
{
    PyObject *key = row_key(row->key, row->klen);
    if (!key || !values)
        return key;
    PyObject *pair = codec_and_payload(db, row->codec, row->value, row->vlen, key);
    if (!pair) {
        Py_DECREF(key);
        return NULL;
    }
    PyObject *item = PyTuple_Pack(3, key, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
    Py_DECREF(key);
    Py_DECREF(pair);
    return item;
}

PyObject *ds_raw_items(PyObject *mapping, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"after", "limit", "values", NULL};
    PyObject *after = Py_None;
    Py_ssize_t limit = -1;
    int values = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|Onp:_raw_items", kwlist, &after, &limit,
                                     &values))
        return NULL;
    DictSQLiteV4Object *db = DS_DB(mapping);
    CHECK_USABLE_OR_NULL(db);
    const char *a = NULL;
    Py_ssize_t alen = 0;
    if (after != Py_None) {
        if (!PyUnicode_Check(after)) {
            PyErr_Format(PyExc_TypeError, "_raw_items: after must be a str or None, got %.200s",
                         Py_TYPE(after)->tp_name);
            return NULL;
        }
        if (!(a = PyUnicode_AsUTF8AndSize(after, &alen)))
            return NULL;
    }
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    ds_cursor c;
    /* Paging (after given) reads SQLite from that key on; the hot tier's
     * snapshot would take a reference to every entry for each page. Memory
     * mode has nothing but the snapshot, so there rows up to `after` are
     * skipped below. */
    ds_cursor_init(&c, db, DS_NS(mapping), values, a == NULL);
    if (a && ds_engine_persist_mode(db->engine) != DS_PERSIST_MEMORY) {
        c.after = malloc(alen ? (size_t)alen : 1);
        if (!c.after) {
            ds_cursor_release(&c);
            Py_DECREF(out);
            return PyErr_NoMemory();
        }
        memcpy(c.after, a, (size_t)alen);
        c.after_len = (size_t)alen;
    }
    const ds_row *row;
    int rc = 0;
    while (limit < 0 || PyList_GET_SIZE(out) < limit) {
        rc = ds_cursor_next(&c, &row);
        if (rc <= 0)
            break;
        if (a && !key_is_after(row->key, row->klen, a, (size_t)alen))
            continue;
        PyObject *item = row_item(db, row, values);
        if (!item || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            rc = -1;
            break;
        }
        Py_DECREF(item);
    }
    ds_cursor_release(&c);
    if (rc < 0)
        Py_CLEAR(out);
    return out;
}

/* ---- _raw_get ------------------------------------------------------------ */

typedef struct raw_key_op {
    uint32_t ns;
    const ds_key *k;
    ds_entry *x;
} raw_key_op;

static ds_status call_raw_get(ds_engine *e, int allow_io, void *ctx, ds_error *err)
{
    raw_key_op *o = ctx;
    return ds_engine_get(e, o->ns, o->k->utf8, (size_t)o->k->len, o->k->hash, allow_io,
                         &o->x, err);
}

PyObject *ds_raw_get(PyObject *mapping, PyObject *key)
{
    DictSQLiteV4Object *db = DS_DB(mapping);
    CHECK_USABLE_OR_NULL(db);
    ds_key k;
    if (ds_key_from_object(key, DS_NS(mapping), &k) < 0)
        return NULL;
    raw_key_op o = {DS_NS(mapping), &k, NULL};
    ds_error err;
    ds_status st = ds_run_op(db, call_raw_get, &o, 0, NULL, &err);
    PyObject *r = NULL;
    if (st == DS_OK) {
        r = codec_and_payload(db, o.x->codec, (const char *)ds_entry_value(o.x), o.x->vlen,
                              key);
        ds_entry_decref(o.x, ds_engine_retire(db->engine));
        dsv4_drain_retired(db);
    } else if (st == DS_NOTFOUND) {
        ds_set_key_error(key);
    } else {
        dsv4_raise(db, st, &err);
    }
    ds_key_release(&k);
    return r;
}

/* ---- _raw_decode ----------------------------------------------------------- */

PyObject *ds_raw_decode(PyObject *mapping, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "_raw_decode expects (codec, payload[, key]), got %zd "
                     "arguments", nargs);
        return NULL;
    }
    DictSQLiteV4Object *db = DS_DB(mapping);
    PyObject *key = nargs == 3 ? args[2] : Py_None;
    int codec = codec_from_name(args[0], NULL);
    if (codec < 0)
        return NULL;
    if ((codec & DS_CODEC_MASK) == DS_CODEC_PICKLE) {
        PyErr_Format(PyExc_ValueError, "_raw_decode does not unpickle (key %R): load a "
                     "pickle with dictsqlite.modules.safe_pickle", key);
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *r = ds_decode_value(db->state, (uint8_t)codec, view.buf, (size_t)view.len, key,
                                  NULL);
    PyBuffer_Release(&view);
    return r;
}

/* ---- _raw_set_many --------------------------------------------------------- */

/* One triple checked and prepared: key, codec byte and a view of the
 * payload (which keeps the payload object alive). 0 or -1. */
static int prepare_triple(PyObject *triple, Py_ssize_t i, uint32_t ns, ds_key *k,
                          Py_buffer *view, uint8_t *codec_out)
{
    PyObject *kv = PySequence_Fast(triple, "");
    if (!kv || PySequence_Fast_GET_SIZE(kv) != 3) {
        Py_XDECREF(kv);
        PyErr_Format(PyExc_ValueError, "_raw_set_many: item #%zd must be a (key, codec, "
                     "payload) triple, got %.200s", i, Py_TYPE(triple)->tp_name);
        return -1;
    }
    PyObject *key = PySequence_Fast_GET_ITEM(kv, 0);
    PyObject *name = PySequence_Fast_GET_ITEM(kv, 1);
    PyObject *payload = PySequence_Fast_GET_ITEM(kv, 2);
    int rc = -1;
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "_raw_set_many: the key of item #%zd must be a str, "
                     "got %.200s", i, Py_TYPE(key)->tp_name);
        goto done;
    }
    int codec = codec_from_name(name, key);
    if (codec < 0)
        goto done;
    if (PyObject_GetBuffer(payload, view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "_raw_set_many: the payload of key %R must be "
                     "bytes-like, got %.200s", key, Py_TYPE(payload)->tp_name);
        goto done;
    }
    if (codec == DS_CODEC_JSON) {
        /* stored as TEXT (store.h), which SQLite requires to be UTF-8 */
        PyObject *text = PyUnicode_DecodeUTF8(view->buf, view->len, "strict");
        if (!text) {
            PyErr_Format(PyExc_ValueError, "_raw_set_many: the json payload of key %R is "
                         "not valid UTF-8", key);
            goto done;
        }
        Py_DECREF(text);
    }
    if (ds_key_from_object(key, ns, k) < 0)
        goto done;
    *codec_out = (uint8_t)(codec | immutable_flag(codec, view->buf, (size_t)view->len));
    rc = 0;
done:
    Py_DECREF(kv);
    return rc;
}

PyObject *ds_raw_set_many(PyObject *mapping, PyObject *items)
{
    DictSQLiteV4Object *db = DS_DB(mapping);
    CHECK_USABLE_OR_NULL(db);
    uint32_t ns = DS_NS(mapping);
    PyObject *seq = PySequence_Fast(items, "_raw_set_many expects a sequence of (key, codec, "
                                           "payload) triples");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ds_key *keys = PyMem_Calloc((size_t)n + 1, sizeof(*keys));
    Py_buffer *views = PyMem_Calloc((size_t)n + 1, sizeof(*views));
    ds_put_item *puts = PyMem_Calloc((size_t)n + 1, sizeof(*puts));
    Py_ssize_t prepared = 0;
    int rc = -1;
    if (!keys || !views || !puts) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t codec = 0;
        if (prepare_triple(PySequence_Fast_GET_ITEM(seq, i), i, ns, &keys[i], &views[i],
                           &codec) < 0) {
            /* a view may have been taken before the failure */
            if (views[i].obj)
                PyBuffer_Release(&views[i]);
            goto done;
        }
        prepared = i + 1;
        puts[i] = (ds_put_item){keys[i].utf8, (size_t)keys[i].len, keys[i].hash, codec,
                                views[i].buf, (size_t)views[i].len, NULL};
    }
    rc = n ? dsv4_put_items(db, ns, puts, (size_t)n) : 0;
done:
    for (Py_ssize_t i = 0; i < prepared; i++) {
        ds_key_release(&keys[i]);
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(keys);
    PyMem_Free(views);
    PyMem_Free(puts);
    Py_DECREF(seq);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}
