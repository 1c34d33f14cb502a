/* ds_pool: reader threads and one group-committing writer (see pool.h). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dictsqlite/pool.h"

typedef struct job_queue {
    ds_job *head, *tail;
} job_queue;

struct ds_pool {
    ds_engine *e;
    size_t max_readers;

    pthread_mutex_t lock; /* guards everything below except the counters */
    pthread_cond_t read_cond, write_cond;
    job_queue reads, writes;
    pthread_t *reader_threads;
    size_t readers, idle_readers;
    pthread_t writer_thread;
    int writer_started;
    int stopping, closed;
    size_t pending;

    /* the writer's own, reused from group to group */
    ds_job **batch;
    ds_write_req **batch_reqs;
    size_t batch_cap;

    atomic_uint_fast64_t groups, grouped_writes;
    /* bumped by every submit, read without the lock by a spinning worker */
    atomic_uint_fast64_t submits;
};

/* How long an idle worker keeps looking for the next job before it sleeps
 * on its condition variable. A caller awaiting requests one after another
 * submits the next a few microseconds after the last result; a worker that
 * went to sleep meanwhile costs a futex wake-up and a reschedule on top. */
#define SPIN_NS 50000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Called with p->lock held and no job queued: wait up to SPIN_NS, without
 * the lock, for a submit. Returns with the lock held again. */
static void spin_for_work(ds_pool *p)
{
    uint64_t seen = atomic_load_explicit(&p->submits, memory_order_acquire);
    pthread_mutex_unlock(&p->lock);
    uint64_t start = now_ns();
    while (atomic_load_explicit(&p->submits, memory_order_acquire) == seen &&
           now_ns() - start < SPIN_NS)
        sched_yield(); /* on a busy core, let the submitter run */
    pthread_mutex_lock(&p->lock);
}

static void queue_push(job_queue *q, ds_job *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
}

static ds_job *queue_pop(job_queue *q)
{
    ds_job *job = q->head;
    if (job) {
        q->head = job->next;
        if (!q->head)
            q->tail = NULL;
        job->next = NULL;
    }
    return job;
}

/* done may free the job: it is not touched afterwards. */
static void finish(ds_pool *p, ds_job *job)
{
    job->done(job);
    pthread_mutex_lock(&p->lock);
    p->pending--;
    pthread_mutex_unlock(&p->lock);
}

static int take(ds_job *job)
{
    int expected = DS_JOB_QUEUED;
    return atomic_compare_exchange_strong(&job->state, &expected, DS_JOB_TAKEN);
}

int ds_job_cancel(ds_job *job)
{
    int expected = DS_JOB_QUEUED;
    return atomic_compare_exchange_strong(&job->state, &expected, DS_JOB_CANCELLED);
}

/* ---- readers ----------------------------------------------------------- */

static void run_read(ds_engine *e, ds_store *conn, ds_job *job)
{
    ds_entry *x = NULL;
    switch (job->kind) {
    case DS_JOB_GET:
        job->st = ds_engine_get_via(e, conn, job->ns, job->key, job->klen, job->hash,
                                    &job->out, &job->err);
        return;
    case DS_JOB_CONTAINS:
        job->st = ds_engine_get_via(e, conn, job->ns, job->key, job->klen, job->hash, &x,
                                    &job->err);
        if (x)
            ds_entry_decref(x, ds_engine_retire(e));
        return;
    case DS_JOB_GET_MANY:
        job->st = DS_OK;
        for (size_t i = 0; i < job->nkeys; i++) {
            const ds_put_item *k = &job->keys[i];
            job->outs[i] = NULL;
            ds_status st = ds_engine_get_via(e, conn, job->ns, k->key, k->klen, k->hash,
                                             &job->outs[i], &job->err);
            if (st != DS_OK && st != DS_NOTFOUND) {
                job->st = st;
                for (size_t j = i + 1; j < job->nkeys; j++)
                    job->outs[j] = NULL;
                return;
            }
        }
        return;
    case DS_JOB_WRITE:
        break;
    }
    job->st = ds_error_set(&job->err, DS_INVALID, "internal error: a write job on a reader");
}

