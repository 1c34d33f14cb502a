/* Iteration, listing and stats: ds_engine_scan and ds_engine_snapshot walk a
 * namespace in key order, ds_engine_list_ns lists the namespaces that hold
 * data, ds_engine_get_stats gathers every tier's figures. Separate because
 * none of it writes a value: each reads the tiers, or SQLite after a flush
 * of what is pending, and reports. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* ---- iteration --------------------------------------------------------- */

/* SQLite's BINARY collation on TEXT: memcmp, then the shorter first. */
static int entry_key_cmp(const void *pa, const void *pb)
{
    const ds_entry *a = *(ds_entry *const *)pa, *b = *(ds_entry *const *)pb;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(ds_entry_key(a), ds_entry_key(b), n);
    if (c)
        return c;
    return (a->klen > b->klen) - (a->klen < b->klen);
}

ds_status ds_engine_snapshot(ds_engine *e, uint32_t ns, ds_entry ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (e->store && !atomic_load(&ns_at(e, ns)->complete))
        return DS_NEED_IO;
    size_t count = ds_hotmap_collect(e->hot, ns, out);
    if (count == (size_t)-1)
        return DS_NOMEM;
    if (count > 1) /* qsort's array argument must not be NULL, even for 0 */
        qsort(*out, count, sizeof(**out), entry_key_cmp);
    *n = count;
    return DS_OK;
}

typedef struct {
    ds_engine *e;
    const ds_ns *n;
    ds_store_row_fn fn;
    void *ctx;
    ds_status st;
    ds_error *err;
} unseal_ctx;

static int unseal_row(const char *key, size_t klen, uint8_t codec, const void *value,
                      size_t vlen, void *ctx_)
{
    unseal_ctx *c = ctx_;
    if (!(codec & DS_CODEC_FLAG_ENCRYPTED)) {
        c->st = unencrypted_row_error(c->n, key, klen, c->err);
        return 1;
    }
    size_t plain_len = plain_len_of(vlen);
    unsigned char *plain = malloc(plain_len ? plain_len : 1);
    if (!plain) {
        c->st = ds_error_set(c->err, DS_NOMEM, "out of memory decrypting a value");
        return 1;
    }
    c->st = open_value(c->e, c->n, key, klen, codec, value, vlen, plain, c->err);
    int r = c->st != DS_OK ? 1
        : c->fn(key, klen, (uint8_t)(codec & ~DS_CODEC_FLAG_ENCRYPTED), plain, plain_len,
                c->ctx);
    free(plain);
    return r;
}

ds_status ds_engine_scan(ds_engine *e, uint32_t ns, const char *after,
                         size_t after_len, size_t limit, int with_values,
                         ds_store_row_fn fn, void *ctx, size_t *n_out,
                         ds_error *err)
{
    *n_out = 0;
    if (!e->store)
        return ds_error_set(err, DS_INVALID, "memory mode has no store to scan");
    if (DS_UNLIKELY(e->locked_encrypted))
        return locked_error(e, err);
    ds_status st = ds_engine_flush(e, err);
    if (st != DS_OK)
        return st;
    ds_ns *n = ns_at(e, ns);
    if (!e->crypto || !with_values)
        return ds_store_scan(e->store, n->name, n->len, after, after_len, limit,
                             with_values, fn, ctx, n_out, err);
    unseal_ctx c = {e, n, fn, ctx, DS_OK, err};
    st = ds_store_scan(e->store, n->name, n->len, after, after_len, limit, with_values,
                       unseal_row, &c, n_out, err);
    return st != DS_OK ? st : c.st;
}

typedef struct {
    char **names;
    size_t *lens;
    size_t n, cap;
} name_list;

static int name_list_push(name_list *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **names = realloc(l->names, cap * sizeof(*names));
        if (!names)
            return -1;
        l->names = names;
        size_t *lens = realloc(l->lens, cap * sizeof(*lens));
        if (!lens)
            return -1;
        l->lens = lens;
        l->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->names[l->n] = copy;
    l->lens[l->n] = len;
    l->n++;
    return 0;
}

