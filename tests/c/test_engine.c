/* ds_engine: the tiers together, on real SQLite files. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "engine_files.h"
#include "dictsqlite/engine.h"

static ds_engine *open_engine(const char *name, ds_persist_mode mode, size_t cap,
                              size_t buffer_size, int flusher)
{
    ds_engine_config cfg = {0};
    cfg.path = path_of(name);
    cfg.persist = mode;
    cfg.hot_capacity = cap;
    cfg.warm_bytes = 1 << 20;
    cfg.buffer_size = buffer_size;
    cfg.enable_flusher = flusher;
    cfg.flush_interval_ms = 20;
    cfg.store.busy_timeout_ms = 50;
    ds_engine *e = NULL;
    ds_error err;
    ds_status st = ds_engine_open(&cfg, &e, &err);
    if (st != DS_OK)
        fprintf(stderr, "open failed: %s\n", err.msg);
    return e;
}

static ds_status put(ds_engine *e, uint32_t ns, const char *key, const char *value)
{
    ds_error err;
    return ds_engine_put(e, ns, key, strlen(key), h(key, ns), DS_CODEC_BYTES, value,
                         strlen(value), 1, NULL, NULL, &err);
}

/* 1 if key has exactly value, 0 if absent, -1 if a different value */
static int has(ds_engine *e, uint32_t ns, const char *key, const char *value)
{
    ds_entry *x = NULL;
    ds_error err;
    ds_status st = ds_engine_get(e, ns, key, strlen(key), h(key, ns), 1, &x, &err);
    if (st == DS_NOTFOUND)
        return 0;
    if (st != DS_OK)
        return -2;
    int ok = x->vlen == strlen(value) && memcmp(ds_entry_value(x), value, x->vlen) == 0;
    ds_entry_decref(x, ds_engine_retire(e));
    return ok ? 1 : -1;
}

static ds_status del(ds_engine *e, uint32_t ns, const char *key)
{
    ds_error err;
    return ds_engine_delete(e, ns, key, strlen(key), h(key, ns), 1, NULL, &err);
}

static void test_lazy_put_get_delete_flush_reopen(void)
{
    ds_engine *e = open_engine("lazy.db", DS_PERSIST_LAZY, 1000, 100, 0);
    uint32_t ns = ns_of(e, "main");
    CHECK_EQ_INT(put(e, ns, "a", "1"), DS_OK);
    CHECK_EQ_INT(put(e, ns, "b", "2"), DS_OK);
    CHECK_EQ_INT(put(e, ns, "a", "3"), DS_OK);
    CHECK_EQ_INT(ds_engine_len(e, ns), 2);
    CHECK_EQ_INT(has(e, ns, "a", "3"), 1);
    CHECK_EQ_INT(rows_in_file("lazy.db"), 0); /* lazy: nothing committed yet */
    CHECK_EQ_INT(del(e, ns, "b"), DS_OK);
    CHECK_EQ_INT(del(e, ns, "b"), DS_NOTFOUND);
    CHECK_EQ_INT(ds_engine_len(e, ns), 1);
    ds_error err;
    CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
    CHECK_EQ_INT(rows_in_file("lazy.db"), 1);
    close_engine(e);

    e = open_engine("lazy.db", DS_PERSIST_LAZY, 1000, 100, 0);
    ns = ns_of(e, "main");
    CHECK_EQ_INT(ds_engine_len(e, ns), 1);
    CHECK_EQ_INT(has(e, ns, "a", "3"), 1);
    CHECK_EQ_INT(has(e, ns, "b", "2"), 0);
    close_engine(e);
}

static void test_writethrough_buffer_one_commits_each_write(void)
{
    ds_engine *e = open_engine("wt.db", DS_PERSIST_WRITETHROUGH, 1000, 1, 0);
    uint32_t ns = ns_of(e, "main");
    for (int i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        CHECK_EQ_INT(put(e, ns, k, "v"), DS_OK);
        CHECK_EQ_INT(rows_in_file("wt.db"), i + 1);
    }
    CHECK_EQ_INT(del(e, ns, "k0"), DS_OK);
    CHECK_EQ_INT(rows_in_file("wt.db"), 4);
    close_engine(e);
}

/* A writethrough engine on a file that already holds "a" = "1", freshly
 * reopened: the key is only in SQLite, and whether a new key is new is
 * something only SQLite knows. */
