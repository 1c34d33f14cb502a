/*
 * sqlite_limits.c - the physical limits that dictsqlite's performance bars refer to.
 *
 * Plain C loops against the same libsqlite3 the Python extension links, with the
 * same PRAGMAs and the same schema and statements as dictsqlite's store
 * (src/core/store.c, include/dictsqlite/store.h):
 *
 *   PRAGMA journal_mode=WAL; synchronous=NORMAL; cache_size=-65536;
 *   mmap_size=268435456; temp_store=MEMORY; busy_timeout=5000
 *   kv(tbl TEXT, key TEXT, codec INTEGER, value BLOB, PRIMARY KEY(tbl,key)) WITHOUT ROWID
 *       for values of at most SPLIT_SMALL_MAX (800) bytes,
 *   kv_large(the same columns, PRIMARY KEY(tbl,key)), an ordinary rowid table,
 *       for longer values.
 *   Each upsert also deletes the key from the other table (a key lives in one
 *   table only; a batch, here the bulk insert, skips that DELETE when the other
 *   table holds no row of the namespace, as the store does), point selects are
 *   one UNION ALL ... LIMIT 1 over kv then kv_large, the scan is the store's
 *   merge of both in key order, and deletes delete from both tables.
 *
 * Measurements (each printed as JSON, times in seconds for the whole loop):
 *   bulk_insert          N rows inserted in one transaction (BEGIN..COMMIT included)
 *   autocommit_upsert    M upserts of existing keys, each its own transaction (implicit;
 *                        with split an explicit BEGIN IMMEDIATE..COMMIT around the upsert
 *                        and the delete from the other table, as the store's write_batch)
 *   autocommit_insert    M inserts of new keys, each its own transaction (as above)
 *   point_select_cold    N prepared point selects in random order on a freshly opened
 *                        connection (empty SQLite page cache; OS page cache warm);
 *                        the value blob is copied out, as a binding must
 *   point_select_hot     the same again on the now warm connection
 *   scan                 one SELECT key,value over the table (rows/s)
 *   autocommit_delete    M deletes, each its own transaction (with split: from both
 *                        tables in one explicit transaction)
 *
 * Build:  cc -O2 -o sqlite_limits sqlite_limits.c $(pkg-config --cflags --libs sqlite3)
 * Usage:  sqlite_limits DB_PATH N VALUE_SIZE [M] [SEED] [SCHEMA] [WHAT] [S]
 *         M (autocommit loop length) defaults to N.
 *         SCHEMA: "split" (default: the store's kv + kv_large, above), or for comparison
 *         one table for every row: "without_rowid" (kv only, the schema before the
 *         split) or "rowid" (the same table as an ordinary rowid table).
 *         WHAT: "all" (default) or "bulk" (only the bulk insert, for the 1M-row run).
 *         S: how many point selects per pass (default N), random keys of the N.
 */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(sqlite3 *db, const char *what) {
    fprintf(stderr, "sqlite_limits: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(2);
}

static void exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_limits: %s: %s\n", sql, err ? err : "?");
        exit(2);
    }
}

static const char *PRAGMAS =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA cache_size=-65536;"
    "PRAGMA mmap_size=268435456;"
    "PRAGMA temp_store=MEMORY;"
    "PRAGMA busy_timeout=5000;";

static const char *SCHEMA_WITHOUT_ROWID =
    "CREATE TABLE IF NOT EXISTS kv(tbl TEXT NOT NULL, key TEXT NOT NULL, "
    "codec INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY(tbl, key)) WITHOUT ROWID;";
static const char *SCHEMA_ROWID =
    "CREATE TABLE IF NOT EXISTS kv(tbl TEXT NOT NULL, key TEXT NOT NULL, "
    "codec INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY(tbl, key));";
static const char *SCHEMA_SPLIT =
    "CREATE TABLE IF NOT EXISTS kv(tbl TEXT NOT NULL, key TEXT NOT NULL, "
    "codec INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY(tbl, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS kv_large(tbl TEXT NOT NULL, key TEXT NOT NULL, "
    "codec INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY(tbl, key));";
