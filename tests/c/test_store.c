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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "dictsqlite/store.h"

#define DS_STR_(x) #x
#define DS_STR(x) DS_STR_(x)

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
     * version as text: kv WITHOUT ROWID, kv_large an ordinary rowid table. */
    sqlite3 *db = raw_open(path);
    CHECK(strstr(raw_text(db, "SELECT sql FROM sqlite_master WHERE name='kv'"),
                 "WITHOUT ROWID") != NULL);
    CHECK(strstr(raw_text(db, "SELECT sql FROM sqlite_master WHERE name='kv'"),
                 "PRIMARY KEY (tbl, key)") != NULL);
    CHECK(strstr(raw_text(db, "SELECT sql FROM sqlite_master "
                              "WHERE name='kv_large' AND type='table'"),
                 "PRIMARY KEY (tbl, key)") != NULL);
    CHECK(strstr(raw_text(db, "SELECT sql FROM sqlite_master WHERE name='kv_large'"),
                 "WITHOUT ROWID") == NULL);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                             "name='dictsqlite_meta' AND type='table'"),
                 1);
    CHECK(strcmp(raw_text(db, "PRAGMA journal_mode"), "wal") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 "text") == 0);
    CHECK(strcmp(raw_text(db, "SELECT value FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 DS_STR(DS_FORMAT_VERSION)) == 0);
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

/* ds_store_get_into's destination: a fixed buffer, or none (out of memory). */
typedef struct {
    char buf[64];
    int calls;
    uint8_t codec_seen;
    int fail;
} into_dest;

static void *into_alloc(uint8_t codec, size_t vlen, void *ctx)
{
    into_dest *d = ctx;
    d->calls++;
    d->codec_seen = codec;
    return d->fail || vlen > sizeof(d->buf) ? NULL : d->buf;
}

static void test_get_into_the_callers_memory(void)
{
    ds_store *s = open_ok(tpath("into"), NULL);
    CHECK_EQ_INT(put(s, "t", "k", 3, "value"), DS_OK);
    into_dest d = {{0}, 0, 0, 0};
    uint8_t codec = 0;
    size_t vlen = 0;
    ds_error err;
    CHECK_EQ_INT(ds_store_get_into(s, "t", 1, "k", 1, &codec, into_alloc, &d, &vlen, &err),
                 DS_OK);
    CHECK(d.calls == 1 && d.codec_seen == 3 && codec == 3 && vlen == 5);
    CHECK(memcmp(d.buf, "value", 5) == 0);
    /* Absent: the destination is never asked for. */
    CHECK_EQ_INT(ds_store_get_into(s, "t", 1, "x", 1, &codec, into_alloc, &d, &vlen, &err),
                 DS_NOTFOUND);
    CHECK_EQ_INT(d.calls, 1);
    /* No memory: DS_NOMEM naming the file, and the store still works. */
    d.fail = 1;
    CHECK_EQ_INT(ds_store_get_into(s, "t", 1, "k", 1, &codec, into_alloc, &d, &vlen, &err),
                 DS_NOMEM);
    CHECK(strstr(err.msg, "into") != NULL);
    CHECK(get_str(s, "t", "k", NULL) != NULL);
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

/* ---- the kv / kv_large split ------------------------------------------ */

enum { SMALL_MAX = DS_STORE_SMALL_VALUE_MAX };

/* n bytes of a pattern that depends on seed (all byte values, NULs too). */
static void fill(unsigned char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static ds_status put_bytes(ds_store *s, const char *tbl, const char *key,
                           uint8_t codec, const void *value, size_t n)
{
    ds_store_item it = {tbl, strlen(tbl), key, strlen(key), value, n, codec, 0};
    ds_error err;
    ds_status st = ds_store_write_batch(s, &it, 1, &err);
    if (st != DS_OK)
        fprintf(stderr, "put %s/%s (%zu B): %s\n", tbl, key, n, err.msg);
    return st;
}

/* Puts a fill(n, seed) value. */
static ds_status put_pattern(ds_store *s, const char *tbl, const char *key,
                             size_t n, unsigned seed)
{
    unsigned char *buf = malloc(n ? n : 1);
    fill(buf, n, seed);
    ds_status st = put_bytes(s, tbl, key, 4, buf, n);
    free(buf);
    return st;
}

/* 1 if (tbl, key) holds fill(n, seed) with the given codec. */
static int has_pattern(ds_store *s, const char *tbl, const char *key, size_t n,
                       unsigned seed, uint8_t want_codec)
{
    void *v = NULL;
    size_t vn = 0;
    uint8_t codec = 0;
    ds_status st = ds_store_get(s, tbl, strlen(tbl), key, strlen(key), &codec,
                                &v, &vn, NULL);
    int ok = st == DS_OK && vn == n && codec == want_codec;
    if (ok) {
        unsigned char *want = malloc(n ? n : 1);
        fill(want, n, seed);
        ok = memcmp(v, want, n) == 0;
        free(want);
    }
    free(v);
    return ok;
}

/* Where the file says (tbl, key) is: bit 1 = in kv, bit 2 = in kv_large. */
static int where_is(const char *path, const char *tbl, const char *key)
{
    sqlite3 *db = raw_open(path);
    int bits = 0;
    const char *tables[2] = {"kv", "kv_large"};
    for (int i = 0; i < 2; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tbl=?1 AND key=?2",
                 tables[i]);
        sqlite3_stmt *st = NULL;
        CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        int64_t c = sqlite3_column_int64(st, 0);
        CHECK(c <= 1);
        if (c)
            bits |= 1 << i;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return bits;
}

enum { IN_NONE = 0, IN_KV = 1, IN_LARGE = 2 };

/* Another program stored namespaces and keys as BLOBs: every walk still ends
 * and visits each TEXT row once, skipping the others (issue 11: list_ns
 * re-bound a BLOB tbl as TEXT and found the same row forever). */
typedef struct seen_list {
    char names[32][16];
    size_t lens[32];
    int n;
} seen_list;

static int on_seen(const char *p, size_t n, void *ctx)
{
    seen_list *l = ctx;
    if (l->n >= 32)
        return 1; /* a walk that does not end: stop it, the checks fail */
    snprintf(l->names[l->n], sizeof(l->names[0]), "%.*s", (int)n, p);
    l->lens[l->n++] = n;
    return 0;
}

static int on_seen_row(const char *k, size_t kn, uint8_t codec, const void *v,
                       size_t vn, void *ctx)
{
    (void)codec;
    (void)v;
    (void)vn;
    return on_seen(k, kn, ctx);
}

static void test_walks_over_any_stored_type(void)
{
    const char *path = tpath("types");
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put(s, "t1", "a", 4, "v"), DS_OK);
    CHECK_EQ_INT(put(s, "t1", "b", 4, "v"), DS_OK);
    CHECK_EQ_INT(put(s, "t2", "x", 4, "v"), DS_OK);
    CHECK_EQ_INT(put(s, "t3", "y", 4, "v"), DS_OK);
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "UPDATE kv SET tbl = CAST('t2' AS BLOB) WHERE tbl='t2';"
                              "INSERT INTO kv VALUES('t1', CAST('c' AS BLOB), 4, x'00');"
                              "INSERT INTO kv_large VALUES('t1', CAST('d' AS BLOB), 4, x'00');"
                              "INSERT INTO kv VALUES('t1', 7, 4, x'00');"
                              "INSERT INTO kv VALUES(9, 'z', 4, x'00');"),
                 SQLITE_OK);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv WHERE typeof(tbl)='blob'"), 1);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv WHERE typeof(key)='blob'"), 1);
    /* The TEXT columns turn numbers into TEXT on insert: no number is ever
     * stored in kv or kv_large, so only BLOBs are odd. */
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv WHERE key='7' AND "
                             "typeof(key)='text'"),
                 1);
    sqlite3_close(db);

    seen_list l = {0};
    CHECK_EQ_INT(ds_store_list_ns(s, on_seen, &l, NULL), DS_OK);
    /* TEXT in BINARY order ("9" from the number); the BLOB t2 skipped. */
    CHECK_EQ_INT(l.n, 3);
    const char *want_ns[] = {"9", "t1", "t3"};
    for (int i = 0; i < 3 && i < l.n; i++)
        CHECK(strcmp(l.names[i], want_ns[i]) == 0);

    /* Keyset pages of every size, as the binding's iterator pages. */
    const char *want[] = {"7", "a", "b"};
    for (size_t limit = 1; limit <= 4; limit++) {
        for (int wv = 0; wv < 2; wv++) {
            seen_list k = {0};
            char after[16];
            size_t alen = 0;
            int have = 0, pages = 0;
            for (;;) {
                size_t got = 0;
                int before = k.n;
                CHECK_EQ_INT(ds_store_scan(s, "t1", 2, have ? after : NULL, alen,
                                           limit, wv, on_seen_row, &k, &got, NULL),
                             DS_OK);
                if (got == 0 || k.n >= 32 || ++pages > 20)
                    break;
                CHECK_EQ_INT(got, (size_t)(k.n - before));
                alen = k.lens[k.n - 1];
                memcpy(after, k.names[k.n - 1], alen);
                have = 1;
                if (got < limit)
                    break;
            }
            CHECK_EQ_INT(k.n, 3);
            for (int i = 0; i < 3 && i < k.n; i++)
                CHECK(strcmp(k.names[i], want[i]) == 0);
        }
    }
    ds_store_close(s);
}

