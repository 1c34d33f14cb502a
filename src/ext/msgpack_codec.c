/* MessagePack codec (the "jsonb" storage mode): see json_codecs.h for the
 * contract.
 *
 * Packing uses msgpack-c's packer with a write callback that appends to the
 * ds_buf, so the bytes are written once, in place.
 *
 * Unpacking is done here rather than with msgpack_unpack_next(): msgpack-c's
 * C unpacker has a fixed stack of MSGPACK_EMBED_STACK_SIZE (32) containers,
 * compiled into libmsgpackc, so a value nested 33 levels deep would be
 * written fine and then be unreadable. It also builds a msgpack_object tree
 * in a zone that we would only walk once more to build Python objects; going
 * straight from bytes to objects is the faster path on every read.
 *
 * Formats beyond plain MessagePack, so that everything JSON takes
 * round-trips:
 *  - ints outside int64/uint64 are ext type 1 whose payload is the decimal
 *    text ("-123...");
 *  - strings holding lone surrogates (e.g. from os.fsdecode) are stored in
 *    their "surrogatepass" UTF-8 form; other MessagePack readers will call
 *    that invalid UTF-8, ours gives the same str back.
 *
 * Depth: MSGPACK_MAX_DEPTH (1000, like the JSON codec) containers, refused
 * when packing so whatever we write can be read back. Unpacking recurses on
 * the C stack within that bound, without Py_EnterRecursiveCall, so a value
 * written at a shallow Python stack stays readable from a deep one.
 */
#include "byte_reader.h"
#include "json_codecs.h"
#include "key_string_cache.h"

#include <math.h>
#include <msgpack.h>
#include <stdint.h>

#define MSGPACK_MAX_DEPTH 1000
#define EXT_BIGINT 1

static int no_memory(void)
{
    PyErr_NoMemory();
    return -1;
}

/* ------------------------------------------------------------------ */
/* Packing */

static int buf_write(void *data, const char *buf, size_t len)
{
    return ds_buf_append((ds_buf *)data, buf, len);
}

typedef struct {
    msgpack_packer pk;
    ds_buf *out;
} packer;

/* msgpack-c's pack functions return the callback's result: only -1 for a
 * failed ds_buf allocation. */
#define CHECK(call) ((call) < 0 ? no_memory() : 0)

static int pack_str(packer *p, PyObject *s)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0)
        return -1;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) {
        return CHECK(msgpack_pack_str_with_body(&p->pk, PyUnicode_1BYTE_DATA(s), (size_t)n));
    }
    /* Our own UTF-8 writer rather than PyUnicode_AsUTF8AndSize(): that one
     * refuses lone surrogates and keeps a UTF-8 copy inside the caller's
     * str for as long as the str lives. */
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    size_t bytes = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    if (CHECK(msgpack_pack_str(&p->pk, bytes)) < 0)
        return -1;
    if (ds_buf_reserve(p->out, bytes) < 0)
        return no_memory();
    unsigned char *o = (unsigned char *)p->out->data + p->out->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *o++ = (unsigned char)c;
        } else if (c < 0x800) {
            *o++ = (unsigned char)(0xC0 | (c >> 6));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *o++ = (unsigned char)(0xE0 | (c >> 12));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            *o++ = (unsigned char)(0xF0 | (c >> 18));
            *o++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    p->out->len += bytes;
    return 0;
}

/* Decimal text of an int, via int.__repr__ so subclasses overriding
 * __repr__ (IntEnum) still give their value; it also enforces
 * sys.get_int_max_str_digits() as json.dumps does. */
static PyObject *int_text(PyObject *v)
{
    return PyLong_Type.tp_repr(v);
}

static int pack_int(packer *p, PyObject *v)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (!overflow)
        return CHECK(msgpack_pack_int64(&p->pk, x));
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (!(u == (unsigned long long)-1 && PyErr_Occurred()))
            return CHECK(msgpack_pack_uint64(&p->pk, u));
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
    }
    PyObject *text = int_text(v);
    if (!text)
        return -1;
    /* int.__repr__ gives ASCII, so the str's data is the payload. */
    size_t n = (size_t)PyUnicode_GET_LENGTH(text);
    int rc = CHECK(msgpack_pack_ext_with_body(&p->pk, PyUnicode_1BYTE_DATA(text), n, EXT_BIGINT));
    Py_DECREF(text);
    return rc;
}

