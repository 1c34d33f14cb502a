/* ds_engine_rekey (engine.h): change a database's password, encrypt a
 * plaintext database in place, or decrypt one, as one SQLite transaction
 * over every row of kv and kv_large and the key rows of dictsqlite_meta.
 *
 * Why a connection of its own: the store's prepared statements are the hot
 * path's (point reads and upserts by key); a rewrite of every row wants a
 * keyset walk plus an UPDATE by primary key, run once. The engine's own
 * connection is idle meanwhile (flush_lock and write_lock are held, and the
 * store never keeps a transaction open between calls), so the second
 * connection's BEGIN IMMEDIATE only waits for other processes.
 *
 * Crash safety is SQLite's: until COMMIT nothing is visible, and a process
 * killed before it leaves the old rows and the old key rows, which the
 * journal (WAL) rolls back at the next open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

/* after sqlite3.h: a fault-injection build reaches the rekey's steps and
 * prepares too (scripts/faults.sh) */
#include "dictsqlite/faults.h"

#include "engine_internal.h"

/* A page of rows is read, then rewritten: SQLite leaves undefined whether a
 * SELECT still running sees rows that the same connection updates. Pages
 * stop at a row count or a byte total, whichever comes first, so a table of
 * large values is never held in memory at once. */
#define REKEY_PAGE_ROWS 256
#define REKEY_PAGE_BYTES ((size_t)32 << 20)

typedef struct rekey_row {
    char *tbl, *key; /* NUL-terminated copies */
    size_t tlen, klen;
    uint8_t codec;
    unsigned char *value;
    size_t vlen;
} rekey_row;

typedef struct rekey {
    const char *path;
    sqlite3 *db;
    const ds_engine *e;       /* its key and layout are the old ones until COMMIT */
    const ds_crypto *old_key; /* NULL: the rows are plaintext */
    const ds_crypto *new_key; /* NULL: decrypt */
    rekey_row rows[REKEY_PAGE_ROWS];
    size_t n;
    rekey_row last; /* the previous page's last row: where the next starts */
    unsigned char *plain, *sealed;
    size_t plain_cap, sealed_cap;
} rekey;

static ds_status sql_fail(rekey *rk, int rc, ds_error *err, const char *what)
{
    int code = rc & 0xff;
    ds_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED ? DS_BUSY
                   : code == SQLITE_READONLY                   ? DS_READONLY
                   : code == SQLITE_NOMEM                      ? DS_NOMEM
                   : code == SQLITE_TOOBIG                     ? DS_INVALID
                                                               : DS_IO;
    ds_error_set(err, st, "%s: cannot rekey (%s): %s", rk->path, what,
                 rk->db ? sqlite3_errmsg(rk->db) : sqlite3_errstr(rc));
    if (err) {
        err->sqlite_code = rc;
        int sys = rk->db ? sqlite3_system_errno(rk->db) : 0;
        err->sys_errno = st == DS_BUSY ? EBUSY : st == DS_READONLY ? EROFS
                         : st == DS_IO ? (sys ? sys : EIO) : 0;
    }
    return st;
}

/* Run one statement that returns no rows (through sqlite3_step, so the
 * fault sweep covers BEGIN and COMMIT too). */
static ds_status exec1(rekey *rk, const char *sql, ds_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(rk->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
            rc = SQLITE_OK;
    }
    ds_status r = rc == SQLITE_OK ? DS_OK : sql_fail(rk, rc, err, sql);
    sqlite3_finalize(st);
    return r;
}

static void row_free(rekey_row *r)
{
    free(r->tbl);
    free(r->key);
    free(r->value);
    memset(r, 0, sizeof(*r));
}

static void page_free(rekey *rk)
{
    for (size_t i = 0; i < rk->n; i++)
        row_free(&rk->rows[i]);
    rk->n = 0;
}

static char *copy_text(const unsigned char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    unsigned char *p = realloc(*buf, need);
    if (!p)
        return -1;
    *buf = p;
    *cap = need;
    return 0;
}

