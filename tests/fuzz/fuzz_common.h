/* Shared part of the libFuzzer harnesses for the JSON and MessagePack
 * decoders (fuzz_json.c, fuzz_msgpack.c; built by scripts/fuzz.sh).
 *
 * The decoders build Python objects, so the harness embeds CPython. It is
 * started with the malloc allocator (PYTHONMALLOC=malloc) so that every object is its own malloc
 * block: ASan then sees an out-of-bounds access or use-after-free on a
 * Python object, instead of it landing inside a pymalloc arena.
 *
 * Beyond "no crash", each input checks two properties, and a violation
 * aborts (libFuzzer saves the input as a crash):
 *  - the decoder either returns an object or raises ValueError (malformed
 *    input) or MemoryError; any other exception, or a result together with
 *    a pending exception, is a bug;
 *  - a decoded value that our encoder accepts decodes back from that
 *    encoding to the same value, types (1 vs 1.0 vs True) and dict key
 *    order included (fuzz_same).
 * The JSON harness also compares with Python's json module (fuzz_json.c). */
#ifndef DICTSQLITE_FUZZ_COMMON_H
#define DICTSQLITE_FUZZ_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "json_codecs.h"

typedef PyObject *(*fuzz_decode_fn)(const char *data, size_t len);
typedef int (*fuzz_encode_fn)(PyObject *value, ds_buf *out);

static void fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz property violated: %s\n", what);
    if (PyErr_Occurred())
        PyErr_Print();
    abort();
}

static void fuzz_start_python(void)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    /* Isolated: no site-packages, no PYTHON* variables. The allocator is a
     * pre-config setting: every object is then its own malloc block. */
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    PyStatus st = Py_PreInitialize(&pre);
    if (PyStatus_Exception(st))
        Py_ExitStatusException(st);
    st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        Py_ExitStatusException(st);
}

/* Decode, check the exception contract, and return the value (a new
 * reference) or NULL after a clean ValueError/MemoryError. */
static PyObject *fuzz_decode_checked(fuzz_decode_fn decode, const uint8_t *data, size_t size)
{
    PyObject *v = decode((const char *)data, size);
    if (v) {
        if (PyErr_Occurred())
            fuzz_die("the decoder returned a value with an exception set");
        return v;
    }
    if (!PyErr_Occurred())
        fuzz_die("the decoder returned NULL without an exception");
    if (!PyErr_ExceptionMatches(PyExc_ValueError) && !PyErr_ExceptionMatches(PyExc_MemoryError))
        fuzz_die("the decoder raised something other than ValueError/MemoryError");
    /* The message must be a real str (it is formatted from the input). */
    PyObject *t, *e, *tb;
    PyErr_Fetch(&t, &e, &tb);
    PyErr_NormalizeException(&t, &e, &tb);
    PyObject *s = e ? PyObject_Str(e) : NULL;
    if (!s)
        fuzz_die("the decoder's exception has no str()");
    Py_DECREF(s);
    Py_XDECREF(t);
    Py_XDECREF(e);
    Py_XDECREF(tb);
    return NULL;
}

/* 1 if a and b are the same decoded value: the same exact types all the
 * way down (1, 1.0 and True differ), dict keys in the same order, floats
 * bit for bit. Written out rather than through repr() or ==, which give up
 * at Python's recursion limit, below the decoders' 1,000 levels. */
static int fuzz_same(PyObject *a, PyObject *b)
{
    if (Py_TYPE(a) != Py_TYPE(b))
        return 0;
    if (PyList_CheckExact(a)) {
        Py_ssize_t n = PyList_GET_SIZE(a);
        if (n != PyList_GET_SIZE(b))
            return 0;
        for (Py_ssize_t i = 0; i < n; i++)
            if (!fuzz_same(PyList_GET_ITEM(a, i), PyList_GET_ITEM(b, i)))
                return 0;
        return 1;
    }
    if (PyDict_CheckExact(a)) {
        if (PyDict_GET_SIZE(a) != PyDict_GET_SIZE(b))
            return 0;
        Py_ssize_t pa = 0, pb = 0;
        PyObject *ka, *va, *kb, *vb;
        while (PyDict_Next(a, &pa, &ka, &va)) {
            if (!PyDict_Next(b, &pb, &kb, &vb) || !fuzz_same(ka, kb) || !fuzz_same(va, vb))
                return 0;
        }
        return 1;
    }
    if (PyFloat_CheckExact(a)) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        return memcmp(&x, &y, sizeof(x)) == 0 || (x != x && y != y);
    }
    int eq = PyObject_RichCompareBool(a, b, Py_EQ);
    if (eq < 0)
        fuzz_die("comparing two decoded scalars raised");
    return eq;
}

/* encode(v) then decode again must give the same value, when the encoder
 * takes v at all (it refuses bytes, NaN/inf and the like with an
 * exception, which is fine). */
static void fuzz_check_roundtrip(PyObject *v, fuzz_encode_fn encode, fuzz_decode_fn decode)
{
    ds_buf buf;
    ds_buf_init(&buf);
    if (encode(v, &buf) < 0) {
        PyErr_Clear();
        ds_buf_release(&buf);
        return;
    }
    PyObject *again = decode(buf.data, buf.len);
    ds_buf_release(&buf);
    if (!again)
        fuzz_die("our own encoding of a decoded value does not decode");
    int eq = fuzz_same(v, again);
    Py_DECREF(again);
    if (!eq)
        fuzz_die("the round-tripped value differs from the decoded one");
}

#endif