static int check_finite(double d)
{
    if (isfinite(d))
        return 0;
    PyErr_Format(PyExc_ValueError,
                 "jsonb storage can't store float('%s'): out of range for JSON",
                 isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
    return -1;
}

/* Map keys follow json.dumps: str as is; None, bool, int, float as text. */
static int pack_key(packer *p, PyObject *k)
{
    if (PyUnicode_Check(k))
        return pack_str(p, k);
    if (k == Py_None)
        return CHECK(msgpack_pack_str_with_body(&p->pk, "null", 4));
    if (k == Py_True)
        return CHECK(msgpack_pack_str_with_body(&p->pk, "true", 4));
    if (k == Py_False)
        return CHECK(msgpack_pack_str_with_body(&p->pk, "false", 5));
    if (PyLong_Check(k)) {
        PyObject *text = int_text(k);
        if (!text)
            return -1;
        int rc = pack_str(p, text);
        Py_DECREF(text);
        return rc;
    }
    if (PyFloat_Check(k)) {
        double d = PyFloat_AS_DOUBLE(k);
        if (check_finite(d) < 0)
            return -1;
        char *s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s)
            return -1;
        int rc = CHECK(msgpack_pack_str_with_body(&p->pk, s, strlen(s)));
        PyMem_Free(s);
        return rc;
    }
    PyErr_Format(PyExc_TypeError,
                 "jsonb storage dict keys must be str, int, float, bool or None, not %.200s",
                 Py_TYPE(k)->tp_name);
    return -1;
}

static int pack_value(packer *p, PyObject *v, int depth);

static PyObject *changed_size(const char *what)
{
    PyErr_Format(PyExc_RuntimeError, "%s changed size during encoding", what);
    return NULL;
}

static int pack_member(packer *p, PyObject *k, PyObject *v, int depth)
{
    if (pack_key(p, k) < 0)
        return -1;
    return pack_value(p, v, depth);
}

static int pack_dict(packer *p, PyObject *v, int depth)
{
    if (PyDict_CheckExact(v)) {
        Py_ssize_t n = PyDict_GET_SIZE(v), pos = 0, done = 0;
        PyObject *k, *val;
        if (CHECK(msgpack_pack_map(&p->pk, (size_t)n)) < 0)
            return -1;
        while (PyDict_Next(v, &pos, &k, &val)) {
            /* The map header already holds n, so a dict that changes under
             * us (a dict subclass's items() further down runs Python code)
             * must fail rather than write a wrong count. Key and value are
             * held across the recursion for the same reason. */
            if (done == n)
                break;
            Py_INCREF(k);
            Py_INCREF(val);
            int rc = pack_member(p, k, val, depth);
            Py_DECREF(k);
            Py_DECREF(val);
            if (rc < 0)
                return -1;
            done++;
        }
        if (done != n || PyDict_GET_SIZE(v) != n) {
            changed_size("dict");
            return -1;
        }
        return 0;
    }
    /* Subclasses go through items() as json.dumps does (an OrderedDict
     * after move_to_end() keeps its own order). */
    PyObject *items = PyMapping_Items(v);
    if (!items)
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(items);
    int rc = CHECK(msgpack_pack_map(&p->pk, (size_t)n));
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_ValueError, "items must return 2-tuples");
            rc = -1;
            break;
        }
        rc = pack_member(p, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), depth);
    }
    Py_DECREF(items);
    return rc;
}

static int pack_array(packer *p, PyObject *v, int depth)
{
    Py_ssize_t n = Py_SIZE(v);
    if (CHECK(msgpack_pack_array(&p->pk, (size_t)n)) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (Py_SIZE(v) != n) {
            changed_size("list");
            return -1;
        }
        PyObject *item = PyList_Check(v) ? PyList_GET_ITEM(v, i) : PyTuple_GET_ITEM(v, i);
        Py_INCREF(item);
        int rc = pack_value(p, item, depth);
        Py_DECREF(item);
        if (rc < 0)
            return -1;
    }
    if (Py_SIZE(v) != n) {
        changed_size("list");
        return -1;
    }
    return 0;
}