static void test_split_round_trip(void)
{
    const char *path = tpath("split-rt");
    ds_store *s = open_ok(path, NULL);
    const size_t sizes[] = {0, 1, 32, 500, SMALL_MAX - 1, SMALL_MAX, SMALL_MAX + 1,
                            1024, 4000, 4100, 65536, 300000};
    const size_t ns = sizeof(sizes) / sizeof(sizes[0]);
    for (size_t i = 0; i < ns; i++) {
        char k[32];
        snprintf(k, sizeof(k), "k%06zu", sizes[i]);
        CHECK_EQ_INT(put_pattern(s, "t", k, sizes[i], (unsigned)i), DS_OK);
    }
    for (int reopen = 0; reopen < 2; reopen++) {
        for (size_t i = 0; i < ns; i++) {
            char k[32];
            snprintf(k, sizeof(k), "k%06zu", sizes[i]);
            CHECK(has_pattern(s, "t", k, sizes[i], (unsigned)i, 4));
            CHECK_EQ_INT(ds_store_exists(s, "t", 1, k, strlen(k), NULL), DS_OK);
            CHECK_EQ_INT(where_is(path, "t", k),
                         sizes[i] > SMALL_MAX ? IN_LARGE : IN_KV);
        }
        CHECK_EQ_INT(count(s, "t"), (int64_t)ns);
        CHECK(get_str(s, "t", "absent", NULL) == NULL);
        CHECK_EQ_INT(ds_store_exists(s, "t", 1, "absent", 6, NULL), DS_NOTFOUND);
        /* Same key in another namespace is another row. */
        CHECK(!has_pattern(s, "u", "k001024", 1024, 7, 4));
        ds_store_close(s);
        s = open_ok(path, NULL);
    }

    /* Large JSON is TEXT in kv_large too, readable by SQLite's json
     * functions; large ciphertext of JSON stays a BLOB. */
    char *json = malloc(4096);
    int n = snprintf(json, 4096, "{\"n\": [1, 2, 3], \"pad\": \"");
    memset(json + n, 'x', 3000);
    n += 3000;
    n += snprintf(json + n, 4096 - (size_t)n, "\"}");
    CHECK_EQ_INT(put_bytes(s, "t", "bigjson", 2, json, (size_t)n), DS_OK);
    CHECK_EQ_INT(put_bytes(s, "t", "bigjson-enc", 2 | 0x10, json, (size_t)n), DS_OK);
    uint8_t codec = 0;
    void *v = NULL;
    size_t vn = 0;
    CHECK_EQ_INT(ds_store_get(s, "t", 1, "bigjson", 7, &codec, &v, &vn, NULL), DS_OK);
    CHECK(vn == (size_t)n && memcmp(v, json, vn) == 0 && codec == 2);
    free(v);
    sqlite3 *db = raw_open(path);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv_large WHERE key='bigjson'"),
                 "text") == 0);
    CHECK(strcmp(raw_text(db, "SELECT typeof(value) FROM kv_large "
                              "WHERE key='bigjson-enc'"),
                 "blob") == 0);
    CHECK_EQ_INT(raw_int(db, "SELECT json_extract(value, '$.n[2]') FROM kv_large "
                             "WHERE key='bigjson'"),
                 3);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv_large WHERE tbl='t' AND "
                             "typeof(value)='blob'"),
                 7);
    sqlite3_close(db);
    free(json);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    ds_store_close(s);
}

