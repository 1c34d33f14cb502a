/* Decryption of values written by the Rust dictsqlite package 2.x, used only
 * by dictsqlite.migrate (see legacy_crypto.c). */
#ifndef DS_EXT_LEGACY_CRYPTO_H
#define DS_EXT_LEGACY_CRYPTO_H

#include <Python.h>

#define DS_LEGACY_DECRYPT_DOC                                                      \
    "_legacy_aes256gcm_decrypt($module, key, nonce, sealed, /)\n--\n\n"                     \
    "Decrypt one value of the Rust dictsqlite 2.x format: AES-256-GCM with a\n"    \
    "32-byte key, a 12-byte nonce and sealed = ciphertext + 16-byte tag, no\n"     \
    "associated data. Returns the plaintext bytes; a failed tag check (wrong\n"    \
    "password or damaged value) raises ValueError. For dictsqlite.migrate only."

PyObject *ds_legacy_aes256gcm_decrypt(PyObject *mod, PyObject *args);

#endif
