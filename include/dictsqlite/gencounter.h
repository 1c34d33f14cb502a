/* ds_gencounter: a commit counter shared by every connection to one database
 * file, in one process or several.
 *
 * It lives in a small file next to the database (<path>-dsgen), mapped
 * shared, so reading it costs one atomic load: that is what lets every read
 * of the hot tier check whether another connection committed since, without
 * a SQLite query per read. Each commit bumps it after COMMIT returns; a
 * connection that sees a value it did not produce drops its cached copies.
 *
 * ":memory:" databases get a private counter (nothing else can open them).
 */
#ifndef DICTSQLITE_GENCOUNTER_H
#define DICTSQLITE_GENCOUNTER_H

#include <stdint.h>

#include "dictsqlite/common.h"

typedef struct ds_gencounter ds_gencounter;

ds_status ds_gencounter_open(const char *db_path, ds_gencounter **out, ds_error *err);
void ds_gencounter_close(ds_gencounter *g);
uint64_t ds_gencounter_load(const ds_gencounter *g);
/* The counter itself, for callers that inline the check. */
const _Atomic uint64_t *ds_gencounter_value_ptr(const ds_gencounter *g);

/* Increment; returns the value before the increment. On a read-only
 * counter: changes nothing and returns the current value (never an error,
 * never a store into its read-only mapping). */
uint64_t ds_gencounter_bump(ds_gencounter *g);

/* For a database opened read-only: creates nothing and writes nothing.
 * If <db_path>-dsgen exists and is full size it is opened O_RDONLY and
 * mapped PROT_READ, so loads see other connections' bumps. Otherwise
 * (absent, short, unreadable) the counter is private, starts at 0 and
 * never changes: ds_gencounter_is_shared() is then 0, and the caller
 * cannot learn of other connections' commits from it. Fails only for
 * lack of memory. */
ds_status ds_gencounter_open_readonly(const char *db_path, ds_gencounter **out,
                                      ds_error *err);

/* 1 if loads see a counter shared with other connections (a mapped file),
 * 0 for a private one (":memory:", or read-only without a usable file). */
int ds_gencounter_is_shared(const ds_gencounter *g);

/* 1 if opened with ds_gencounter_open_readonly. */
int ds_gencounter_is_readonly(const ds_gencounter *g);

#endif