static int pack_value(packer *p, PyObject *v, int depth)
{
    if (PyUnicode_Check(v))
        return pack_str(p, v);
    if (v == Py_None)
        return CHECK(msgpack_pack_nil(&p->pk));
    if (v == Py_True)
        return CHECK(msgpack_pack_true(&p->pk));
    if (v == Py_False)
        return CHECK(msgpack_pack_false(&p->pk));
    if (PyLong_Check(v))
        return pack_int(p, v);
    if (PyFloat_Check(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        if (check_finite(d) < 0)
            return -1;
        return CHECK(msgpack_pack_double(&p->pk, d));
    }

    int is_array = ds_jsonlike_enter_container(v, ++depth, MSGPACK_MAX_DEPTH, "jsonb");
    if (is_array < 0)
        return -1;
    int rc = is_array ? pack_array(p, v, depth) : pack_dict(p, v, depth);
    Py_LeaveRecursiveCall();
    return rc;
}

int ds_msgpack_encode(PyObject *value, ds_buf *out)
{
    packer p;
    p.out = out;
    msgpack_packer_init(&p.pk, out, buf_write);
    return pack_value(&p, value, 0);
}

/* ------------------------------------------------------------------ */
/* Unpacking */

typedef struct {
    const unsigned char *start, *p, *end;
} unpacker;

static PyObject *invalid(const unpacker *u, const char *what, const unsigned char *at)
{
    PyErr_Format(PyExc_ValueError, "invalid MessagePack value: %s at byte %zd", what,
                 (Py_ssize_t)(at - u->start));
    return NULL;
}

static PyObject *truncated(const unpacker *u)
{
    return invalid(u, "input ends early", u->end);
}

static inline uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Take n bytes, or NULL if the input has fewer left. */
static inline const unsigned char *take(unpacker *u, size_t n)
{
    return ds_take_bytes(&u->p, u->end, n);
}

static PyObject *make_str(const unpacker *u, const unsigned char *s, size_t n)
{
    /* "surrogatepass": see the top of the file. It costs nothing on valid
     * UTF-8: the handler is only looked up on an error. */
    PyObject *r = PyUnicode_DecodeUTF8((const char *)s, (Py_ssize_t)n, "surrogatepass");
    if (!r && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        invalid(u, "str is not valid UTF-8", s);
    }
    return r;
}

/* Short strs, keys and values alike, come from a cache (as in the pickle
 * reader): keys and many values (names, tags, states) repeat from record to
 * record, and a hit costs no decode or allocation. */
static ds_key_cache str_cache;

/* make_str in the shape the cache calls back. */
static PyObject *decode_str(const void *u, const unsigned char *s, size_t n)
{
    return make_str(u, s, n);
}

static inline PyObject *cached_str(const unpacker *u, const unsigned char *s, size_t n)
{
    return ds_key_cache_get(&str_cache, s, n, decode_str, u);
}

static PyObject *make_bigint(const unpacker *u, const unsigned char *s, size_t n)
{
    size_t i = n && s[0] == '-';
    if (i == n)
        return invalid(u, "ext 1 (big int) without digits", s);
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return invalid(u, "ext 1 (big int) with a non-digit", s + i);
    char *text = PyMem_Malloc(n + 1);
    if (!text)
        return PyErr_NoMemory();
    memcpy(text, s, n);
    text[n] = '\0';
    PyObject *r = PyLong_FromString(text, NULL, 10);
    PyMem_Free(text);
    return r;
}

static PyObject *unpack_value(unpacker *u, int depth);

static PyObject *unpack_array(unpacker *u, size_t n, int depth, const unsigned char *at)
{
    if (++depth > MSGPACK_MAX_DEPTH)
        return invalid(u, "nested deeper than " Py_STRINGIFY(MSGPACK_MAX_DEPTH) " levels", at);
    /* Every element takes at least a byte: a huge count in a short input
     * is an error, not a huge allocation. */
    if (n > (size_t)(u->end - u->p))
        return truncated(u);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *item = unpack_value(u, depth);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *unpack_key(unpacker *u)
{
    const unsigned char *at = u->p, *h, *s;
    size_t n;
    if (u->p >= u->end)
        return truncated(u);
    unsigned char b = *u->p++;
    if (b >= 0xa0 && b <= 0xbf) {
        n = b & 0x1f;
    } else if (b == 0xd9) {
        if (!(h = take(u, 1)))
            return truncated(u);
        n = h[0];
    } else if (b == 0xda) {
        if (!(h = take(u, 2)))
            return truncated(u);
        n = be16(h);
    } else if (b == 0xdb) {
        if (!(h = take(u, 4)))
            return truncated(u);
        n = be32(h);
    } else {
        return invalid(u, "map key is not a str", at);
    }
    if (!(s = take(u, n)))
        return truncated(u);
    return cached_str(u, s, n);
}

static PyObject *unpack_map(unpacker *u, size_t n, int depth, const unsigned char *at)
{
    if (++depth > MSGPACK_MAX_DEPTH)
        return invalid(u, "nested deeper than " Py_STRINGIFY(MSGPACK_MAX_DEPTH) " levels", at);
    if (n > (size_t)(u->end - u->p) / 2)
        return truncated(u);
    PyObject *dict = PyDict_New();
    if (!dict)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *k = unpack_key(u);
        if (ds_dict_set_stolen(dict, k, k ? unpack_value(u, depth) : NULL) < 0) {
            Py_DECREF(dict);
            return NULL;
        }
    }
    return dict;
}

static PyObject *unpack_ext(unpacker *u, size_t n, const unsigned char *at)
{
    const unsigned char *h = take(u, 1), *s;
    if (!h || !(s = take(u, n)))
        return truncated(u);
    if ((int8_t)h[0] != EXT_BIGINT) {
        PyErr_Format(PyExc_ValueError,
                     "invalid MessagePack value: unsupported ext type %d at byte %zd",
                     (int)(int8_t)h[0], (Py_ssize_t)(at - u->start));
        return NULL;
    }
    return make_bigint(u, s, n);
}

/* Recursion depth is bounded by MSGPACK_MAX_DEPTH. */
static PyObject *unpack_value(unpacker *u, int depth)
{
    const unsigned char *at = u->p, *h, *s;
    size_t n;
    if (u->p >= u->end)
        return truncated(u);
    unsigned char b = *u->p++;

    if (b <= 0x7f)
        return PyLong_FromLong(b);
    if (b >= 0xe0)
        return PyLong_FromLong((int8_t)b);
    if (b <= 0x8f)
        return unpack_map(u, b & 0x0f, depth, at);
    if (b <= 0x9f)
        return unpack_array(u, b & 0x0f, depth, at);
    if (b <= 0xbf) {
        n = b & 0x1f;
        if (!(s = take(u, n)))
            return truncated(u);
        return cached_str(u, s, n);
    }

    switch (b) {
    case 0xc0:
        Py_RETURN_NONE;
    case 0xc2:
        Py_RETURN_FALSE;
    case 0xc3:
        Py_RETURN_TRUE;
    case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
        if (!(h = take(u, (size_t)1 << (b - 0xc4))))
            return truncated(u);
        n = b == 0xc4 ? h[0] : b == 0xc5 ? be16(h) : be32(h);
        if (!(s = take(u, n)))
            return truncated(u);
        return PyBytes_FromStringAndSize((const char *)s, (Py_ssize_t)n);
    case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32 */
        if (!(h = take(u, (size_t)1 << (b - 0xc7))))
            return truncated(u);
        n = b == 0xc7 ? h[0] : b == 0xc8 ? be16(h) : be32(h);
        return unpack_ext(u, n, at);
    case 0xca: {
        if (!(h = take(u, 4)))
            return truncated(u);
        uint32_t bits = be32(h);
        float f;
        memcpy(&f, &bits, 4);
        return PyFloat_FromDouble(f);
    }
    case 0xcb: {
        if (!(h = take(u, 8)))
            return truncated(u);
        uint64_t bits = be64(h);
        double d;
        memcpy(&d, &bits, 8);
        return PyFloat_FromDouble(d);
    }
    case 0xcc:
        if (!(h = take(u, 1)))
            return truncated(u);
        return PyLong_FromLong(h[0]);
    case 0xcd:
        if (!(h = take(u, 2)))
            return truncated(u);
        return PyLong_FromLong(be16(h));
    case 0xce:
        if (!(h = take(u, 4)))
            return truncated(u);
        return PyLong_FromUnsignedLong(be32(h));
    case 0xcf:
        if (!(h = take(u, 8)))
            return truncated(u);
        return PyLong_FromUnsignedLongLong(be64(h));
    case 0xd0:
        if (!(h = take(u, 1)))
            return truncated(u);
        return PyLong_FromLong((int8_t)h[0]);
    case 0xd1:
        if (!(h = take(u, 2)))
            return truncated(u);
        return PyLong_FromLong((int16_t)be16(h));
    case 0xd2:
        if (!(h = take(u, 4)))
            return truncated(u);
        return PyLong_FromLong((int32_t)be32(h));
    case 0xd3:
        if (!(h = take(u, 8)))
            return truncated(u);
        return PyLong_FromLongLong((int64_t)be64(h));
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16 */
        return unpack_ext(u, (size_t)1 << (b - 0xd4), at);
    case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
        if (!(h = take(u, (size_t)1 << (b - 0xd9))))
            return truncated(u);
        n = b == 0xd9 ? h[0] : b == 0xda ? be16(h) : be32(h);
        if (!(s = take(u, n)))
            return truncated(u);
        return cached_str(u, s, n);
    case 0xdc: case 0xdd: /* array 16/32 */
        if (!(h = take(u, b == 0xdc ? 2 : 4)))
            return truncated(u);
        return unpack_array(u, b == 0xdc ? be16(h) : be32(h), depth, at);
    case 0xde: case 0xdf: /* map 16/32 */
        if (!(h = take(u, b == 0xde ? 2 : 4)))
            return truncated(u);
        return unpack_map(u, b == 0xde ? be16(h) : be32(h), depth, at);
    default: /* 0xc1, never used */
        return invalid(u, "reserved type byte 0xc1", at);
    }
}

PyObject *ds_msgpack_decode(const char *data, size_t len)
{
    if (len == 0) {
        PyErr_SetString(PyExc_ValueError, "invalid MessagePack value: empty input");
        return NULL;
    }
    unpacker u;
    u.start = u.p = (const unsigned char *)data;
    u.end = u.start + len;
    PyObject *v = unpack_value(&u, 0);
    if (v && u.p != u.end) {
        Py_DECREF(v);
        return invalid(&u, "extra data", u.p);
    }
    return v;
}
