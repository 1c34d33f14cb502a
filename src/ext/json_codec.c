/* JSON codec: see json_codecs.h for the contract.
 *
 * Encoding writes text straight into the ds_buf: building a cJSON tree first
 * would cost an allocation per value and squeeze every int through a double.
 *
 * Decoding lets cJSON check the structure, but takes every number and string
 * from the input text itself. A side scan records number and string tokens
 * in document order; the walk over the cJSON tree (which keeps document
 * order) consumes one token per number, string and object key. That is what
 * keeps big ints exact, tells "1" from "1.0", and keeps strings with "\u0000"
 * or lone surrogates intact, none of which cJSON's own values can do.
 *
 * Depth: cJSON refuses documents nested deeper than CJSON_NESTING_LIMIT
 * (1000) containers. The encoder refuses the same depth, so whatever we write
 * can be read back; in practice Py_EnterRecursiveCall stops encoding earlier
 * (RecursionError near the interpreter's recursion limit). Decoding recurses
 * on the C stack without Py_EnterRecursiveCall: the depth is bounded by the
 * limit above, and a value written at a shallow Python stack must stay
 * readable from a deep one.
 */
#include "json_codecs.h"
#include "key_string_cache.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>

#define JSON_MAX_DEPTH CJSON_NESTING_LIMIT

static const char HEX[] = "0123456789abcdef";

static int no_memory(void)
{
    PyErr_NoMemory();
    return -1;
}

static int put(ds_buf *out, const char *s, size_t n)
{
    return ds_buf_append(out, s, n) < 0 ? no_memory() : 0;
}

static int putch(ds_buf *out, char c)
{
    return ds_buf_putc(out, c) < 0 ? no_memory() : 0;
}

/* ------------------------------------------------------------------ */
/* Encoding */

/* 1 for the ASCII bytes a JSON string cannot hold raw. */
static const unsigned char ESCAPE_ASCII[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Room for 4 bytes must be reserved. A surrogate comes out in its 3-byte
 * "surrogatepass" form. */
static inline char *put_utf8(char *p, Py_UCS4 c)
{
    if (c < 0x80) {
        *p++ = (char)c;
    } else if (c < 0x800) {
        *p++ = (char)(0xC0 | (c >> 6));
        *p++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *p++ = (char)(0xE0 | (c >> 12));
        *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *p++ = (char)(0x80 | (c & 0x3F));
    } else {
        *p++ = (char)(0xF0 | (c >> 18));
        *p++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *p++ = (char)(0x80 | (c & 0x3F));
    }
    return p;
}

/* Write one code point; room for 6 bytes must be reserved. Lone surrogates
 * become \udXXX escapes: raw they would not be UTF-8, escaped the text stays
 * valid JSON and our decoder turns them back into the same code point. */
static char *write_char(char *p, Py_UCS4 c)
{
    if (c < 0x80) {
        if (!ESCAPE_ASCII[c]) {
            *p++ = (char)c;
            return p;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = HEX[c >> 4];
            *p++ = HEX[c & 15];
        }
    } else if (c >= 0xD800 && c <= 0xDFFF) {
        *p++ = '\\';
        *p++ = 'u';
        *p++ = HEX[c >> 12];
        *p++ = HEX[(c >> 8) & 15];
        *p++ = HEX[(c >> 4) & 15];
        *p++ = HEX[c & 15];
    } else {
        p = put_utf8(p, c);
    }
    return p;
}

/* Reserving 6 bytes per code point for a whole string would over-allocate
 * sixfold for big strings; reserving per character costs a branch each. */
#define STR_CHUNK 4096

static int encode_str(PyObject *s, ds_buf *out)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0)
        return -1;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) {
        const unsigned char *src = PyUnicode_1BYTE_DATA(s);
        if (putch(out, '"') < 0)
            return -1;
        Py_ssize_t i = 0;
        while (i < n) {
            Py_ssize_t run = i;
            while (run < n && !ESCAPE_ASCII[src[run]])
                run++;
            if (put(out, (const char *)src + i, (size_t)(run - i)) < 0)
                return -1;
            if (run == n)
                break;
            if (ds_buf_reserve(out, 6) < 0)
                return no_memory();
            char *p = write_char(out->data + out->len, src[run]);
            out->len = (size_t)(p - out->data);
            i = run + 1;
        }
        return putch(out, '"');
    }

    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (putch(out, '"') < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t end = n - i > STR_CHUNK ? i + STR_CHUNK : n;
        if (ds_buf_reserve(out, (size_t)(end - i) * 6) < 0)
            return no_memory();
        char *p = out->data + out->len;
        for (; i < end; i++)
            p = write_char(p, PyUnicode_READ(kind, data, i));
        out->len = (size_t)(p - out->data);
    }
    return putch(out, '"');
}