static void test_split_threshold_boundary(void)
{
    const char *path = tpath("split-boundary");
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put_pattern(s, "t", "at", SMALL_MAX, 1), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "t", "over", SMALL_MAX + 1, 2), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "at"), IN_KV);
    CHECK_EQ_INT(where_is(path, "t", "over"), IN_LARGE);
    CHECK(has_pattern(s, "t", "at", SMALL_MAX, 1, 4));
    CHECK(has_pattern(s, "t", "over", SMALL_MAX + 1, 2, 4));
    /* One byte across the boundary, both ways. */
    CHECK_EQ_INT(put_pattern(s, "t", "at", SMALL_MAX + 1, 3), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "t", "over", SMALL_MAX, 4), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "at"), IN_LARGE);
    CHECK_EQ_INT(where_is(path, "t", "over"), IN_KV);
    CHECK(has_pattern(s, "t", "at", SMALL_MAX + 1, 3, 4));
    CHECK(has_pattern(s, "t", "over", SMALL_MAX, 4, 4));
    CHECK_EQ_INT(count(s, "t"), 2);

    /* The rule is about the value; a row at the threshold with a short key
     * stays inline in kv: no overflow page (the file is page-count small). */
    sqlite3 *db = raw_open(path);
    int64_t has_dbstat = raw_int(db, "SELECT count(*) FROM pragma_module_list "
                                     "WHERE name='dbstat'");
    if (has_dbstat == 1) {
        CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM dbstat WHERE name='kv' "
                                 "AND pagetype='overflow'"),
                     0);
    } else {
        printf("     (no dbstat in this SQLite: overflow check skipped)\n");
    }
    sqlite3_close(db);
    ds_store_close(s);
}

static void test_split_moves(void)
{
    const char *path = tpath("split-moves");
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put_pattern(s, "t", "k", 10, 1), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "k"), IN_KV);
    CHECK_EQ_INT(put_pattern(s, "t", "k", 5000, 2), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "k"), IN_LARGE);
    CHECK(has_pattern(s, "t", "k", 5000, 2, 4));
    CHECK_EQ_INT(put_pattern(s, "t", "k", 6000, 3), DS_OK); /* large -> large */
    CHECK_EQ_INT(where_is(path, "t", "k"), IN_LARGE);
    CHECK(has_pattern(s, "t", "k", 6000, 3, 4));
    CHECK_EQ_INT(put_pattern(s, "t", "k", 20, 4), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "k"), IN_KV);
    CHECK(has_pattern(s, "t", "k", 20, 4, 4));
    CHECK_EQ_INT(count(s, "t"), 1);

    /* Within one batch: the last write wins and leaves one row. */
    unsigned char small[16], big[3000];
    fill(small, sizeof(small), 5);
    fill(big, sizeof(big), 6);
    ds_store_item items[] = {
        {"t", 1, "b", 1, small, sizeof(small), 4, 0},
        {"t", 1, "b", 1, big, sizeof(big), 4, 0},
        {"t", 1, "c", 1, big, sizeof(big), 4, 0},
        {"t", 1, "c", 1, small, sizeof(small), 4, 0},
        {"t", 1, "d", 1, big, sizeof(big), 4, 0},
        {"t", 1, "d", 1, NULL, 0, 0, 1},
        {"t", 1, "k", 1, big, sizeof(big), 4, 0},
    };
    CHECK_EQ_INT(ds_store_write_batch(s, items, sizeof(items) / sizeof(items[0]), NULL),
                 DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "b"), IN_LARGE);
    CHECK_EQ_INT(where_is(path, "t", "c"), IN_KV);
    CHECK_EQ_INT(where_is(path, "t", "d"), IN_NONE);
    CHECK_EQ_INT(where_is(path, "t", "k"), IN_LARGE);
    CHECK(has_pattern(s, "t", "b", sizeof(big), 6, 4));
    CHECK(has_pattern(s, "t", "c", sizeof(small), 5, 4));
    CHECK(has_pattern(s, "t", "k", sizeof(big), 6, 4));
    CHECK_EQ_INT(count(s, "t"), 3);

    /* A batch skips the DELETE from a table holding nothing of the
     * namespace; rows there from before the batch, or written earlier in it,
     * or in a namespace visited twice, must still move. */
    CHECK_EQ_INT(put_pattern(s, "a", "L1", 2000, 7), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "a", "L2", 2000, 8), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "b", "S1", 10, 9), DS_OK);
    unsigned char s2[8];
    fill(s2, sizeof(s2), 10);
    ds_store_item mixed[] = {
        {"a", 1, "L1", 2, s2, sizeof(s2), 4, 0},   /* large before the batch */
        {"a", 1, "new", 3, s2, sizeof(s2), 4, 0},
        {"b", 1, "S1", 2, big, sizeof(big), 4, 0},  /* kv before the batch */
        {"b", 1, "B2", 2, big, sizeof(big), 4, 0},
        {"c", 1, "x", 1, big, sizeof(big), 4, 0},   /* new namespace */
        {"c", 1, "x", 1, s2, sizeof(s2), 4, 0},     /* written in the batch */
        {"a", 1, "L2", 2, s2, sizeof(s2), 4, 0},   /* namespace again */
        {"b", 1, "B2", 2, NULL, 0, 0, 1},
        {"b", 1, "S1", 2, NULL, 0, 0, 1},
    };
    CHECK_EQ_INT(ds_store_write_batch(s, mixed, sizeof(mixed) / sizeof(mixed[0]), NULL),
                 DS_OK);
    CHECK_EQ_INT(where_is(path, "a", "L1"), IN_KV);
    CHECK_EQ_INT(where_is(path, "a", "L2"), IN_KV);
    CHECK_EQ_INT(where_is(path, "a", "new"), IN_KV);
    CHECK_EQ_INT(where_is(path, "b", "S1"), IN_NONE);
    CHECK_EQ_INT(where_is(path, "b", "B2"), IN_NONE);
    CHECK_EQ_INT(where_is(path, "c", "x"), IN_KV);
    CHECK(has_pattern(s, "a", "L1", sizeof(s2), 10, 4));
    CHECK(has_pattern(s, "c", "x", sizeof(s2), 10, 4));
    CHECK_EQ_INT(count(s, "a"), 3);
    CHECK_EQ_INT(count(s, "b"), 0);
    CHECK_EQ_INT(count(s, "c"), 1);
    /* Namespaces equal by bytes but at other addresses are the same one. */
    char ns1[] = "dd", ns2[] = "dd";
    ds_store_item same[] = {
        {ns1, 2, "k", 1, big, sizeof(big), 4, 0},
        {ns2, 2, "k", 1, s2, sizeof(s2), 4, 0},
        {ns1, 2, "j", 1, s2, sizeof(s2), 4, 0},
        {ns2, 2, "j", 1, big, sizeof(big), 4, 0},
    };
    CHECK_EQ_INT(ds_store_write_batch(s, same, 4, NULL), DS_OK);
    CHECK_EQ_INT(where_is(path, "dd", "k"), IN_KV);
    CHECK_EQ_INT(where_is(path, "dd", "j"), IN_LARGE);
    CHECK_EQ_INT(count(s, "dd"), 2);
    /* ... and a namespace that starts another one is not that one. */
    char pq[] = "pq", p1[] = "p";
    CHECK_EQ_INT(put_pattern(s, "p", "k", 2000, 11), DS_OK);
    ds_store_item prefix[] = {
        {pq, 2, "z", 1, s2, sizeof(s2), 4, 0},
        {p1, 1, "k", 1, s2, sizeof(s2), 4, 0},
    };
    CHECK_EQ_INT(ds_store_write_batch(s, prefix, 2, NULL), DS_OK);
    CHECK_EQ_INT(where_is(path, "p", "k"), IN_KV);
    CHECK_EQ_INT(count(s, "p"), 1);
    ds_store_close(s);
}

