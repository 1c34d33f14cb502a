/* Unit tests of the SQLite cold tier (src/core/store.c), on real files in a
 * private temp directory. A second, raw sqlite3 connection plays the other
 * process: it inspects what landed on disk and provokes failures. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "dictsqlite/store.h"

static char tmpdir[256];
static int path_seq;

/* A fresh file name in the temp dir. */
static const char *tpath(const char *stem)
{
    static char bufs[8][512];
    char *b = bufs[path_seq % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s-%d.db", tmpdir, stem, path_seq);
    path_seq++;
    return b;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    chmod(p, 0700);
    return remove(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- helpers ---------------------------------------------------------- */

static ds_store *open_ok(const char *path, const ds_store_options *opt)
{
    ds_store *s = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_store_open(path, opt, &s, &err);
    if (st != DS_OK)
        fprintf(stderr, "open %s: %s: %s\n", path, ds_status_name(st), err.msg);
    CHECK_EQ_INT(st, DS_OK);
    CHECK(s != NULL);
    return s;
}

static ds_status put(ds_store *s, const char *tbl, const char *key, uint8_t codec,
                     const char *value)
{
    ds_store_item it = {tbl, strlen(tbl), key, strlen(key), value, strlen(value),
                        codec, 0};
    ds_error err;
    ds_status st = ds_store_write_batch(s, &it, 1, &err);
    if (st != DS_OK)
        fprintf(stderr, "put %s/%s: %s\n", tbl, key, err.msg);
    return st;
}

static ds_status del(ds_store *s, const char *tbl, const char *key)
{
    ds_store_item it = {tbl, strlen(tbl), key, strlen(key), NULL, 0, 0, 1};
    return ds_store_write_batch(s, &it, 1, NULL);
}

/* Value of (tbl, key) as a NUL-terminated string in a static buffer, or
 * NULL if absent. */
static const char *get_str(ds_store *s, const char *tbl, const char *key,
                           uint8_t *codec)
{
    static char buf[4096];
    void *v = NULL;
    size_t n = 0;
    uint8_t c = 0;
    ds_error err;
    ds_status st = ds_store_get(s, tbl, strlen(tbl), key, strlen(key), &c, &v,
                                &n, &err);
    if (st == DS_NOTFOUND)
        return NULL;
    CHECK_EQ_INT(st, DS_OK);
    if (st != DS_OK)
        return NULL;
    CHECK(v != NULL);
    CHECK(n < sizeof(buf));
    memcpy(buf, v, n < sizeof(buf) ? n : sizeof(buf) - 1);
    buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
    free(v);
    if (codec)
        *codec = c;
    return buf;
}

static int64_t count(ds_store *s, const char *tbl)
{
    int64_t n = -1;
    CHECK_EQ_INT(ds_store_count(s, tbl, strlen(tbl), &n, NULL), DS_OK);
    return n;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    CHECK_EQ_INT(rc, SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &e);
    if (rc != SQLITE_OK)
        fprintf(stderr, "raw_exec(%s): %s\n", sql, e ? e : "?");
    sqlite3_free(e);
    return rc;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const char *raw_text(sqlite3 *db, const char *sql)
{
    static char buf[1024];
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

/* ---- basics ----------------------------------------------------------- */

static void test_create_and_reopen(void)
{
    const char *path = tpath("reopen");
    ds_store *s = open_ok(path, NULL);
    CHECK(strcmp(ds_store_path(s), path) == 0);
    CHECK_EQ_INT(put(s, "t", "alpha", 1, "one"), DS_OK);
    CHECK_EQ_INT(put(s, "t", "beta", 4, "two"), DS_OK);
    ds_store_close(s);

    s = open_ok(path, NULL);
    uint8_t codec = 0;
    const char *v = get_str(s, "t", "alpha", &codec);
    CHECK(v && strcmp(v, "one") == 0);
    CHECK_EQ_INT(codec, 1);
    v = get_str(s, "t", "beta", &codec);
    CHECK(v && strcmp(v, "two") == 0);
    CHECK_EQ_INT(codec, 4);
    CHECK_EQ_INT(count(s, "t"), 2);

    /* The file has exactly our schema, in WAL mode, stamped with the format
     * version as text. */
    sqlite3 *db = raw_open(path);
    CHECK(strstr(raw_text(db, "SELECT sql FROM sqlite_master WHERE name='kv'"),
                 "WITHOUT ROWID") != NULL);
    CHECK(strstr(raw_text(db, "SELECT sql FROM sqlite_master WHERE name='kv'"),
                 "PRIMARY KEY (tbl, key)") != NULL);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                             "name='dictsqlite_meta' AND type='table'"),
                 1);
    CHECK(strcmp(raw_text(db, "PRAGMA journal_mode"), "wal") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 "text") == 0);
    CHECK(strcmp(raw_text(db, "SELECT value FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 "1") == 0);
    sqlite3_close(db);
    ds_store_close(s);
    ds_store_close(NULL);
}

static void test_upsert_and_delete(void)
{
    ds_store *s = open_ok(tpath("upsert"), NULL);
    uint8_t codec = 0;
    CHECK_EQ_INT(put(s, "t", "k", 1, "first"), DS_OK);
    CHECK_EQ_INT(put(s, "t", "k", 4, "second, longer"), DS_OK);
    const char *v = get_str(s, "t", "k", &codec);
    CHECK(v && strcmp(v, "second, longer") == 0);
    CHECK_EQ_INT(codec, 4);
    CHECK_EQ_INT(count(s, "t"), 1);
    CHECK_EQ_INT(ds_store_exists(s, "t", 1, "k", 1, NULL), DS_OK);

    CHECK_EQ_INT(del(s, "t", "k"), DS_OK);
    CHECK(get_str(s, "t", "k", NULL) == NULL);
    CHECK_EQ_INT(ds_store_exists(s, "t", 1, "k", 1, NULL), DS_NOTFOUND);
    /* Deleting what is not there is not an error. */
    CHECK_EQ_INT(del(s, "t", "k"), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 0);

    /* Mixed batch: later items see earlier ones (same transaction). */
    ds_store_item items[] = {
        {"t", 1, "a", 1, "1", 1, 1, 0},
        {"t", 1, "b", 1, "2", 1, 1, 0},
        {"t", 1, "a", 1, NULL, 0, 0, 1},
        {"t", 1, "b", 1, "3", 1, 1, 0},
    };
    CHECK_EQ_INT(ds_store_write_batch(s, items, 4, NULL), DS_OK);
    CHECK(get_str(s, "t", "a", NULL) == NULL);
    v = get_str(s, "t", "b", NULL);
    CHECK(v && strcmp(v, "3") == 0);
    CHECK_EQ_INT(ds_store_write_batch(s, NULL, 0, NULL), DS_OK);
    ds_store_close(s);
}

static void test_empty_key_and_value(void)
{
    ds_store *s = open_ok(tpath("empty-kv"), NULL);
    ds_store_item it = {"", 0, "", 0, NULL, 0, 4, 0};
    CHECK_EQ_INT(ds_store_write_batch(s, &it, 1, NULL), DS_OK);
    void *v = NULL;
    size_t n = 99;
    uint8_t codec = 0;
    CHECK_EQ_INT(ds_store_get(s, "", 0, "", 0, &codec, &v, &n, NULL), DS_OK);
    CHECK(v != NULL);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(codec, 4);
    free(v);
    CHECK_EQ_INT(ds_store_exists(s, NULL, 0, NULL, 0, NULL), DS_OK);

    /* A NULL pointer with a length is a caller bug, not a row. */
    ds_store_item bad = {"t", 1, NULL, 3, "x", 1, 1, 0};
    ds_error err;
    CHECK_EQ_INT(ds_store_write_batch(s, &bad, 1, &err), DS_INVALID);
    CHECK_EQ_INT(ds_store_get(s, "t", 1, "k", 1, NULL, NULL, &n, NULL), DS_INVALID);
    ds_store_close(s);
}

static void test_json_stored_as_text(void)
{
    const char *path = tpath("json");
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put(s, "t", "json", 2, "{\"a\": [1, 2, 3]}"), DS_OK);
    CHECK_EQ_INT(put(s, "t", "json-immutable", 2 | 0x20, "\"s\""), DS_OK);
    CHECK_EQ_INT(put(s, "t", "json-encrypted", 2 | 0x10, "ciphertext"), DS_OK);
    CHECK_EQ_INT(put(s, "t", "pickle", 1, "\x80\x04K\x01."), DS_OK);
    CHECK_EQ_INT(put(s, "t", "bytes", 4, "raw"), DS_OK);

    sqlite3 *db = raw_open(path);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv WHERE key='json'"),
                 "text") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv WHERE "
                              "key='json-immutable'"),
                 "text") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv WHERE "
                              "key='json-encrypted'"),
                 "blob") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv WHERE key='pickle'"),
                 "blob") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv WHERE key='bytes'"),
                 "blob") == 0);
    CHECK_EQ_INT(raw_int(db, "SELECT json_extract(value, '$.a[2]') FROM kv "
                             "WHERE key='json'"),
                 3);
    sqlite3_close(db);

    /* Reading a TEXT value gives back the same bytes. */
    const char *v = get_str(s, "t", "json", NULL);
    CHECK(v && strcmp(v, "{\"a\": [1, 2, 3]}") == 0);
    ds_store_close(s);
}