/* Decimal text of an int of any size; subclasses (IntEnum, ...) are written
 * as their int value, like json.dumps does. */
static int encode_int(PyObject *v, ds_buf *out)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (!overflow) {
        char tmp[24], *p = tmp + sizeof(tmp);
        unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (x < 0)
            *--p = '-';
        return put(out, p, (size_t)(tmp + sizeof(tmp) - p));
    }
    /* int.__repr__, not repr(): a subclass may override __repr__. It also
     * enforces sys.get_int_max_str_digits() like json.dumps. */
    PyObject *text = PyLong_Type.tp_repr(v);
    if (!text)
        return -1;
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(text, &len);
    int rc = s ? put(out, s, (size_t)len) : -1;
    Py_DECREF(text);
    return rc;
}

static int float_out_of_range(double d)
{
    PyErr_Format(PyExc_ValueError,
                 "json storage can't store float('%s'): out of range for JSON",
                 isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
    return -1;
}

/* repr form: shortest text that reads back as the same double, with ".0"
 * kept so that 1.0 decodes as a float again. */
static int encode_float(PyObject *v, ds_buf *out)
{
    double d = PyFloat_AS_DOUBLE(v);
    if (!isfinite(d))
        return float_out_of_range(d);
    char *s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!s)
        return -1;
    int rc = put(out, s, strlen(s));
    PyMem_Free(s);
    return rc;
}

/* Non-str keys become strings the way json.dumps converts them. */
static int encode_key(PyObject *k, ds_buf *out)
{
    if (PyUnicode_Check(k))
        return encode_str(k, out);
    if (k == Py_None)
        return put(out, "\"null\"", 6);
    if (k == Py_True)
        return put(out, "\"true\"", 6);
    if (k == Py_False)
        return put(out, "\"false\"", 7);
    if (PyLong_Check(k) || PyFloat_Check(k)) {
        if (putch(out, '"') < 0)
            return -1;
        if ((PyLong_Check(k) ? encode_int(k, out) : encode_float(k, out)) < 0)
            return -1;
        return putch(out, '"');
    }
    PyErr_Format(PyExc_TypeError,
                 "json storage dict keys must be str, int, float, bool or None, not %.200s",
                 Py_TYPE(k)->tp_name);
    return -1;
}

static int encode_value(PyObject *v, ds_buf *out, int depth);

static int encode_member(PyObject *k, PyObject *v, ds_buf *out, int depth, int first)
{
    if (!first && putch(out, ',') < 0)
        return -1;
    if (encode_key(k, out) < 0 || putch(out, ':') < 0)
        return -1;
    return encode_value(v, out, depth);
}

static int encode_dict(PyObject *v, ds_buf *out, int depth)
{
    if (putch(out, '{') < 0)
        return -1;
    int rc = 0;
    if (PyDict_CheckExact(v)) {
        Py_ssize_t pos = 0;
        PyObject *k, *val;
        int first = 1;
        while (rc == 0 && PyDict_Next(v, &pos, &k, &val)) {
            /* Held across the recursion: a dict subclass's items() further
             * down runs Python code that could drop them from v. */
            Py_INCREF(k);
            Py_INCREF(val);
            rc = encode_member(k, val, out, depth, first);
            Py_DECREF(k);
            Py_DECREF(val);
            first = 0;
        }
    } else {
        /* Subclasses go through items() as json.dumps does, so e.g. an
         * OrderedDict after move_to_end() keeps its own order. */
        PyObject *items = PyMapping_Items(v);
        if (!items)
            return -1;
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(items); i++) {
            PyObject *item = PyList_GET_ITEM(items, i);
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
                PyErr_SetString(PyExc_ValueError, "items must return 2-tuples");
                rc = -1;
                break;
            }
            rc = encode_member(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), out,
                               depth, i == 0);
        }
        Py_DECREF(items);
    }
    if (rc < 0)
        return -1;
    return putch(out, '}');
}

