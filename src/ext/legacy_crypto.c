/* AES-256-GCM decryption of the Rust dictsqlite 2.x value format, for
 * dictsqlite.migrate. That format has no associated data and a key from
 * PBKDF2 (derived in Python with hashlib), so the core's ds_crypto (Argon2id
 * key, AAD bound to table and key) cannot read it; the core's
 * ds_crypto_open_unbound can. It only decrypts: nothing of ours is ever
 * written in that format. */
#define PY_SSIZE_T_CLEAN
#include "legacy_crypto.h"

#include "dictsqlite/crypto.h"
#include "dictsqlite_v4.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

PyObject *ds_legacy_aes256gcm_decrypt(PyObject *mod, PyObject *args)
{
    (void)mod;
    Py_buffer key, nonce, sealed;
    if (!PyArg_ParseTuple(args, "y*y*y*:_legacy_aes256gcm_decrypt", &key, &nonce, &sealed))
        return NULL;
    PyObject *out = NULL;
    if (key.len != KEY_LEN || nonce.len != NONCE_LEN) {
        PyErr_Format(PyExc_ValueError,
                     "_legacy_aes256gcm_decrypt: key must be %d bytes and nonce %d "
                     "bytes, got %zd and %zd", KEY_LEN, NONCE_LEN, key.len, nonce.len);
        goto done;
    }
    if (sealed.len < TAG_LEN || sealed.len - TAG_LEN > INT_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "_legacy_aes256gcm_decrypt: sealed must hold a %d-byte tag and at "
                     "most INT_MAX bytes of ciphertext, got %zd bytes", TAG_LEN, sealed.len);
        goto done;
    }
    Py_ssize_t ct_len = sealed.len - TAG_LEN;
    out = PyBytes_FromStringAndSize(NULL, ct_len);
    if (!out)
        goto done;
    const uint8_t *ct = sealed.buf;
    ds_error err;
    ds_status st;
    /* crypto work, like every other, runs without the GIL (no database to pin) */
    DS_WITHOUT_GIL(NULL, st,
                   ds_crypto_open_unbound(key.buf, nonce.buf, ct, (size_t)ct_len, ct + ct_len,
                                          (uint8_t *)PyBytes_AS_STRING(out), &err));
    if (st != DS_OK) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError,
                        "AES-256-GCM authentication failed: wrong password, or the "
                        "value is damaged");
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&sealed);
    return out;
}