static ds_engine *reopened_with_a_key(const char *name, uint32_t *ns)
{
    ds_engine *e = open_engine(name, DS_PERSIST_WRITETHROUGH, 1000, 1, 0);
    *ns = ns_of(e, "main");
    CHECK_EQ_INT(put(e, *ns, "a", "1"), DS_OK);
    close_engine(e);
    e = open_engine(name, DS_PERSIST_WRITETHROUGH, 1000, 1, 0);
    *ns = ns_of(e, "main");
    return e;
}

static void test_allow_io_zero_never_blocks_on_sqlite(void)
{
    uint32_t ns;
    ds_engine *e = reopened_with_a_key("noio.db", &ns);
    ds_entry *x = NULL;
    ds_error err;
    /* "a" is only in SQLite now: a no-I/O read must say so, not read */
    CHECK_EQ_INT(ds_engine_get(e, ns, "a", 1, h("a", ns), 0, &x, &err), DS_NEED_IO);
    int due = 0;
    CHECK_EQ_INT(ds_engine_put(e, ns, "b", 1, h("b", ns), DS_CODEC_BYTES, "2", 1, 0, NULL,
                               &due, &err), DS_NEED_IO);
    CHECK_EQ_INT(ds_engine_len(e, ns), 1); /* the refused put changed nothing */
    CHECK_EQ_INT(has(e, ns, "a", "1"), 1);
    close_engine(e);
}

static void test_eviction_moves_clean_entries_to_warm_and_loses_nothing(void)
{
    ds_engine *e = open_engine("evict.db", DS_PERSIST_LAZY, 64, 100, 0);
    uint32_t ns = ns_of(e, "main");
    char k[32], v[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "key%05d", i);
        snprintf(v, sizeof(v), "value%d", i);
        CHECK_EQ_INT(put(e, ns, k, v), DS_OK);
        if (i == 999) {
            ds_error err;
            CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
        }
    }
    ds_engine_stats s;
    ds_engine_get_stats(e, &s);
    CHECK(s.hot_entries <= 64);
    CHECK(s.hot_evictions > 0);
    CHECK_EQ_INT(ds_engine_len(e, ns), 2000);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof(k), "key%05d", i);
        snprintf(v, sizeof(v), "value%d", i);
        CHECK_EQ_INT(has(e, ns, k, v), 1);
    }
    ds_engine_get_stats(e, &s);
    CHECK(s.warm_hits + s.cold_reads > 0);
    /* overwrite after eviction: no stale value from warm or SQLite */
    CHECK_EQ_INT(put(e, ns, "key00001", "new"), DS_OK);
    CHECK_EQ_INT(has(e, ns, "key00001", "new"), 1);
    CHECK_EQ_INT(del(e, ns, "key00002"), DS_OK);
    CHECK_EQ_INT(has(e, ns, "key00002", "value2"), 0);
    CHECK_EQ_INT(ds_engine_len(e, ns), 1999);
    close_engine(e);
}

static void test_memory_mode_never_evicts(void)
{
    ds_engine *e = open_engine("unused.db", DS_PERSIST_MEMORY, 8, 100, 0);
    uint32_t ns = ns_of(e, "main");
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        CHECK_EQ_INT(put(e, ns, k, "v"), DS_OK);
    }
    CHECK_EQ_INT(ds_engine_len(e, ns), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        CHECK_EQ_INT(has(e, ns, k, "v"), 1);
    }
    struct stat sb;
    CHECK(stat(path_of("unused.db"), &sb) != 0);
    close_engine(e);
}

static void test_namespaces_are_isolated_and_clear_touches_one(void)
{
    ds_engine *e = open_engine("ns.db", DS_PERSIST_LAZY, 1000, 100, 0);
    uint32_t a = ns_of(e, "a"), main = ns_of(e, "main");
    CHECK(a != main);
    CHECK_EQ_INT(ns_of(e, "a"), a);
    CHECK_EQ_INT(put(e, main, "a:b", "main"), DS_OK);
    CHECK_EQ_INT(put(e, a, "b", "in-a"), DS_OK);
    CHECK_EQ_INT(has(e, main, "a:b", "main"), 1);
    CHECK_EQ_INT(has(e, a, "b", "in-a"), 1);
    CHECK_EQ_INT(has(e, main, "b", "in-a"), 0);
    ds_error err;
    CHECK_EQ_INT(ds_engine_clear(e, a, &err), DS_OK);
    CHECK_EQ_INT(ds_engine_len(e, a), 0);
    CHECK_EQ_INT(ds_engine_len(e, main), 1);
    CHECK_EQ_INT(has(e, main, "a:b", "main"), 1);
    close_engine(e);
}

