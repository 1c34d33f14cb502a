/* ds_crypto: value encryption at the SQLite boundary.
 *
 * AES-256-GCM (OpenSSL EVP) with a random 96-bit nonce per value; the key is
 * derived once per database from the password with Argon2id (libargon2) and
 * a random 16-byte salt kept in dictsqlite_meta. Each ciphertext is bound to
 * its namespace, key and codec through the GCM associated data, so a value
 * copied to another key or table, or relabelled with another codec, fails
 * authentication instead of decrypting.
 *
 * Stored value layout: nonce (12 bytes) || ciphertext || tag (16 bytes).
 *
 * The hot and warm tiers keep plaintext; only flushes (encrypt) and reads
 * from SQLite (decrypt) pay for AES, always with the GIL released.
 * A ds_crypto is immutable after creation and safe to use from any thread.
 */
#ifndef DICTSQLITE_CRYPTO_H
#define DICTSQLITE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "dictsqlite/common.h"

#define DS_CRYPTO_KEY_LEN 32
#define DS_CRYPTO_SALT_LEN 16
#define DS_CRYPTO_NONCE_LEN 12
#define DS_CRYPTO_TAG_LEN 16
#define DS_CRYPTO_OVERHEAD (DS_CRYPTO_NONCE_LEN + DS_CRYPTO_TAG_LEN)

/* Argon2id cost parameters, stored with the salt so they can change later. */
typedef struct ds_kdf_params {
    uint32_t t_cost;      /* iterations */
    uint32_t m_cost_kib;  /* memory in KiB */
    uint32_t parallelism; /* lanes */
} ds_kdf_params;

/* The defaults for new databases: t=2, m=19 MiB, p=1, OWASP's recommended
 * minimum for Argon2id; derivation runs once per open (measured ~0.45 s at
 * t=3/64 MiB on the project's 2-core test machine, which made every open
 * noticeably slow). Existing databases keep the parameters they were made
 * with (stored in dictsqlite_meta). */
extern const ds_kdf_params DS_KDF_DEFAULTS;

typedef struct ds_crypto ds_crypto;

/* Fill salt with DS_CRYPTO_SALT_LEN random bytes (RAND_bytes). */
ds_status ds_crypto_random_salt(uint8_t *salt, ds_error *err);

/* Derive the key from password and salt with Argon2id and params. */
ds_status ds_crypto_new(const char *password, size_t password_len, const uint8_t *salt,
                        const ds_kdf_params *params, ds_crypto **out, ds_error *err);
void ds_crypto_free(ds_crypto *c); /* wipes the key */

/* Bytes needed to encrypt plain_len bytes: plain_len + DS_CRYPTO_OVERHEAD. */
static inline size_t ds_crypto_sealed_len(size_t plain_len)
{
    return plain_len + DS_CRYPTO_OVERHEAD;
}

/* The codec argument of seal and open: a stored codec byte (0..255) is bound
 * into the associated data with the table and key, so changing it in the
 * file (say, turning raw bytes into a "pickle") fails authentication.
 * DS_CRYPTO_NO_CODEC binds table and key only: the key check, and files
 * encrypted before the codec was bound (engine_crypto.c, meta "aad"). */
#define DS_CRYPTO_NO_CODEC (-1)

/* Encrypt plain into out (ds_crypto_sealed_len(plain_len) bytes), binding it
 * to (tbl, key[, codec]) as associated data. */
ds_status ds_crypto_seal(const ds_crypto *c, const char *tbl, size_t tlen,
                         const char *key, size_t klen, int codec, const void *plain,
                         size_t plain_len, uint8_t *out, ds_error *err);

/* Decrypt sealed into out (sealed_len - DS_CRYPTO_OVERHEAD bytes; out may be
 * NULL when that is 0). DS_CORRUPT if the data is too short or fails
 * authentication (wrong key, tampered data, or data moved from another
 * key/table), with a message saying so. */
ds_status ds_crypto_open(const ds_crypto *c, const char *tbl, size_t tlen,
                         const char *key, size_t klen, int codec, const void *sealed,
                         size_t sealed_len, uint8_t *out, ds_error *err);

/* Decrypt ct (ct_len bytes) with a raw 32-byte key, a 12-byte nonce and a
 * 16-byte tag, without associated data: the value format of the Rust
 * dictsqlite 2.x package, which dictsqlite.migrate reads and nothing of ours
 * writes. DS_CORRUPT when the tag does not check (out is then wiped). */
ds_status ds_crypto_open_unbound(const uint8_t *key, const uint8_t *nonce, const void *ct,
                                 size_t ct_len, const uint8_t *tag, uint8_t *out,
                                 ds_error *err);

/* A key-check value: the seal of a fixed text under fixed associated data,
 * stored in dictsqlite_meta so a wrong password fails at open. */
ds_status ds_crypto_make_check(const ds_crypto *c, uint8_t *out, size_t *out_len,
                               ds_error *err); /* out: at least 64 bytes */
/* DS_OK if check was made with this key, DS_CORRUPT otherwise. */
ds_status ds_crypto_verify_check(const ds_crypto *c, const uint8_t *check,
                                 size_t check_len, ds_error *err);

#endif
