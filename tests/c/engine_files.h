/* Helpers the engine-level C tests share: the temporary directory their
 * databases live in, opening names and hashes, and counting what reached
 * the file through a separate SQLite connection. */
#ifndef DICTSQLITE_TEST_ENGINE_FILES_H
#define DICTSQLITE_TEST_ENGINE_FILES_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dictsqlite/engine.h"

static char tmpdir[256];

static inline const char *path_of(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
    return buf;
}

static inline void close_engine(ds_engine *e)
{
    ds_error err;
    CHECK_EQ_INT(ds_engine_close(e, 0, &err), DS_OK);
    ds_engine_free(e);
}

static inline uint32_t ns_of(ds_engine *e, const char *name)
{
    uint32_t id = 0;
    ds_error err;
    CHECK_EQ_INT(ds_engine_ns(e, name, strlen(name), &id, &err), DS_OK);
    return id;
}

static inline uint64_t h(const char *key, uint32_t ns)
{
    return ds_hash_with_ns(ds_hash_bytes(key, strlen(key)), ns);
}

/* Rows of table kv in the file, counted by another connection (-1 if it
 * cannot be read). */
static inline int64_t rows_in_file(const char *name)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_open(path_of(name), &db) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kv", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

#endif