/* ---- keys ------------------------------------------------------------- */

typedef struct collected {
    char **keys;
    size_t *lens;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
    int saw_null_value, saw_value;
} collected;

static int collect_row(const char *key, size_t klen, uint8_t codec,
                       const void *value, size_t vlen, void *ctx)
{
    (void)codec;
    (void)vlen;
    collected *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->keys = realloc(c->keys, c->cap * sizeof(*c->keys));
        c->lens = realloc(c->lens, c->cap * sizeof(*c->lens));
    }
    c->keys[c->n] = malloc(klen + 1);
    memcpy(c->keys[c->n], key, klen);
    c->keys[c->n][klen] = '\0';
    c->lens[c->n] = klen;
    c->n++;
    if (value)
        c->saw_value = 1;
    else
        c->saw_null_value = 1;
    return c->stop_after && c->n >= c->stop_after;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->keys[i]);
    free(c->keys);
    free(c->lens);
    memset(c, 0, sizeof(*c));
}

static void test_odd_keys(void)
{
    ds_store *s = open_ok(tpath("keys"), NULL);
    static char long_key[10001];
    for (int i = 0; i < 10000; i++)
        long_key[i] = (char)('a' + i % 26);
    long_key[10000] = '\0';
    static char high_bytes[256];
    for (int i = 1; i < 256; i++)
        high_bytes[i - 1] = (char)i; /* every byte but NUL, invalid UTF-8 too */
    high_bytes[255] = '\0';
    const char *keys[] = {
        "plain",
        "with:colon",
        "ns:1:key",
        "it's",
        "\"double\"",
        "'); DROP TABLE kv; --",
        "Robert'); DELETE FROM dictsqlite_meta WHERE ('1'='1",
        "%s%n%d",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",       /* 日本語 */
        "\xf0\x9f\x98\x80 emoji",                     /* U+1F600 */
        "\xff\xfe invalid utf-8 \xc3",
        " leading and trailing ",
        "tab\tnewline\n",
        long_key,
        high_bytes,
    };
    size_t nk = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < nk; i++) {
        char val[32];
        snprintf(val, sizeof(val), "v%zu", i);
        CHECK_EQ_INT(put(s, "t", keys[i], 4, val), DS_OK);
    }
    CHECK_EQ_INT(count(s, "t"), (int64_t)nk);
    for (size_t i = 0; i < nk; i++) {
        char val[32];
        snprintf(val, sizeof(val), "v%zu", i);
        const char *v = get_str(s, "t", keys[i], NULL);
        CHECK(v && strcmp(v, val) == 0);
    }
    /* The scan hands back the exact bytes, in memcmp order. */
    collected c = {0};
    size_t visited = 0;
    CHECK_EQ_INT(ds_store_scan(s, "t", 1, NULL, 0, 1000, 0, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, nk);
    CHECK_EQ_INT(c.n, nk);
    for (size_t i = 0; i < c.n; i++) {
        int found = 0;
        for (size_t j = 0; j < nk; j++)
            if (c.lens[i] == strlen(keys[j]) && memcmp(c.keys[i], keys[j], c.lens[i]) == 0)
                found = 1;
        CHECK(found);
        if (i) {
            size_t m = c.lens[i - 1] < c.lens[i] ? c.lens[i - 1] : c.lens[i];
            int cmp = memcmp(c.keys[i - 1], c.keys[i], m);
            CHECK(cmp < 0 || (cmp == 0 && c.lens[i - 1] < c.lens[i]));
        }
    }
    collected_free(&c);
    /* The injection text did no harm. */
    CHECK_EQ_INT(count(s, "t"), (int64_t)nk);
    void *mv = NULL;
    size_t mn = 0;
    CHECK_EQ_INT(ds_store_meta_get(s, "format_version", &mv, &mn, NULL), DS_OK);
    free(mv);
    CHECK_EQ_INT(del(s, "t", long_key), DS_OK);
    CHECK(get_str(s, "t", long_key, NULL) == NULL);
    ds_store_close(s);
}