static void test_split_delete_large(void)
{
    const char *path = tpath("split-del");
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put_pattern(s, "t", "big", 70000, 1), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "t", "small", 5, 2), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 2);
    CHECK_EQ_INT(del(s, "t", "big"), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "big"), IN_NONE);
    CHECK_EQ_INT(ds_store_exists(s, "t", 1, "big", 3, NULL), DS_NOTFOUND);
    CHECK(get_str(s, "t", "big", NULL) == NULL);
    CHECK_EQ_INT(count(s, "t"), 1);
    CHECK(has_pattern(s, "t", "small", 5, 2, 4));
    CHECK_EQ_INT(del(s, "t", "big"), DS_OK); /* again: not an error */
    CHECK_EQ_INT(del(s, "t", "small"), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 0);
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT (SELECT count(*) FROM kv) + "
                             "(SELECT count(*) FROM kv_large)"),
                 0);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    ds_store_close(s);
}

static void test_split_count_clear_list(void)
{
    const char *path = tpath("split-ns");
    ds_store *s = open_ok(path, NULL);
    /* "a": both tables; "b": kv_large only; "c": kv only; "ab": kv_large only,
     * sorting between a and b. */
    CHECK_EQ_INT(put_pattern(s, "a", "1", 10, 1), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "a", "2", 2000, 2), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "a", "3", 3000, 3), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "b", "1", 2000, 4), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "c", "1", 10, 5), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "c", "2", 10, 6), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "ab", "1", 900, 7), DS_OK);
    CHECK_EQ_INT(count(s, "a"), 3);
    CHECK_EQ_INT(count(s, "b"), 1);
    CHECK_EQ_INT(count(s, "c"), 2);
    CHECK_EQ_INT(count(s, "ab"), 1);
    CHECK_EQ_INT(count(s, "none"), 0);

    ns_walk w = {.s = s};
    CHECK_EQ_INT(ds_store_list_ns(s, on_ns, &w, NULL), DS_OK);
    CHECK_EQ_INT(w.n, 4);
    const char *want[] = {"a", "ab", "b", "c"};
    const int64_t want_counts[] = {3, 1, 1, 2};
    for (int i = 0; i < 4 && i < w.n; i++) {
        CHECK(strcmp(w.names[i], want[i]) == 0);
        CHECK_EQ_INT(w.counts[i], want_counts[i]);
    }

    /* clear_ns empties both tables of one namespace only. */
    CHECK_EQ_INT(ds_store_clear_ns(s, "a", 1, NULL), DS_OK);
    CHECK_EQ_INT(count(s, "a"), 0);
    CHECK_EQ_INT(ds_store_clear_ns(s, "b", 1, NULL), DS_OK);
    CHECK_EQ_INT(count(s, "b"), 0);
    CHECK_EQ_INT(count(s, "ab"), 1);
    CHECK_EQ_INT(count(s, "c"), 2);
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv WHERE tbl IN ('a','b')"), 0);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv_large WHERE tbl IN ('a','b')"), 0);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv_large WHERE tbl='ab'"), 1);
    sqlite3_close(db);
    memset(&w, 0, sizeof(w));
    w.s = s;
    CHECK_EQ_INT(ds_store_list_ns(s, on_ns, &w, NULL), DS_OK);
    CHECK_EQ_INT(w.n, 2);
    CHECK(w.n == 2 && strcmp(w.names[0], "ab") == 0 && strcmp(w.names[1], "c") == 0);

    /* clear_ns is one transaction: a failure in its second DELETE keeps the
     * first one's rows. */
    CHECK_EQ_INT(put_pattern(s, "x", "small", 10, 8), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "x", "large", 2000, 9), DS_OK);
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TRIGGER keep BEFORE DELETE ON kv_large "
                              "WHEN OLD.tbl='x' BEGIN "
                              "SELECT RAISE(ABORT, 'keep refused'); END"),
                 SQLITE_OK);
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_clear_ns(s, "x", 1, &err), DS_IO);
    CHECK(strstr(err.msg, "keep refused") != NULL);
    CHECK_EQ_INT(count(s, "x"), 2);
    CHECK(has_pattern(s, "x", "small", 10, 8, 4));
    CHECK_EQ_INT(raw_exec(db, "DROP TRIGGER keep"), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_clear_ns(s, "x", 1, NULL), DS_OK);
    CHECK_EQ_INT(count(s, "x"), 0);
    ds_store_close(s);
}

/* Collects (key, value length) pairs of a scan. */
typedef struct sized_rows {
    char keys[64][8];
    size_t vlens[64];
    int ok_values;
    size_t n;
} sized_rows;

static int collect_sized(const char *key, size_t klen, uint8_t codec,
                         const void *value, size_t vlen, void *ctx)
{
    sized_rows *r = ctx;
    if (r->n < 64 && klen < sizeof(r->keys[0])) {
        memcpy(r->keys[r->n], key, klen);
        r->keys[r->n][klen] = '\0';
        r->vlens[r->n] = vlen;
        if (value) {
            /* Scan values are the same bytes as get's. */
            unsigned char *want = malloc(vlen ? vlen : 1);
            int i = atoi(r->keys[r->n] + 1);
            fill(want, vlen, (unsigned)i);
            if (codec != 4 || memcmp(want, value, vlen) != 0)
                r->ok_values = 0;
            free(want);
        }
    }
    r->n++;
    return 0;
}

