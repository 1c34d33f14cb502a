/* Plain-value pickle reader (see pickle_fast.h). Opcode values and argument
 * layouts are those of the pickle protocol (Lib/pickletools.py documents
 * them); the implementation is ours. */
#include "pickle_fast.h"
#include "byte_reader.h"
#include "key_string_cache.h"

#include <stdint.h>
#include <string.h>

/* Small values need no allocation for the stack, marks or memo; larger ones
 * grow these arrays on the heap. */
#define INLINE_SLOTS 32

typedef struct grow {
    void **items;
    size_t n, cap;
    void *inline_items[INLINE_SLOTS];
} grow;

static void grow_init(grow *g)
{
    g->items = g->inline_items;
    g->n = 0;
    g->cap = INLINE_SLOTS;
}

static int grow_push(grow *g, void *item)
{
    if (g->n == g->cap) {
        size_t cap = g->cap * 2;
        void **items = g->items == g->inline_items
            ? PyMem_Malloc(cap * sizeof(*items))
            : PyMem_Realloc(g->items, cap * sizeof(*items));
        if (!items)
            return -1;
        if (g->items == g->inline_items)
            memcpy(items, g->inline_items, sizeof(g->inline_items));
        g->items = items;
        g->cap = cap;
    }
    g->items[g->n++] = item;
    return 0;
}

/* Release the objects (owned references) in g, and its heap array. */
static void grow_free(grow *g, int owns_objects)
{
    if (owns_objects)
        for (size_t i = 0; i < g->n; i++)
            Py_XDECREF((PyObject *)g->items[i]);
    if (g->items != g->inline_items)
        PyMem_Free(g->items);
}

typedef struct reader {
    const unsigned char *p, *end;
    grow stack; /* owned references */
    grow memo;  /* owned references */
    grow marks; /* stack depths, as uintptr_t */
} reader;

static inline const unsigned char *take(reader *r, size_t n)
{
    return ds_take_bytes(&r->p, r->end, n);
}

static inline uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Push a new reference; NULL (a failed constructor) fails the read. */
static inline int push(reader *r, PyObject *o)
{
    if (!o)
        return -1;
    if (grow_push(&r->stack, o) < 0) {
        Py_DECREF(o);
        return -1;
    }
    return 0;
}

static inline PyObject *top(reader *r)
{
    return r->stack.n ? (PyObject *)r->stack.items[r->stack.n - 1] : NULL;
}

/* The stack depth of the innermost mark, popped; SIZE_MAX if none. */
static size_t pop_mark(reader *r)
{
    if (!r->marks.n)
        return SIZE_MAX;
    return (size_t)(uintptr_t)r->marks.items[--r->marks.n];
}

/* Length-prefixed payload (nbytes of little-endian length). */
static const unsigned char *payload(reader *r, int nbytes, size_t *len)
{
    const unsigned char *h = take(r, (size_t)nbytes);
    if (!h)
        return NULL;
    uint64_t n = le(h, nbytes);
    if (n > (uint64_t)(r->end - r->p))
        return NULL;
    *len = (size_t)n;
    return take(r, (size_t)n);
}

static PyObject *decode_str(const void *ctx, const unsigned char *s, size_t n)
{
    (void)ctx;
    return PyUnicode_DecodeUTF8((const char *)s, (Py_ssize_t)n, "surrogatepass");
}

/* Short strings come from a cache: mostly dict keys, the same few in every
 * record, which then cost no decode, allocation or hashing on insert. */
static ds_key_cache str_cache;

static int load_str(reader *r, int nbytes)
{
    size_t n;
    const unsigned char *s = payload(r, nbytes, &n);
    return s ? push(r, ds_key_cache_get(&str_cache, s, n, decode_str, NULL)) : -1;
}

static int load_bytes(reader *r, int nbytes)
{
    size_t n;
    const unsigned char *s = payload(r, nbytes, &n);
    return s ? push(r, PyBytes_FromStringAndSize((const char *)s, (Py_ssize_t)n)) : -1;
}