static void test_namespaces(void)
{
    ds_store *s = open_ok(tpath("ns"), NULL);
    CHECK_EQ_INT(put(s, "a", "k", 1, "in a"), DS_OK);
    CHECK_EQ_INT(put(s, "b", "k", 1, "in b"), DS_OK);
    CHECK_EQ_INT(put(s, "a", "only-a", 1, "x"), DS_OK);
    CHECK_EQ_INT(put(s, "a:b", "k", 1, "in a:b"), DS_OK);
    const char *v = get_str(s, "a", "k", NULL);
    CHECK(v && strcmp(v, "in a") == 0);
    v = get_str(s, "b", "k", NULL);
    CHECK(v && strcmp(v, "in b") == 0);
    CHECK(get_str(s, "b", "only-a", NULL) == NULL);
    CHECK_EQ_INT(count(s, "a"), 2);
    CHECK_EQ_INT(count(s, "b"), 1);
    CHECK_EQ_INT(count(s, "a:b"), 1);
    CHECK_EQ_INT(count(s, "none"), 0);

    CHECK_EQ_INT(ds_store_clear_ns(s, "a", 1, NULL), DS_OK);
    CHECK_EQ_INT(count(s, "a"), 0);
    CHECK_EQ_INT(count(s, "b"), 1);
    CHECK_EQ_INT(count(s, "a:b"), 1);
    CHECK(get_str(s, "a", "k", NULL) == NULL);
    v = get_str(s, "b", "k", NULL);
    CHECK(v && strcmp(v, "in b") == 0);
    CHECK_EQ_INT(ds_store_clear_ns(s, "empty", 5, NULL), DS_OK);
    ds_store_close(s);
}

/* ---- scans ------------------------------------------------------------ */

