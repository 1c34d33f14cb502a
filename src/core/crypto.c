/* ds_crypto: AES-256-GCM value encryption with an Argon2id-derived key.
 *
 * Sealed layout: nonce (12) || ciphertext (plain_len) || tag (16).
 * Associated data: be32(tlen) || tbl || key, so ("a","bc") and ("ab","c")
 * authenticate differently. It is fed to GCM in pieces, never copied.
 *
 * Each call uses its own EVP_CIPHER_CTX, so a ds_crypto (key plus a fetched
 * cipher) is read-only after ds_crypto_new and can be shared by threads.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dictsqlite/crypto.h"
#include "dictsqlite/faults.h"

const ds_kdf_params DS_KDF_DEFAULTS = {2, 19456, 1};

struct ds_crypto {
    uint8_t key[DS_CRYPTO_KEY_LEN];
    EVP_CIPHER *cipher; /* fetched once: avoids a per-call implicit fetch */
};

/* Fixed text and associated data of the key check. The leading \x01 keeps the
 * table name out of reach of ordinary namespace names. */
static const char CHECK_TEXT[] = "dictsqlite key check v1";
static const char CHECK_TBL[] = "\x01" "dictsqlite";
static const char CHECK_KEY[] = "key-check";

#define AUTH_FAILED_MSG "cannot decrypt: wrong password or tampered data (authentication failed)"

/* EVP takes int lengths: larger buffers go through in chunks. */
#define EVP_CHUNK ((size_t)1 << 30)

static ds_status openssl_error(ds_error *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    else
        strcpy(buf, "no detail");
    ERR_clear_error();
    return ds_error_set(err, DS_IO, "OpenSSL %s failed: %s", what, buf);
}

ds_status ds_crypto_random_salt(uint8_t *salt, ds_error *err)
{
    if (!salt)
        return ds_error_set(err, DS_INVALID, "ds_crypto_random_salt: salt is NULL");
    if (RAND_bytes(salt, DS_CRYPTO_SALT_LEN) != 1)
        return openssl_error(err, "RAND_bytes (salt)");
    return DS_OK;
}

ds_status ds_crypto_new(const char *password, size_t password_len, const uint8_t *salt,
                        const ds_kdf_params *params, ds_crypto **out, ds_error *err)
{
    if (!out)
        return ds_error_set(err, DS_INVALID, "ds_crypto_new: out is NULL");
    *out = NULL;
    if (!password && password_len)
        return ds_error_set(err, DS_INVALID, "ds_crypto_new: password is NULL");
    if (!salt || !params)
        return ds_error_set(err, DS_INVALID, "ds_crypto_new: salt or params is NULL");
    if (password_len > UINT32_MAX)
        return ds_error_set(err, DS_INVALID, "ds_crypto_new: password too long");
    if (params->t_cost < 1 || params->parallelism < 1 ||
        params->parallelism > 0xFFFFFF ||
        (uint64_t)params->m_cost_kib < 8ULL * params->parallelism)
        return ds_error_set(err, DS_INVALID,
                            "invalid Argon2id parameters: t_cost=%u m_cost_kib=%u "
                            "parallelism=%u (need t>=1, p>=1, m>=8*p)",
                            (unsigned)params->t_cost, (unsigned)params->m_cost_kib,
                            (unsigned)params->parallelism);

    ds_crypto *c = calloc(1, sizeof(*c));
    if (!c)
        return ds_error_set(err, DS_NOMEM, "out of memory allocating ds_crypto");

    int rc = argon2id_hash_raw(params->t_cost, params->m_cost_kib, params->parallelism,
                               password ? password : "", password_len, salt,
                               DS_CRYPTO_SALT_LEN, c->key, DS_CRYPTO_KEY_LEN);
    if (rc != ARGON2_OK) {
        OPENSSL_cleanse(c->key, sizeof(c->key));
        free(c);
        return ds_error_set(err,
                            rc == ARGON2_MEMORY_ALLOCATION_ERROR ? DS_NOMEM : DS_INVALID,
                            "Argon2id key derivation failed (m_cost_kib=%u): %s",
                            (unsigned)params->m_cost_kib, argon2_error_message(rc));
    }

    c->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (!c->cipher) {
        OPENSSL_cleanse(c->key, sizeof(c->key));
        free(c);
        return openssl_error(err, "EVP_CIPHER_fetch(AES-256-GCM)");
    }
    *out = c;
    return DS_OK;
}

void ds_crypto_free(ds_crypto *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c->key, sizeof(c->key));
    EVP_CIPHER_free(c->cipher);
    free(c);
}

/* Feed data to a cipher update in int-sized chunks. With out == NULL the
 * data is associated data. */
static int update_chunks(EVP_CIPHER_CTX *ctx, int encrypt, uint8_t *out,
                         const uint8_t *in, size_t len)
{
    while (len) {
        int n = (int)(len < EVP_CHUNK ? len : EVP_CHUNK), outl = 0;
        int ok = encrypt ? EVP_EncryptUpdate(ctx, out, &outl, in, n)
                         : EVP_DecryptUpdate(ctx, out, &outl, in, n);
        if (ok != 1 || (out && outl != n))
            return 0;
        in += n;
        if (out)
            out += n;
        len -= (size_t)n;
    }
    return 1;
}