static int encode_array(PyObject *v, ds_buf *out, int depth)
{
    if (putch(out, '[') < 0)
        return -1;
    /* The size is read again each round: see encode_dict for how a list can
     * change under us. */
    for (Py_ssize_t i = 0; i < Py_SIZE(v); i++) {
        if (i && putch(out, ',') < 0)
            return -1;
        PyObject *item = PyList_Check(v) ? PyList_GET_ITEM(v, i) : PyTuple_GET_ITEM(v, i);
        Py_INCREF(item);
        int rc = encode_value(item, out, depth);
        Py_DECREF(item);
        if (rc < 0)
            return -1;
    }
    return putch(out, ']');
}

static int encode_value(PyObject *v, ds_buf *out, int depth)
{
    if (PyUnicode_Check(v))
        return encode_str(v, out);
    if (v == Py_None)
        return put(out, "null", 4);
    if (v == Py_True)
        return put(out, "true", 4);
    if (v == Py_False)
        return put(out, "false", 5);
    if (PyLong_Check(v))
        return encode_int(v, out);
    if (PyFloat_Check(v))
        return encode_float(v, out);

    int is_array = ds_jsonlike_enter_container(v, ++depth, JSON_MAX_DEPTH, "json");
    if (is_array < 0)
        return -1;
    int rc = is_array ? encode_array(v, out, depth) : encode_dict(v, out, depth);
    Py_LeaveRecursiveCall();
    return rc;
}

int ds_jsonlike_enter_container(PyObject *v, int depth, int max_depth, const char *mode)
{
    int is_array = PyList_Check(v) || PyTuple_Check(v);
    if (!is_array && !PyDict_Check(v)) {
        PyErr_Format(PyExc_TypeError,
                     "%s storage stores JSON types (dict, list, str, int, float, bool, "
                     "None), got %.200s",
                     mode, Py_TYPE(v)->tp_name);
        return -1;
    }
    if (depth > max_depth) {
        PyErr_Format(PyExc_ValueError,
                     "%s storage can't store values nested deeper than %d levels", mode,
                     max_depth);
        return -1;
    }
    if (Py_EnterRecursiveCall(" while encoding a JSON value"))
        return -1;
    return is_array;
}

int ds_json_encode(PyObject *value, ds_buf *out)
{
    return encode_value(value, out, 0);
}

/* ------------------------------------------------------------------ */
/* Decoding */

enum { TOK_STR, TOK_INT, TOK_FLOAT };

typedef struct {
    size_t start, len;     /* strings: the text between the quotes */
    unsigned char kind;
    unsigned char escaped;   /* has a backslash escape */
    unsigned char surrogate; /* has a \uD800-\uDFFF escape */
} json_tok;

typedef struct {
    const char *src;
    size_t len;
    json_tok *toks;
    size_t ntoks, cap, next;
    int surrogates; /* cJSON rejects lone surrogate escapes: see parse_tree */
    json_tok inline_toks[32];
} json_dec;

static PyObject *invalid(const char *fmt, size_t pos)
{
    char msg[160];
    PyOS_snprintf(msg, sizeof(msg), fmt, pos);
    PyErr_Format(PyExc_ValueError, "invalid JSON value: %s", msg);
    return NULL;
}