static int count_rows(const char *key, size_t klen, uint8_t codec, const void *value,
                      size_t vlen, void *ctx)
{
    (void)key, (void)klen, (void)codec, (void)value, (void)vlen;
    (*(int *)ctx)++;
    return 0;
}

static void test_snapshot_and_scan_are_in_key_order(void)
{
    ds_engine *e = open_engine("scan.db", DS_PERSIST_LAZY, 1000, 100, 0);
    uint32_t ns = ns_of(e, "main");
    const char *keys[] = {"b", "a", "ab", "", "c"};
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ_INT(put(e, ns, keys[i], "v"), DS_OK);
    ds_entry **arr;
    size_t n;
    CHECK_EQ_INT(ds_engine_snapshot(e, ns, &arr, &n), DS_OK);
    CHECK_EQ_INT(n, 5);
    const char *sorted[] = {"", "a", "ab", "b", "c"};
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(ds_entry_key(arr[i]), sorted[i]) == 0);
        ds_entry_decref(arr[i], ds_engine_retire(e));
    }
    free(arr);
    int rows = 0;
    size_t got;
    ds_error err;
    CHECK_EQ_INT(ds_engine_scan(e, ns, "a", 1, 10, 1, count_rows, &rows, &got, &err), DS_OK);
    CHECK_EQ_INT(rows, 3); /* ab, b, c */
    close_engine(e);
}

static void test_flusher_thread_commits_within_the_interval(void)
{
    ds_engine *e = open_engine("flusher.db", DS_PERSIST_LAZY, 1000, 100, 1);
    uint32_t ns = ns_of(e, "main");
    CHECK_EQ_INT(put(e, ns, "a", "1"), DS_OK);
    int64_t rows = 0;
    for (int i = 0; i < 500 && rows != 1; i++) {
        usleep(10000);
        rows = rows_in_file("flusher.db");
    }
    CHECK_EQ_INT(rows, 1);
    close_engine(e);
}