/* v = v << shift | low: a new reference (v's is consumed), or NULL. */
static PyObject *shift_or(PyObject *v, unsigned shift, unsigned long long low)
{
    PyObject *sh = PyLong_FromUnsignedLong(shift), *lo = PyLong_FromUnsignedLongLong(low);
    PyObject *moved = sh && lo ? PyNumber_Lshift(v, sh) : NULL;
    PyObject *out = moved ? PyNumber_Or(moved, lo) : NULL;
    Py_XDECREF(moved);
    Py_XDECREF(sh);
    Py_XDECREF(lo);
    Py_DECREF(v);
    return out;
}

/* An int from n > 8 bytes of little-endian two's complement (LONG1/LONG4
 * past 64 bits, which are rare), 64 bits at a time from the top, on public
 * API only. */
static PyObject *long_from_le_bytes(const unsigned char *s, size_t n)
{
    PyObject *v = PyLong_FromLong(0);
    for (size_t end = n; v && end > 0;) {
        size_t start = end >= 8 ? end - 8 : 0;
        unsigned long long chunk = 0;
        for (size_t i = end; i-- > start;)
            chunk = chunk << 8 | s[i];
        v = shift_or(v, (unsigned)(8 * (end - start)), chunk);
        end = start;
    }
    if (v && (s[n - 1] & 0x80)) { /* negative: subtract 2**(8n) */
        PyObject *one = PyLong_FromLong(1);
        PyObject *mod = one ? shift_or(one, (unsigned)(8 * n), 0) : NULL;
        Py_SETREF(v, mod ? PyNumber_Subtract(v, mod) : NULL);
        Py_XDECREF(mod);
    }
    return v;
}

static int load_long(reader *r, int nbytes)
{
    size_t n;
    const unsigned char *s = payload(r, nbytes, &n);
    if (!s)
        return -1;
    if (n == 0)
        return push(r, PyLong_FromLong(0));
    if (n <= 8) { /* little-endian two's complement, sign-extended */
        unsigned long long u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (unsigned long long)s[i] << (8 * i);
        if (n < 8 && (s[n - 1] & 0x80))
            u |= ~0ULL << (8 * n);
        return push(r, PyLong_FromLongLong((long long)u));
    }
    return push(r, long_from_le_bytes(s, n));
}

/* Items stack[from..] become a tuple in their place. */
static int build_tuple(reader *r, size_t from)
{
    if (from > r->stack.n)
        return -1;
    size_t n = r->stack.n - from;
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (!t)
        return -1;
    for (size_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, (PyObject *)r->stack.items[from + i]);
    r->stack.n = from;
    return push(r, t);
}

/* Items stack[from..] go into the list or dict just below them. */
static int fill_container(reader *r, size_t from, int is_dict)
{
    if (from == 0 || from > r->stack.n || (is_dict && (r->stack.n - from) % 2))
        return -1;
    PyObject *c = (PyObject *)r->stack.items[from - 1];
    int rc = 0;
    if (is_dict ? !PyDict_CheckExact(c) : !PyList_CheckExact(c))
        rc = -1;
    for (size_t i = from; i < r->stack.n && rc == 0; i += is_dict ? 2 : 1)
        rc = is_dict ? PyDict_SetItem(c, (PyObject *)r->stack.items[i],
                                      (PyObject *)r->stack.items[i + 1])
                     : PyList_Append(c, (PyObject *)r->stack.items[i]);
    for (size_t i = from; i < r->stack.n; i++)
        Py_DECREF((PyObject *)r->stack.items[i]);
    r->stack.n = from;
    return rc;
}

static int memo_get(reader *r, uint64_t i)
{
    if (i >= r->memo.n)
        return -1;
    return push(r, Py_NewRef((PyObject *)r->memo.items[i]));
}