static void *reader_main(void *arg)
{
    ds_pool *p = arg;
    /* Opened at the first job; without one (memory mode, or a failed open)
     * the engine's own connection serves, serialized by its mutex. */
    ds_store *conn = NULL;
    int tried_conn = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* spinning counts as idle: a submit then wakes no new thread */
        p->idle_readers++;
        if (!p->reads.head && !p->stopping)
            spin_for_work(p);
        while (!p->reads.head && !p->stopping)
            pthread_cond_wait(&p->read_cond, &p->lock);
        p->idle_readers--;
        ds_job *job = queue_pop(&p->reads);
        if (!job)
            break; /* stopping, and nothing left to run */
        pthread_mutex_unlock(&p->lock);
        if (take(job)) {
            if (!tried_conn) {
                ds_error ignored;
                tried_conn = 1;
                if (ds_engine_open_reader(p->e, &conn, &ignored) != DS_OK)
                    conn = NULL;
            }
            run_read(p->e, conn, job);
        }
        finish(p, job);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    ds_store_close(conn);
    return NULL;
}

/* ---- the writer -------------------------------------------------------- */

static int batch_reserve(ds_pool *p, size_t n)
{
    if (n <= p->batch_cap)
        return 1;
    size_t cap = p->batch_cap ? p->batch_cap : 64;
    while (cap < n)
        cap *= 2;
    ds_job **b = realloc(p->batch, cap * sizeof(*b));
    if (!b)
        return 0;
    p->batch = b;
    ds_write_req **r = realloc(p->batch_reqs, cap * sizeof(*r));
    if (!r)
        return 0;
    p->batch_reqs = r;
    p->batch_cap = cap;
    return 1;
}

/* Every job queued while the previous group committed forms the next group:
 * concurrent writers share one transaction, and each is told after it. */
static void run_group(ds_pool *p, ds_job *list)
{
    size_t n = 0;
    for (ds_job *j = list; j; j = j->next)
        n++;
    if (!batch_reserve(p, n)) {
        /* no room for the group: one job at a time still commits each */
        while (list) {
            ds_job *j = list;
            list = j->next;
            if (take(j)) {
                ds_write_req *r = &j->write;
                ds_engine_write_group(p->e, &r, 1);
                j->st = r->st;
                j->err = r->err;
            }
            finish(p, j);
        }
        return;
    }
    size_t m = 0;
    while (list) {
        ds_job *j = list;
        list = j->next;
        if (take(j)) {
            p->batch[m] = j;
            p->batch_reqs[m++] = &j->write;
        } else {
            finish(p, j); /* cancelled before it was taken: not applied */
        }
    }
    if (m == 0)
        return;
    ds_engine_write_group(p->e, p->batch_reqs, m);
    atomic_fetch_add_explicit(&p->groups, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->grouped_writes, m, memory_order_relaxed);
    for (size_t i = 0; i < m; i++) {
        ds_job *j = p->batch[i];
        j->st = j->write.st;
        j->err = j->write.err;
        finish(p, j);
    }
}

