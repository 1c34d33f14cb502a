/* Plain-value pickle writer (see pickle_fast.h). It writes the opcodes
 * pickle itself picks for protocol 4 (Lib/pickletools.py documents them),
 * minus FRAME and the memo, and one MARK ... APPENDS/SETITEMS per container
 * where pickle batches by 1000: unpicklers accept either. */
#include "pickle_fast.h"

#include <stdint.h>
#include <string.h>

/* Deeper values give up rather than recurse on: pickle.dumps takes them. */
#define MAX_DEPTH 100

/* A str or bytes at least this long, met twice, makes the writer give up
 * too: pickle.dumps writes the repeat as a memo reference, where we would
 * write (and a read would build) another copy, say 1000 for [s] * 1000.
 * Shorter ones are not worth tracking: a copy costs little more than the
 * reference. */
#define SHARE_MIN 64

/* Containers (and long strings) already written, to find one met twice.
 * Small values compare against a short inline array, with no allocation;
 * past that a hash table keeps the walk linear in the size of the value. */
#define INLINE_SEEN 32

typedef struct seen_set {
    const void **table; /* NULL while inline_items suffices */
    size_t n, mask;
    const void *inline_items[INLINE_SEEN];
} seen_set;

static inline size_t slot_of(const void *p, size_t mask)
{
    /* Fibonacci hashing: object addresses share their low bits. */
    return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static void table_put(const void **table, size_t mask, const void *p)
{
    size_t i = slot_of(p, mask);
    while (table[i])
        i = (i + 1) & mask;
    table[i] = p;
}

/* 0 if p is new (now added), 1 if it was there, -1 with MemoryError set. */
static int seen_add(seen_set *s, const void *p)
{
    if (!s->table) {
        for (size_t i = 0; i < s->n; i++)
            if (s->inline_items[i] == p)
                return 1;
        if (s->n < INLINE_SEEN) {
            s->inline_items[s->n++] = p;
            return 0;
        }
    } else {
        for (size_t i = slot_of(p, s->mask); s->table[i]; i = (i + 1) & s->mask)
            if (s->table[i] == p)
                return 1;
    }
    /* at most half full, so probes stay short */
    if (!s->table || 2 * (s->n + 1) > s->mask + 1) {
        size_t cap = s->table ? 2 * (s->mask + 1) : 4 * INLINE_SEEN;
        const void **t = PyMem_Calloc(cap, sizeof(*t));
        if (!t) {
            PyErr_NoMemory();
            return -1;
        }
        if (s->table) {
            for (size_t i = 0; i <= s->mask; i++)
                if (s->table[i])
                    table_put(t, cap - 1, s->table[i]);
            PyMem_Free(s->table);
        } else {
            for (size_t i = 0; i < s->n; i++)
                table_put(t, cap - 1, s->inline_items[i]);
        }
        s->table = t;
        s->mask = cap - 1;
    }
    table_put(s->table, s->mask, p);
    s->n++;
    return 0;
}

typedef struct writer {
    ds_buf *out;
    seen_set seen;
    int depth;
} writer;

/* A pointer to n writable bytes at the end of out (the caller then adds
 * what it wrote to out->len), or NULL with MemoryError set. */
static inline unsigned char *room(writer *w, size_t n)
{
    if (ds_buf_reserve(w->out, n) < 0) {
        PyErr_NoMemory();
        return NULL;
    }
    return (unsigned char *)w->out->data + w->out->len;
}

static inline int op(writer *w, unsigned char code)
{
    if (ds_buf_putc(w->out, (char)code) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static inline void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The data of str or bytes v, length-prefixed with the smallest of the
 * three length sizes (1, 4 or 8 bytes), as pickle does. */
static int write_sized(writer *w, PyObject *v, unsigned char op1, unsigned char op4,
                       unsigned char op8, const char *data, size_t n)
{
    if (n >= SHARE_MIN) {
        int rc = seen_add(&w->seen, v);
        if (rc)
            return rc;
    }
    unsigned char *p = room(w, 9 + n);
    if (!p)
        return -1;
    if (n < 256) { /* the common case, kept branch-light */
        p[0] = op1;
        p[1] = (unsigned char)n;
        memcpy(p + 2, data, n);
        w->out->len += 2 + n;
        return 0;
    }
    int h = n <= 0xffffffffu ? 4 : 8;
    p[0] = h == 4 ? op4 : op8;
    put_le(p + 1, n, h);
    memcpy(p + 1 + h, data, n);
    w->out->len += 1 + (size_t)h + n;
    return 0;
}

static int write_str(writer *w, PyObject *v)
{
    Py_ssize_t n;
    const char *s;
    if (PyUnicode_IS_COMPACT_ASCII(v)) { /* its data is its UTF-8 */
        s = (const char *)PyUnicode_1BYTE_DATA(v);
        n = PyUnicode_GET_LENGTH(v);
    } else if (!(s = PyUnicode_AsUTF8AndSize(v, &n))) { /* cached in v, as pickle does */
        if (PyErr_ExceptionMatches(PyExc_MemoryError))
            return -1;
        /* lone surrogates: pickle.dumps writes them with surrogatepass */
        PyErr_Clear();
        return 1;
    }
    return write_sized(w, v, 0x8c, 'X', 0x8d, s, (size_t)n); /* SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 */
}

/* The little-endian two's complement of v in the length pickle.encode_long
 * picks (bit_length // 8 + 1 bytes), for ints past 64 bits, which are rare:
 * 64 bits at a time with public API only (PyLong_AsUnsignedLongLongMask and
 * shifts), so no Python-level call runs. Appended to out; 0, 1 to give up
 * (too large), or -1 with an exception. */
static int long_bytes_big(PyObject *v, int negative, ds_buf *out)
{
    PyObject *m = PyNumber_Absolute(v);
    PyObject *sixty_four = PyLong_FromLong(64);
    int rc = -1;
    while (m && sixty_four) {
        int zero = PyObject_Not(m);
        if (zero < 0)
            goto done;
        if (zero)
            break;
        unsigned long long chunk = PyLong_AsUnsignedLongLongMask(m);
        if (chunk == (unsigned long long)-1 && PyErr_Occurred())
            goto done;
        /* 8 bytes now, and room for the sign byte added below */
        if (ds_buf_reserve(out, 9) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        for (int i = 0; i < 8; i++)
            out->data[out->len++] = (char)(unsigned char)(chunk >> (8 * i));
        Py_SETREF(m, PyNumber_Rshift(m, sixty_four));
    }
    if (!m || !sixty_four)
        goto done;
    unsigned char *d = (unsigned char *)out->data;
    size_t n = out->len;
    while (n && d[n - 1] == 0) /* the magnitude's own length */
        n--;
    unsigned top = n ? d[n - 1] : 0;
    size_t bits = n ? 8 * (n - 1) + (32 - (size_t)__builtin_clz(top)) : 0;
    size_t want = (bits >> 3) + 1;
    if (want > INT32_MAX) {
        rc = 1;
        goto done;
    }
    if (want > n) /* the sign byte: reserved above */
        d[n] = 0;
    n = want;
    if (negative) { /* two's complement: invert, add one */
        unsigned carry = 1;
        for (size_t i = 0; i < n; i++) {
            unsigned b = (unsigned)(unsigned char)~d[i] + carry;
            d[i] = (unsigned char)b;
            carry = b >> 8;
        }
    }
    out->len = n;
    rc = 0;
done:
    Py_XDECREF(m);
    Py_XDECREF(sixty_four);
    return rc;
}

/* LONG1/LONG4 for ints outside the 32-bit range; x and overflow are
 * PyLong_AsLongLongAndOverflow(v) as write_int computed them. */
static int write_long(writer *w, PyObject *v, long long x, int overflow)
{
    ds_buf bytes;
    ds_buf_init(&bytes);
    int negative = overflow ? overflow < 0 : x < 0;
    if (!overflow) {
        unsigned long long mag = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
        size_t bits = mag ? 64 - (size_t)__builtin_clzll(mag) : 0;
        bytes.len = (bits >> 3) + 1; /* at most 9: fits the inline space */
        for (size_t i = 0; i < bytes.len; i++)
            bytes.data[i] = (char)(i < 8 ? (unsigned char)((unsigned long long)x >> (8 * i))
                                         : (x < 0 ? 0xff : 0));
    } else {
        int got = long_bytes_big(v, negative, &bytes);
        if (got != 0) {
            ds_buf_release(&bytes);
            return got;
        }
    }
    const unsigned char *d = (const unsigned char *)bytes.data;
    size_t n = bytes.len;
    if (negative && n > 1 && d[n - 1] == 0xff && (d[n - 2] & 0x80))
        n--;
    int rc = 1; /* LONG4's length is signed: past INT32_MAX pickle.dumps raises */
    unsigned char *p;
    if (n <= INT32_MAX) {
        if (!(p = room(w, 5 + n))) {
            rc = -1;
        } else if (n < 256) {
            p[0] = 0x8a;
            p[1] = (unsigned char)n;
            memcpy(p + 2, d, n);
            w->out->len += 2 + n;
            rc = 0;
        } else {
            p[0] = 0x8b;
            put_le(p + 1, n, 4);
            memcpy(p + 5, d, n);
            w->out->len += 5 + n;
            rc = 0;
        }
    }
    ds_buf_release(&bytes);
    return rc;
}

static int write_int(writer *w, PyObject *v)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) { /* not for an exact int; be safe */
        PyErr_Clear();
        return 1;
    }
    if (overflow || x < INT32_MIN || x > INT32_MAX)
        return write_long(w, v, x, overflow);
    unsigned char *p = room(w, 5);
    if (!p)
        return -1;
    int n = x >= 0 && x <= 0xff ? 1 : x >= 0 && x <= 0xffff ? 2 : 4;
    p[0] = n == 1 ? 'K' : n == 2 ? 'M' : 'J'; /* BININT1, BININT2, BININT */
    put_le(p + 1, (uint64_t)(uint32_t)(int32_t)x, n);
    w->out->len += 1 + (size_t)n;
    return 0;
}

static int write_float(writer *w, PyObject *v)
{
    unsigned char *p = room(w, 9);
    if (!p)
        return -1;
    p[0] = 'G'; /* BINFLOAT: big-endian, keeps -0.0 and NaN bits */
    if (PyFloat_Pack8(PyFloat_AS_DOUBLE(v), (char *)p + 1, 0) < 0) {
        PyErr_Clear();
        return 1;
    }
    w->out->len += 9;
    return 0;
}

static int write_value(writer *w, PyObject *v);

/* Entering a container: 0 to write it, 1 to give up (met before, so shared
 * or cyclic, or too deep), -1 on MemoryError. */
static int enter(writer *w, PyObject *c)
{
    if (++w->depth > MAX_DEPTH)
        return 1;
    return seen_add(&w->seen, c);
}

#define TRY(call)                                                              \
    do {                                                                       \
        int rc_ = (call);                                                      \
        if (rc_)                                                               \
            return rc_;                                                        \
    } while (0)

static int write_list(writer *w, PyObject *v)
{
    TRY(enter(w, v));
    TRY(op(w, ']')); /* EMPTY_LIST */
    Py_ssize_t n = PyList_GET_SIZE(v);
    if (n) {
        TRY(op(w, '(')); /* MARK */
        for (Py_ssize_t i = 0; i < n; i++)
            TRY(write_value(w, PyList_GET_ITEM(v, i)));
        TRY(op(w, 'e')); /* APPENDS */
    }
    w->depth--;
    return 0;
}

static int write_dict(writer *w, PyObject *v)
{
    TRY(enter(w, v));
    TRY(op(w, '}')); /* EMPTY_DICT */
    if (PyDict_GET_SIZE(v)) {
        TRY(op(w, '(')); /* MARK */
        Py_ssize_t pos = 0;
        PyObject *k, *x;
        while (PyDict_Next(v, &pos, &k, &x)) {
            TRY(write_value(w, k));
            TRY(write_value(w, x));
        }
        TRY(op(w, 'u')); /* SETITEMS */
    }
    w->depth--;
    return 0;
}

static int write_tuple(writer *w, PyObject *v)
{
    Py_ssize_t n = PyTuple_GET_SIZE(v);
    if (n == 0) /* the shared empty tuple, which pickle does not memoize either */
        return op(w, ')'); /* EMPTY_TUPLE */
    TRY(enter(w, v));
    if (n > 3)
        TRY(op(w, '(')); /* MARK */
    for (Py_ssize_t i = 0; i < n; i++)
        TRY(write_value(w, PyTuple_GET_ITEM(v, i)));
    static const unsigned char by_len[] = {0, 0x85, 0x86, 0x87}; /* TUPLE1..3 */
    TRY(op(w, n <= 3 ? by_len[n] : 't'));                       /* or TUPLE */
    w->depth--;
    return 0;
}

static int write_value(writer *w, PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type)
        return write_str(w, v);
    if (t == &PyLong_Type)
        return write_int(w, v);
    if (t == &PyDict_Type)
        return write_dict(w, v);
    if (t == &PyList_Type)
        return write_list(w, v);
    if (t == &PyFloat_Type)
        return write_float(w, v);
    if (v == Py_None)
        return op(w, 'N');
    if (v == Py_True)
        return op(w, 0x88); /* NEWTRUE */
    if (v == Py_False)
        return op(w, 0x89); /* NEWFALSE */
    if (t == &PyBytes_Type) /* SHORT_BINBYTES, BINBYTES, BINBYTES8 */
        return write_sized(w, v, 'C', 'B', 0x8e, PyBytes_AS_STRING(v),
                           (size_t)PyBytes_GET_SIZE(v));
    if (t == &PyTuple_Type)
        return write_tuple(w, v);
    return 1;
}

int ds_pickle_fast_dumps(PyObject *value, int protocol, ds_buf *out)
{
    /* below 4 there is no SHORT_BINUNICODE or BINBYTES8 (nor bytes below 3) */
    if (protocol < 4 || protocol > 5)
        return 1;
    writer w;
    w.out = out;
    w.seen.table = NULL;
    w.seen.n = 0;
    w.seen.mask = 0;
    w.depth = 0;
    int rc = -1;
    unsigned char *p = room(&w, 2);
    if (p) {
        p[0] = 0x80; /* PROTO */
        p[1] = (unsigned char)protocol;
        out->len += 2;
        rc = write_value(&w, value);
        if (rc == 0)
            rc = op(&w, '.'); /* STOP */
    }
    PyMem_Free(w.seen.table);
    return rc;
}