static void test_split_scan_order(void)
{
    const char *path = tpath("split-scan");
    ds_store *s = open_ok(path, NULL);
    /* k00..k29, large where i % 3 != 1 (runs of two large, one small), with
     * the batch in reverse order; plus rows of other namespaces around. */
    enum { N = 30 };
    size_t vlen[N];
    for (int i = N - 1; i >= 0; i--) {
        char k[8];
        snprintf(k, sizeof(k), "k%02d", i);
        vlen[i] = i % 3 != 1 ? (size_t)(SMALL_MAX + 1 + i * 50) : (size_t)(i + 1);
        CHECK_EQ_INT(put_pattern(s, "p", k, vlen[i], (unsigned)i), DS_OK);
    }
    CHECK_EQ_INT(put_pattern(s, "o", "k15x", 2000, 1), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "q", "k15x", 10, 1), DS_OK);
    CHECK_EQ_INT(put_pattern(s, "q", "a", 2000, 1), DS_OK);
    CHECK_EQ_INT(count(s, "p"), N);
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv WHERE tbl='p'"), 10);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv_large WHERE tbl='p'"), 20);
    sqlite3_close(db);

    for (size_t page = 1; page <= 3; page++) {
        for (int with_values = 0; with_values <= 1; with_values++) {
            char after[8] = "";
            int have_after = 0, seen = 0, calls = 0;
            for (;;) {
                sized_rows r = {.ok_values = 1};
                size_t visited = 0;
                CHECK_EQ_INT(ds_store_scan(s, "p", 1, have_after ? after : NULL,
                                           strlen(after), page, with_values,
                                           collect_sized, &r, &visited, NULL),
                             DS_OK);
                calls++;
                CHECK_EQ_INT(visited, r.n);
                CHECK(r.n <= page);
                CHECK(r.ok_values);
                if (r.n == 0)
                    break;
                for (size_t i = 0; i < r.n && seen + (int)i < N; i++) {
                    char want[16];
                    snprintf(want, sizeof(want), "k%02d", seen + (int)i);
                    CHECK(strcmp(r.keys[i], want) == 0);
                    CHECK_EQ_INT(r.vlens[i], with_values ? vlen[seen + i] : 0);
                }
                seen += (int)r.n;
                snprintf(after, sizeof(after), "%s", r.keys[r.n - 1]);
                have_after = 1;
                if (calls > N + 2)
                    break;
            }
            CHECK_EQ_INT(seen, N);
            CHECK_EQ_INT(calls, (int)((N + page - 1) / page) + 1);
        }
    }
    /* after between keys, and past the end. */
    sized_rows r = {.ok_values = 1};
    size_t visited = 0;
    CHECK_EQ_INT(ds_store_scan(s, "p", 1, "k14z", 4, 3, 1, collect_sized, &r,
                               &visited, NULL),
                 DS_OK);
    CHECK(visited == 3 && strcmp(r.keys[0], "k15") == 0 &&
          strcmp(r.keys[1], "k16") == 0 && strcmp(r.keys[2], "k17") == 0);
    CHECK(r.ok_values);
    memset(&r, 0, sizeof(r));
    CHECK_EQ_INT(ds_store_scan(s, "p", 1, "k29", 3, 3, 1, collect_sized, &r,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, 0);

    /* The compound scan is a merge of the two ordered searches, not a sort. */
    db = raw_open(path);
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                    "EXPLAIN QUERY PLAN SELECT key, codec, value "
                                    "FROM kv WHERE tbl=?1 AND key>?2 UNION ALL "
                                    "SELECT key, codec, value FROM kv_large "
                                    "WHERE tbl=?1 AND key>?2 ORDER BY key LIMIT ?3",
                                    -1, &st, NULL),
                 SQLITE_OK);
    int merge = 0, temp = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        if (d && strstr(d, "MERGE"))
            merge = 1;
        if (d && strstr(d, "TEMP B-TREE"))
            temp = 1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK(merge && !temp);
    ds_store_close(s);
}