static int name_cmp_idx(const void *pa, const void *pb, void *ctx)
{
    const name_list *l = ctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    size_t n = l->lens[a] < l->lens[b] ? l->lens[a] : l->lens[b];
    int c = memcmp(l->names[a], l->names[b], n);
    if (c)
        return c;
    return (l->lens[a] > l->lens[b]) - (l->lens[a] < l->lens[b]);
}

ds_status ds_engine_list_ns(ds_engine *e,
                            int (*fn)(const char *tbl, size_t tlen, void *ctx),
                            void *ctx, ds_error *err)
{
    if (e->store) {
        /* After a flush SQLite knows every namespace that holds data. */
        ds_status st = ds_engine_flush(e, err);
        if (st != DS_OK)
            return st;
        return ds_store_list_ns(e->store, fn, ctx, err);
    }
    name_list l = {0};
    ds_status st = DS_OK;
    pthread_mutex_lock(&e->ns_lock);
    for (uint32_t i = 0; i < e->ns_count; i++) {
        ds_ns *ns = ns_at(e, i);
        if (atomic_load(&ns->count) > 0 && name_list_push(&l, ns->name, ns->len) < 0) {
            st = ds_error_set(err, DS_NOMEM, "out of memory listing tables");
            break;
        }
    }
    pthread_mutex_unlock(&e->ns_lock);
    size_t *order = st == DS_OK ? malloc((l.n ? l.n : 1) * sizeof(*order)) : NULL;
    if (st == DS_OK && !order)
        st = ds_error_set(err, DS_NOMEM, "out of memory listing tables");
    if (st == DS_OK) {
        for (size_t i = 0; i < l.n; i++)
            order[i] = i;
        if (l.n > 1)
            qsort_r(order, l.n, sizeof(*order), name_cmp_idx, &l);
        for (size_t i = 0; i < l.n; i++)
            if (fn(l.names[order[i]], l.lens[order[i]], ctx))
                break;
    }
    free(order);
    for (size_t i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    free(l.lens);
    return st;
}

/* ---- stats ------------------------------------------------------------ */

void ds_engine_get_stats(ds_engine *e, ds_engine_stats *out)
{
    memset(out, 0, sizeof(*out));
    ds_hotmap_stats hs;
    ds_hotmap_get_stats(e->hot, &hs);
    out->hot_entries = hs.entries;
    out->hot_bytes = hs.bytes;
    out->hot_capacity = ds_hotmap_capacity(e->hot);
    out->nshards = ds_hotmap_nshards(e->hot);
    out->hot_hits = hs.hits;
    out->hot_misses = hs.misses;
    out->hot_evictions = hs.evictions;
    out->file_bytes = -1;
    out->encrypted = e->crypto != NULL;
    if (e->warm) {
        ds_warm_stats ws;
        ds_warm_get_stats(e->warm, &ws);
        out->warm_entries = ws.entries;
        out->warm_bytes = ws.bytes;
        out->warm_max_bytes = ws.max_bytes;
        out->warm_hits = ws.hits;
        out->warm_misses = ws.misses;
        out->warm_evictions = ws.evictions;
    }
    if (e->wbuf)
        out->dirty_entries = ds_wbuf_pending(e->wbuf);
    out->cold_reads = atomic_load(&e->cold_reads);
    out->cold_hits = atomic_load(&e->cold_hits);
    out->flushes = atomic_load(&e->flushes);
    out->rows_flushed = atomic_load(&e->rows_flushed);
    out->flush_failures = atomic_load(&e->flush_failures);
    if (e->store) {
        int64_t bytes;
        ds_error ignored;
        if (ds_store_file_size(e->store, &bytes, &ignored) == DS_OK)
            out->file_bytes = bytes;
    }
}