static int push_tok(json_dec *d, json_tok t)
{
    if (d->ntoks == d->cap) {
        size_t cap = d->cap * 2;
        json_tok *p;
        if (d->toks == d->inline_toks) {
            p = PyMem_Malloc(cap * sizeof(*p));
            if (p)
                memcpy(p, d->toks, d->ntoks * sizeof(*p));
        } else {
            p = cap <= PY_SSIZE_T_MAX / sizeof(*p) ? PyMem_Realloc(d->toks, cap * sizeof(*p)) : NULL;
        }
        if (!p)
            return no_memory();
        d->toks = p;
        d->cap = cap;
    }
    d->toks[d->ntoks++] = t;
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The 4 hex digits at p (already checked by the scan). */
static unsigned hex4(const unsigned char *p)
{
    return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

/* 1 for bytes that end a plain run inside a string: quote, backslash and the
 * control characters JSON forbids raw. */
static const unsigned char STR_STOP[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Record the number starting at *pos, checking JSON's grammar: cJSON hands
 * its text to strtod, which also takes "01", "1." and the like. */
static int scan_number(json_dec *d, size_t *pos)
{
    const unsigned char *s = (const unsigned char *)d->src;
    size_t i = *pos, start = i, n = d->len;
    unsigned char kind = TOK_INT;
    if (s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && is_digit(s[i])) {
        while (i < n && is_digit(s[i]))
            i++;
    } else {
        goto bad;
    }
    if (i < n && s[i] == '.') {
        kind = TOK_FLOAT;
        if (++i >= n || !is_digit(s[i]))
            goto bad;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        kind = TOK_FLOAT;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            goto bad;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (is_digit(s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '+' ||
                  s[i] == 'e' || s[i] == 'E'))
        goto bad;
    *pos = i;
    return push_tok(d, (json_tok){start, i - start, kind, 0, 0});
bad:
    invalid("malformed number at byte %zu", start);
    return -1;
}

/* Record the string whose opening quote is at *pos. */
static int scan_string(json_dec *d, size_t *pos)
{
    const unsigned char *s = (const unsigned char *)d->src;
    size_t i = *pos + 1, n = d->len;
    json_tok t = {i, 0, TOK_STR, 0, 0};
    for (;;) {
        while (i < n && !STR_STOP[s[i]])
            i++;
        if (i >= n) {
            invalid("unterminated string starting at byte %zu", *pos);
            return -1;
        }
        if (s[i] == '"')
            break;
        if (s[i] != '\\') {
            invalid("control character in string at byte %zu", i);
            return -1;
        }
        t.escaped = 1;
        if (i + 1 >= n) {
            invalid("unterminated string starting at byte %zu", *pos);
            return -1;
        }
        switch (s[i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i += 2;
            break;
        case 'u':
            if (i + 6 > n || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0 ||
                hexval(s[i + 4]) < 0 || hexval(s[i + 5]) < 0) {
                invalid("bad \\u escape at byte %zu", i);
                return -1;
            }
            if ((hex4(s + i + 2) & 0xF800) == 0xD800) {
                t.surrogate = 1;
                d->surrogates = 1;
            }
            i += 6;
            break;
        default:
            invalid("bad escape at byte %zu", i);
            return -1;
        }
    }
    t.len = i - t.start;
    *pos = i + 1;
    return push_tok(d, t);
}

/* Tokenize numbers and strings, and check what cJSON lets through: it
 * counts every byte up to 0x20 as whitespace and has no depth check we can
 * name in a message. */
static int scan(json_dec *d)
{
    const unsigned char *s = (const unsigned char *)d->src;
    size_t i = 0, n = d->len;
    int depth = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"') {
            if (scan_string(d, &i) < 0)
                return -1;
        } else if (c == '-' || is_digit(c)) {
            if (scan_number(d, &i) < 0)
                return -1;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH) {
                invalid("nested deeper than %zu levels", JSON_MAX_DEPTH);
                return -1;
            }
            i++;
        } else if (c == ']' || c == '}') {
            depth--;
            i++;
        } else if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            invalid("control character at byte %zu", i);
            return -1;
        } else {
            i++; /* whitespace, punctuation, literals: cJSON checks them */
        }
    }
    return 0;
}

/* cJSON copies bytes of strings without checking them; strict decoding
 * does, and its error is reworded like every other malformed input. */
static PyObject *utf8_or_invalid(const char *s, size_t n, const char *errors, size_t pos)
{
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, errors);
    if (!r && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        invalid("string at byte %zu is not valid UTF-8", pos);
    }
    return r;
}

