/* ds_engine_rekey: a new password, encryption in place, decryption, and a
 * failed rekey that changes nothing, on real SQLite files. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine_files.h"
#include "dictsqlite/engine.h"

static ds_engine *open_with(const char *name, const char *password, ds_status *st_out)
{
    ds_engine_config cfg = {0};
    cfg.path = path_of(name);
    cfg.persist = DS_PERSIST_WRITETHROUGH;
    cfg.hot_capacity = 4; /* reads after a rekey go to SQLite and decrypt */
    cfg.warm_bytes = 0;
    cfg.buffer_size = 1;
    cfg.store.busy_timeout_ms = 50;
    cfg.password = password;
    cfg.password_len = password ? strlen(password) : 0;
    ds_engine *e = NULL;
    ds_error err;
    ds_status st = ds_engine_open(&cfg, &e, &err);
    if (st_out)
        *st_out = st;
    return st == DS_OK ? e : NULL;
}

/* The value of key i: short ones land in kv, every fifth in kv_large. */
static void value_of(int i, char *buf, size_t *len)
{
    *len = i % 5 == 0 ? 2000 : 20;
    memset(buf, 'a' + i % 26, *len);
}

static void fill(ds_engine *e, const char *table, int n)
{
    uint32_t ns = ns_of(e, table);
    char key[32], value[2000];
    for (int i = 0; i < n; i++) {
        size_t len;
        snprintf(key, sizeof(key), "k%d", i);
        value_of(i, value, &len);
        ds_error err;
        CHECK_EQ_INT(ds_engine_put(e, ns, key, strlen(key), h(key, ns), DS_CODEC_BYTES, value,
                                   len, 1, NULL, NULL, &err), DS_OK);
    }
}

/* Every value of table reads back (through SQLite, decrypted). */
static int all_there(ds_engine *e, const char *table, int n)
{
    uint32_t ns = ns_of(e, table);
    char key[32], value[2000];
    for (int i = 0; i < n; i++) {
        size_t len;
        snprintf(key, sizeof(key), "k%d", i);
        value_of(i, value, &len);
        ds_entry *x = NULL;
        ds_error err;
        if (ds_engine_get(e, ns, key, strlen(key), h(key, ns), 1, &x, &err) != DS_OK)
            return 0;
        int ok = x->vlen == len && memcmp(ds_entry_value(x), value, len) == 0;
        ds_entry_decref(x, ds_engine_retire(e));
        if (!ok)
            return 0;
    }
    return 1;
}

/* Rows of both tables whose codec has the encrypted flag, or -1. */
static int64_t encrypted_rows(const char *name)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_open(path_of(name), &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM kv WHERE codec & 16) + "
                               "(SELECT count(*) FROM kv_large WHERE codec & 16)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_new_password_then_decrypt_then_encrypt(void)
{
    ds_engine *e = open_with("keys.db", "old", NULL);
    CHECK(e != NULL);
    fill(e, "main", 30);
    fill(e, "other", 10);
    ds_error err;
    CHECK_EQ_INT(ds_engine_rekey(e, "new", 3, &err), DS_OK);
    CHECK(all_there(e, "main", 30) && all_there(e, "other", 10));
    close_engine(e);
    CHECK_EQ_INT(encrypted_rows("keys.db"), 40);

    ds_status st;
    CHECK(open_with("keys.db", "old", &st) == NULL);
    CHECK_EQ_INT(st, DS_INVALID);
    e = open_with("keys.db", "new", NULL);
    CHECK(e != NULL && all_there(e, "main", 30) && all_there(e, "other", 10));
    CHECK_EQ_INT(ds_engine_rekey(e, NULL, 0, &err), DS_OK);
    close_engine(e);
    CHECK_EQ_INT(encrypted_rows("keys.db"), 0);

    e = open_with("keys.db", NULL, NULL); /* no key check left: opens plain */
    CHECK(e != NULL && all_there(e, "main", 30));
    CHECK_EQ_INT(ds_engine_rekey(e, NULL, 0, &err), DS_INVALID); /* nothing to decrypt */
    CHECK_EQ_INT(ds_engine_rekey(e, "third", 5, &err), DS_OK);
    fill(e, "later", 3); /* written after the rekey, with the new key */
    close_engine(e);
    CHECK_EQ_INT(encrypted_rows("keys.db"), 43);
    e = open_with("keys.db", "third", NULL);
    CHECK(e != NULL && all_there(e, "other", 10) && all_there(e, "later", 3));
    close_engine(e);
}

static void test_a_failed_rekey_changes_nothing(void)
{
    ds_engine *e = open_with("busy.db", "old", NULL);
    CHECK(e != NULL);
    fill(e, "main", 20);
    /* another connection holds the write lock past the busy timeout */
    sqlite3 *other;
    CHECK_EQ_INT(sqlite3_open(path_of("busy.db"), &other), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ds_error err;
    CHECK_EQ_INT(ds_engine_rekey(e, "new", 3, &err), DS_BUSY);
    CHECK(strstr(err.msg, "busy.db") != NULL);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    CHECK(all_there(e, "main", 20)); /* still the old key */
    close_engine(e);
    e = open_with("busy.db", "old", NULL);
    CHECK(e != NULL && all_there(e, "main", 20));
    close_engine(e);
}

static void test_memory_mode_and_empty_password_are_refused(void)
{
    ds_engine_config cfg = {0};
    cfg.path = ":memory:";
    cfg.persist = DS_PERSIST_MEMORY;
    cfg.hot_capacity = 16;
    ds_engine *e = NULL;
    ds_error err;
    CHECK_EQ_INT(ds_engine_open(&cfg, &e, &err), DS_OK);
    CHECK_EQ_INT(ds_engine_rekey(e, "x", 1, &err), DS_INVALID);
    close_engine(e);
    e = open_with("empty.db", NULL, NULL);
    CHECK_EQ_INT(ds_engine_rekey(e, "", 0, &err), DS_INVALID);
    close_engine(e);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ds_rekey_test_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    RUN_TEST(test_new_password_then_decrypt_then_encrypt);
    RUN_TEST(test_a_failed_rekey_changes_nothing);
    RUN_TEST(test_memory_mode_and_empty_password_are_refused);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_DONE();
}
