/* The codec table: how a storage mode turns a Python value into bytes plus a
 * codec byte, and how a stored (codec, bytes) pair turns back into a Python
 * object whatever mode wrote it. Also the one place where a Python key
 * becomes core bytes and a hash. */
#ifndef DICTSQLITE_EXT_CODEC_H
#define DICTSQLITE_EXT_CODEC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "buffer.h"
#include "dictsqlite/entry.h"
#include "module_state.h"

/* Storage modes (what new writes use). Values match the codec ids. */
typedef enum ds_storage_mode {
    DS_STORAGE_PICKLE = DS_CODEC_PICKLE,
    DS_STORAGE_JSON = DS_CODEC_JSON,
    DS_STORAGE_JSONB = DS_CODEC_MSGPACK,
    DS_STORAGE_BYTES = DS_CODEC_BYTES,
    /* pickle mode of AsyncDictSQLite: bytes are pickled like any other
     * object (the Rust package's async class has no pre-pickled shortcut) */
    DS_STORAGE_PICKLE_ALL = 0x100 | DS_CODEC_PICKLE,
} ds_storage_mode;

/* Bytes in pickle mode that were stored as a ready-made pickle (the Rust
 * package's shortcut). If they fail to unpickle they were only pickle-shaped
 * bytes, and the read returns them unchanged instead of failing. */
#define DS_CODEC_FLAG_PREPICKLED 0x40

/* An encoded value: data/len point into owner (a bytes object), into view
 * (a buffer of the value itself) or into buf. */
typedef struct ds_encoded {
    const char *data;
    size_t len;
    uint8_t codec;
    PyObject *owner;
    Py_buffer view;
    int has_view;
    ds_buf buf;
} ds_encoded;

void ds_encoded_init(ds_encoded *enc);
void ds_encoded_release(ds_encoded *enc);
/* Move src into dst (src is left empty), keeping data valid when it points
 * into src's inline buffer. */
void ds_encoded_move(ds_encoded *dst, ds_encoded *src);

/* 0, or -1 with TypeError/ValueError/... set. safe_check: validate a pickle
 * before storing it (enable_safe_pickle). */
int ds_encode_value(ds_module_state *st, ds_storage_mode mode, PyObject *value,
                    PyObject *safe_policy, ds_encoded *out);

/* ds_encode_value for the value of key: a safe-pickle refusal (ValueError)
 * names the key as well as the global. */
int ds_encode_value_of_key(ds_module_state *st, ds_storage_mode mode, PyObject *value,
                           PyObject *safe_policy, PyObject *key, ds_encoded *out);
/* New reference, or NULL with an exception set. Undecodable data raises
 * CorruptValueError naming key. */
PyObject *ds_decode_value(ds_module_state *st, uint8_t codec, const char *data,
                          size_t len, PyObject *key, PyObject *safe_policy);

/* A key as the core sees it. */
typedef struct ds_key {
    PyObject *str;     /* the str form of the key; a new reference */
    const char *utf8;  /* borrowed from str */
    Py_ssize_t len;
    uint64_t hash;     /* Python's str hash folded with the namespace */
} ds_key;

/* Keys are str; other objects are converted with str() (as the Rust package
 * does). 0, or -1 with an exception (a str that is not valid UTF-8, such as
 * one with a lone surrogate, raises UnicodeEncodeError). */
int ds_key_from_object(PyObject *key, uint32_t ns, ds_key *out);

static inline void ds_key_release(ds_key *k) { Py_CLEAR(k->str); }

/* Parse a storage mode name (case-insensitive). -1 with ValueError naming
 * the value and the choices. */
int ds_storage_mode_from_name(PyObject *name, ds_storage_mode *out);
const char *ds_storage_mode_name(ds_storage_mode mode);

#endif
