/* The engine's background flusher: a thread that commits the write buffer
 * every flush_interval_ms, or at once when a large batch is pending. Separate
 * because it is a thread with its own mutex and condition variable and its
 * own error reporting (ds_engine_take_flusher_errors); it flushes through
 * ds_engine_flush like any other caller and never holds its mutex then. */
#include <errno.h>
#include <time.h>

#include "engine_internal.h"

uint64_t ds_engine_take_flusher_errors(ds_engine *e, ds_error *err)
{
    pthread_mutex_lock(&e->flusher_mutex);
    uint64_t n = e->flusher_errors;
    if (n && err)
        *err = e->flusher_error;
    e->flusher_errors = 0;
    pthread_mutex_unlock(&e->flusher_mutex);
    return n;
}

const _Atomic uint64_t *ds_engine_flusher_errors_ptr(ds_engine *e)
{
    return &e->flusher_errors;
}

static void *flusher_main(void *arg)
{
    ds_engine *e = arg;
    pthread_mutex_lock(&e->flusher_mutex);
    while (!e->flusher_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)e->flush_interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!e->flusher_stop && !e->flusher_kick &&
               pthread_cond_timedwait(&e->flusher_cond, &e->flusher_mutex, &ts) != ETIMEDOUT)
            ;
        if (e->flusher_stop)
            break;
        e->flusher_kick = 0;
        pthread_mutex_unlock(&e->flusher_mutex);
        ds_error err;
        ds_error_clear(&err);
        ds_status st = ds_wbuf_pending(e->wbuf) ? ds_engine_flush(e, &err) : DS_OK;
        pthread_mutex_lock(&e->flusher_mutex);
        if (st != DS_OK) {
            /* The writes stay buffered and are retried next round; the binding
             * reports the failure at the next call from Python. */
            e->flusher_errors++;
            e->flusher_error = err;
        }
    }
    pthread_mutex_unlock(&e->flusher_mutex);
    return NULL;
}

ds_status start_flusher(ds_engine *e)
{
    e->flusher_stop = 0;
    if (pthread_create(&e->flusher, NULL, flusher_main, e) != 0)
        return DS_NOMEM;
    e->flusher_started = 1;
    return DS_OK;
}

void stop_flusher(ds_engine *e)
{
    if (!e->flusher_started)
        return;
    pthread_mutex_lock(&e->flusher_mutex);
    e->flusher_stop = 1;
    pthread_cond_signal(&e->flusher_cond);
    pthread_mutex_unlock(&e->flusher_mutex);
    pthread_join(e->flusher, NULL);
    e->flusher_started = 0;
}

/* A large pending batch is committed by the flusher right away rather than
 * at the next interval: on a multi-core machine SQLite then works on one core
 * while the caller keeps encoding on another (a lazy bulk load overlaps its
 * two halves). Committing earlier than flush() only strengthens lazy mode. */
#define EARLY_FLUSH_ROWS 65536
/* Puts between two looks at the buffer size (which takes its lock). */
#define KICK_CHECK_EVERY 4096

void maybe_kick_flusher(ds_engine *e, size_t puts)
{
    if (!e->flusher_started)
        return;
    if (atomic_fetch_add_explicit(&e->puts_since_check, (unsigned)puts,
                                  memory_order_relaxed) + puts < KICK_CHECK_EVERY)
        return;
    atomic_store_explicit(&e->puts_since_check, 0, memory_order_relaxed);
    if (ds_wbuf_pending(e->wbuf) < EARLY_FLUSH_ROWS)
        return;
    pthread_mutex_lock(&e->flusher_mutex);
    e->flusher_kick = 1;
    pthread_cond_signal(&e->flusher_cond);
    pthread_mutex_unlock(&e->flusher_mutex);
}