/* A file as dictsqlite format 1 wrote it: kv only, version '1', WAL. */
static void make_v1_file(const char *path, const unsigned char *big, size_t big_n)
{
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db,
                          "PRAGMA journal_mode=WAL;"
                          "CREATE TABLE dictsqlite_meta(name TEXT PRIMARY KEY, "
                          "value BLOB NOT NULL);"
                          "CREATE TABLE kv(tbl TEXT NOT NULL, key TEXT NOT NULL, "
                          "codec INTEGER NOT NULL, value BLOB NOT NULL, "
                          "PRIMARY KEY (tbl, key)) WITHOUT ROWID;"
                          "INSERT INTO dictsqlite_meta(name,value) "
                          "VALUES('format_version','1');"
                          "INSERT INTO kv VALUES('t','small',4,x'0102');"
                          "INSERT INTO kv VALUES('t','json',2,'[1,2]');"),
                 SQLITE_OK);
    sqlite3_stmt *st = NULL;
    const char *keys[] = {"big1", "big2", "big3"};
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "INSERT INTO kv VALUES('t',?1,4,?2)", -1,
                                    &st, NULL),
                 SQLITE_OK);
    for (int i = 0; i < 3; i++) {
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, big, (int)big_n, SQLITE_STATIC);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_version1_file(void)
{
    const char *path = tpath("v1");
    unsigned char big[3000];
    fill(big, sizeof(big), 0);
    make_v1_file(path, big, sizeof(big));

    ds_store *s = open_ok(path, NULL);
    /* Upgraded: kv_large added, version stamped, old rows untouched. */
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                             "name='kv_large' AND type='table'"),
                 1);
    CHECK(strcmp(raw_text(db, "SELECT value FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 DS_STR(DS_FORMAT_VERSION)) == 0);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv"), 5);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv_large"), 0);
    sqlite3_close(db);

    /* Reads see the large values where version 1 left them, in kv. */
    CHECK(has_pattern(s, "t", "big1", sizeof(big), 0, 4));
    CHECK_EQ_INT(ds_store_exists(s, "t", 1, "big2", 4, NULL), DS_OK);
    const char *v = get_str(s, "t", "json", NULL);
    CHECK(v && strcmp(v, "[1,2]") == 0);
    CHECK_EQ_INT(count(s, "t"), 5);
    collected c = {0};
    size_t visited = 0;
    CHECK_EQ_INT(ds_store_scan(s, "t", 1, NULL, 0, 100, 1, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK(visited == 5 && strcmp(c.keys[0], "big1") == 0 &&
          strcmp(c.keys[4], "small") == 0);
    collected_free(&c);

    /* A new large value goes to kv_large and merges into the scan. */
    CHECK_EQ_INT(put_pattern(s, "t", "big15", 2000, 15), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "big15"), IN_LARGE);
    CHECK_EQ_INT(ds_store_scan(s, "t", 1, "big1", 4, 2, 0, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK(visited == 2 && strcmp(c.keys[0], "big15") == 0 &&
          strcmp(c.keys[1], "big2") == 0);
    collected_free(&c);

    /* Rewriting moves: large -> kv_large, large -> small stays in kv,
     * delete of an old large row in kv. */
    CHECK_EQ_INT(put_pattern(s, "t", "big1", sizeof(big), 21), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "big1"), IN_LARGE);
    CHECK(has_pattern(s, "t", "big1", sizeof(big), 21, 4));
    CHECK_EQ_INT(put_pattern(s, "t", "big2", 7, 22), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "big2"), IN_KV);
    CHECK(has_pattern(s, "t", "big2", 7, 22, 4));
    CHECK_EQ_INT(del(s, "t", "big3"), DS_OK);
    CHECK_EQ_INT(where_is(path, "t", "big3"), IN_NONE);
    CHECK_EQ_INT(count(s, "t"), 5);
    ds_store_close(s);

    /* And it opens again as a current file. */
    s = open_ok(path, NULL);
    CHECK(has_pattern(s, "t", "big1", sizeof(big), 21, 4));
    CHECK_EQ_INT(count(s, "t"), 5);
    CHECK_EQ_INT(ds_store_integrity_check(s, NULL), DS_OK);
    ds_store_close(s);
}

/* Opens path as a read-only file (another uid when we are root) and checks
 * the version-1 file reads. Returns the number of failed checks. */
static int check_v1_read_only(const char *path, const unsigned char *big, size_t n)
{
    int before = check_failures;
    ds_store *s = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_store_open(path, NULL, &s, &err);
    if (st != DS_OK)
        fprintf(stderr, "read-only open: %s\n", err.msg);
    CHECK_EQ_INT(st, DS_OK);
    if (st != DS_OK)
        return check_failures - before;
    void *v = NULL;
    size_t vn = 0;
    CHECK_EQ_INT(ds_store_get(s, "t", 1, "big1", 4, NULL, &v, &vn, NULL), DS_OK);
    CHECK(vn == n && v && memcmp(v, big, n) == 0);
    free(v);
    CHECK_EQ_INT(ds_store_exists(s, "t", 1, "nope", 4, NULL), DS_NOTFOUND);
    CHECK_EQ_INT(count(s, "t"), 5);
    size_t visited = 0;
    collected c = {0};
    CHECK_EQ_INT(ds_store_scan(s, "t", 1, NULL, 0, 100, 1, collect_row, &c,
                               &visited, NULL),
                 DS_OK);
    CHECK_EQ_INT(visited, 5);
    collected_free(&c);
    ns_walk w = {.s = s};
    CHECK_EQ_INT(ds_store_list_ns(s, on_ns, &w, NULL), DS_OK);
    CHECK_EQ_INT(w.n, 1);
    CHECK_EQ_INT(ds_store_is_readonly(s), 1);
    /* Writes fail as on any read-only file. */
    static unsigned char buf[2000];
    ds_store_item items[] = {{"t", 1, "x", 1, buf, sizeof(buf), 4, 0},
                             {"t", 1, "y", 1, buf, 2, 4, 0}};
    for (int i = 0; i < 2; i++) {
        ds_error_clear(&err);
        CHECK_EQ_INT(ds_store_write_batch(s, &items[i], 1, &err), DS_READONLY);
        CHECK(strstr(err.msg, "readonly") != NULL);
        CHECK_EQ_INT(err.sys_errno, EROFS);
    }
    ds_store_close(s);
    return check_failures - before;
}

static void test_version1_file_read_only(void)
{
    char dir[] = "/tmp/ds_store_ro.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    /* The reader may create the -wal and -shm files next to the file. */
    CHECK_EQ_INT(chmod(dir, 0777), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/v1.db", dir);
    unsigned char big[3000];
    fill(big, sizeof(big), 0);
    make_v1_file(path, big, sizeof(big));
    CHECK_EQ_INT(chmod(path, 0444), 0);

    if (geteuid() != 0) {
        check_v1_read_only(path, big, sizeof(big));
    } else {
        /* Root writes any file: read it as nobody instead. */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(99);
            _exit(check_v1_read_only(path, big, sizeof(big)) ? 1 : 0);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
            printf("     (cannot switch to uid 65534: read-only case skipped)\n");
        else
            CHECK_EQ_INT(WEXITSTATUS(status), 0);
    }
    /* The file was read as it was: still version 1, no kv_large. */
    sqlite3 *db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                             "name='kv_large'"),
                 0);
    CHECK(strcmp(raw_text(db, "SELECT value FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 "1") == 0);
    sqlite3_close(db);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- meta, pragmas ---------------------------------------------------- */

static void test_meta(void)
{
    const char *path = tpath("meta");
    ds_store *s = open_ok(path, NULL);
    void *v = NULL;
    size_t n = 0;
    CHECK_EQ_INT(ds_store_meta_get(s, "format_version", &v, &n, NULL), DS_OK);
    CHECK(n == strlen(DS_STR(DS_FORMAT_VERSION)) &&
          memcmp(v, DS_STR(DS_FORMAT_VERSION), n) == 0);
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
    CHECK_EQ_INT(ds_store_is_readonly(s), 0);
    CHECK_EQ_INT(ds_store_is_readonly(NULL), 0);
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
    CHECK_EQ_INT(err.sys_errno, EIO); /* every DS_IO has an errno */
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

    /* Across the two tables: "existing" moves to kv_large (and out of kv),
     * new large rows land, then kv_large refuses a row: all of it is undone,
     * the small row of "existing" included. */
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TRIGGER boom_large BEFORE INSERT ON kv_large "
                              "WHEN NEW.key='boom' BEGIN "
                              "SELECT RAISE(ABORT, 'large boom refused'); END"),
                 SQLITE_OK);
    static char big[2 * DS_STORE_SMALL_VALUE_MAX];
    memset(big, 'b', sizeof(big));
    items = failing_batch(20, "boom", &n, &keys);
    for (size_t i = 0; i < n; i++) {
        if (!items[i].is_delete && i != 20) { /* 20: "existing" below */
            items[i].value = big;
            items[i].vlen = sizeof(big);
        }
    }
    items[20].value = big; /* "existing", now large */
    items[20].vlen = sizeof(big);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_IO);
    CHECK(strstr(err.msg, "large boom refused") != NULL);
    check_nothing_landed(s, path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM kv_large"), 0);
    CHECK_EQ_INT(raw_exec(db, "DROP TRIGGER boom_large"), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 22);
    CHECK_EQ_INT(where_is(path, "t", "existing"), IN_LARGE);
    CHECK_EQ_INT(where_is(path, "t", "victim"), IN_NONE);
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
    CHECK_EQ_INT(ds_store_write_batch(s, items, n, &err), DS_BUSY);
    double waited = now_s() - t0;
    CHECK_EQ_INT(err.sqlite_code & 0xff, SQLITE_BUSY);
    CHECK_EQ_INT(err.sys_errno, EBUSY);
    CHECK(strstr(err.msg, "locked") != NULL);
    CHECK(waited >= 0.04 && waited < 2.0); /* the busy timeout applied */
    CHECK(strstr(err.msg, path) != NULL);
    /* Every other write is refused the same way. */
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_clear_ns(s, "t", 1, &err), DS_BUSY);
    CHECK_EQ_INT(err.sys_errno, EBUSY);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_meta_set(s, "m", "v", 1, &err), DS_BUSY);
    CHECK_EQ_INT(err.sys_errno, EBUSY);
    CHECK(strstr(err.msg, path) != NULL);
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
    /* SQLite records the OS error of a failed commit only on some paths
     * (sqlite3_system_errno is best effort); the store then fills in the
     * errno the result code stands for, so there is always one. */
    CHECK(err.sys_errno != 0);
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

/* The file was unlinked (or replaced) while open: every kind of write fails
 * with ENOENT, rolled back, instead of going to an inode nobody will open
 * again (issue 11). meta_set included: it runs in a checked transaction. */
static void test_unlinked_file(void)
{
    const char *path = tpath("unlinked");
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put(s, "t", "before", 4, "v"), DS_OK);
    CHECK_EQ_INT(ds_store_meta_set(s, "m", "v0", 2, NULL), DS_OK);
    CHECK_EQ_INT(unlink(path), 0);
    ds_store_item items[] = {{"t", 1, "a", 1, "1", 1, 4, 0},
                             {"t", 1, "b", 1, "2", 1, 4, 0},
                             {"t", 1, "before", 6, NULL, 0, 0, 1}};
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_write_batch(s, items, 3, &err), DS_IO);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "deleted or replaced while open") != NULL);
    /* Nothing half-written: the open connection still sees the old rows. */
    CHECK(get_str(s, "t", "a", NULL) == NULL);
    CHECK(get_str(s, "t", "before", NULL) != NULL);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_clear_ns(s, "t", 1, &err), DS_IO);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_meta_set(s, "m", "v1", 2, &err), DS_IO);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    CHECK(strstr(err.msg, path) != NULL);
    void *mv = NULL;
    size_t mlen = 0;
    CHECK_EQ_INT(ds_store_meta_get(s, "m", &mv, &mlen, NULL), DS_OK);
    CHECK(mv && mlen == 2 && memcmp(mv, "v0", 2) == 0); /* rolled back */
    free(mv);
    CHECK_EQ_INT(count(s, "t"), 1);
    ds_store_close(s);

    /* Replaced by another file under the same name. */
    path = tpath("replaced");
    s = open_ok(path, NULL);
    CHECK_EQ_INT(put(s, "t", "k", 4, "v"), DS_OK);
    char other[600];
    snprintf(other, sizeof(other), "%s.new", path);
    ds_store *o = open_ok(other, NULL);
    ds_store_close(o);
    CHECK_EQ_INT(rename(other, path), 0);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_write_batch(s, items, 2, &err), DS_IO);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_meta_set(s, "m", "v", 1, &err), DS_IO);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    ds_store_close(s);
}