static void test_scan_pagination(void)
{
    ds_store *s = open_ok(tpath("scan"), NULL);
    enum { N = 1000 };
    /* Insert in a scrambled order; the scan must still come back sorted. */
    ds_store_item *items = calloc(N, sizeof(*items));
    char (*keys)[16] = calloc(N, sizeof(*keys));
    for (int i = 0; i < N; i++) {
        int k = (i * 7919) % N;
        snprintf(keys[i], sizeof(keys[i]), "k%05d", k);
        items[i] = (ds_store_item){"p", 1, keys[i], strlen(keys[i]), keys[i],
                                   strlen(keys[i]), 4, 0};
    }
    CHECK_EQ_INT(ds_store_write_batch(s, items, N, NULL), DS_OK);
    CHECK_EQ_INT(put(s, "other", "k00000x", 4, "not in p"), DS_OK);

    for (int with_values = 0; with_values <= 1; with_values++) {
        char after[32];
        size_t after_len = 0;
        int have_after = 0, seen = 0, pages = 0;
        for (;;) {
            collected c = {0};
            size_t visited = 0;
            CHECK_EQ_INT(ds_store_scan(s, "p", 1, have_after ? after : NULL,
                                       after_len, 37, with_values, collect_row,
                                       &c, &visited, NULL),
                         DS_OK);
            CHECK_EQ_INT(visited, c.n);
            if (c.n == 0) {
                collected_free(&c);
                break;
            }
            pages++;
            CHECK(c.n <= 37);
            for (size_t i = 0; i < c.n; i++) {
                char want[16];
                snprintf(want, sizeof(want), "k%05d", seen + (int)i);
                CHECK(strcmp(c.keys[i], want) == 0);
            }
            if (with_values) {
                CHECK(c.saw_value && !c.saw_null_value);
            } else {
                CHECK(c.saw_null_value && !c.saw_value);
            }
            seen += (int)c.n;
            memcpy(after, c.keys[c.n - 1], c.lens[c.n - 1]);
            after_len = c.lens[c.n - 1];
            have_after = 1;
            collected_free(&c);
        }
        CHECK_EQ_INT(seen, N);
        CHECK_EQ_INT(pages, (N + 36) / 37);
    }

    /* Values come with their codec and bytes. */
    collected c = {0};
    c.stop_after = 5;
    size_t visited = 0;
    CHECK_EQ_INT(ds_store_scan(s, "p", 1, "k00499", 6, 100, 1, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, 5); /* fn stopped the walk */
    CHECK(c.n == 5 && strcmp(c.keys[0], "k00500") == 0 &&
          strcmp(c.keys[4], "k00504") == 0);
    collected_free(&c);

    /* after need not be an existing key; "" sorts before every key. */
    CHECK_EQ_INT(ds_store_scan(s, "p", 1, "k00499zzz", 9, 1, 0, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK(c.n == 1 && strcmp(c.keys[0], "k00500") == 0);
    collected_free(&c);
    CHECK_EQ_INT(ds_store_scan(s, "p", 1, "", 0, 2000, 0, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, N);
    collected_free(&c);
    CHECK_EQ_INT(ds_store_scan(s, "p", 1, NULL, 0, 0, 0, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, 0);
    CHECK_EQ_INT(ds_store_scan(s, "nothing", 7, NULL, 0, 10, 1, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, 0);
    free(items);
    free(keys);
    ds_store_close(s);
}

static int stop_now(const char *key, size_t klen, uint8_t codec,
                    const void *value, size_t vlen, void *ctx)
{
    (void)key; (void)klen; (void)codec; (void)value; (void)vlen; (void)ctx;
    return 1;
}

static void test_scan_holds_no_read_transaction(void)
{
    const char *path = tpath("scan-txn");
    ds_store *s = open_ok(path, NULL);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        CHECK_EQ_INT(put(s, "t", k, 4, "value"), DS_OK);
    }
    size_t visited = 0;
    CHECK_EQ_INT(ds_store_scan(s, "t", 1, NULL, 0, 50, 1, stop_now, NULL,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, 1);
    /* A TRUNCATE checkpoint must wait for every reader of the WAL; it
     * reports busy=1 if our scan had left a read transaction open. */
    sqlite3 *db = raw_open(path);
    sqlite3_busy_timeout(db, 0);
    CHECK_EQ_INT(raw_int(db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
    /* And a writer on another connection is not blocked. */
    CHECK_EQ_INT(raw_exec(db, "INSERT INTO kv VALUES('t','from-raw',4,x'00')"),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(count(s, "t"), 51);
    ds_store_close(s);
}

typedef struct ns_walk {
    ds_store *s;
    char names[16][32];
    int64_t counts[16];
    int n, stop_at;
} ns_walk;

static int on_ns(const char *tbl, size_t tlen, void *ctx)
{
    ns_walk *w = ctx;
    if (w->n < 16) {
        snprintf(w->names[w->n], sizeof(w->names[0]), "%.*s", (int)tlen, tbl);
        /* The store is usable from inside the callback. */
        CHECK_EQ_INT(ds_store_count(w->s, tbl, tlen, &w->counts[w->n], NULL),
                     DS_OK);
    }
    w->n++;
    return w->stop_at && w->n >= w->stop_at;
}

static void test_list_ns(void)
{
    ds_store *s = open_ok(tpath("listns"), NULL);
    ns_walk w = {.s = s};
    CHECK_EQ_INT(ds_store_list_ns(s, on_ns, &w, NULL), DS_OK);
    CHECK_EQ_INT(w.n, 0);

    const char *ns[] = {"zeta", "", "alpha", "alpha:1", "\xc3\xa9t\xc3\xa9", "Beta"};
    for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j <= i; j++) {
            char k[16];
            snprintf(k, sizeof(k), "k%zu", j);
            CHECK_EQ_INT(put(s, ns[i], k, 4, "v"), DS_OK);
        }
    memset(&w, 0, sizeof(w));
    w.s = s;
    CHECK_EQ_INT(ds_store_list_ns(s, on_ns, &w, NULL), DS_OK);
    CHECK_EQ_INT(w.n, 6);
    const char *want[] = {"", "Beta", "alpha", "alpha:1", "zeta", "\xc3\xa9t\xc3\xa9"};
    const int64_t want_counts[] = {2, 6, 3, 4, 1, 5};
    for (int i = 0; i < 6 && i < w.n; i++) {
        CHECK(strcmp(w.names[i], want[i]) == 0);
        CHECK_EQ_INT(w.counts[i], want_counts[i]);
    }

    /* A namespace emptied by clear_ns disappears from the list. */
    CHECK_EQ_INT(ds_store_clear_ns(s, "alpha", 5, NULL), DS_OK);
    memset(&w, 0, sizeof(w));
    w.s = s;
    w.stop_at = 3;
    CHECK_EQ_INT(ds_store_list_ns(s, on_ns, &w, NULL), DS_OK);
    CHECK_EQ_INT(w.n, 3);
    CHECK(strcmp(w.names[2], "alpha:1") == 0);
    ds_store_close(s);
}

/* ---- meta, pragmas ---------------------------------------------------- */

static void test_meta(void)
{
    const char *path = tpath("meta");
    ds_store *s = open_ok(path, NULL);
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(ds_store_meta_get(s, "format_version", &v, &n, NULL), DS_OK);
    CHECK(n == 1 && memcmp(v, "1", 1) == 0);
    free(v);
    CHECK_EQ_INT(ds_store_meta_get(s, "missing", &v, &n, NULL), DS_NOTFOUND);
    CHECK(v == NULL);

    const unsigned char bin[] = {0, 1, 2, 0, 255};
    CHECK_EQ_INT(ds_store_meta_set(s, "salt", bin, sizeof(bin), NULL), DS_OK);
    CHECK_EQ_INT(ds_store_meta_set(s, "empty", NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(ds_store_meta_set(s, "over", "first", 5, NULL), DS_OK);
    CHECK_EQ_INT(ds_store_meta_set(s, "over", "second", 6, NULL), DS_OK);
    ds_store_close(s);

    s = open_ok(path, NULL);
    CHECK_EQ_INT(ds_store_meta_get(s, "salt", &v, &n, NULL), DS_OK);
    CHECK(n == sizeof(bin) && memcmp(v, bin, n) == 0);
    free(v);
    CHECK_EQ_INT(ds_store_meta_get(s, "empty", &v, &n, NULL), DS_OK);
    CHECK(v != NULL && n == 0);
    free(v);
    CHECK_EQ_INT(ds_store_meta_get(s, "over", &v, &n, NULL), DS_OK);
    CHECK(n == 6 && memcmp(v, "second", 6) == 0);
    free(v);
    ds_store_close(s);
}

static void test_data_version(void)
{
    const char *path = tpath("dataversion");
    ds_store *s = open_ok(path, NULL);
    int64_t v0 = -1, v1 = -1, v2 = -1;
    CHECK_EQ_INT(ds_store_data_version(s, &v0, NULL), DS_OK);
    CHECK_EQ_INT(put(s, "t", "own", 4, "write"), DS_OK);
    CHECK_EQ_INT(ds_store_data_version(s, &v1, NULL), DS_OK);
    CHECK_EQ_INT(v1, v0); /* our own commits do not count */

    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "INSERT INTO kv VALUES('t','other',4,x'01')"),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_data_version(s, &v2, NULL), DS_OK);
    CHECK(v2 != v1);
    CHECK_EQ_INT(ds_store_exists(s, "t", 1, "other", 5, NULL), DS_OK);
    ds_store_close(s);
}

static void test_integrity_and_file_size(void)
{
    ds_store *s = open_ok(tpath("integrity"), NULL);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    int64_t size0 = -1, size1 = -1;
    CHECK_EQ_INT(ds_store_file_size(s, &size0, NULL), DS_OK);
    CHECK(size0 > 0 && size0 % 512 == 0);
    char big[8192];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        ds_store_item it = {"t", 1, k, strlen(k), big, sizeof(big), 4, 0};
        CHECK_EQ_INT(ds_store_write_batch(s, &it, 1, NULL), DS_OK);
    }
    CHECK_EQ_INT(ds_store_file_size(s, &size1, NULL), DS_OK);
    CHECK(size1 >= size0 + 50 * 8192);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    ds_store_close(s);
}

static void test_memory(void)
{
    ds_store *s = open_ok(":memory:", NULL);
    CHECK_EQ_INT(put(s, "t", "k", 2, "[1]"), DS_OK);
    const char *v = get_str(s, "t", "k", NULL);
    CHECK(v && strcmp(v, "[1]") == 0);
    int64_t size = -1, dv = -1;
    CHECK_EQ_INT(ds_store_file_size(s, &size, NULL), DS_OK);
    CHECK_EQ_INT(size, 0);
    CHECK_EQ_INT(ds_store_data_version(s, &dv, NULL), DS_OK);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 1);
    ds_store_close(s);
}

static void test_options(void)
{
    ds_store_options o = {.sync_full = 1, .busy_timeout_ms = 100,
                          .cache_size_kib = 1024, .mmap_size = -1};
    ds_store *s = open_ok(tpath("options"), &o);
    CHECK_EQ_INT(put(s, "t", "k", 4, "v"), DS_OK);
    ds_store_close(s);
    o.mmap_size = 1 << 20;
    s = open_ok(tpath("options"), &o);
    CHECK_EQ_INT(put(s, "t", "k", 4, "v"), DS_OK);
    ds_store_close(s);

    ds_error err;
    ds_store *bad = (ds_store *)&err;
    ds_store_options neg = {.busy_timeout_ms = -1};
    CHECK_EQ_INT(ds_store_open(tpath("options"), &neg, &bad, &err), DS_INVALID);
    CHECK(bad == NULL);
    CHECK_EQ_INT(ds_store_open(NULL, NULL, &bad, &err), DS_INVALID);
}

/* ---- batch atomicity -------------------------------------------------- */

static void seed_for_atomicity(ds_store *s)
{
    CHECK_EQ_INT(put(s, "t", "existing", 4, "old"), DS_OK);
    CHECK_EQ_INT(put(s, "t", "victim", 4, "still here"), DS_OK);
}

static void check_nothing_landed(ds_store *s, const char *path)
{
    CHECK_EQ_INT(count(s, "t"), 2);
    const char *v = get_str(s, "t", "existing", NULL);
    CHECK(v && strcmp(v, "old") == 0);
    v = get_str(s, "t", "victim", NULL);
    CHECK(v && strcmp(v, "still here") == 0);
    CHECK(get_str(s, "t", "new0", NULL) == NULL);
    /* And the file, seen from another connection, agrees. */
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv"), 2);
    CHECK(strcmp(raw_text(db, "SELECT value FROM kv WHERE key='existing'"),
                 "old") == 0);
    sqlite3_close(db);
}

/* new0..new{n-1}, then an overwrite and a delete, then `last` (if any). */
static ds_store_item *failing_batch(size_t n_new, const char *last, size_t *n_out,
                                    char (**keys_out)[32])
{
    size_t n = n_new + 2 + (last ? 1 : 0);
    ds_store_item *items = calloc(n, sizeof(*items));
    char (*keys)[32] = calloc(n_new ? n_new : 1, sizeof(*keys));
    for (size_t i = 0; i < n_new; i++) {
        snprintf(keys[i], sizeof(keys[i]), "new%zu", i);
        items[i] = (ds_store_item){"t", 1, keys[i], strlen(keys[i]), "fresh", 5, 4, 0};
    }
    items[n_new] = (ds_store_item){"t", 1, "existing", 8, "new", 3, 4, 0};
    items[n_new + 1] = (ds_store_item){"t", 1, "victim", 6, NULL, 0, 0, 1};
    if (last)
        items[n_new + 2] = (ds_store_item){"t", 1, last, strlen(last), "x", 1, 4, 0};
    *n_out = n;
    *keys_out = keys;
    return items;
}

static void test_batch_atomic_midway_failure(void)
{
    const char *path = tpath("atomic-trigger");
    ds_store *s = open_ok(path, NULL);
    seed_for_atomicity(s);
    /* Another connection installs a trigger that aborts on one row, so the
     * batch fails after 102 rows were applied inside its transaction. This
     * also checks our persistent statements survive a schema change. */
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON kv "
                              "WHEN NEW.key='boom' BEGIN "
                              "SELECT RAISE(ABORT, 'boom row refused'); END"),
                 SQLITE_OK);
    size_t n;
    char (*keys)[32];
    ds_store_item *items = failing_batch(100, "boom", &n, &keys);
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_IO);
    CHECK_EQ_INT(err.sqlite_code, SQLITE_CONSTRAINT_TRIGGER);
    CHECK(strstr(err.msg, "boom row refused") != NULL);
    CHECK(strstr(err.msg, path) != NULL);
    check_nothing_landed(s, path);

    /* No transaction was left open: the next batch goes through. */
    CHECK_EQ_INT(raw_exec(db, "DROP TRIGGER boom"), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 102);
    const char *v = get_str(s, "t", "existing", NULL);
    CHECK(v && strcmp(v, "new") == 0);
    CHECK(get_str(s, "t", "victim", NULL) == NULL);
    free(items);
    free(keys);

    /* A caller bug midway (NULL data) also rolls back what came before. */
    CHECK_EQ_INT(ds_store_clear_ns(s, "t", 1, NULL), DS_OK);
    seed_for_atomicity(s);
    items = failing_batch(10, "bad", &n, &keys);
    items[n - 1].key = NULL;
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_INVALID);
    check_nothing_landed(s, path);
    free(items);
    free(keys);
    ds_store_close(s);
}

static void test_batch_busy(void)
{
    const char *path = tpath("atomic-busy");
    ds_store_options o = {.busy_timeout_ms = 50};
    ds_store *s = open_ok(path, &o);
    seed_for_atomicity(s);
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "BEGIN IMMEDIATE"), SQLITE_OK);
    size_t n;
    char (*keys)[32];
    ds_store_item *items = failing_batch(10, NULL, &n, &keys);
    ds_error err;
    ds_error_clear(&err);
    double t0 = now_s();
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_IO);
    double waited = now_s() - t0;
    CHECK_EQ_INT(err.sqlite_code & 0xff, SQLITE_BUSY);
    CHECK(strstr(err.msg, "locked") != NULL);
    CHECK(waited >= 0.04 && waited < 2.0); /* the busy timeout applied */
    /* Reads still work while another connection holds the write lock. */
    CHECK_EQ_INT(count(s, "t"), 2);
    CHECK_EQ_INT(raw_exec(db, "ROLLBACK"), SQLITE_OK);
    sqlite3_close(db);
    check_nothing_landed(s, path);
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 11);
    free(items);
    free(keys);
    ds_store_close(s);
}

