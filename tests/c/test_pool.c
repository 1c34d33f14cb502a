/* ds_pool + ds_cq: parallel cold reads, group commit, failures and
 * cancellation, on real SQLite files. */
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engine_files.h"
#include "dictsqlite/completion.h"
#include "dictsqlite/engine.h"
#include "dictsqlite/pool.h"

static ds_engine *open_engine(const char *name, ds_persist_mode mode, int busy_ms)
{
    ds_engine_config cfg = {0};
    cfg.path = path_of(name);
    cfg.persist = mode;
    cfg.hot_capacity = 100000;
    cfg.warm_bytes = 1 << 20;
    cfg.buffer_size = 1;
    cfg.store.busy_timeout_ms = busy_ms;
    ds_engine *e = NULL;
    ds_error err;
    if (ds_engine_open(&cfg, &e, &err) != DS_OK)
        fprintf(stderr, "open failed: %s\n", err.msg);
    return e;
}

static uint32_t ns_main(ds_engine *e) { return ns_of(e, "main"); }

/* A job with its key and value stored beside it. */
typedef struct test_job {
    ds_job job;
    ds_put_item item;
    char key[32];
    char value[32];
} test_job;

static ds_cq *cq;

static void push_done(ds_job *job) { ds_cq_push(cq, job); }

static void make_job(test_job *t, ds_engine *e, ds_job_kind kind, int i)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->key, sizeof(t->key), "key%05d", i);
    snprintf(t->value, sizeof(t->value), "value%05d", i);
    uint32_t ns = ns_main(e);
    size_t klen = strlen(t->key);
    uint64_t hash = ds_hash_with_ns(ds_hash_bytes(t->key, klen), ns);
    t->job.kind = kind;
    t->job.ns = ns;
    t->job.key = t->key;
    t->job.klen = klen;
    t->job.hash = hash;
    t->job.done = push_done;
    t->item = (ds_put_item){t->key, klen, hash, DS_CODEC_BYTES, t->value, strlen(t->value), NULL};
    if (kind == DS_JOB_WRITE) {
        t->job.write.kind = DS_WRITE_PUT;
        t->job.write.ns = ns;
        t->job.write.items = &t->item;
        t->job.write.n = 1;
    }
}

/* Wait until n jobs came back through the queue. */
static size_t wait_done(size_t n)
{
    size_t got = 0;
    for (int spins = 0; got < n && spins < 2000; spins++) {
        struct pollfd pfd = {ds_cq_fd(cq), POLLIN, 0};
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        for (ds_job *j = ds_cq_take(cq); j; j = j->next)
            got++;
    }
    return got;
}

/* Another connection holding the write lock. */
static sqlite3 *hold_write_lock(const char *name)
{
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path_of(name), &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void release_write_lock(sqlite3 *db);

static void *release_after_100ms(void *db)
{
    usleep(100 * 1000);
    release_write_lock(db);
    return NULL;
}

static void release_write_lock(sqlite3 *db)
{
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
}

#define N 200

static void test_cold_reads_on_reader_threads(void)
{
    ds_engine *e = open_engine("reads.db", DS_PERSIST_WRITETHROUGH, 2000);
    static test_job jobs[N];
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], e, DS_JOB_WRITE, i);
        ds_error err;
        CHECK_EQ_INT(ds_engine_put(e, jobs[i].job.ns, jobs[i].key, jobs[i].item.klen,
                                   jobs[i].item.hash, DS_CODEC_BYTES, jobs[i].value,
                                   jobs[i].item.vlen, 1, NULL, NULL, &err), DS_OK);
    }
    close_engine(e);
    e = open_engine("reads.db", DS_PERSIST_WRITETHROUGH, 2000); /* cold */
    ds_pool *p = ds_pool_new(e, 4);
    for (int i = 0; i < N; i++) {
        make_job(&jobs[i], e, i % 2 ? DS_JOB_GET : DS_JOB_CONTAINS, i);
        ds_error err;
        CHECK_EQ_INT(ds_pool_submit(p, &jobs[i].job, &err), DS_OK);
    }
    CHECK_EQ_INT(wait_done(N), N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(jobs[i].job.st, DS_OK);
        if (jobs[i].job.kind == DS_JOB_GET) {
            ds_entry *x = jobs[i].job.out;
            CHECK(x && x->vlen == strlen(jobs[i].value) &&
                  memcmp(ds_entry_value(x), jobs[i].value, x->vlen) == 0);
            if (x)
                ds_entry_decref(x, ds_engine_retire(e));
        }
    }
    test_job missing;
    make_job(&missing, e, DS_JOB_GET, N + 1);
    ds_error err;
    CHECK_EQ_INT(ds_pool_submit(p, &missing.job, &err), DS_OK);
    CHECK_EQ_INT(wait_done(1), 1);
    CHECK_EQ_INT(missing.job.st, DS_NOTFOUND);
    ds_pool_free(p);
    close_engine(e);
}

