/* libFuzzer harness for the MessagePack decoder, ds_msgpack_decode
 * (src/ext/msgpack_codec.c). See fuzz_common.h for the properties checked. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_start_python();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *v = fuzz_decode_checked(ds_msgpack_decode, data, size);
    if (!v)
        return 0;
    fuzz_check_roundtrip(v, ds_msgpack_encode, ds_msgpack_decode);
    Py_DECREF(v);
    return 0;
}