static PyObject *decode_string(const json_dec *d, const json_tok *t)
{
    const char *s = d->src + t->start;
    if (!t->escaped)
        return utf8_or_invalid(s, t->len, NULL, t->start);

    /* Unescaping never grows the text. */
    char stack[256];
    char *buf = t->len <= sizeof(stack) ? stack : PyMem_Malloc(t->len);
    if (!buf)
        return PyErr_NoMemory();
    char *p = buf;
    const unsigned char *q = (const unsigned char *)s, *end = q + t->len;
    while (q < end) {
        if (*q != '\\') {
            *p++ = (char)*q++;
            continue;
        }
        unsigned char e = q[1];
        q += 2;
        switch (e) {
        case 'b': *p++ = '\b'; break;
        case 'f': *p++ = '\f'; break;
        case 'n': *p++ = '\n'; break;
        case 'r': *p++ = '\r'; break;
        case 't': *p++ = '\t'; break;
        case 'u': {
            Py_UCS4 c = hex4(q);
            q += 4;
            if (c >= 0xD800 && c < 0xDC00 && end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
                Py_UCS4 lo = hex4(q + 2);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                }
            }
            /* A lone surrogate goes out as its 3-byte form, which
             * "surrogatepass" below turns back into that code point. */
            p = put_utf8(p, c);
            break;
        }
        default: /* '"', '\\', '/' */
            *p++ = (char)e;
        }
    }
    PyObject *r = utf8_or_invalid(buf, (size_t)(p - buf), t->surrogate ? "surrogatepass" : NULL,
                                  t->start);
    if (buf != stack)
        PyMem_Free(buf);
    return r;
}

static ds_key_cache key_cache;

/* A key the cache may hold: one with no escapes, whose text is its bytes. */
static PyObject *decode_plain_key(const void *tok, const unsigned char *s, size_t n)
{
    return utf8_or_invalid((const char *)s, n, NULL, ((const json_tok *)tok)->start);
}

static PyObject *decode_key(const json_dec *d, const json_tok *t)
{
    if (t->escaped)
        return decode_string(d, t);
    return ds_key_cache_get(&key_cache, (const unsigned char *)d->src + t->start, t->len,
                            decode_plain_key, t);
}

static PyObject *decode_number(const json_dec *d, const json_tok *t)
{
    const char *s = d->src + t->start;
    if (t->kind == TOK_INT && t->len <= 18) {
        /* Up to 18 digits fit a long long with no overflow check. */
        const char *p = s, *end = s + t->len;
        int neg = *p == '-';
        p += neg;
        long long x = 0;
        while (p < end)
            x = x * 10 + (*p++ - '0');
        return PyLong_FromLongLong(neg ? -x : x);
    }
    /* Both converters want a NUL-terminated copy: the token may end the
     * buffer. */
    char stack[64];
    char *buf = t->len < sizeof(stack) ? stack : PyMem_Malloc(t->len + 1);
    if (!buf)
        return PyErr_NoMemory();
    memcpy(buf, s, t->len);
    buf[t->len] = '\0';
    PyObject *r = NULL;
    if (t->kind == TOK_INT) {
        r = PyLong_FromString(buf, NULL, 10);
    } else {
        /* Like json.loads, a too-large exponent gives inf rather than an
         * error; we never write one. */
        double x = PyOS_string_to_double(buf, NULL, NULL);
        if (!(x == -1.0 && PyErr_Occurred()))
            r = PyFloat_FromDouble(x);
    }
    if (buf != stack)
        PyMem_Free(buf);
    return r;
}

static const json_tok *next_tok(json_dec *d, unsigned char want_str)
{
    if (d->next >= d->ntoks)
        return NULL;
    const json_tok *t = &d->toks[d->next];
    if ((t->kind == TOK_STR) != want_str)
        return NULL;
    d->next++;
    return t;
}

static PyObject *token_mismatch(void)
{
    PyErr_SetString(PyExc_ValueError, "invalid JSON value: tokens out of step with the parse");
    return NULL;
}

