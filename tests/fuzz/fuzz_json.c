/* libFuzzer harness for the JSON decoder, ds_json_decode (src/ext/json_codec.c).
 * See fuzz_common.h for the properties checked; in addition, whatever our
 * decoder accepts, Python's json.loads must accept too and give the same
 * value (fuzz_same), since both claim standard JSON. The other direction is not
 * checked: json.loads also takes NaN and Infinity, which we refuse. */
#include "fuzz_common.h"

static PyObject *json_loads;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_start_python();
    PyObject *mod = PyImport_ImportModule("json");
    json_loads = mod ? PyObject_GetAttrString(mod, "loads") : NULL;
    Py_XDECREF(mod);
    if (!json_loads)
        fuzz_die("cannot import json.loads");
    return 0;
}

static void compare_with_json_module(PyObject *ours, const uint8_t *data, size_t size)
{
    /* Given bytes, json.loads skips a UTF-8 byte order mark, as cJSON does
     * (RFC 8259 allows either), and takes strings in "surrogatepass" form. */
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    if (!bytes)
        fuzz_die("out of memory");
    PyObject *theirs = PyObject_CallOneArg(json_loads, bytes);
    Py_DECREF(bytes);
    if (!theirs) {
        /* json's own recursion guard can stop before our 1,000 levels */
        if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
            PyErr_Clear();
            return;
        }
        fuzz_die("the decoder accepted input that json.loads refuses");
    }
    int same = fuzz_same(ours, theirs);
    Py_DECREF(theirs);
    if (!same)
        fuzz_die("the decoder and json.loads disagree on the value");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *v = fuzz_decode_checked(ds_json_decode, data, size);
    if (!v)
        return 0;
    compare_with_json_module(v, data, size);
    fuzz_check_roundtrip(v, ds_json_encode, ds_json_decode);
    Py_DECREF(v);
    return 0;
}
