/* Storage-mode encoders and the codec-byte decoder (see codec.h). */
#include "codec.h"
#include "json_codecs.h"
#include "options.h"
#include "pickle_fast.h"

void ds_encoded_init(ds_encoded *enc)
{
    enc->data = NULL;
    enc->len = 0;
    enc->codec = 0;
    enc->owner = NULL;
    enc->has_view = 0;
    ds_buf_init(&enc->buf);
}

void ds_encoded_move(ds_encoded *dst, ds_encoded *src)
{
    *dst = *src;
    /* data and buf.data may point into src's inline space */
    if (src->buf.data == src->buf.inline_space)
        dst->buf.data = dst->buf.inline_space;
    if (src->data >= src->buf.inline_space &&
        src->data < src->buf.inline_space + sizeof(src->buf.inline_space))
        dst->data = dst->buf.inline_space + (src->data - src->buf.inline_space);
    ds_encoded_init(src);
}

void ds_encoded_release(ds_encoded *enc)
{
    Py_CLEAR(enc->owner);
    if (enc->has_view) {
        PyBuffer_Release(&enc->view);
        enc->has_view = 0;
    }
    ds_buf_release(&enc->buf);
    enc->data = NULL;
    enc->len = 0;
}

/* ---- immutability ------------------------------------------------------ */

/* Can the decoded form of this value be shared between readers? Only exact
 * built-in immutable types qualify: a subclass may carry mutable state. The
 * depth bound keeps the check cheap; deeper tuples simply aren't cached. */
static int is_immutable(PyObject *v, int depth)
{
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyLong_Type ||
        t == &PyFloat_Type || t == &PyBool_Type || v == Py_None ||
        t == &PyComplex_Type)
        return 1;
    if (t != &PyTuple_Type || depth >= 4)
        return 0;
    Py_ssize_t n = PyTuple_GET_SIZE(v);
    if (n > 64)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!is_immutable(PyTuple_GET_ITEM(v, i), depth + 1))
            return 0;
    return 1;
}

/* JSON-family decoders return lists for tuples, so only scalars qualify. */
static int is_json_scalar(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyUnicode_Type || t == &PyLong_Type || t == &PyFloat_Type ||
           t == &PyBool_Type || v == Py_None;
}

/* ---- pickle -------------------------------------------------------------- */

/* The Rust package stores bytes that already are a complete pickle as they
 * are: b"\x80" + protocol 2..5 ... b".". */
static int looks_like_pickle(const char *p, Py_ssize_t n)
{
    return n >= 3 && (unsigned char)p[0] == 0x80 && p[1] >= 2 && p[1] <= 5 &&
           p[n - 1] == '.';
}

static PyObject *safe_pickle_function(ds_module_state *st, const char *name)
{
    PyObject *mod = PyImport_ImportModule("dictsqlite.modules.safe_pickle");
    if (!mod)
        return NULL;
    PyObject *fn = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    (void)st;
    return fn;
}

/* Reject a pickle whose globals the policy forbids, without running it. */
static int safe_validate(ds_module_state *st, PyObject *pickled, PyObject *policy)
{
    PyObject *fn = safe_pickle_function(st, "validate_pickle");
    if (!fn)
        return -1;
    PyObject *r = PyObject_CallFunctionObjArgs(fn, pickled, policy, NULL);
    Py_DECREF(fn);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int encode_pickle(ds_module_state *st, PyObject *value, PyObject *policy,
                         int pickle_bytes, ds_encoded *out)
{
    if (PyBytes_CheckExact(value) && !pickle_bytes) {
        const char *p = PyBytes_AS_STRING(value);
        Py_ssize_t n = PyBytes_GET_SIZE(value);
        if (looks_like_pickle(p, n)) {
            if (policy && safe_validate(st, value, policy) < 0)
                return -1;
            out->codec = DS_CODEC_PICKLE | DS_CODEC_FLAG_PREPICKLED;
        } else {
            out->codec = DS_CODEC_BYTES | DS_CODEC_FLAG_IMMUTABLE;
        }
        out->owner = Py_NewRef(value);
        out->data = p;
        out->len = (size_t)n;
        return 0;
    }
    /* Plain values skip the Pickler's setup. Their pickle names no global,
     * so a safe policy has nothing to check in it. */
    int rc = ds_pickle_fast_dumps(value, st->pickle_protocol_num, &out->buf);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        out->data = out->buf.data;
        out->len = out->buf.len;
        out->codec = DS_CODEC_PICKLE | (is_immutable(value, 0) ? DS_CODEC_FLAG_IMMUTABLE : 0);
        return 0;
    }
    ds_buf_release(&out->buf); /* a partial pickle, maybe on the heap */
    PyObject *args[2] = {value, st->pickle_protocol};
    PyObject *pickled = PyObject_Vectorcall(st->pickle_dumps, args, 2, NULL);
    if (!pickled)
        return -1;
    if (!PyBytes_Check(pickled)) {
        Py_DECREF(pickled);
        PyErr_SetString(PyExc_TypeError, "pickle.dumps did not return bytes");
        return -1;
    }
    if (policy && safe_validate(st, pickled, policy) < 0) {
        Py_DECREF(pickled);
        return -1;
    }
    out->owner = pickled;
    out->data = PyBytes_AS_STRING(pickled);
    out->len = (size_t)PyBytes_GET_SIZE(pickled);
    out->codec = DS_CODEC_PICKLE | (is_immutable(value, 0) ? DS_CODEC_FLAG_IMMUTABLE : 0);
    return 0;
}