/* Associated data: be32(tlen) || tbl || key [|| codec]. The codec byte
 * comes last, so files sealed without it authenticate exactly as before. */
static int feed_aad(EVP_CIPHER_CTX *ctx, int encrypt, const char *tbl, size_t tlen,
                    const char *key, size_t klen, int codec)
{
    uint8_t be[4] = {(uint8_t)(tlen >> 24), (uint8_t)(tlen >> 16), (uint8_t)(tlen >> 8),
                     (uint8_t)tlen};
    uint8_t c8 = (uint8_t)codec;
    return update_chunks(ctx, encrypt, NULL, be, sizeof(be)) &&
           update_chunks(ctx, encrypt, NULL, (const uint8_t *)tbl, tlen) &&
           update_chunks(ctx, encrypt, NULL, (const uint8_t *)key, klen) &&
           (codec < 0 || update_chunks(ctx, encrypt, NULL, &c8, 1));
}

static ds_status check_names(const char *tbl, size_t tlen, const char *key, size_t klen,
                             int codec, ds_error *err)
{
    if ((!tbl && tlen) || (!key && klen))
        return ds_error_set(err, DS_INVALID, "ds_crypto: table or key is NULL");
    if (codec < DS_CRYPTO_NO_CODEC || codec > 255)
        return ds_error_set(err, DS_INVALID, "ds_crypto: codec %d is not a byte", codec);
    if (tlen > UINT32_MAX)
        return ds_error_set(err, DS_INVALID, "ds_crypto: table name too long");
    return DS_OK;
}

/* Seal and open must set GCM up identically (cipher, nonce length, key and
 * nonce) or sealed values stop opening: one function keeps them in step. */
static ds_status gcm_begin(const ds_crypto *c, int encrypt, const uint8_t *nonce,
                           EVP_CIPHER_CTX **out, ds_error *err)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) {
        ERR_clear_error();
        return ds_error_set(err, DS_NOMEM, "out of memory allocating a cipher context");
    }
    if (EVP_CipherInit_ex(ctx, c->cipher, NULL, NULL, NULL, encrypt) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, DS_CRYPTO_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, c->key, nonce, encrypt) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return openssl_error(err, encrypt ? "AES-256-GCM encryption"
                                          : "AES-256-GCM decryption");
    }
    *out = ctx;
    return DS_OK;
}

ds_status ds_crypto_seal(const ds_crypto *c, const char *tbl, size_t tlen,
                         const char *key, size_t klen, int codec, const void *plain,
                         size_t plain_len, uint8_t *out, ds_error *err)
{
    if (!c || !out || (!plain && plain_len))
        return ds_error_set(err, DS_INVALID, "ds_crypto_seal: NULL argument");
    if (plain_len > SIZE_MAX - DS_CRYPTO_OVERHEAD)
        return ds_error_set(err, DS_INVALID, "ds_crypto_seal: value too large");
    ds_status st = check_names(tbl, tlen, key, klen, codec, err);
    if (st != DS_OK)
        return st;

    uint8_t *nonce = out, *ct = out + DS_CRYPTO_NONCE_LEN;
    if (RAND_bytes(nonce, DS_CRYPTO_NONCE_LEN) != 1)
        return openssl_error(err, "RAND_bytes (nonce)");

    EVP_CIPHER_CTX *ctx;
    st = gcm_begin(c, 1, nonce, &ctx, err);
    if (st != DS_OK)
        return st;
    uint8_t dummy[16];
    int outl = 0;
    if (!feed_aad(ctx, 1, tbl, tlen, key, klen, codec) ||
        !update_chunks(ctx, 1, ct, plain, plain_len) ||
        EVP_EncryptFinal_ex(ctx, dummy, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, DS_CRYPTO_TAG_LEN,
                            ct + plain_len) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return openssl_error(err, "AES-256-GCM encryption");
    }
    EVP_CIPHER_CTX_free(ctx);
    return DS_OK;
}

/* The end of an open: GCM under c and nonce over ct, feeding the associated
 * data first when bound, then checking tag. out gets plain_len bytes, or is
 * wiped on any failure: unauthenticated plaintext is never handed out. */
static ds_status gcm_open(const ds_crypto *c, const uint8_t *nonce, const uint8_t *ct,
                          size_t plain_len, const uint8_t *tag, int bound, const char *tbl,
                          size_t tlen, const char *key, size_t klen, int codec, uint8_t *out,
                          ds_error *err)
{
    EVP_CIPHER_CTX *ctx;
    ds_status st = gcm_begin(c, 0, nonce, &ctx, err);
    if (st != DS_OK)
        return st; /* nothing has been written to out yet */
    uint8_t dummy[16];
    int outl = 0;
    if ((bound && !feed_aad(ctx, 0, tbl, tlen, key, klen, codec)) ||
        !update_chunks(ctx, 0, out, ct, plain_len) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, DS_CRYPTO_TAG_LEN, (void *)tag) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        if (plain_len)
            OPENSSL_cleanse(out, plain_len);
        return openssl_error(err, "AES-256-GCM decryption");
    }
    int ok = EVP_DecryptFinal_ex(ctx, dummy, &outl);
    EVP_CIPHER_CTX_free(ctx);
    if (ok != 1) {
        ERR_clear_error();
        if (plain_len)
            OPENSSL_cleanse(out, plain_len);
        return ds_error_set(err, DS_CORRUPT, AUTH_FAILED_MSG);
    }
    return DS_OK;
}