/* Writes queued while a commit runs go into the next one together. */
static void test_writes_queued_during_a_commit_share_the_next(void)
{
    ds_engine *e = open_engine("group.db", DS_PERSIST_WRITETHROUGH, 5000);
    ds_pool *p = ds_pool_new(e, 1);
    static test_job jobs[N];
    ds_error err;
    sqlite3 *other = hold_write_lock("group.db");
    make_job(&jobs[0], e, DS_JOB_WRITE, 0);
    CHECK_EQ_INT(ds_pool_submit(p, &jobs[0].job, &err), DS_OK);
    usleep(100 * 1000); /* the writer now waits for the lock in its commit */
    for (int i = 1; i < N; i++) {
        make_job(&jobs[i], e, DS_JOB_WRITE, i);
        CHECK_EQ_INT(ds_pool_submit(p, &jobs[i].job, &err), DS_OK);
    }
    release_write_lock(other);
    CHECK_EQ_INT(wait_done(N), N);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(jobs[i].job.st, DS_OK);
    uint64_t groups, writes;
    ds_pool_write_stats(p, &groups, &writes);
    CHECK_EQ_INT(writes, N);
    CHECK_EQ_INT(groups, 2);
    CHECK_EQ_INT(rows_in_file("group.db"), N);
    ds_pool_free(p);
    close_engine(e);
}

/* ds_pool_write_wait: callers that block (sync writers) join the same
 * groups as queued jobs, and each learns its own outcome. */
typedef struct waiter {
    ds_pool *p;
    uint32_t ns;
    char key[32];
    ds_put_item item;
    ds_status st;
} waiter;

static void *wait_one(void *arg)
{
    waiter *w = arg;
    ds_write_req req = {.kind = DS_WRITE_PUT, .ns = w->ns, .items = &w->item, .n = 1};
    ds_error err;
    w->st = ds_pool_write_wait(w->p, &req, &err);
    return NULL;
}