static off_t file_size_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

static void test_batch_disk_full(void)
{
    const char *path = tpath("atomic-full");
    ds_store *s = open_ok(path, NULL);
    seed_for_atomicity(s);
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", path);

    /* A file size limit makes SQLite's write of the WAL fail partway through
     * the commit of a 4 MiB batch: a real I/O failure mid-transaction. */
    struct rlimit old;
    CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
    off_t have = file_size_of(path) > file_size_of(wal) ? file_size_of(path)
                                                        : file_size_of(wal);
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)have + 256 * 1024;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);

    enum { N = 1024 };
    static char big[4096];
    memset(big, 'z', sizeof(big));
    size_t n;
    char (*keys)[32];
    ds_store_item *items = failing_batch(N, NULL, &n, &keys);
    for (size_t i = 0; i < N; i++) {
        items[i].value = big;
        items[i].vlen = sizeof(big);
    }
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_store_write_batch(s, items, n, &err);
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    CHECK_EQ_INT(st, DS_IO);
    CHECK(err.sqlite_code != 0);
    CHECK(strstr(err.msg, path) != NULL);
    /* No sys_errno check: SQLite records the OS error of a failed commit
     * only on some paths (sqlite3_system_errno is best effort). */
    printf("     disk-full error: %s (sqlite_code %d, sys_errno %d)\n", err.msg,
           err.sqlite_code, err.sys_errno);
    check_nothing_landed(s, path);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    /* The store recovers once there is room again. */
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_OK);
    CHECK_EQ_INT(count(s, "t"), N + 1);
    free(items);
    free(keys);
    ds_store_close(s);
}

