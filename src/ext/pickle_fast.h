/* Fast paths for reading and writing pickles of plain values.
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

#include "buffer.h"

/* A new reference, or NULL with no exception set when the data is outside
 * the subset or malformed (call pickle.loads then, which gives the real
 * error). */
PyObject *ds_pickle_fast_loads(const char *data, size_t len);

/* The writer's side: pickle.dumps(value, protocol) for small values is
 * mostly the Pickler's setup (object, memo table, a 4 KiB output buffer).
 * This writes the same subset of exact types (not subclasses, whose
 * pickles name their class) straight into out, with no memo and no
 * framing, both optional for unpicklers. Without a memo it cannot keep
 * identity, so a dict, list or tuple met twice (shared or cyclic) makes it
 * give up, as does a long str or bytes met twice (pickle.dumps writes one
 * copy), deep nesting, a protocol below 4 and a str with lone surrogates.
 * The walk runs no Python code, so the value cannot change under it.
 *
 * 0: appended to out, a pickle that pickle.loads and ds_pickle_fast_loads
 * both read as an equal value. 1: outside the subset, out holds garbage
 * (reset it, then call pickle.dumps). -1: MemoryError set. */
int ds_pickle_fast_dumps(PyObject *value, int protocol, ds_buf *out);

#endif