static void run_waiters(ds_engine *e, ds_pool *p, waiter *ws, int n, int offset)
{
    pthread_t th[16];
    for (int i = 0; i < n; i++) {
        ws[i].p = p;
        ws[i].ns = ns_main(e);
        snprintf(ws[i].key, sizeof(ws[i].key), "w%d", offset + i);
        size_t klen = strlen(ws[i].key);
        ws[i].item = (ds_put_item){ws[i].key, klen, ds_hash_with_ns(ds_hash_bytes(ws[i].key, klen), ws[i].ns),
                                   DS_CODEC_BYTES, "v", 1, NULL};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, wait_one, &ws[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

static void test_blocking_writers_share_groups(void)
{
    ds_engine *e = open_engine("waiters.db", DS_PERSIST_WRITETHROUGH, 5000);
    ds_pool *p = ds_pool_new(e, 1);
    waiter ws[8];
    sqlite3 *other = hold_write_lock("waiters.db");
    pthread_t releaser;
    /* the lock goes away while the eight wait: whatever queued meanwhile
     * commits together */
    CHECK_EQ_INT(pthread_create(&releaser, NULL, release_after_100ms, other), 0);
    run_waiters(e, p, ws, 8, 0);
    pthread_join(releaser, NULL);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(ws[i].st, DS_OK);
    uint64_t groups, writes;
    ds_pool_write_stats(p, &groups, &writes);
    CHECK_EQ_INT(writes, 8);
    CHECK(groups < 8);
    CHECK_EQ_INT(rows_in_file("waiters.db"), 8);
    ds_pool_close(p);
    ds_pool_free(p);
    close_engine(e);
}

static void test_blocking_writer_learns_its_failure(void)
{
    ds_engine *e = open_engine("waitfail.db", DS_PERSIST_WRITETHROUGH, 50);
    ds_pool *p = ds_pool_new(e, 1);
    waiter ws[3];
    sqlite3 *other = hold_write_lock("waitfail.db");
    run_waiters(e, p, ws, 3, 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(ws[i].st, DS_BUSY);
    release_write_lock(other);
    ds_error err;
    CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
    CHECK_EQ_INT(rows_in_file("waitfail.db"), 0);
    ds_pool_close(p);
    ds_write_req req = {.kind = DS_WRITE_FLUSH};
    CHECK_EQ_INT(ds_pool_write_wait(p, &req, &err), DS_CLOSED); /* refused, not hung */
    ds_pool_free(p);
    close_engine(e);
}

/* A group whose commit fails is taken back as a whole: nothing visible,
 * nothing committed later; the pool keeps working. */
static void test_failed_group_changes_nothing(void)
{
    ds_engine *e = open_engine("fail.db", DS_PERSIST_WRITETHROUGH, 50);
    ds_pool *p = ds_pool_new(e, 1);
    static test_job jobs[10];
    ds_error err;
    sqlite3 *other = hold_write_lock("fail.db");
    for (int i = 0; i < 10; i++) {
        make_job(&jobs[i], e, DS_JOB_WRITE, i);
        CHECK_EQ_INT(ds_pool_submit(p, &jobs[i].job, &err), DS_OK);
    }
    CHECK_EQ_INT(wait_done(10), 10);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(jobs[i].job.st, DS_BUSY);
        ds_entry *x = NULL;
        CHECK_EQ_INT(ds_engine_get(e, jobs[i].job.ns, jobs[i].key, jobs[i].item.klen,
                                   jobs[i].item.hash, 1, &x, &err), DS_NOTFOUND);
    }
    release_write_lock(other);
    CHECK_EQ_INT(ds_engine_flush(e, &err), DS_OK);
    CHECK_EQ_INT(rows_in_file("fail.db"), 0);
    make_job(&jobs[0], e, DS_JOB_WRITE, 0);
    CHECK_EQ_INT(ds_pool_submit(p, &jobs[0].job, &err), DS_OK);
    CHECK_EQ_INT(wait_done(1), 1);
    CHECK_EQ_INT(jobs[0].job.st, DS_OK);
    CHECK_EQ_INT(rows_in_file("fail.db"), 1);
    ds_pool_free(p);
    close_engine(e);
}

/* A job cancelled before the writer took it is not applied. */
static void test_cancelled_write_is_not_applied(void)
{
    ds_engine *e = open_engine("cancel.db", DS_PERSIST_WRITETHROUGH, 5000);
    ds_pool *p = ds_pool_new(e, 1);
    test_job a, b;
    ds_error err;
    sqlite3 *other = hold_write_lock("cancel.db");
    make_job(&a, e, DS_JOB_WRITE, 1);
    make_job(&b, e, DS_JOB_WRITE, 2);
    CHECK_EQ_INT(ds_pool_submit(p, &a.job, &err), DS_OK);
    usleep(100 * 1000);
    CHECK_EQ_INT(ds_pool_submit(p, &b.job, &err), DS_OK);
    CHECK_EQ_INT(ds_job_cancel(&b.job), 1);
    CHECK_EQ_INT(ds_job_cancel(&a.job), 0); /* already taken */
    release_write_lock(other);
    CHECK_EQ_INT(wait_done(2), 2);
    CHECK_EQ_INT(a.job.st, DS_OK);
    CHECK_EQ_INT(atomic_load(&b.job.state), DS_JOB_CANCELLED);
    ds_entry *x = NULL;
    CHECK_EQ_INT(ds_engine_get(e, b.job.ns, b.key, b.item.klen, b.item.hash, 1, &x, &err),
                 DS_NOTFOUND);
    CHECK_EQ_INT(rows_in_file("cancel.db"), 1);
    ds_pool_free(p);
    close_engine(e);
}

/* close runs what is queued, then refuses. */
static void test_close_drains_then_refuses(void)
{
    ds_engine *e = open_engine("drain.db", DS_PERSIST_WRITETHROUGH, 2000);
    ds_pool *p = ds_pool_new(e, 2);
    static test_job jobs[50];
    ds_error err;
    for (int i = 0; i < 50; i++) {
        make_job(&jobs[i], e, i % 3 ? DS_JOB_WRITE : DS_JOB_GET, i);
        CHECK_EQ_INT(ds_pool_submit(p, &jobs[i].job, &err), DS_OK);
    }
    ds_pool_close(p);
    CHECK_EQ_INT(ds_pool_pending(p), 0);
    CHECK_EQ_INT(wait_done(50), 50);
    for (int i = 0; i < 50; i++)
        if (jobs[i].job.kind == DS_JOB_GET && jobs[i].job.out)
            ds_entry_decref(jobs[i].job.out, ds_engine_retire(e));
    test_job late;
    make_job(&late, e, DS_JOB_WRITE, 99);
    CHECK_EQ_INT(ds_pool_submit(p, &late.job, &err), DS_CLOSED);
    ds_pool_free(p);
    close_engine(e);
    CHECK_EQ_INT(rows_in_file("drain.db"), 33);
}

/* One wakeup for a batch of completions. */
static void test_completion_queue_signals_once_per_batch(void)
{
    static ds_job jobs[10];
    for (int i = 0; i < 10; i++)
        ds_cq_push(cq, &jobs[i]);
    uint64_t signals0, pushed0;
    ds_cq_stats(cq, &signals0, &pushed0);
    size_t n = 0;
    for (ds_job *j = ds_cq_take(cq); j; j = j->next)
        n++;
    CHECK_EQ_INT(n, 10);
    ds_cq_push(cq, &jobs[0]);
    uint64_t signals1, pushed1;
    ds_cq_stats(cq, &signals1, &pushed1);
    CHECK_EQ_INT(signals1 - signals0, 1);
    CHECK_EQ_INT(ds_cq_take(cq) == &jobs[0], 1);
    CHECK(ds_cq_take(cq) == NULL);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ds_pool_test_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    ds_error err;
    if (ds_cq_new(&cq, &err) != DS_OK)
        return 2;
    RUN_TEST(test_cold_reads_on_reader_threads);
    RUN_TEST(test_writes_queued_during_a_commit_share_the_next);
    RUN_TEST(test_failed_group_changes_nothing);
    RUN_TEST(test_blocking_writers_share_groups);
    RUN_TEST(test_blocking_writer_learns_its_failure);
    RUN_TEST(test_cancelled_write_is_not_applied);
    RUN_TEST(test_close_drains_then_refuses);
    RUN_TEST(test_completion_queue_signals_once_per_batch);
    ds_cq_free(cq);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return CHECK_DONE();
}