ds_status ds_crypto_open(const ds_crypto *c, const char *tbl, size_t tlen,
                         const char *key, size_t klen, int codec, const void *sealed,
                         size_t sealed_len, uint8_t *out, ds_error *err)
{
    if (!c || (!sealed && sealed_len))
        return ds_error_set(err, DS_INVALID, "ds_crypto_open: NULL argument");
    ds_status st = check_names(tbl, tlen, key, klen, codec, err);
    if (st != DS_OK)
        return st;
    if (sealed_len < DS_CRYPTO_OVERHEAD)
        return ds_error_set(err, DS_CORRUPT,
                            "cannot decrypt: encrypted value is %zu bytes, shorter than "
                            "the %d bytes of nonce and tag (truncated or not encrypted)",
                            sealed_len, DS_CRYPTO_OVERHEAD);
    size_t plain_len = sealed_len - DS_CRYPTO_OVERHEAD;
    if (!out && plain_len)
        return ds_error_set(err, DS_INVALID, "ds_crypto_open: out is NULL");

    const uint8_t *nonce = sealed, *ct = nonce + DS_CRYPTO_NONCE_LEN;
    uint8_t tag[DS_CRYPTO_TAG_LEN];
    memcpy(tag, ct + plain_len, DS_CRYPTO_TAG_LEN);

    return gcm_open(c, nonce, ct, plain_len, tag, 1, tbl, tlen, key, klen, codec, out, err);
}

ds_status ds_crypto_open_unbound(const uint8_t *key, const uint8_t *nonce, const void *ct,
                                 size_t ct_len, const uint8_t *tag, uint8_t *out,
                                 ds_error *err)
{
    if (!key || !nonce || !tag || (!ct && ct_len) || (!out && ct_len))
        return ds_error_set(err, DS_INVALID, "ds_crypto_open_unbound: NULL argument");
    ds_crypto c;
    memcpy(c.key, key, sizeof(c.key));
    c.cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    ds_status st = c.cipher ? gcm_open(&c, nonce, ct, ct_len, tag, 0, NULL, 0, NULL, 0,
                                       DS_CRYPTO_NO_CODEC, out, err)
                            : openssl_error(err, "EVP_CIPHER_fetch(AES-256-GCM)");
    EVP_CIPHER_free(c.cipher);
    OPENSSL_cleanse(c.key, sizeof(c.key));
    return st;
}

ds_status ds_crypto_make_check(const ds_crypto *c, uint8_t *out, size_t *out_len,
                               ds_error *err)
{
    if (!c || !out || !out_len)
        return ds_error_set(err, DS_INVALID, "ds_crypto_make_check: NULL argument");
    size_t text_len = sizeof(CHECK_TEXT) - 1;
    ds_status st = ds_crypto_seal(c, CHECK_TBL, sizeof(CHECK_TBL) - 1, CHECK_KEY,
                                  sizeof(CHECK_KEY) - 1, DS_CRYPTO_NO_CODEC, CHECK_TEXT,
                                  text_len, out, err);
    if (st != DS_OK)
        return st;
    *out_len = ds_crypto_sealed_len(text_len);
    return DS_OK;
}

ds_status ds_crypto_verify_check(const ds_crypto *c, const uint8_t *check,
                                 size_t check_len, ds_error *err)
{
    if (!c || (!check && check_len))
        return ds_error_set(err, DS_INVALID, "ds_crypto_verify_check: NULL argument");
    size_t text_len = sizeof(CHECK_TEXT) - 1;
    if (check_len != ds_crypto_sealed_len(text_len))
        return ds_error_set(err, DS_CORRUPT,
                            "cannot verify the password: the stored key check is %zu "
                            "bytes, expected %zu (corrupt metadata)",
                            check_len, ds_crypto_sealed_len(text_len));
    uint8_t plain[sizeof(CHECK_TEXT)];
    ds_status st = ds_crypto_open(c, CHECK_TBL, sizeof(CHECK_TBL) - 1, CHECK_KEY,
                                  sizeof(CHECK_KEY) - 1, DS_CRYPTO_NO_CODEC, check,
                                  check_len, plain, err);
    if (st == DS_CORRUPT)
        return ds_error_set(err, DS_CORRUPT,
                            "wrong password (or corrupted key check): the key check "
                            "stored in the database does not authenticate with this "
                            "password");
    if (st != DS_OK)
        return st;
    if (CRYPTO_memcmp(plain, CHECK_TEXT, text_len) != 0)
        return ds_error_set(err, DS_CORRUPT,
                            "wrong password: the key check does not match");
    return DS_OK;
}
