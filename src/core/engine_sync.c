/* Cross-instance sync: noticing that another connection committed to the
 * file (the shared generation counter, gencounter.h) and catching up with it
 * by dropping every cached tier. Separate because it is the one place that
 * invalidates the engine's caches wholesale; the tiers only consult
 * ds_engine_changed() before caching what they read. */
#include "engine_internal.h"

/* ---- other connections ------------------------------------------------ */

int ds_engine_changed(ds_engine *e)
{
    return e->gen &&
           ds_gencounter_load(e->gen) != atomic_load_explicit(&e->seen_gen, memory_order_acquire);
}

void ds_engine_gen_pointers(ds_engine *e, const _Atomic uint64_t **gen,
                            const _Atomic uint64_t **seen)
{
    *gen = e->gen ? ds_gencounter_value_ptr(e->gen) : NULL;
    *seen = &e->seen_gen;
}

/* After our own commit (flush_lock held): if nobody else committed since we
 * last looked, our cached state is still exact and we just move along. */
void note_own_commit(ds_engine *e)
{
    uint64_t before = ds_gencounter_bump(e->gen);
    if (before == atomic_load(&e->seen_gen))
        atomic_store(&e->seen_gen, before + 1);
}

ds_status ds_engine_sync(ds_engine *e, ds_error *err)
{
    if (!ds_engine_changed(e))
        return DS_OK;
    pthread_mutex_lock(&e->flush_lock);
    pthread_mutex_lock(&e->write_lock);
    ds_status st = DS_OK;
    uint64_t now = ds_gencounter_load(e->gen);
    if (now != atomic_load(&e->seen_gen)) {
        /* Our pending writes are newer than what we cached; commit them, so
         * that every tier may then be dropped and reread from SQLite. If that
         * fails nothing is dropped and the next call tries again. */
        st = flush_locked(e, 1, err);
        if (st == DS_OK) {
            ds_hotmap_clear(e->hot, UINT32_MAX);
            ds_warm_clear(e->warm, UINT32_MAX);
            pthread_mutex_lock(&e->ns_lock);
            for (uint32_t i = 0; i < e->ns_count; i++) {
                ds_ns *n = ns_at(e, i);
                atomic_store(&n->count_stale, 1);
                atomic_store(&n->complete, 0);
                ds_keyset_free(n->keys);
                n->keys = NULL;
                n->store_lookups = 0;
            }
            pthread_mutex_unlock(&e->ns_lock);
            /* Everything committed up to now (our own flush included) is
             * either dropped or will be read fresh: no read promotes into
             * the hot tier while seen lags, and write_seq below stops reads
             * that began earlier from caching what they got. */
            atomic_store(&e->seen_gen, ds_gencounter_load(e->gen));
            e->external_changes++;
            /* a read that began before this must not cache what it read */
            bump_write_seq(e);
        }
    }
    pthread_mutex_unlock(&e->write_lock);
    pthread_mutex_unlock(&e->flush_lock);
    return st;
}
