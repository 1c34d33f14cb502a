/* ds_cq: a completion queue woken through an eventfd (see completion.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dictsqlite/completion.h"

struct ds_cq {
    pthread_mutex_t lock;
    ds_job *head, *tail;
    int signalled; /* the eventfd was written since the last take */
    int fd;
    uint64_t signals, jobs; /* under lock */
};

ds_status ds_cq_new(ds_cq **out, ds_error *err)
{
    *out = NULL;
    ds_cq *q = calloc(1, sizeof(*q));
    if (!q)
        return ds_error_set(err, DS_NOMEM, "out of memory creating a completion queue");
    q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->fd < 0) {
        int e = errno;
        free(q);
        ds_status st = ds_error_set(err, DS_IO, "cannot create an eventfd: errno %d", e);
        err->sys_errno = e;
        return st;
    }
    pthread_mutex_init(&q->lock, NULL);
    *out = q;
    return DS_OK;
}

void ds_cq_free(ds_cq *q)
{
    if (!q)
        return;
    close(q->fd);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

int ds_cq_fd(const ds_cq *q) { return q->fd; }

void ds_cq_push(ds_cq *q, ds_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->jobs++;
    int wake = !q->signalled;
    q->signalled = 1;
    if (wake)
        q->signals++;
    pthread_mutex_unlock(&q->lock);
    if (wake) {
        uint64_t one = 1;
        /* Cannot fail short of a bug: the counter is far from overflowing
         * and a nonblocking write of 8 bytes is atomic. */
        ssize_t w = write(q->fd, &one, sizeof(one));
        (void)w;
    }
}

ds_job *ds_cq_take(ds_cq *q)
{
    /* Clear the descriptor before unlinking: a push that comes after the
     * read either lands in this take or writes the descriptor again. */
    uint64_t n;
    ssize_t r = read(q->fd, &n, sizeof(n));
    (void)r; /* EAGAIN: nothing was signalled */
    pthread_mutex_lock(&q->lock);
    ds_job *list = q->head;
    q->head = q->tail = NULL;
    q->signalled = 0;
    pthread_mutex_unlock(&q->lock);
    return list;
}

void ds_cq_stats(ds_cq *q, uint64_t *signals, uint64_t *jobs)
{
    pthread_mutex_lock(&q->lock);
    *signals = q->signals;
    *jobs = q->jobs;
    pthread_mutex_unlock(&q->lock);
}
