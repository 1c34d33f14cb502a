/* A fast path for reading pickles of plain values.
 *
 * pickle.loads spends much of a small value's decode on setting up an
 * Unpickler (object, memo table, buffers) rather than on the opcodes. This
 * reader handles, without any of that, the opcodes pickle writes for dict,
 * list, tuple, str, bytes, int, float, bool and None (protocols 2 to 5,
 * framing and the memo included, so shared references come back shared).
 * Anything else (a class, a global, bytearray, sets, ...) makes it give up,
 * and the caller runs pickle.loads on the same bytes. So it never decides
 * anything pickle.loads would decide differently, and, loading no globals,
 * it is as safe as the safe-pickle policy. */
#ifndef DICTSQLITE_EXT_PICKLE_FAST_H
#define DICTSQLITE_EXT_PICKLE_FAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A new reference, or NULL with no exception set when the data is outside
 * the subset or malformed (call pickle.loads then, which gives the real
 * error). */
PyObject *ds_pickle_fast_loads(const char *data, size_t len);

#endif