/* Names in dir, sorted and joined, to compare before and after. */
static void list_dir(const char *dir, char *out, size_t cap)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    pclose(f);
}

static void check_read_only_store(const char *path, const char *dir)
{
    char before[4096], after[4096];
    list_dir(dir, before, sizeof(before));
    ds_store_options o = {.read_only = 1};
    ds_store *s = open_ok(path, &o);
    if (!s)
        return;
    CHECK_EQ_INT(ds_store_is_readonly(s), 1);
    const char *v = get_str(s, "t", "k", NULL);
    CHECK(v && strcmp(v, "v") == 0);
    CHECK_EQ_INT(count(s, "t"), 2);
    ds_store_item it = {"t", 1, "w", 1, "x", 1, 4, 0};
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_write_batch(s, &it, 1, &err), DS_READONLY);
    CHECK_EQ_INT(err.sys_errno, EROFS);
    CHECK(strstr(err.msg, path) != NULL);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_clear_ns(s, "t", 1, &err), DS_READONLY);
    CHECK_EQ_INT(err.sys_errno, EROFS);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_meta_set(s, "m", "v", 1, &err), DS_READONLY);
    CHECK_EQ_INT(err.sys_errno, EROFS);
    list_dir(dir, after, sizeof(after));
    CHECK(strcmp(before, after) == 0); /* no -wal, -shm, nothing */
    ds_store_close(s);
    list_dir(dir, after, sizeof(after));
    CHECK(strcmp(before, after) == 0);
    if (strcmp(before, after) != 0)
        printf("     before: %s     after: %s", before, after);
}

static void test_read_only_open(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/ro ?#%%dir", tmpdir); /* URI escapes */
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/data?x#1%%41.db", dir);
    ds_store *s = open_ok(path, NULL);
    CHECK_EQ_INT(put(s, "t", "k", 4, "v"), DS_OK);
    CHECK_EQ_INT(put(s, "t", "k2", 4, "v2"), DS_OK);
    ds_store_close(s);
    /* Closed cleanly: no -wal; read with immutable. */
    check_read_only_store(path, dir);

    /* A writer has it open (a -wal and -shm exist): mode=ro, and the
     * writer's later commits are seen. */
    sqlite3 *w = raw_open(path);
    CHECK_EQ_INT(raw_exec(w, "PRAGMA journal_mode=WAL; SELECT count(*) FROM kv"),
                 SQLITE_OK);
    check_read_only_store(path, dir);
    ds_store_options o = {.read_only = 1};
    s = open_ok(path, &o);
    ds_store *rw = open_ok(path, NULL);
    CHECK_EQ_INT(put(rw, "t", "k3", 4, "v3"), DS_OK);
    CHECK_EQ_INT(count(s, "t"), 3);
    ds_store_close(rw);
    ds_store_close(s);
    sqlite3_close(w);

    /* A missing path: ENOENT, nothing created. */
    char missing[800];
    snprintf(missing, sizeof(missing), "%s/missing.db", dir);
    ds_error err;
    ds_error_clear(&err);
    s = (ds_store *)&err;
    CHECK_EQ_INT(ds_store_open(missing, &o, &s, &err), DS_IO);
    CHECK(s == NULL);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    CHECK(strstr(err.msg, missing) != NULL);
    struct stat sb;
    CHECK(stat(missing, &sb) != 0 && errno == ENOENT);

    /* A SQLite file without our tables: DS_CORRUPT, nothing added. */
    char foreign[800];
    snprintf(foreign, sizeof(foreign), "%s/foreign.db", dir);
    sqlite3 *f = raw_open(foreign);
    CHECK_EQ_INT(raw_exec(f, "CREATE TABLE other(x)"), SQLITE_OK);
    sqlite3_close(f);
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_open(foreign, &o, &s, &err), DS_CORRUPT);
    CHECK(strstr(err.msg, foreign) != NULL);
    printf("     %s\n", err.msg);
    f = raw_open(foreign);
    CHECK_EQ_INT(raw_int(f, "SELECT count(*) FROM sqlite_master"), 1);
    sqlite3_close(f);
}