/* Recursion depth is bounded by cJSON's nesting limit. */
static PyObject *build(json_dec *d, const cJSON *node)
{
    const json_tok *t;
    switch (node->type & 0xFF) {
    case cJSON_NULL:
        Py_RETURN_NONE;
    case cJSON_True:
        Py_RETURN_TRUE;
    case cJSON_False:
        Py_RETURN_FALSE;
    case cJSON_Number:
        if (!(t = next_tok(d, 0)))
            return token_mismatch();
        return decode_number(d, t);
    case cJSON_String:
        if (!(t = next_tok(d, 1)))
            return token_mismatch();
        return decode_string(d, t);
    case cJSON_Array: {
        Py_ssize_t n = 0;
        for (const cJSON *c = node->child; c; c = c->next)
            n++;
        PyObject *list = PyList_New(n);
        if (!list)
            return NULL;
        Py_ssize_t i = 0;
        for (const cJSON *c = node->child; c; c = c->next) {
            PyObject *item = build(d, c);
            if (!item) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, i++, item);
        }
        return list;
    }
    case cJSON_Object: {
        PyObject *dict = PyDict_New();
        if (!dict)
            return NULL;
        for (const cJSON *c = node->child; c; c = c->next) {
            /* The key's token comes before the value's in the text. */
            if (!(t = next_tok(d, 1))) {
                Py_DECREF(dict);
                return token_mismatch();
            }
            PyObject *k = decode_key(d, t);
            if (ds_dict_set_stolen(dict, k, k ? build(d, c) : NULL) < 0) {
                Py_DECREF(dict);
                return NULL;
            }
        }
        return dict;
    }
    default:
        return token_mismatch();
    }
}

/* cJSON fails on a \uD800-\uDFFF escape without its partner. Only the
 * structure is taken from cJSON, so it gets a copy with those escapes
 * neutralised; the strings themselves come from the original text. */
static char *neutralise_surrogates(const json_dec *d)
{
    char *copy = PyMem_Malloc(d->len ? d->len : 1);
    if (!copy)
        return (char *)PyErr_NoMemory();
    memcpy(copy, d->src, d->len);
    for (size_t i = 0; i < d->ntoks; i++) {
        const json_tok *t = &d->toks[i];
        if (!t->surrogate)
            continue;
        char *p = copy + t->start, *end = p + t->len;
        while (p < end) {
            if (*p != '\\') {
                p++;
            } else if (p[1] != 'u') {
                p += 2;
            } else {
                if ((hex4((const unsigned char *)p + 2) & 0xF800) == 0xD800)
                    memcpy(p + 2, "0020", 4);
                p += 6;
            }
        }
    }
    return copy;
}

static cJSON *parse_tree(json_dec *d)
{
    char *copy = NULL;
    const char *text = d->src;
    if (d->surrogates) {
        if (!(copy = neutralise_surrogates(d)))
            return NULL;
        text = copy;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, d->len, &end, 0);
    size_t pos = end ? (size_t)(end - text) : 0;
    PyMem_Free(copy);
    if (!root) {
        invalid("syntax error at byte %zu", pos);
        return NULL;
    }
    /* cJSON stops after the first value; anything but whitespace after it
     * is an error for us. */
    for (; pos < d->len; pos++) {
        char c = d->src[pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            cJSON_Delete(root);
            invalid("extra data at byte %zu", pos);
            return NULL;
        }
    }
    return root;
}

PyObject *ds_json_decode(const char *data, size_t len)
{
    json_dec d;
    d.src = data;
    d.len = len;
    d.toks = d.inline_toks;
    d.ntoks = d.next = 0;
    d.cap = sizeof(d.inline_toks) / sizeof(d.inline_toks[0]);
    d.surrogates = 0;

    PyObject *result = NULL;
    cJSON *root = NULL;
    if (len == 0) {
        invalid("empty input", 0);
        goto done;
    }
    if (scan(&d) < 0 || !(root = parse_tree(&d)))
        goto done;
    result = build(&d, root);
    if (result && d.next != d.ntoks) {
        Py_CLEAR(result);
        token_mismatch();
    }
done:
    cJSON_Delete(root);
    if (d.toks != d.inline_toks)
        PyMem_Free(d.toks);
    return result;
}