static void *writer_main(void *arg)
{
    ds_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (!p->writes.head && !p->stopping)
            spin_for_work(p);
        while (!p->writes.head && !p->stopping)
            pthread_cond_wait(&p->write_cond, &p->lock);
        ds_job *list = p->writes.head;
        if (!list)
            break;
        p->writes.head = p->writes.tail = NULL;
        pthread_mutex_unlock(&p->lock);
        run_group(p, list);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the pool ---------------------------------------------------------- */

ds_pool *ds_pool_new(ds_engine *e, size_t max_readers)
{
    ds_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->e = e;
    p->max_readers = max_readers ? max_readers : 1;
    p->reader_threads = calloc(p->max_readers, sizeof(pthread_t));
    if (!p->reader_threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->read_cond, NULL);
    pthread_cond_init(&p->write_cond, NULL);
    atomic_init(&p->groups, 0);
    atomic_init(&p->grouped_writes, 0);
    atomic_init(&p->submits, 0);
    return p;
}

ds_status ds_pool_submit(ds_pool *p, ds_job *job, ds_error *err)
{
    atomic_store(&job->state, DS_JOB_QUEUED);
    job->st = DS_OK;
    job->out = NULL;
    ds_error_clear(&job->err);
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return ds_error_set(err, DS_CLOSED, "the database is closing");
    }
    if (job->kind == DS_JOB_WRITE) {
        if (!p->writer_started) {
            if (pthread_create(&p->writer_thread, NULL, writer_main, p) != 0) {
                pthread_mutex_unlock(&p->lock);
                return ds_error_set(err, DS_NOMEM, "cannot start the writer thread");
            }
            p->writer_started = 1;
        }
        queue_push(&p->writes, job);
        pthread_cond_signal(&p->write_cond);
    } else {
        /* One more reader only when every started one is busy. */
        if (p->idle_readers == 0 && p->readers < p->max_readers &&
            pthread_create(&p->reader_threads[p->readers], NULL, reader_main, p) == 0)
            p->readers++;
        if (p->readers == 0) {
            pthread_mutex_unlock(&p->lock);
            return ds_error_set(err, DS_NOMEM, "cannot start a reader thread");
        }
        queue_push(&p->reads, job);
        pthread_cond_signal(&p->read_cond);
    }
    p->pending++;
    atomic_fetch_add_explicit(&p->submits, 1, memory_order_release);
    pthread_mutex_unlock(&p->lock);
    return DS_OK;
}

/* The job of a caller waiting in ds_pool_write_wait: job first, so done can
 * find the rest. */
typedef struct sync_write {
    ds_job job;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
} sync_write;

static void sync_write_done(ds_job *job)
{
    sync_write *w = (sync_write *)job;
    pthread_mutex_lock(&w->lock);
    w->finished = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

ds_status ds_pool_write_wait(ds_pool *p, ds_write_req *req, ds_error *err)
{
    sync_write w;
    memset(&w, 0, sizeof(w));
    w.job.kind = DS_JOB_WRITE;
    w.job.write = *req;
    w.job.done = sync_write_done;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    ds_status st = ds_pool_submit(p, &w.job, err);
    if (st == DS_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.finished)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        /* A job nobody can cancel always ran: its request holds the outcome. */
        *req = w.job.write;
        st = req->st;
        if (st != DS_OK)
            *err = req->err;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return st;
}

void ds_pool_close(ds_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->closed || p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->stopping = 1;
    pthread_cond_broadcast(&p->read_cond);
    pthread_cond_broadcast(&p->write_cond);
    size_t readers = p->readers;
    int writer = p->writer_started;
    pthread_mutex_unlock(&p->lock);
    /* Each thread drains its queue before it returns. */
    if (writer)
        pthread_join(p->writer_thread, NULL);
    for (size_t i = 0; i < readers; i++)
        pthread_join(p->reader_threads[i], NULL);
    pthread_mutex_lock(&p->lock);
    p->closed = 1;
    pthread_mutex_unlock(&p->lock);
}

void ds_pool_free(ds_pool *p)
{
    if (!p)
        return;
    ds_pool_close(p);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->read_cond);
    pthread_cond_destroy(&p->write_cond);
    free(p->reader_threads);
    free(p->batch);
    free(p->batch_reqs);
    free(p);
}

void ds_pool_abandon(ds_pool *p)
{
    /* The threads and any lock holder live in the parent; leaking the
     * memory is the safe choice (as for ds_engine_abandon). */
    (void)p;
}

size_t ds_pool_pending(ds_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->pending;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void ds_pool_write_stats(ds_pool *p, uint64_t *groups, uint64_t *writes)
{
    *groups = atomic_load_explicit(&p->groups, memory_order_relaxed);
    *writes = atomic_load_explicit(&p->grouped_writes, memory_order_relaxed);
}