/* Read the next page of table (after rk->last when it is set). */
static ds_status read_page(rekey *rk, sqlite3_stmt *first, sqlite3_stmt *next, ds_error *err)
{
    sqlite3_stmt *st = rk->last.tbl ? next : first;
    int rc = SQLITE_OK;
    if (st == next) {
        rc = sqlite3_bind_text64(st, 1, rk->last.tbl, rk->last.tlen, SQLITE_STATIC, SQLITE_UTF8);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text64(st, 2, rk->last.key, rk->last.klen, SQLITE_STATIC,
                                     SQLITE_UTF8);
    }
    size_t bytes = 0;
    while (rc == SQLITE_OK && rk->n < REKEY_PAGE_ROWS && bytes < REKEY_PAGE_BYTES) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = s;
            break;
        }
        rekey_row *r = &rk->rows[rk->n];
        /* text before bytes, as SQLite asks: the length is then the text's */
        const unsigned char *tbl = sqlite3_column_text(st, 0);
        r->tlen = (size_t)sqlite3_column_bytes(st, 0);
        r->tbl = copy_text(tbl, r->tlen);
        const unsigned char *key = sqlite3_column_text(st, 1);
        r->klen = (size_t)sqlite3_column_bytes(st, 1);
        r->key = copy_text(key, r->klen);
        r->codec = (uint8_t)sqlite3_column_int(st, 2);
        const void *v = sqlite3_column_blob(st, 3);
        r->vlen = (size_t)sqlite3_column_bytes(st, 3);
        r->value = malloc(r->vlen ? r->vlen : 1);
        rk->n++; /* counted now, so a failed copy is freed with the page */
        if (!r->tbl || !r->key || !r->value) {
            rc = SQLITE_NOMEM;
            break;
        }
        if (r->vlen)
            memcpy(r->value, v, r->vlen);
        bytes += r->vlen;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_NOMEM)
        return ds_error_set(err, DS_NOMEM, "%s: out of memory reading rows to rekey", rk->path);
    return rc == SQLITE_OK ? DS_OK : sql_fail(rk, rc, err, "reading rows");
}

/* The row's plaintext: decrypted with the old key when it is sealed. */
static ds_status row_plaintext(rekey *rk, const rekey_row *r, const unsigned char **plain,
                               size_t *plain_len, ds_error *err)
{
    if (!(r->codec & DS_CODEC_FLAG_ENCRYPTED) && rk->old_key)
        /* planted: rekeying it would make it look like ours */
        return ds_error_set(err, DS_CORRUPT, "%s: the value of key '%.*s' in table '%.*s' is "
                            "not encrypted, in an encrypted database, so nothing was "
                            "rekeyed: it was not written by dictsqlite with the password",
                            rk->path, (int)(r->klen > 200 ? 200 : r->klen), r->key,
                            (int)(r->tlen > 100 ? 100 : r->tlen), r->tbl);
    if (!(r->codec & DS_CODEC_FLAG_ENCRYPTED)) {
        *plain = r->value;
        *plain_len = r->vlen;
        return DS_OK;
    }
    if (!rk->old_key)
        return ds_error_set(err, DS_CORRUPT, "%s: the value of key '%.*s' in table '%.*s' is "
                            "encrypted, but the database has no key check: cannot rekey it",
                            rk->path, (int)(r->klen > 200 ? 200 : r->klen), r->key,
                            (int)(r->tlen > 100 ? 100 : r->tlen), r->tbl);
    *plain_len = plain_len_of(r->vlen);
    if (grow(&rk->plain, &rk->plain_cap, *plain_len ? *plain_len : 1) < 0)
        return ds_error_set(err, DS_NOMEM, "%s: out of memory decrypting a value", rk->path);
    ds_status st = ds_crypto_open(rk->old_key, r->tbl, r->tlen, r->key, r->klen,
                                  aad_codec_of(rk->e, r->codec), r->value, r->vlen,
                                  rk->plain, err);
    if (st != DS_OK)
        return ds_error_set(err, st, "%s: cannot decrypt the value of key '%.*s' in table "
                            "'%.*s', so nothing was rekeyed: the data was tampered with "
                            "or moved", rk->path, (int)(r->klen > 200 ? 200 : r->klen),
                            r->key, (int)(r->tlen > 100 ? 100 : r->tlen), r->tbl);
    *plain = rk->plain;
    return DS_OK;
}