/* A directory given as the path: SQLite reports CANTOPEN with no OS error;
 * the errno says what is wrong (EISDIR), not "no such file". */
static void test_directory_as_path(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/a-directory", tmpdir);
    CHECK_EQ_INT(mkdir(dir, 0700), 0);
    ds_store *s = NULL;
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_store_open(dir, NULL, &s, &err), DS_IO);
    CHECK(s == NULL);
    CHECK_EQ_INT(err.sys_errno, EISDIR);
    CHECK(strstr(err.msg, dir) != NULL);
    printf("     %s\n", err.msg);
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
    CHECK_EQ_INT(st, DS_IO);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "not a database") != NULL);
    CHECK_EQ_INT(err.sqlite_code, SQLITE_NOTADB);
    CHECK_EQ_INT(err.sys_errno, EINVAL);
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
    /* DS_INVALID (ValueError): a sound file of the other format */
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_INVALID);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "Rust dictsqlite") != NULL);
    CHECK(strstr(err.msg, "dictsqlite migrate ") != NULL);
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

    /* So is a kv_large table without it. */
    path = tpath("foreign-kv-large");
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TABLE kv_large(k, v)"), SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "kv_large") != NULL);
    db = raw_open(path);
    CHECK_EQ_INT(raw_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    sqlite3_close(db);

    /* A Rust file stays refused even next to a kv_large of ours. */
    path = tpath("rust-kv-large");
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "CREATE TABLE kv_store(key TEXT PRIMARY KEY, "
                              "value BLOB); CREATE TABLE dictsqlite_meta(name "
                              "TEXT PRIMARY KEY, value BLOB NOT NULL); "
                              "CREATE TABLE kv_large(tbl, key, codec, value)"),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_INVALID);
    CHECK(strstr(err.msg, "Rust dictsqlite") != NULL);
}

static void test_newer_format_version(void)
{
    const char *path = tpath("newer");
    ds_store *s = open_ok(path, NULL);
    ds_store_close(s);
    sqlite3 *db = raw_open(path);
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE dictsqlite_meta SET value='%d' "
             "WHERE name='format_version'", DS_FORMAT_VERSION + 1);
    CHECK_EQ_INT(raw_exec(db, sql), SQLITE_OK);
    sqlite3_close(db);
    ds_error err;
    ds_error_clear(&err);
    s = NULL;
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    char want[64];
    snprintf(want, sizeof(want), "format version %d,", DS_FORMAT_VERSION + 1);
    CHECK(strstr(err.msg, want) != NULL);
    printf("     %s\n", err.msg);

    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "UPDATE dictsqlite_meta SET value='garbage' "
                              "WHERE name='format_version'"),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(ds_store_open(path, NULL, &s, &err), DS_CORRUPT);

    /* An integer 1 (not text) is still version 1, opened and upgraded. */
    db = raw_open(path);
    CHECK_EQ_INT(raw_exec(db, "UPDATE dictsqlite_meta SET value=1 "
                              "WHERE name='format_version'"),
                 SQLITE_OK);
    sqlite3_close(db);
    s = open_ok(path, NULL);
    ds_store_close(s);
    db = raw_open(path);
    CHECK(strcmp(raw_text(db, "SELECT value FROM dictsqlite_meta "
                              "WHERE name='format_version'"),
                 DS_STR(DS_FORMAT_VERSION)) == 0);
    sqlite3_close(db);

    /* The current version itself opens, as text or integer. */
    db = raw_open(path);
    snprintf(sql, sizeof(sql), "UPDATE dictsqlite_meta SET value=%d "
             "WHERE name='format_version'", DS_FORMAT_VERSION);
    CHECK_EQ_INT(raw_exec(db, sql), SQLITE_OK);
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
    RUN_TEST(test_get_into_the_callers_memory);
    RUN_TEST(test_empty_key_and_value);
    RUN_TEST(test_json_stored_as_text);
    RUN_TEST(test_odd_keys);
    RUN_TEST(test_namespaces);
    RUN_TEST(test_scan_pagination);
    RUN_TEST(test_scan_holds_no_read_transaction);
    RUN_TEST(test_list_ns);
    RUN_TEST(test_walks_over_any_stored_type);
    RUN_TEST(test_split_round_trip);
    RUN_TEST(test_split_threshold_boundary);
    RUN_TEST(test_split_moves);
    RUN_TEST(test_split_delete_large);
    RUN_TEST(test_split_count_clear_list);
    RUN_TEST(test_split_scan_order);
    RUN_TEST(test_version1_file);
    RUN_TEST(test_version1_file_read_only);
    RUN_TEST(test_meta);
    RUN_TEST(test_data_version);
    RUN_TEST(test_integrity_and_file_size);
    RUN_TEST(test_memory);
    RUN_TEST(test_options);
    RUN_TEST(test_batch_atomic_midway_failure);
    RUN_TEST(test_batch_busy);
    RUN_TEST(test_batch_disk_full);
    RUN_TEST(test_unwritable_path);
    RUN_TEST(test_unlinked_file);
    RUN_TEST(test_read_only_open);
    RUN_TEST(test_directory_as_path);
    RUN_TEST(test_not_a_database);
    RUN_TEST(test_rust_format_file);
    RUN_TEST(test_newer_format_version);
    RUN_TEST(test_empty_file);
    RUN_TEST(test_threads);
    RUN_TEST(test_million_rows);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_DONE();
}
