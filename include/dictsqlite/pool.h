/* ds_pool: the worker threads of one engine, for callers that must not block
 * (the async API). Reads that need SQLite run on reader threads, each with
 * its own connection (ds_engine_open_reader), so cold reads proceed in
 * parallel; every write runs on the one writer thread, which takes all the
 * requests queued while its previous commit ran and commits them as one
 * group (ds_engine_write_group).
 *
 * Jobs carry bytes, never objects of the caller's language: a worker runs the
 * engine call, stores the outcome in the job and calls job->done on the
 * worker thread. done must not block (the binding pushes the job onto a
 * completion queue, completion.h).
 *
 * Locks: the pool's queue lock is a leaf of the engine's order (engine.h):
 * it is never held while running a job or calling done, and jobs take the
 * engine's locks only after releasing it.
 *
 * Threads start on demand: the writer at the first write, readers one at a
 * time while every started reader is busy, up to the pool's size. */
#ifndef DICTSQLITE_POOL_H
#define DICTSQLITE_POOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dictsqlite/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ds_job_kind {
    DS_JOB_GET,      /* key -> out (a new reference) or DS_NOTFOUND */
    DS_JOB_CONTAINS, /* key -> DS_OK or DS_NOTFOUND */
    DS_JOB_GET_MANY, /* keys[0..nkeys) -> outs[i] (NULL where missing) */
    DS_JOB_WRITE,    /* write (a put, a delete or a flush), group-committed */
} ds_job_kind;

/* Job states: a queued job can still be cancelled; once a worker took it, it
 * runs to the end. */
enum { DS_JOB_QUEUED = 0, DS_JOB_TAKEN = 1, DS_JOB_CANCELLED = 2 };

typedef struct ds_job ds_job;
struct ds_job {
    ds_job *next; /* owned by whichever queue holds the job */
    ds_job_kind kind;
    uint32_t ns;
    const char *key; /* GET, CONTAINS */
    size_t klen;
    uint64_t hash;
    const ds_put_item *keys; /* GET_MANY: key, klen, hash of each */
    size_t nkeys;
    ds_entry **outs;         /* GET_MANY: nkeys slots, filled by the worker */
    ds_write_req write;      /* WRITE */
    atomic_int state;
    /* outcome */
    ds_status st;
    ds_error err;
    ds_entry *out;
    /* Called once per submitted job, on a worker thread (or in
     * ds_pool_close), after it ran or, if it was cancelled, instead. */
    void (*done)(ds_job *job);
};

typedef struct ds_pool ds_pool;

/* A pool for e with at most max_readers reader threads (at least 1). No
 * thread starts yet. NULL when out of memory. */
ds_pool *ds_pool_new(ds_engine *e, size_t max_readers);

/* Queue job (its state is reset to QUEUED). DS_OK, or DS_NOMEM / DS_CLOSED
 * (the pool is closing) with err filled, in which case done is not called. */
ds_status ds_pool_submit(ds_pool *p, ds_job *job, ds_error *err);

/* Mark a queued job cancelled: 1 if it had not been taken (it will not run;
 * done is still called), 0 if it already runs or ran. */
int ds_job_cancel(ds_job *job);

/* Queue a write as a job of its own and block until it is done: for callers
 * that may wait (a sync writer of the async class), so their writes join the
 * writer's groups like the async ones. req's outcome (st, err) is filled;
 * returns req->st, or the refusal of ds_pool_submit. Call it without the GIL
 * and without any engine lock held. */
ds_status ds_pool_write_wait(ds_pool *p, ds_write_req *req, ds_error *err);

/* Refuse new jobs, run every queued one, stop and join the threads, close
 * the reader connections. Blocks: call it without the GIL, before closing
 * the engine. Idempotent. */
void ds_pool_close(ds_pool *p);

/* Free a closed pool (ds_pool_close first). For a process that inherited the
 * pool through fork(), ds_pool_abandon instead: its threads do not exist
 * there and its locks may be held. */
void ds_pool_free(ds_pool *p);
void ds_pool_abandon(ds_pool *p);

/* Jobs submitted and not yet done. */
size_t ds_pool_pending(ds_pool *p);

/* Groups committed and write jobs in them, for the group-commit figures. */
void ds_pool_write_stats(ds_pool *p, uint64_t *groups, uint64_t *writes);

#ifdef __cplusplus
}
#endif
#endif