/* ---- encoders ------------------------------------------------------------ */

static int encode_into_buf(int (*fn)(PyObject *, ds_buf *), uint8_t codec,
                           PyObject *value, ds_encoded *out)
{
    if (fn(value, &out->buf) < 0)
        return -1;
    out->data = out->buf.data;
    out->len = out->buf.len;
    out->codec = codec | (is_json_scalar(value) ? DS_CODEC_FLAG_IMMUTABLE : 0);
    return 0;
}

static int encode_bytes(PyObject *value, ds_encoded *out)
{
    if (PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError,
                        "bytes storage mode stores bytes-like values (bytes, "
                        "bytearray, memoryview), got str: encode it first (e.g. "
                        "value.encode()) or use storage_mode='json' or 'pickle'");
        return -1;
    }
    if (PyBytes_Check(value)) {
        out->owner = Py_NewRef(value);
        out->data = PyBytes_AS_STRING(value);
        out->len = (size_t)PyBytes_GET_SIZE(value);
    } else if (PyObject_CheckBuffer(value)) {
        if (PyObject_GetBuffer(value, &out->view, PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        out->has_view = 1;
        out->data = out->view.buf;
        out->len = (size_t)out->view.len;
    } else {
        PyErr_Format(PyExc_TypeError,
                     "bytes storage mode stores bytes-like values (bytes, "
                     "bytearray, memoryview), got %.200s: use storage_mode="
                     "'pickle' for other objects", Py_TYPE(value)->tp_name);
        return -1;
    }
    /* decoded as bytes, whatever buffer type came in */
    out->codec = DS_CODEC_BYTES | DS_CODEC_FLAG_IMMUTABLE;
    return 0;
}

int ds_encode_value(ds_module_state *st, ds_storage_mode mode, PyObject *value,
                    PyObject *safe_policy, ds_encoded *out)
{
    switch (mode) {
    case DS_STORAGE_PICKLE:
        return encode_pickle(st, value, safe_policy, 0, out);
    case DS_STORAGE_PICKLE_ALL:
        return encode_pickle(st, value, safe_policy, 1, out);
    case DS_STORAGE_JSON:
        return encode_into_buf(ds_json_encode, DS_CODEC_JSON, value, out);
    case DS_STORAGE_JSONB:
        return encode_into_buf(ds_msgpack_encode, DS_CODEC_MSGPACK, value, out);
    case DS_STORAGE_BYTES:
        return encode_bytes(value, out);
    }
    PyErr_SetString(PyExc_SystemError, "unknown storage mode");
    return -1;
}

/* Replace the pending exception with one of type exc_type whose message is
 * fmt (one %R argument) followed by ": <original>", chained as its cause. */
static void ds_raise_from(PyObject *exc_type, const char *fmt, PyObject *arg)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb)
        PyException_SetTraceback(v, tb);
    PyObject *prefix = PyUnicode_FromFormat(fmt, arg);
    PyObject *msg = prefix ? PyUnicode_FromFormat("%U: %S", prefix, v) : NULL;
    Py_XDECREF(prefix);
    if (msg) {
        PyErr_SetObject(exc_type, msg);
        Py_DECREF(msg);
        PyObject *t2, *v2, *tb2;
        PyErr_Fetch(&t2, &v2, &tb2);
        PyErr_NormalizeException(&t2, &v2, &tb2);
        PyException_SetCause(v2, Py_NewRef(v));
        PyException_SetContext(v2, Py_NewRef(v));
        PyErr_Restore(t2, v2, tb2);
    }
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

int ds_encode_value_of_key(ds_module_state *st, ds_storage_mode mode, PyObject *value,
                           PyObject *safe_policy, PyObject *key, ds_encoded *out)
{
    int rc = ds_encode_value(st, mode, value, safe_policy, out);
    /* the safe-pickle check knows the global it refused, not the key */
    if (rc < 0 && safe_policy && PyErr_ExceptionMatches(PyExc_ValueError))
        ds_raise_from(PyExc_ValueError, "refused to store key %R", key);
    return rc;
}

/* ---- decoder ------------------------------------------------------------- */

/* Bytes are data: bytes that looked like a pickle when stored (the
 * passthrough, DS_CODEC_FLAG_PREPICKLED) may come from anyone, so they are
 * read only through the restricted unpickler, and a pickle it refuses reads
 * back as the original bytes (safe_pickle.passthrough_loads). Pickles this
 * library wrote itself, from objects the application stored, go through
 * pickle.loads (or the safe policy when enabled). */