/* ---- files we must refuse or accept ----------------------------------- */

static void test_unwritable_path(void)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/no/such/dir/x.db", tmpdir);
    ds_store *s = (ds_store *)path;
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_IO);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    CHECK_EQ_INT(err.sqlite_code & 0xff, SQLITE_CANTOPEN);
    printf("     missing dir: %s\n", err.msg);

    /* A directory where the file should be. */
    CHECK_EQ_INT(ds_store_open(tmpdir, NULL, &s, &err), DS_IO);
    CHECK(strstr(err.msg, tmpdir) != NULL);
    CHECK(err.sys_errno != 0);

    /* A directory without write permission (root ignores permissions). */
    if (geteuid() != 0) {
        char dir[400];
        snprintf(dir, sizeof(dir), "%s/readonly-dir", tmpdir);
        CHECK_EQ_INT(mkdir(dir, 0500), 0);
        snprintf(path, sizeof(path), "%s/x.db", dir);
        CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_IO);
        CHECK(strstr(err.msg, path) != NULL);
        CHECK_EQ_INT(err.sys_errno, EACCES);
        printf("     read-only dir: %s\n", err.msg);
    } else {
        printf("     (running as root: read-only directory case skipped)\n");
    }
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    if (n)
        CHECK_EQ_INT(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_not_a_database(void)
{
    const char *path = tpath("garbage");
    char junk[8192];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)("this is not a database; "[i % 24]);
    write_file(path, junk, sizeof(junk));
    ds_store *s = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_store_open(path, NULL, &s, &err);
    CHECK(st == DS_IO || st == DS_CORRUPT);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "not a database") != NULL);
    CHECK_EQ_INT(err.sqlite_code, SQLITE_NOTADB);
    printf("     %s\n", err.msg);
    /* The file was left alone. */
    CHECK_EQ_INT(file_size_of(path), sizeof(junk));
}

