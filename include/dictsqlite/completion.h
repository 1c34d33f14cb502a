/* ds_cq: finished pool jobs on their way back to the thread that waits for
 * them (an event loop). Workers push; the waiting thread is woken through a
 * file descriptor (an eventfd) that becomes readable once per batch, not once
 * per job: a push onto a queue that was already signalled writes nothing.
 *
 * The lock is a leaf: held only to link or unlink jobs. */
#ifndef DICTSQLITE_COMPLETION_H
#define DICTSQLITE_COMPLETION_H

#include "dictsqlite/common.h"
#include "dictsqlite/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ds_cq ds_cq;

ds_status ds_cq_new(ds_cq **out, ds_error *err);
void ds_cq_free(ds_cq *q);

/* The descriptor to watch for readability. */
int ds_cq_fd(const ds_cq *q);

/* From any thread. */
void ds_cq_push(ds_cq *q, ds_job *job);

/* Every job pushed so far, oldest first (linked through next), and the
 * signal cleared; NULL if none. */
ds_job *ds_cq_take(ds_cq *q);

/* Signals sent (one per batch) and jobs pushed, for the figures. */
void ds_cq_stats(ds_cq *q, uint64_t *signals, uint64_t *jobs);

#ifdef __cplusplus
}
#endif
#endif