static PyObject *decode_pickle(ds_module_state *st, uint8_t codec, const char *data,
                               size_t len, PyObject *policy)
{
    /* Plain values need neither pickle.loads nor a bytes copy; the fast
     * path loads no globals, so every safe-pickle policy allows it. */
    PyObject *fast = ds_pickle_fast_loads(data, len);
    if (fast)
        return fast;
    PyObject *bytes = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    if (!bytes)
        return NULL;
    PyObject *r;
    if (codec & DS_CODEC_FLAG_PREPICKLED) {
        PyObject *fn = safe_pickle_function(st, "passthrough_loads");
        r = fn ? PyObject_CallFunctionObjArgs(fn, bytes, policy ? policy : Py_None, NULL)
               : NULL;
        Py_XDECREF(fn);
    } else if (policy) {
        PyObject *fn = safe_pickle_function(st, "safe_loads_with_policy");
        r = fn ? PyObject_CallFunctionObjArgs(fn, bytes, policy, NULL) : NULL;
        Py_XDECREF(fn);
    } else {
        r = PyObject_CallOneArg(st->pickle_loads, bytes);
    }
    Py_DECREF(bytes);
    return r;
}

/* A pickle cannot describe more than a small multiple of its own size in
 * plain data, so a MemoryError while loading a small one means its header
 * lies (say, a frame claiming 2^62 bytes): the value is corrupt. */
#define DS_PICKLE_OOM_IS_CORRUPT_BELOW ((size_t)1 << 20)

PyObject *ds_decode_value(ds_module_state *st, uint8_t codec, const char *data,
                          size_t len, PyObject *key, PyObject *safe_policy)
{
    PyObject *r = NULL;
    if (codec & DS_CODEC_FLAG_ENCRYPTED) {
        PyErr_Format(st->CorruptValueError,
                     "value of key %R is encrypted: open the database with "
                     "encryption_password to read it", key);
        return NULL;
    }
    switch ((codec & 0x80) ? 0 : codec & DS_CODEC_MASK) {
    case DS_CODEC_PICKLE:
        r = decode_pickle(st, codec, data, len, safe_policy);
        if (!r && safe_policy && PyErr_ExceptionMatches(PyExc_ValueError)) {
            /* a safe-pickle refusal: keep its type, name the key */
            ds_raise_from(PyExc_ValueError, "refused to read the value of key %R", key);
            return NULL;
        }
        if (!r && len < DS_PICKLE_OOM_IS_CORRUPT_BELOW &&
            PyErr_ExceptionMatches(PyExc_MemoryError)) {
            ds_raise_from(st->CorruptValueError,
                          "cannot decode the value of key %R (it claims more memory "
                          "than a pickle of its size can hold)", key);
            return NULL;
        }
        break;
    case DS_CODEC_JSON:
        r = ds_json_decode(data, len);
        break;
    case DS_CODEC_MSGPACK:
        r = ds_msgpack_decode(data, len);
        break;
    case DS_CODEC_BYTES:
        return PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
    default:
        PyErr_Format(st->CorruptValueError,
                     "value of key %R has unknown codec %d; the file may be "
                     "corrupt or written by a newer dictsqlite", key, codec);
        return NULL;
    }
    if (!r && !PyErr_ExceptionMatches(PyExc_MemoryError) &&
        !PyErr_ExceptionMatches(PyExc_RecursionError)) {
        ds_raise_from(st->CorruptValueError, "cannot decode the value of key %R",
                      key);
    }
    return r;
}

/* ---- keys and mode names ----------------------------------------------- */

int ds_key_from_object(PyObject *key, uint32_t ns, ds_key *out)
{
    PyObject *s = PyUnicode_CheckExact(key) ? Py_NewRef(key) : PyObject_Str(key);
    if (!s)
        return -1;
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(s, &len);
    if (!utf8) {
        Py_DECREF(s);
        return -1;
    }
    Py_hash_t h = PyObject_Hash(s);
    if (h == -1) {
        Py_DECREF(s);
        return -1;
    }
    out->str = s;
    out->utf8 = utf8;
    out->len = len;
    out->hash = ds_hash_with_ns((uint64_t)h, ns);
    return 0;
}

/* Index i names storage mode i + 1 (the codec ids start at 1). */
static const char *const storage_names[] = {"pickle", "json", "jsonb", "bytes", NULL};

int ds_storage_mode_from_name(PyObject *name, ds_storage_mode *out)
{
    int i = ds_parse_choice("storage_mode", name, storage_names,
                            "'pickle', 'json', 'jsonb', 'bytes'");
    if (i < 0)
        return -1;
    *out = (ds_storage_mode)(i + 1);
    return 0;
}

const char *ds_storage_mode_name(ds_storage_mode mode)
{
    if (mode == DS_STORAGE_PICKLE_ALL)
        return "pickle";
    return mode >= DS_STORAGE_PICKLE && mode <= DS_STORAGE_BYTES ? storage_names[mode - 1]
                                                                  : "?";
}