static void test_rust_format_file(void)
{
    const char *path = tpath("rust");
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TABLE kv_store(key TEXT PRIMARY KEY, "
                              "value BLOB); INSERT INTO kv_store VALUES('a', x'00')"),
                 SQLITE_OK);
    sqlite3_close(db);
    ds_store *s = NULL;
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "Rust dictsqlite") != NULL);
    CHECK(strstr(err.msg, "kv_store") != NULL);
    printf("     %s\n", err.msg);
    /* We did not add our tables to it. */
    db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM sqlite_master"), 2);
    sqlite3_close(db);

    /* A kv table without our meta table is someone else's too. */
    path = tpath("foreign-kv");
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TABLE kv(k, v)"), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);
    CHECK(strstr(err.msg, path) != NULL);
}

static void test_newer_format_version(void)
{
    const char *path = tpath("newer");
    ds_store *s = open_ok(path, NULL);
    ds_store_close(s);
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "UPDATE dictsqlite_meta SET value='2' "
                              "WHERE name='format_version'"),
                 SQLITE_OK);
    sqlite3_close(db);
    ds_error err;
    ds_error_clear(&err);
    s = NULL;
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "format version 2") != NULL);
    printf("     %s\n", err.msg);

    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "UPDATE dictsqlite_meta SET value='garbage' "
                              "WHERE name='format_version'"),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);

    /* An integer 1 (not text) is still version 1. */
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "UPDATE dictsqlite_meta SET value=1 "
                              "WHERE name='format_version'"),
                 SQLITE_OK);
    sqlite3_close(db);
    s = open_ok(path, NULL);
    ds_store_close(s);
}

static void test_empty_file(void)
{
    const char *path = tpath("emptyfile");
    write_file(path, NULL, 0);
    CHECK_EQ_INT(file_size_of(path), 0);
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put(s, "t", "k", 4, "v"), DS_OK);
    ds_store_close(s);
    s = open_ok(path, NULL);
    const char *v = get_str(s, "t", "k", NULL);
    CHECK(v && strcmp(v, "v") == 0);
    ds_store_close(s);
}

/* ---- threads ---------------------------------------------------------- */

typedef struct thread_arg {
    ds_store *s;
    int id;
    int errors;
} thread_arg;

enum { THREAD_OPS = 500 };