static const char *SCHEMA;
static int split;

/* DS_STORE_SMALL_VALUE_MAX of include/dictsqlite/store.h: keep in step. */
#define SPLIT_SMALL_MAX 800

static sqlite3 *open_db(const char *path) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        die(db, "open");
    exec(db, PRAGMAS);
    exec(db, SCHEMA);
    return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        die(db, sql);
    return st;
}

static void remove_db(const char *path) {
    char buf[4096];
    unlink(path);
    snprintf(buf, sizeof buf, "%s-wal", path); unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", path); unlink(buf);
    snprintf(buf, sizeof buf, "%s-journal", path); unlink(buf);
}

/* xorshift64* for a reproducible shuffle */
static unsigned long long rng_state = 88172645463325252ULL;
static unsigned long long rnd(void) {
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void key_of(char *out, long i) { sprintf(out, "key%08ld", i); }

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) die(db, what);
    sqlite3_reset(st);
    return rc;
}

/* One autocommit upsert the way the store writes it: with the split schema,
 * a two-statement transaction (the upsert, then the delete of the key from
 * the other table); otherwise one implicit transaction. */
static void autocommit_upsert(sqlite3 *db, sqlite3_stmt *up, sqlite3_stmt *other,
                              sqlite3_stmt *begin, sqlite3_stmt *commit, const char *key,
                              const void *val, long vsize, const char *what) {
    sqlite3_bind_text(up, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(up, 2, val, (int)vsize, SQLITE_STATIC);
    if (!other) {
        step_done(db, up, what);
        return;
    }
    step_done(db, begin, "begin");
    step_done(db, up, what);
    sqlite3_bind_text(other, 1, key, -1, SQLITE_STATIC);
    step_done(db, other, what);
    step_done(db, commit, "commit");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s DB_PATH N VALUE_SIZE [M] [SEED] [SCHEMA] [WHAT] [S]\n", argv[0]);
        return 1;
    }
    const char *path = argv[1];
    long n = atol(argv[2]);
    long vsize = atol(argv[3]);
    long m = argc > 4 ? atol(argv[4]) : n;
    if (argc > 5) rng_state = strtoull(argv[5], NULL, 10) | 1ULL;
    const char *schema_name = argc > 6 ? argv[6] : "split";
    if (strcmp(schema_name, "rowid") == 0) SCHEMA = SCHEMA_ROWID;
    else if (strcmp(schema_name, "without_rowid") == 0) SCHEMA = SCHEMA_WITHOUT_ROWID;
    else if (strcmp(schema_name, "split") == 0) { SCHEMA = SCHEMA_SPLIT; split = 1; }
    else { fprintf(stderr, "SCHEMA must be split, rowid or without_rowid\n"); return 1; }
    int bulk_only = argc > 7 && strcmp(argv[7], "bulk") == 0;
    long nsel = argc > 8 ? atol(argv[8]) : n;
    if (nsel < 1 || nsel > n) nsel = n;
    if (m > n) m = n;
    if (n < 1 || vsize < 0) { fprintf(stderr, "bad arguments\n"); return 1; }

    unsigned char *val = malloc((size_t)vsize + 1);
    unsigned char *val2 = malloc((size_t)vsize + 1);
    unsigned char *sink = malloc((size_t)vsize + 1);
    for (long i = 0; i < vsize; i++) { val[i] = (unsigned char)(rnd() & 0xff); val2[i] = (unsigned char)(rnd() & 0xff); }
    long *order = malloc(sizeof(long) * (size_t)n);
    for (long i = 0; i < n; i++) order[i] = i;
    for (long i = n - 1; i > 0; i--) { long j = (long)(rnd() % (unsigned long long)(i + 1)); long t = order[i]; order[i] = order[j]; order[j] = t; }

    char key[64];
    double t0, t_bulk, t_up, t_ins, t_sel_cold, t_sel_hot, t_scan, t_del;
    long scanned = 0;
    unsigned long long checksum = 0;

    remove_db(path);
    sqlite3 *db = open_db(path);
    /* Every value of a run has the same size, so with the split schema every
     * upsert goes to the same table and deletes the key from the other one,
     * as the store does. */
    int large = split && vsize > SPLIT_SMALL_MAX;
    char upsert_sql[256];
    snprintf(upsert_sql, sizeof upsert_sql,
             "INSERT INTO %s(tbl,key,codec,value) VALUES('main',?1,1,?2) "
             "ON CONFLICT(tbl,key) DO UPDATE SET codec=excluded.codec, value=excluded.value",
             large ? "kv_large" : "kv");
    sqlite3_stmt *up = prep(db, upsert_sql);
    sqlite3_stmt *other = split ? prep(db, large ? "DELETE FROM kv WHERE tbl='main' AND key=?1"
                                                 : "DELETE FROM kv_large WHERE tbl='main' AND key=?1")
                                : NULL;
    /* Prepared like the store's, so the split's per-op transaction costs no parse. */
    sqlite3_stmt *begin = prep(db, "BEGIN IMMEDIATE"), *commit = prep(db, "COMMIT");

    /* 1. bulk insert: N rows in one transaction. Like the store's batch, the
     * split asks once whether the other table holds rows of the namespace and
     * deletes from it only if so (under the write lock nobody else adds any). */
    t0 = now();
    exec(db, "BEGIN IMMEDIATE");
    int other_may_hold = 0;
    if (other) {
        sqlite3_stmt *ask = prep(db, large ? "SELECT EXISTS(SELECT 1 FROM kv WHERE tbl='main')"
                                           : "SELECT EXISTS(SELECT 1 FROM kv_large WHERE tbl='main')");
        if (sqlite3_step(ask) != SQLITE_ROW) die(db, "bulk insert");
        other_may_hold = sqlite3_column_int(ask, 0);
        sqlite3_finalize(ask);
    }
    for (long i = 0; i < n; i++) {
        key_of(key, i);
        sqlite3_bind_text(up, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_blob(up, 2, val, (int)vsize, SQLITE_STATIC);
        step_done(db, up, "bulk insert");
        if (other_may_hold) {
            sqlite3_bind_text(other, 1, key, -1, SQLITE_STATIC);
            step_done(db, other, "bulk insert");
        }
    }
    exec(db, "COMMIT");
    t_bulk = now() - t0;
    if (bulk_only) {
        sqlite3_finalize(up);
        sqlite3_finalize(other);
        sqlite3_finalize(begin);
        sqlite3_finalize(commit);
        sqlite3_close(db);
        remove_db(path);
        printf("{\"sqlite_version\": \"%s\", \"n\": %ld, \"value_size\": %ld, \"schema\": \"%s\", "
               "\"pragmas\": \"%s\", \"results\": {\"bulk_insert\": {\"count\": %ld, \"seconds\": %.9f}}}\n",
               sqlite3_libversion(), n, vsize, schema_name, PRAGMAS, n, t_bulk);
        free(val); free(val2); free(sink); free(order);
        return 0;
    }

    /* 2. autocommit upserts of existing keys (random order), one implicit txn each */
    t0 = now();
    for (long i = 0; i < m; i++) {
        key_of(key, order[i]);
        autocommit_upsert(db, up, other, begin, commit, key, val2, vsize, "autocommit upsert");
    }
    t_up = now() - t0;

    /* 3. autocommit inserts of new keys */
    t0 = now();
    for (long i = 0; i < m; i++) {
        key_of(key, n + i);
        autocommit_upsert(db, up, other, begin, commit, key, val, vsize, "autocommit insert");
    }
    t_ins = now() - t0;
    sqlite3_finalize(up);
    sqlite3_finalize(other);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);

    /* 4. point selects on a fresh connection, then again warm */
    db = open_db(path);
    sqlite3_stmt *sel = prep(db, split ? "SELECT codec, value FROM kv WHERE tbl='main' AND key=?1 "
                                         "UNION ALL SELECT codec, value FROM kv_large "
                                         "WHERE tbl='main' AND key=?1 LIMIT 1"
                                       : "SELECT codec, value FROM kv WHERE tbl='main' AND key=?1");
    for (int pass = 0; pass < 2; pass++) {
        t0 = now();
        for (long i = 0; i < nsel; i++) {
            key_of(key, order[i]);
            sqlite3_bind_text(sel, 1, key, -1, SQLITE_STATIC);
            if (sqlite3_step(sel) != SQLITE_ROW) die(db, "point select: missing row");
            int len = sqlite3_column_bytes(sel, 1);
            const void *p = sqlite3_column_blob(sel, 1);
            memcpy(sink, p, (size_t)len);   /* a binding must copy the value out */
            checksum += (unsigned long long)sink[len ? len - 1 : 0] + (unsigned long long)sqlite3_column_int(sel, 0);
            sqlite3_reset(sel);
        }
        if (pass == 0) t_sel_cold = now() - t0; else t_sel_hot = now() - t0;
    }
    sqlite3_finalize(sel);

    /* 5. full scan */
    sqlite3_stmt *scan = prep(db, split ? "SELECT key, value FROM kv WHERE tbl='main' UNION ALL "
                                          "SELECT key, value FROM kv_large WHERE tbl='main' ORDER BY key"
                                        : "SELECT key, value FROM kv WHERE tbl='main'");
    t0 = now();
    while (sqlite3_step(scan) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(scan, 1);
        memcpy(sink, sqlite3_column_blob(scan, 1), (size_t)len);
        checksum += (unsigned long long)sqlite3_column_bytes(scan, 0);
        scanned++;
    }
    t_scan = now() - t0;
    sqlite3_finalize(scan);

    /* 6. autocommit deletes */
    sqlite3_stmt *del = prep(db, "DELETE FROM kv WHERE tbl='main' AND key=?1");
    sqlite3_stmt *del_large = split ? prep(db, "DELETE FROM kv_large WHERE tbl='main' AND key=?1") : NULL;
    begin = prep(db, "BEGIN IMMEDIATE");
    commit = prep(db, "COMMIT");
    t0 = now();
    for (long i = 0; i < m; i++) {
        key_of(key, order[i]);
        sqlite3_bind_text(del, 1, key, -1, SQLITE_STATIC);
        if (del_large) {
            /* The store deletes from both tables in one transaction. */
            step_done(db, begin, "begin");
            step_done(db, del, "autocommit delete");
            sqlite3_bind_text(del_large, 1, key, -1, SQLITE_STATIC);
            step_done(db, del_large, "autocommit delete");
            step_done(db, commit, "commit");
        } else {
            step_done(db, del, "autocommit delete");
        }
    }
    t_del = now() - t0;
    sqlite3_finalize(del);
    sqlite3_finalize(del_large);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    remove_db(path);

    printf("{\"sqlite_version\": \"%s\", \"n\": %ld, \"m\": %ld, \"value_size\": %ld, "
           "\"schema\": \"%s\", \"pragmas\": \"%s\", \"checksum\": %llu, \"scanned\": %ld, \"results\": {"
           "\"bulk_insert\": {\"count\": %ld, \"seconds\": %.9f}, "
           "\"autocommit_upsert\": {\"count\": %ld, \"seconds\": %.9f}, "
           "\"autocommit_insert\": {\"count\": %ld, \"seconds\": %.9f}, "
           "\"point_select_cold\": {\"count\": %ld, \"seconds\": %.9f}, "
           "\"point_select_hot\": {\"count\": %ld, \"seconds\": %.9f}, "
           "\"scan\": {\"count\": %ld, \"seconds\": %.9f}, "
           "\"autocommit_delete\": {\"count\": %ld, \"seconds\": %.9f}}}\n",
           sqlite3_libversion(), n, m, vsize, schema_name, PRAGMAS, checksum, scanned,
           n, t_bulk, m, t_up, m, t_ins, nsel, t_sel_cold, nsel, t_sel_hot, scanned, t_scan, m, t_del);
    free(val); free(val2); free(sink); free(order);
    return 0;
}