static void test_failed_flush_keeps_the_buffer_and_reports(void)
{
    ds_engine *e = open_engine("busy.db", DS_PERSIST_LAZY, 1000, 100, 0);
    uint32_t ns = ns_of(e, "main");
    CHECK_EQ_INT(put(e, ns, "a", "1"), DS_OK);
    /* another connection holds the write lock past our busy timeout */
    sqlite3 *other;
    CHECK_EQ_INT(sqlite3_open(path_of("busy.db"), &other), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ds_error err;
    ds_error_clear(&err);
    CHECK(ds_engine_flush(e, &err) != DS_OK);
    CHECK(err.msg[0] != '\0');
    CHECK_EQ_INT(has(e, ns, "a", "1"), 1);
    ds_engine_stats s;
    ds_engine_get_stats(e, &s);
    CHECK_EQ_INT(s.dirty_entries, 1);
    CHECK_EQ_INT(s.flush_failures, 1);
    /* a write made while the flush failed is kept too, and wins */
    CHECK_EQ_INT(put(e, ns, "a", "2"), DS_OK);
    CHECK_EQ_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
    CHECK_EQ_INT(rows_in_file("busy.db"), 1);
    close_engine(e);
    e = open_engine("busy.db", DS_PERSIST_LAZY, 1000, 100, 0);
    ns = ns_of(e, "main");
    CHECK_EQ_INT(has(e, ns, "a", "2"), 1);
    close_engine(e);
}

/* A writethrough write whose commit fails is taken back: not visible, not
 * committed by a later flush, and the writes around it are unaffected. */
static void test_failed_writethrough_commit_changes_nothing(void)
{
    ds_engine *e = open_engine("undo.db", DS_PERSIST_WRITETHROUGH, 1000, 1, 0);
    uint32_t ns = ns_of(e, "main");
    CHECK_EQ_INT(put(e, ns, "kept", "1"), DS_OK);
    CHECK_EQ_INT(put(e, ns, "old", "v1"), DS_OK);
    sqlite3 *other;
    CHECK_EQ_INT(sqlite3_open(path_of("undo.db"), &other), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    CHECK(put(e, ns, "new", "x") != DS_OK);
    CHECK(put(e, ns, "old", "v2") != DS_OK);
    CHECK(del(e, ns, "kept") != DS_OK);
    CHECK_EQ_INT(has(e, ns, "new", "x"), 0);
    CHECK_EQ_INT(has(e, ns, "old", "v1"), 1);
    CHECK_EQ_INT(has(e, ns, "kept", "1"), 1);
    ds_engine_stats s;
    ds_engine_get_stats(e, &s);
    CHECK_EQ_INT(s.dirty_entries, 0);
    CHECK_EQ_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    ds_error err;
    CHECK_EQ_INT(ds_engine_recount(e, ns, &err), DS_OK);
    CHECK_EQ_INT(ds_engine_len(e, ns), 2);
    CHECK_EQ_INT(put(e, ns, "after", "y"), DS_OK);
    close_engine(e);
    e = open_engine("undo.db", DS_PERSIST_WRITETHROUGH, 1000, 1, 0);
    ns = ns_of(e, "main");
    CHECK_EQ_INT(has(e, ns, "new", "x"), 0);
    CHECK_EQ_INT(has(e, ns, "old", "v1"), 1);
    CHECK_EQ_INT(has(e, ns, "kept", "1"), 1);
    CHECK_EQ_INT(has(e, ns, "after", "y"), 1);
    close_engine(e);
}

/* Past max_pending_bytes a lazy writer commits what is pending first. */
static void test_lazy_buffer_is_bounded_by_bytes(void)
{
    ds_engine_config cfg = {0};
    cfg.path = path_of("bytes.db");
    cfg.persist = DS_PERSIST_LAZY;
    cfg.hot_capacity = 1000;
    cfg.buffer_size = 1000000;
    cfg.max_pending_bytes = 5000;
    ds_engine *e = NULL;
    ds_error err;
    CHECK_EQ_INT(ds_engine_open(&cfg, &e, &err), DS_OK);
    uint32_t ns = ns_of(e, "main");
    char value[501]; /* small enough for table kv, which rows_in_file counts */
    memset(value, 'v', 500);
    value[500] = 0;
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        CHECK_EQ_INT(put(e, ns, key, value), DS_OK);
        ds_engine_stats s;
        ds_engine_get_stats(e, &s);
        CHECK(s.dirty_entries <= 11);
    }
    CHECK(rows_in_file("bytes.db") >= 89); /* committed by the writers themselves */
    close_engine(e);
}

static void test_two_engines_on_one_file_see_each_others_commits(void)
{
    ds_engine *a = open_engine("two.db", DS_PERSIST_WRITETHROUGH, 1000, 1, 0);
    ds_engine *b = open_engine("two.db", DS_PERSIST_LAZY, 1000, 100, 0);
    uint32_t na = ns_of(a, "main"), nb = ns_of(b, "main");
    CHECK_EQ_INT(put(a, na, "k", "v1"), DS_OK);
    CHECK(ds_engine_changed(b));
    ds_error err;
    CHECK_EQ_INT(ds_engine_sync(b, &err), DS_OK);
    CHECK(!ds_engine_changed(b));
    CHECK_EQ_INT(has(b, nb, "k", "v1"), 1); /* now cached in b's hot tier */
    CHECK_EQ_INT(put(a, na, "k", "v2"), DS_OK);
    CHECK_EQ_INT(ds_engine_sync(b, &err), DS_OK);
    CHECK_EQ_INT(has(b, nb, "k", "v2"), 1);
    CHECK_EQ_INT(ds_engine_len(b, nb), -1); /* stale until recounted */
    CHECK_EQ_INT(ds_engine_recount(b, nb, &err), DS_OK);
    CHECK_EQ_INT(ds_engine_len(b, nb), 1);
    /* b's own commit does not make b think someone else wrote */
    CHECK_EQ_INT(put(b, nb, "mine", "x"), DS_OK);
    CHECK_EQ_INT(ds_engine_flush(b, &err), DS_OK);
    CHECK(!ds_engine_changed(b));
    CHECK(ds_engine_changed(a));
    close_engine(a);
    close_engine(b);
}

static void test_unwritable_path_reports_the_path(void)
{
    ds_engine_config cfg = {0};
    cfg.path = "/nonexistent-dir/x/y.db";
    cfg.persist = DS_PERSIST_LAZY;
    cfg.hot_capacity = 10;
    ds_engine *e = NULL;
    ds_error err;
    ds_error_clear(&err);
    CHECK(ds_engine_open(&cfg, &e, &err) != DS_OK);
    CHECK(e == NULL);
    CHECK(strstr(err.msg, "/nonexistent-dir/x/y.db") != NULL);
}

/* Retired owners, collected the way the binding drains them. */
static size_t take_retired(ds_engine *e, void **seen, size_t max)
{
    void **items;
    size_t n = ds_retire_take(ds_engine_retire(e), &items);
    for (size_t i = 0; i < n && i < max; i++)
        seen[i] = items[i];
    free(items);
    return n;
}

static void test_values_held_by_reference_are_committed_and_retired(void)
{
    ds_engine *e = open_engine("owned.db", DS_PERSIST_LAZY, 100, 1000, 0);
    CHECK(e != NULL);
    uint32_t ns = ns_of(e, "main");
    /* Stand-ins for the binding's objects: the engine never looks inside
     * an owner, it only hands it back through the retire list. */
    static char owner_a[600], owner_b[600];
    memset(owner_a, 'a', sizeof(owner_a));
    memset(owner_b, 'b', sizeof(owner_b));
    ds_put_item items[2] = {
        {"x", 1, h("x", ns), DS_CODEC_BYTES, owner_a, sizeof(owner_a), owner_a},
        {"y", 1, h("y", ns), DS_CODEC_BYTES, owner_b, sizeof(owner_b), owner_b},
    };
    size_t done = 0;
    ds_error err;
    CHECK_EQ_INT(ds_engine_put_many(e, ns, items, 2, 1, &done, NULL, &err), DS_OK);
    CHECK_EQ_INT((int)done, 2);
    void *seen[4] = {0};
    CHECK_EQ_INT((int)take_retired(e, seen, 4), 0);
    ds_entry *x = NULL;
    CHECK_EQ_INT(ds_engine_get(e, ns, "x", 1, h("x", ns), 1, &x, &err), DS_OK);
    CHECK(ds_entry_value(x) == (const unsigned char *)owner_a); /* not a copy */
    CHECK(atomic_load(&x->aux) == (void *)owner_a);
    ds_entry_decref(x, ds_engine_retire(e));
    CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
    /* Overwriting x with a copied value releases owner_a, and only it. */
    CHECK_EQ_INT(put(e, ns, "x", "small"), DS_OK);
    CHECK_EQ_INT((int)take_retired(e, seen, 4), 1);
    CHECK(seen[0] == (void *)owner_a);
    /* Closing commits owner_b's bytes and releases it. */
    CHECK_EQ_INT(ds_engine_close(e, 0, &err), DS_OK);
    CHECK_EQ_INT((int)take_retired(e, seen, 4), 1);
    CHECK(seen[0] == (void *)owner_b);
    ds_engine_free(e);
    e = open_engine("owned.db", DS_PERSIST_LAZY, 100, 1000, 0);
    ns = ns_of(e, "main");
    char expect[sizeof(owner_b) + 1];
    memcpy(expect, owner_b, sizeof(owner_b));
    expect[sizeof(owner_b)] = '\0';
    CHECK_EQ_INT(has(e, ns, "y", expect), 1);
    CHECK_EQ_INT(has(e, ns, "x", "small"), 1);
    close_engine(e);
}

static void test_put_many_consumes_owners_it_could_not_store(void)
{
    uint32_t ns;
    ds_engine *e = reopened_with_a_key("owned2.db", &ns);
    static char owner[300];
    ds_put_item items[2] = {
        {"k", 1, h("k", ns), DS_CODEC_BYTES, owner, sizeof(owner), owner},
        {"m", 1, h("m", ns), DS_CODEC_BYTES, owner + 1, 10, owner + 1},
    };
    size_t done = 0;
    ds_error err;
    /* Whether "k" is new only SQLite knows: without I/O the call gives up at
     * the first item, and must still hand back both owners. */
    CHECK_EQ_INT(ds_engine_put_many(e, ns, items, 2, 0, &done, NULL, &err), DS_NEED_IO);
    CHECK_EQ_INT((int)done, 0);
    void *seen[4] = {0};
    CHECK_EQ_INT((int)take_retired(e, seen, 4), 2);
    CHECK(seen[0] == (void *)owner && seen[1] == (void *)(owner + 1));
    CHECK_EQ_INT(has(e, ns, "k", "x"), 0);
    close_engine(e);
}

static void test_share_value_swaps_clean_hot_entries_only(void)
{
    ds_engine *e = open_engine("share.db", DS_PERSIST_LAZY, 100, 1000, 0);
    uint32_t ns = ns_of(e, "main");
    ds_error err;
    static char owner[512];
    memset(owner, 'v', sizeof(owner));
    ds_put_item item = {"p", 1, h("p", ns), DS_CODEC_BYTES, owner, sizeof(owner), NULL};
    size_t done = 0;
    CHECK_EQ_INT(ds_engine_put_many(e, ns, &item, 1, 1, &done, NULL, &err), DS_OK);
    /* Pending: the hot entry is the buffer's, so it is not replaced. */
    ds_entry *x = NULL;
    CHECK_EQ_INT(ds_engine_get(e, ns, "p", 1, h("p", ns), 1, &x, &err), DS_OK);
    ds_engine_share_value(e, x, ds_entry_new_external(ns, "p", 1, h("p", ns), x->codec,
                                                      owner, sizeof(owner), owner,
                                                      ds_engine_retire(e)));
    void *seen[2] = {0};
    CHECK_EQ_INT((int)take_retired(e, seen, 2), 1); /* the offer, refused */
    void *aux = NULL;
    ds_entry *ref = NULL;
    CHECK(ds_engine_peek_hot(e, ns, "p", 1, h("p", ns), &aux, &ref) && ref == x);
    ds_entry_decref(ref, ds_engine_retire(e));
    /* Committed: now the offer takes the place of the entry. */
    CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
    ds_engine_share_value(e, x, ds_entry_new_external(ns, "p", 1, h("p", ns), x->codec,
                                                      owner, sizeof(owner), owner,
                                                      ds_engine_retire(e)));
    CHECK_EQ_INT((int)take_retired(e, seen, 2), 0);
    ref = NULL;
    CHECK(ds_engine_peek_hot(e, ns, "p", 1, h("p", ns), &aux, &ref) && aux == owner);
    CHECK(ref == NULL);
    /* A stale offer (the key moved on) is refused. */
    CHECK_EQ_INT(put(e, ns, "p", "newer"), DS_OK);
    CHECK_EQ_INT((int)take_retired(e, seen, 2), 1); /* the shared entry, replaced */
    ds_engine_share_value(e, x, ds_entry_new_external(ns, "p", 1, h("p", ns), x->codec,
                                                      owner, sizeof(owner), owner,
                                                      ds_engine_retire(e)));
    CHECK_EQ_INT((int)take_retired(e, seen, 2), 1);
    CHECK_EQ_INT(has(e, ns, "p", "newer"), 1);
    ds_entry_decref(x, ds_engine_retire(e));
    close_engine(e);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ds_engine_test_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    RUN_TEST(test_lazy_put_get_delete_flush_reopen);
    RUN_TEST(test_writethrough_buffer_one_commits_each_write);
    RUN_TEST(test_allow_io_zero_never_blocks_on_sqlite);
    RUN_TEST(test_eviction_moves_clean_entries_to_warm_and_loses_nothing);
    RUN_TEST(test_memory_mode_never_evicts);
    RUN_TEST(test_namespaces_are_isolated_and_clear_touches_one);
    RUN_TEST(test_snapshot_and_scan_are_in_key_order);
    RUN_TEST(test_flusher_thread_commits_within_the_interval);
    RUN_TEST(test_failed_flush_keeps_the_buffer_and_reports);
    RUN_TEST(test_failed_writethrough_commit_changes_nothing);
    RUN_TEST(test_lazy_buffer_is_bounded_by_bytes);
    RUN_TEST(test_two_engines_on_one_file_see_each_others_commits);
    RUN_TEST(test_unwritable_path_reports_the_path);
    RUN_TEST(test_values_held_by_reference_are_committed_and_retired);
    RUN_TEST(test_put_many_consumes_owners_it_could_not_store);
    RUN_TEST(test_share_value_swaps_clean_hot_entries_only);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_DONE();
}