static void *thread_main(void *p)
{
    thread_arg *a = p;
    char tbl[16], key[32];
    snprintf(tbl, sizeof(tbl), "thr%d", a->id);
    for (int i = 0; i < THREAD_OPS; i++) {
        snprintf(key, sizeof(key), "k%06d", i);
        ds_store_item it = {tbl, strlen(tbl), key, strlen(key), key, strlen(key), 4, 0};
        if (ds_store_write_batch(a->s, &it, 1, NULL) != DS_OK)
            a->errors++;
        void *v = NULL;
        size_t n = 0;
        if (ds_store_get(a->s, tbl, strlen(tbl), key, strlen(key), NULL, &v, &n,
                         NULL) != DS_OK ||
            n != strlen(key) || memcmp(v, key, n) != 0)
            a->errors++;
        free(v);
        if (i % 50 == 0) {
            collected c = {0};
            size_t visited;
            if (ds_store_scan(a->s, tbl, strlen(tbl), NULL, 0, 1000, 1, collect_row,
                              &c, &visited, NULL) != DS_OK ||
                visited != (size_t)i + 1)
                a->errors++;
            collected_free(&c);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    ds_store *s = open_ok(tpath("threads"), NULL);
    enum { T = 4 };
    pthread_t th[T];
    thread_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (thread_arg){s, i, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].errors, 0);
        char tbl[16];
        snprintf(tbl, sizeof(tbl), "thr%d", i);
        CHECK_EQ_INT(count(s, tbl), THREAD_OPS);
    }
    ds_store_close(s);
}

/* ---- bulk and timings ------------------------------------------------- */

static void test_million_rows(void)
{
    const char *path = tpath("million");
    ds_store *s = open_ok(path, NULL);
    enum { N = 1000000, VLEN = 50 };
    char (*keys)[12] = malloc((size_t)N * sizeof(*keys));
    char *vals = malloc((size_t)N * VLEN);
    ds_store_item *items = malloc((size_t)N * sizeof(*items));
    CHECK(keys && vals && items);
    if (!keys || !vals || !items)
        goto out;
    for (int i = 0; i < N; i++) {
        int kl = snprintf(keys[i], sizeof(keys[i]), "key%08d", i);
        char *v = vals + (size_t)i * VLEN;
        memset(v, 'a' + i % 26, VLEN);
        memcpy(v, keys[i], (size_t)kl);
        items[i] = (ds_store_item){"bulk", 4, keys[i], (size_t)kl, v, VLEN, 4, 0};
    }
    ds_error err;
    double t0 = now_s();
    ds_status st = ds_store_write_batch(s, items, N, &err);
    double dt = now_s() - t0;
    CHECK_EQ_INT(st, DS_OK);
    if (st != DS_OK)
        fprintf(stderr, "bulk: %s\n", err.msg);
    printf("     bulk: %d rows in one batch: %.2f s, %.0f rows/s\n", N, dt, N / dt);
    CHECK_EQ_INT(count(s, "bulk"), N);
    const char *v = get_str(s, "bulk", "key00123456", NULL);
    CHECK(v && strncmp(v, "key00123456", 11) == 0 && strlen(v) == VLEN);

    /* n=1 batches: the writethrough path, one transaction per write. */
    enum { W = 20000 };
    char key[32];
    t0 = now_s();
    for (int i = 0; i < W; i++) {
        snprintf(key, sizeof(key), "w%08d", i);
        ds_store_item it = {"single", 6, key, strlen(key), vals, VLEN, 4, 0};
        if (ds_store_write_batch(s, &it, 1, NULL) != DS_OK) {
            CHECK(!"single write failed");
            break;
        }
    }
    dt = now_s() - t0;
    printf("     write_batch(n=1): %d calls, %.2f us/call\n", W, dt * 1e6 / W);
    CHECK_EQ_INT(count(s, "single"), W);

    /* Point reads that hit, spread over the million rows. */
    enum { G = 200000 };
    uint64_t x = 88172645463325252ULL;
    size_t total = 0;
    t0 = now_s();
    for (int i = 0; i < G; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const char *k = keys[x % N];
        void *val = NULL;
        size_t n = 0;
        if (ds_store_get(s, "bulk", 4, k, 11, NULL, &val, &n, NULL) != DS_OK) {
            CHECK(!"get missed");
            break;
        }
        total += n;
        free(val);
    }
    dt = now_s() - t0;
    CHECK_EQ_INT(total, (size_t)G * VLEN);
    printf("     get (hit): %d calls, %.2f us/call\n", G, dt * 1e6 / G);

    t0 = now_s();
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    printf("     integrity_check of %d rows: %.2f s\n", N + W, now_s() - t0);
out:
    free(items);
    free(vals);
    free(keys);
    ds_store_close(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s", "/tmp/ds_store_test.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_create_and_reopen);
    RUN_TEST(test_upsert_and_delete);
    RUN_TEST(test_empty_key_and_value);
    RUN_TEST(test_json_stored_as_text);
    RUN_TEST(test_odd_keys);
    RUN_TEST(test_namespaces);
    RUN_TEST(test_scan_pagination);
    RUN_TEST(test_scan_holds_no_read_transaction);
    RUN_TEST(test_list_ns);
    RUN_TEST(test_meta);
    RUN_TEST(test_data_version);
    RUN_TEST(test_integrity_and_file_size);
    RUN_TEST(test_memory);
    RUN_TEST(test_options);
    RUN_TEST(test_batch_atomic_midway_failure);
    RUN_TEST(test_batch_busy);
    RUN_TEST(test_batch_disk_full);
    RUN_TEST(test_unwritable_path);
    RUN_TEST(test_not_a_database);
    RUN_TEST(test_rust_format_file);
    RUN_TEST(test_newer_format_version);
    RUN_TEST(test_empty_file);
    RUN_TEST(test_threads);
    RUN_TEST(test_million_rows);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_DONE();
}