/* UPDATE one row with its value under the new key (or in plain text). */
static ds_status rewrite_row(rekey *rk, sqlite3_stmt *update, const rekey_row *r,
                             ds_error *err)
{
    const unsigned char *plain = NULL;
    size_t plain_len = 0;
    ds_status st = row_plaintext(rk, r, &plain, &plain_len, err);
    if (st != DS_OK)
        return st;
    uint8_t codec = (uint8_t)(r->codec & ~DS_CODEC_FLAG_ENCRYPTED);
    const void *out = plain;
    size_t out_len = plain_len;
    if (rk->new_key) {
        out_len = ds_crypto_sealed_len(plain_len);
        if (grow(&rk->sealed, &rk->sealed_cap, out_len) < 0)
            return ds_error_set(err, DS_NOMEM, "%s: out of memory encrypting a value",
                                rk->path);
        /* a rekeyed file always binds the codec */
        st = ds_crypto_seal(rk->new_key, r->tbl, r->tlen, r->key, r->klen, codec, plain,
                            plain_len, rk->sealed, err);
        if (st != DS_OK)
            return st;
        out = rk->sealed;
        codec |= DS_CODEC_FLAG_ENCRYPTED;
    }
    static const char empty[1] = "";
    int rc = sqlite3_bind_text64(update, 1, r->tbl, r->tlen, SQLITE_STATIC, SQLITE_UTF8);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text64(update, 2, r->key, r->klen, SQLITE_STATIC, SQLITE_UTF8);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(update, 3, codec);
    /* as the store binds values: plaintext JSON as TEXT, so SQLite's json
     * functions read it; everything else (ciphertext included) as BLOB */
    if (rc == SQLITE_OK)
        rc = (codec & DS_CODEC_MASK) == DS_CODEC_JSON && !(codec & DS_CODEC_FLAG_ENCRYPTED)
                 ? sqlite3_bind_text64(update, 4, out_len ? out : empty, out_len,
                                       SQLITE_STATIC, SQLITE_UTF8)
                 : sqlite3_bind_blob64(update, 4, out_len ? out : empty, out_len,
                                       SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(update);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_reset(update);
    sqlite3_clear_bindings(update);
    return rc == SQLITE_OK ? DS_OK : sql_fail(rk, rc, err, "rewriting a row");
}

static ds_status prepare(rekey *rk, const char *sql, sqlite3_stmt **out, ds_error *err)
{
    int rc = sqlite3_prepare_v2(rk->db, sql, -1, out, NULL);
    return rc == SQLITE_OK ? DS_OK : sql_fail(rk, rc, err, "preparing statements");
}

/* Every row of one table (kv or kv_large). Rows whose tbl or key is not
 * TEXT are skipped, as every reader skips them (store.c). */
static ds_status rewrite_table(rekey *rk, const char *table, ds_error *err)
{
    char first_sql[256], next_sql[256], update_sql[128];
    snprintf(first_sql, sizeof(first_sql),
             "SELECT tbl, key, codec, value FROM %s WHERE typeof(tbl)='text' AND "
             "typeof(key)='text' ORDER BY tbl, key", table);
    snprintf(next_sql, sizeof(next_sql),
             "SELECT tbl, key, codec, value FROM %s WHERE typeof(tbl)='text' AND "
             "typeof(key)='text' AND (tbl, key) > (?1, ?2) ORDER BY tbl, key", table);
    snprintf(update_sql, sizeof(update_sql),
             "UPDATE %s SET codec=?3, value=?4 WHERE tbl=?1 AND key=?2", table);
    sqlite3_stmt *first = NULL, *next = NULL, *update = NULL;
    ds_status st = prepare(rk, first_sql, &first, err);
    if (st == DS_OK)
        st = prepare(rk, next_sql, &next, err);
    if (st == DS_OK)
        st = prepare(rk, update_sql, &update, err);
    row_free(&rk->last);
    while (st == DS_OK) {
        st = read_page(rk, first, next, err);
        if (st != DS_OK || rk->n == 0)
            break;
        for (size_t i = 0; i < rk->n && st == DS_OK; i++)
            st = rewrite_row(rk, update, &rk->rows[i], err);
        row_free(&rk->last);
        rk->last = rk->rows[--rk->n]; /* moved: the page no longer frees it */
        page_free(rk);
    }
    page_free(rk);
    row_free(&rk->last);
    sqlite3_finalize(first);
    sqlite3_finalize(next);
    sqlite3_finalize(update);
    return st;
}

static ds_status set_meta(rekey *rk, sqlite3_stmt *st, const char *name, const void *value,
                          size_t len, ds_error *err)
{
    int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob64(st, 2, value, len, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_OK ? DS_OK : sql_fail(rk, rc, err, "writing dictsqlite_meta");
}

/* The key rows: a fresh salt, the parameters and the new key check, or
 * none of them when decrypting (then the file opens without a password). */
static ds_status write_key_rows(rekey *rk, const uint8_t *salt, const ds_kdf_params *p,
                                const uint8_t *check, size_t check_len, ds_error *err)
{
    if (!rk->new_key)
        return exec1(rk, "DELETE FROM dictsqlite_meta WHERE name IN ('" META_KDF "', '"
                         META_SALT "', '" META_CHECK "', '" META_AAD "')", err);
    char kdf[128];
    int n = snprintf(kdf, sizeof(kdf), META_KDF_FORMAT, p->t_cost, p->m_cost_kib,
                     p->parallelism);
    sqlite3_stmt *st = NULL;
    ds_status r = prepare(rk, "INSERT INTO dictsqlite_meta(name, value) VALUES(?1, ?2) "
                              "ON CONFLICT(name) DO UPDATE SET value=excluded.value", &st, err);
    /* the parameters are TEXT at open (engine_crypto.c parses them with
     * sscanf); binding them as a BLOB keeps the bytes the same */
    if (r == DS_OK)
        r = set_meta(rk, st, META_KDF, kdf, (size_t)n, err);
    if (r == DS_OK)
        r = set_meta(rk, st, META_SALT, salt, DS_CRYPTO_SALT_LEN, err);
    if (r == DS_OK)
        r = set_meta(rk, st, META_CHECK, check, check_len, err);
    if (r == DS_OK)
        r = set_meta(rk, st, META_AAD, AAD_WITH_CODEC, sizeof(AAD_WITH_CODEC) - 1, err);
    sqlite3_finalize(st);
    return r;
}

/* The transaction itself; flush_lock and write_lock are held. */
static ds_status rewrite_file(ds_engine *e, const ds_crypto *new_key, const uint8_t *salt,
                              const ds_kdf_params *p, const uint8_t *check, size_t check_len,
                              ds_error *err)
{
    rekey rk;
    memset(&rk, 0, sizeof(rk));
    rk.path = ds_store_path(e->store);
    rk.e = e;
    rk.old_key = e->crypto;
    rk.new_key = new_key;
    /* no SQLITE_OPEN_CREATE: the engine's file exists, and if it was
     * removed meanwhile a new empty one must not appear */
    int rc = sqlite3_open_v2(ds_store_file_name(e->store), &rk.db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    ds_status st;
    if (rc != SQLITE_OK) {
        st = rk.db ? sql_fail(&rk, rc, err, "opening a second connection")
                   : ds_error_set(err, DS_NOMEM, "%s: out of memory opening it to rekey",
                                  rk.path);
        goto done;
    }
    sqlite3_extended_result_codes(rk.db, 1);
    sqlite3_busy_timeout(rk.db, e->store_opts.busy_timeout_ms ? e->store_opts.busy_timeout_ms
                                                              : 5000);
    st = exec1(&rk, "BEGIN IMMEDIATE", err);
    if (st != DS_OK)
        goto done;
    st = rewrite_table(&rk, "kv", err);
    if (st == DS_OK)
        st = rewrite_table(&rk, "kv_large", err);
    if (st == DS_OK)
        st = write_key_rows(&rk, salt, p, check, check_len, err);
    if (st == DS_OK)
        st = exec1(&rk, "COMMIT", err);
    if (st != DS_OK)
        /* not through the fault hooks: the undo must run; closing the
         * connection would roll back too */
        sqlite3_exec(rk.db, "ROLLBACK", NULL, NULL, NULL);
done:
    free(rk.plain);
    free(rk.sealed);
    sqlite3_close_v2(rk.db);
    return st;
}

ds_status ds_engine_rekey(ds_engine *e, const char *new_password, size_t len, ds_error *err)
{
    if (!e->store)
        return ds_error_set(err, DS_INVALID, "a memory-mode database has no file to rekey");
    const char *path = ds_store_path(e->store);
    if (e->read_only || ds_store_is_readonly(e->store))
        return ds_error_set(err, DS_READONLY, "%s cannot be written (read-only), so it "
                            "cannot be rekeyed", path);
    if (e->locked_encrypted)
        return locked_error(e, err);
    if (!new_password && !e->crypto)
        return ds_error_set(err, DS_INVALID, "%s is not encrypted: there is nothing to "
                            "decrypt", path);
    if (new_password && len == 0)
        return ds_error_set(err, DS_INVALID, "the new password for %s is empty", path);
    /* The slow part (Argon2id) before any lock is taken. */
    ds_crypto *fresh = NULL;
    uint8_t salt[DS_CRYPTO_SALT_LEN] = {0};
    uint8_t check[64] = {0};
    size_t check_len = 0;
    ds_kdf_params params = DS_KDF_DEFAULTS;
    ds_status st = DS_OK;
    if (new_password) {
        st = ds_crypto_random_salt(salt, err);
        if (st == DS_OK)
            st = ds_crypto_new(new_password, len, salt, &params, &fresh, err);
        if (st == DS_OK)
            st = ds_crypto_make_check(fresh, check, &check_len, err);
        if (st != DS_OK) {
            ds_crypto_free(fresh);
            return st;
        }
    }
    pthread_mutex_lock(&e->flush_lock);
    pthread_mutex_lock(&e->write_lock);
    /* Pending writes go first, under the old key, so the rewrite sees them;
     * if that fails nothing was rekeyed and they stay pending. */
    st = flush_locked(e, 1, err);
    if (st == DS_OK)
        st = rewrite_file(e, fresh, salt, &params, check, check_len, err);
    if (st == DS_OK) {
        /* The tiers hold plaintext, which did not change; only the key the
         * next flush and cold read use does. */
        ds_crypto_free(e->crypto);
        e->crypto = fresh;
        e->aad_codec = fresh != NULL;
        fresh = NULL;
        note_own_commit(e);
    }
    pthread_mutex_unlock(&e->write_lock);
    pthread_mutex_unlock(&e->flush_lock);
    ds_crypto_free(fresh);
    return st;
}
