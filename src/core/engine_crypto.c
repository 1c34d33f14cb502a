/* The engine's side of encryption: the KDF parameters, salt and key check in
 * dictsqlite_meta, read or created at open, and the decryption of values read
 * from SQLite. Separate from crypto.c, which knows nothing of SQLite or of the
 * engine (it only seals and opens bytes), and from the tiers, which only see
 * e->crypto and e->locked_encrypted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static ds_status parse_kdf(const char *text, size_t len, ds_kdf_params *p)
{
    char buf[128];
    if (len >= sizeof(buf))
        return DS_CORRUPT;
    memcpy(buf, text, len);
    buf[len] = '\0';
    unsigned t, m, par;
    if (sscanf(buf, META_KDF_FORMAT, &t, &m, &par) != 3)
        return DS_CORRUPT;
    p->t_cost = t;
    p->m_cost_kib = m;
    p->parallelism = par;
    return DS_OK;
}

ds_status locked_error(ds_engine *e, ds_error *err)
{
    return ds_error_set(err, DS_INVALID, "%s is encrypted: pass encryption_password= "
                        "to read or write it", ds_store_path(e->store));
}

/* Is the file encrypted (it has a key check)? Else, does it hold values?
 * A password may only be given for the first kind or an empty file, since
 * values written before it would stay plaintext beside the ciphertext. */
static int stop_at_first(const char *tbl, size_t tlen, void *ctx)
{
    (void)tbl;
    (void)tlen;
    *(int *)ctx = 1;
    return 1;
}

ds_status check_encryption_state(ds_engine *e, const ds_engine_config *cfg,
                                        ds_error *err)
{
    void *check = NULL;
    size_t check_len = 0;
    ds_status st = ds_store_meta_get(e->store, META_CHECK, &check, &check_len, err);
    free(check);
    if (st == DS_OK) {
        if (!cfg->password)
            e->locked_encrypted = 1;
        return DS_OK;
    }
    if (st != DS_NOTFOUND)
        return st;
    if (!cfg->password)
        return DS_OK;
    int has_rows = 0;
    st = ds_store_list_ns(e->store, stop_at_first, &has_rows, err);
    if (st != DS_OK)
        return st;
    if (has_rows)
        return ds_error_set(err, DS_INVALID, "%s holds unencrypted values, so it cannot "
                            "be opened with encryption_password; to encrypt it in place "
                            "run: dictsqlite rekey %s", ds_store_path(e->store),
                            ds_store_path(e->store));
    return DS_OK;
}

ds_status setup_crypto(ds_engine *e, const ds_engine_config *cfg, ds_error *err)
{
    const char *path = ds_store_path(e->store);
    void *salt = NULL, *kdf = NULL, *check = NULL;
    size_t salt_len = 0, kdf_len = 0, check_len = 0;
    ds_kdf_params params = DS_KDF_DEFAULTS;
    uint8_t fresh_salt[DS_CRYPTO_SALT_LEN];
    ds_status st = ds_store_meta_get(e->store, META_SALT, &salt, &salt_len, err);
    if (st == DS_OK) {
        if (salt_len != DS_CRYPTO_SALT_LEN ||
            ds_store_meta_get(e->store, META_KDF, &kdf, &kdf_len, err) != DS_OK ||
            parse_kdf(kdf, kdf_len, &params) != DS_OK) {
            st = ds_error_set(err, DS_CORRUPT, "%s: the encryption parameters in "
                              "dictsqlite_meta are damaged", path);
            goto done;
        }
    } else if (st == DS_NOTFOUND) {
        st = ds_crypto_random_salt(fresh_salt, err);
        if (st != DS_OK)
            goto done;
        char text[128];
        int n = snprintf(text, sizeof(text), META_KDF_FORMAT, params.t_cost,
                         params.m_cost_kib, params.parallelism);
        st = ds_store_meta_set(e->store, META_KDF, text, (size_t)n, err);
        if (st == DS_OK)
            st = ds_store_meta_set(e->store, META_SALT, fresh_salt, sizeof(fresh_salt), err);
        if (st == DS_OK)
            st = ds_store_meta_set(e->store, META_AAD, AAD_WITH_CODEC,
                                   sizeof(AAD_WITH_CODEC) - 1, err);
        if (st != DS_OK)
            goto done;
        e->aad_codec = 1;
    } else {
        goto done;
    }
    if (salt) {
        void *aad = NULL;
        size_t aad_len = 0;
        st = ds_store_meta_get(e->store, META_AAD, &aad, &aad_len, err);
        if (st == DS_OK)
            e->aad_codec = aad_len == sizeof(AAD_WITH_CODEC) - 1 &&
                           memcmp(aad, AAD_WITH_CODEC, aad_len) == 0;
        free(aad);
        if (st == DS_OK && !e->aad_codec) {
            st = ds_error_set(err, DS_CORRUPT, "%s: dictsqlite_meta names an unknown "
                              "encryption layout (aad); a newer dictsqlite wrote it?", path);
            goto done;
        }
        if (st != DS_OK && st != DS_NOTFOUND)
            goto done;
    }
    st = ds_crypto_new(cfg->password, cfg->password_len,
                       salt ? (const uint8_t *)salt : fresh_salt, &params, &e->crypto, err);
    if (st != DS_OK)
        goto done;
    st = ds_store_meta_get(e->store, META_CHECK, &check, &check_len, err);
    if (st == DS_OK) {
        if (ds_crypto_verify_check(e->crypto, check, check_len, err) != DS_OK)
            st = ds_error_set(err, DS_INVALID, "wrong encryption_password for %s "
                              "(the key check stored in the database does not match)", path);
    } else if (st == DS_NOTFOUND) {
        uint8_t made[64];
        size_t made_len = 0;
        st = ds_crypto_make_check(e->crypto, made, &made_len, err);
        if (st == DS_OK)
            st = ds_store_meta_set(e->store, META_CHECK, made, made_len, err);
    }
done:
    free(salt);
    free(kdf);
    free(check);
    if (st != DS_OK) {
        ds_crypto_free(e->crypto);
        e->crypto = NULL;
    }
    return st;
}

/* Decrypt a value read from SQLite, stored with codec, into plain
 * (plain_len_of(vlen) bytes). */
ds_status open_value(ds_engine *e, const ds_ns *n, const char *key, size_t klen,
                     uint8_t codec, const void *sealed, size_t vlen, unsigned char *plain,
                     ds_error *err)
{
    ds_status st = ds_crypto_open(e->crypto, n->name, n->len, key, klen,
                                  aad_codec_of(e, codec), sealed, vlen, plain, err);
    if (st != DS_OK)
        return ds_error_set(err, st, "cannot decrypt the value of key '%.*s' in table "
                            "'%.*s': wrong password, or the data was tampered with or "
                            "moved", (int)(klen > 200 ? 200 : klen), key,
                            (int)(n->len > 100 ? 100 : n->len), n->name);
    return DS_OK;
}

ds_status unencrypted_row_error(const ds_ns *n, const char *key, size_t klen,
                                ds_error *err)
{
    return ds_error_set(err, DS_CORRUPT, "the value of key '%.*s' in table '%.*s' is not "
                        "encrypted, in an encrypted database: it was not written by "
                        "dictsqlite with the password, so it is refused",
                        (int)(klen > 200 ? 200 : klen), key,
                        (int)(n->len > 100 ? 100 : n->len), n->name);
}