/* One opcode; 1 at STOP, 0 to go on, -1 to give up. */
static int step(reader *r)
{
    const unsigned char *a = take(r, 1);
    if (!a)
        return -1;
    switch (*a) {
    case 0x80: /* PROTO */
        a = take(r, 1);
        return a && *a >= 2 && *a <= 5 ? 0 : -1;
    case 0x95: { /* FRAME: not needed to read, but a frame longer than
                  * what is left is a truncated pickle, as pickle.loads
                  * says: give up rather than read what follows */
        const unsigned char *len = take(r, 8);
        uint64_t n = 0;
        for (int i = 7; len && i >= 0; i--)
            n = n << 8 | len[i];
        return len && n <= (uint64_t)(r->end - r->p) ? 0 : -1;
    }
    case '}': return push(r, PyDict_New());
    case ']': return push(r, PyList_New(0));
    case ')': return push(r, PyTuple_New(0));
    case '(': return grow_push(&r->marks, (void *)(uintptr_t)r->stack.n);
    case 'u': return fill_container(r, pop_mark(r), 1);
    case 'e': return fill_container(r, pop_mark(r), 0);
    case 's': return r->stack.n >= 2 ? fill_container(r, r->stack.n - 2, 1) : -1;
    case 'a': return r->stack.n >= 1 ? fill_container(r, r->stack.n - 1, 0) : -1;
    case 't': return build_tuple(r, pop_mark(r));
    case 0x85: return r->stack.n >= 1 ? build_tuple(r, r->stack.n - 1) : -1; /* TUPLE1 */
    case 0x86: return r->stack.n >= 2 ? build_tuple(r, r->stack.n - 2) : -1; /* TUPLE2 */
    case 0x87: return r->stack.n >= 3 ? build_tuple(r, r->stack.n - 3) : -1; /* TUPLE3 */
    case 0x8c: return load_str(r, 1);   /* SHORT_BINUNICODE */
    case 'X': return load_str(r, 4);    /* BINUNICODE */
    case 0x8d: return load_str(r, 8);   /* BINUNICODE8 */
    case 'C': return load_bytes(r, 1);  /* SHORT_BINBYTES */
    case 'B': return load_bytes(r, 4);  /* BINBYTES */
    case 0x8e: return load_bytes(r, 8); /* BINBYTES8 */
    case 'K': /* BININT1 */
        return (a = take(r, 1)) ? push(r, PyLong_FromLong(a[0])) : -1;
    case 'M': /* BININT2 */
        return (a = take(r, 2)) ? push(r, PyLong_FromLong((long)le(a, 2))) : -1;
    case 'J': /* BININT: signed 32-bit */
        return (a = take(r, 4)) ? push(r, PyLong_FromLong((long)(int32_t)(uint32_t)le(a, 4)))
                                : -1;
    case 0x8a: return load_long(r, 1); /* LONG1 */
    case 0x8b: return load_long(r, 4); /* LONG4 */
    case 'G': /* BINFLOAT: big-endian double */
        return (a = take(r, 8)) ? push(r, PyFloat_FromDouble(
                                              PyFloat_Unpack8((const char *)a, 0)))
                                : -1;
    case 0x88: return push(r, Py_NewRef(Py_True));
    case 0x89: return push(r, Py_NewRef(Py_False));
    case 'N': return push(r, Py_NewRef(Py_None));
    case 0x94: /* MEMOIZE */
        if (!top(r))
            return -1;
        if (grow_push(&r->memo, top(r)) < 0)
            return -1;
        Py_INCREF(top(r));
        return 0;
    case 'h': return (a = take(r, 1)) ? memo_get(r, a[0]) : -1;        /* BINGET */
    case 'j': return (a = take(r, 4)) ? memo_get(r, le(a, 4)) : -1;    /* LONG_BINGET */
    case '.': /* STOP */
        return r->stack.n == 1 && r->marks.n == 0 && r->p == r->end ? 1 : -1;
    default:
        return -1;
    }
}

PyObject *ds_pickle_fast_loads(const char *data, size_t len)
{
    reader r;
    r.p = (const unsigned char *)data;
    r.end = r.p + len;
    grow_init(&r.stack);
    grow_init(&r.memo);
    grow_init(&r.marks);
    int s;
    while ((s = step(&r)) == 0)
        ;
    PyObject *result = NULL;
    if (s == 1) {
        result = (PyObject *)r.stack.items[0];
        r.stack.n = 0;
    } else {
        /* pickle.loads will say what is wrong, or handle what we do not */
        PyErr_Clear();
    }
    grow_free(&r.stack, 1);
    grow_free(&r.memo, 1);
    grow_free(&r.marks, 0);
    return result;
}
