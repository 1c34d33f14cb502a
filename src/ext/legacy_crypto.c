/* AES-256-GCM decryption of the Rust dictsqlite 2.x value format, for
 * dictsqlite.migrate. That format has no associated data and a key from
 * PBKDF2 (derived in Python with hashlib), so the core's ds_crypto (Argon2id
 * key, AAD bound to table and key) cannot read it; this is the one place that
 * can. It only decrypts: nothing of ours is ever written in that format. */
#define PY_SSIZE_T_CLEAN
#include "legacy_crypto.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

/* 1 when the tag checks out and out holds the plaintext, 0 otherwise. */
static int gcm_open(const unsigned char *key, const unsigned char *nonce,
                    const unsigned char *ct, int ct_len, const unsigned char *tag,
                    unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, ok = ctx != NULL;
    ok = ok && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1;
    ok = ok && (ct_len == 0 || EVP_DecryptUpdate(ctx, out, &outl, ct, ct_len) == 1);
    /* the tag is set before Final, which is where GCM compares it */
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)tag) == 1;
    ok = ok && EVP_DecryptFinal_ex(ctx, out + outl, &outl) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

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
    const unsigned char *ct = sealed.buf;
    /* The GIL stays held: values are small, there is no database object for
     * DS_WITHOUT_GIL to pin, and migration runs on one thread anyway. */
    if (!gcm_open(key.buf, nonce.buf, ct, (int)ct_len, ct + ct_len,
                  (unsigned char *)PyBytes_AS_STRING(out))) {
        ERR_clear_error(); /* leave no stale entry for the core's next EVP check */
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
