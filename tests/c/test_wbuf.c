/* Unit tests of the write buffer (src/core/wbuf.c). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dictsqlite/wbuf.h"
#include "test_entries.h"



static ds_entry *tomb(uint32_t ns, const char *key)
{
    return entry_with_hash(ns, key, key_hash(ns, key), "", DS_ENTRY_TOMBSTONE);
}



static ds_entry *get(ds_wbuf *b, uint32_t ns, const char *key)
{
    return ds_wbuf_get(b, ns, key, strlen(key), key_hash(ns, key));
}

/* Is val the newest buffered value for key? */
static int holds_value(ds_wbuf *b, uint32_t ns, const char *key, const char *val)
{
    ds_entry *e = get(b, ns, key);
    int ok = value_is(e, val);
    if (e)
        ds_entry_decref(e, NULL);
    return ok;
}

/* "key=value,key=value" for a flush batch, to compare order and content. */
static void describe(ds_entry *const *items, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s=%.*s%s", i ? "," : "",
                                ds_entry_key(items[i]), (int)items[i]->vlen,
                                (const char *)ds_entry_value(items[i]),
                                items[i]->flags & DS_ENTRY_TOMBSTONE ? "!" : "");
}

static void check_batch(ds_wbuf *b, const char *expect)
{
    ds_entry *const *items = NULL;
    size_t n = 0;
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    char got[512];
    describe(items, n, got, sizeof got);
    if (strcmp(got, expect) != 0) {
        fprintf(stderr, "batch: got [%s], expected [%s]\n", got, expect);
        CHECK(0);
    }
}

static void test_coalesce_and_order(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    CHECK(get(b, 0, "a") == NULL);
    ds_entry *a1 = mk(0, "a", "1");
    ds_entry_incref(a1);
    CHECK_EQ_INT(ds_wbuf_put(b, mk(0, "c", "1")), DS_OK);
    CHECK_EQ_INT(ds_wbuf_put(b, a1), DS_OK);
    CHECK_EQ_INT(ds_wbuf_put(b, mk(0, "b", "1")), DS_OK);
    CHECK_EQ_INT(ds_wbuf_pending(b), 3);
    CHECK_EQ_INT(ds_wbuf_put(b, mk(0, "a", "2")), DS_OK);
    CHECK_EQ_INT(ds_wbuf_put(b, tomb(0, "c")), DS_OK);
    CHECK_EQ_INT(ds_wbuf_pending(b), 3); /* coalesced */
    CHECK_EQ_INT(refs(a1), 1);           /* the buffer let go of a1 */
    ds_entry_decref(a1, NULL);

    ds_entry *g = get(b, 0, "a");
    CHECK(value_is(g, "2"));
    CHECK_EQ_INT(refs(g), 2); /* a new reference */
    ds_entry_decref(g, NULL);
    g = get(b, 0, "c");
    CHECK(g && (g->flags & DS_ENTRY_TOMBSTONE));
    ds_entry_decref(g, NULL);

    /* first-write position, newest value */
    check_batch(b, "c=!,a=2,b=1");
    ds_wbuf_end_flush(b, 1);
    CHECK_EQ_INT(ds_wbuf_pending(b), 0);
    CHECK(get(b, 0, "a") == NULL);
    ds_wbuf_free(b);
}

static void test_flight_reads_and_commit(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    ds_wbuf_put(b, mk(0, "a", "1"));
    ds_wbuf_put(b, mk(0, "b", "1"));
    ds_entry *const *items;
    size_t n;
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ds_wbuf_pending(b), 0);
    /* a second flush cannot start while one is in flight */
    ds_entry *const *items2;
    size_t n2;
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items2, &n2), DS_INVALID);

    /* in flight, still visible */
    CHECK(holds_value(b, 0, "a", "1"));
    /* a newer pending write wins over the batch */
    ds_wbuf_put(b, mk(0, "a", "2"));
    ds_wbuf_put(b, mk(0, "c", "1"));
    CHECK(holds_value(b, 0, "a", "2"));
    CHECK(holds_value(b, 0, "b", "1"));
    CHECK_EQ_INT(ds_wbuf_pending(b), 2);
    /* the batch array is untouched by writes made meanwhile */
    char got[128];
    describe(items, n, got, sizeof got);
    CHECK(strcmp(got, "a=1,b=1") == 0);

    ds_entry *held = get(b, 0, "b"); /* outlives the commit */
    ds_wbuf_end_flush(b, 1);
    CHECK(get(b, 0, "b") == NULL);
    CHECK(value_is(held, "1"));
    CHECK_EQ_INT(refs(held), 1);
    ds_entry_decref(held, NULL);
    CHECK(holds_value(b, 0, "a", "2"));
    check_batch(b, "a=2,c=1");
    ds_wbuf_end_flush(b, 1);

    /* an empty flush: nothing in flight, a later flush may start */
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    CHECK_EQ_INT(n, 0);
    ds_wbuf_put(b, mk(0, "z", "1"));
    check_batch(b, "z=1");
    ds_wbuf_end_flush(b, 0);
    ds_wbuf_end_flush(b, 0); /* nothing in flight: no-op */
    CHECK_EQ_INT(ds_wbuf_pending(b), 1);
    ds_wbuf_free(b);
}

static void test_failed_flush_merge(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    ds_wbuf_put(b, mk(0, "A", "1"));
    ds_entry *B1 = mk(0, "B", "1");
    ds_entry_incref(B1);
    ds_wbuf_put(b, B1);
    ds_wbuf_put(b, mk(0, "C", "1"));
    ds_entry *const *items;
    size_t n;
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    ds_wbuf_put(b, mk(0, "D", "2"));
    ds_entry *B2 = mk(0, "B", "2");
    ds_wbuf_put(b, B2);
    ds_wbuf_put(b, tomb(0, "C"));
    ds_wbuf_put(b, mk(0, "E", "2"));
    CHECK(ds_wbuf_holds(b, B2));
    CHECK(!ds_wbuf_holds(b, B1)); /* in flight but superseded */
    ds_wbuf_end_flush(b, 0);
    CHECK_EQ_INT(refs(B1), 1); /* the superseded batch entry was released */
    ds_entry_decref(B1, NULL);
    CHECK(ds_wbuf_holds(b, B2));
    CHECK_EQ_INT(ds_wbuf_pending(b), 5);
    /* batch keys first, in batch order, with newer values; then new keys */
    check_batch(b, "A=1,B=2,C=!,D=2,E=2");
    ds_wbuf_end_flush(b, 0);
    /* failing again changes nothing */
    check_batch(b, "A=1,B=2,C=!,D=2,E=2");
    ds_wbuf_put(b, mk(0, "A", "3"));
    ds_wbuf_end_flush(b, 0);
    check_batch(b, "A=3,B=2,C=!,D=2,E=2");
    ds_wbuf_end_flush(b, 1);
    CHECK_EQ_INT(ds_wbuf_pending(b), 0);
    ds_wbuf_free(b);
}

static void test_holds(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    ds_entry *a1 = mk(0, "a", "1"), *a2 = mk(0, "a", "2"), *x = mk(0, "x", "1");
    ds_entry_incref(a1);
    ds_entry_incref(a2);
    CHECK(!ds_wbuf_holds(b, x));
    ds_wbuf_put(b, a1);
    CHECK(ds_wbuf_holds(b, a1));
    ds_entry *const *items;
    size_t n;
    ds_wbuf_begin_flush(b, &items, &n);
    CHECK(ds_wbuf_holds(b, a1)); /* in flight, newest */
    ds_wbuf_put(b, a2);
    CHECK(!ds_wbuf_holds(b, a1));
    CHECK(ds_wbuf_holds(b, a2));
    ds_wbuf_end_flush(b, 1);
    CHECK(!ds_wbuf_holds(b, a1));
    CHECK(ds_wbuf_holds(b, a2));
    ds_entry_decref(a1, NULL);
    ds_entry_decref(a2, NULL);
    ds_entry_decref(x, NULL);
    ds_wbuf_free(b);
}

static void test_namespaces_and_drop(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    ds_wbuf_put(b, mk(1, "k1", "a"));
    ds_wbuf_put(b, mk(2, "k1", "b"));
    ds_wbuf_put(b, mk(1, "k2", "a"));
    ds_wbuf_put(b, mk(2, "k2", "b"));
    ds_wbuf_put(b, mk(3, "k3", "c"));
    /* same bytes and crafted hash in two namespaces */
    ds_wbuf_put(b, entry_with_hash(1, "x", 5, "x1", 0));
    ds_wbuf_put(b, entry_with_hash(2, "x", 5, "x2", 0));
    CHECK_EQ_INT(ds_wbuf_pending(b), 7);
    CHECK(holds_value(b, 1, "k1", "a") && holds_value(b, 2, "k1", "b"));
    ds_entry *e = ds_wbuf_get(b, 2, "x", 1, 5);
    CHECK(value_is(e, "x2"));
    ds_entry_decref(e, NULL);

    ds_wbuf_drop_ns(b, 1);
    CHECK_EQ_INT(ds_wbuf_pending(b), 4);
    CHECK(get(b, 1, "k1") == NULL && get(b, 1, "k2") == NULL);
    CHECK(ds_wbuf_get(b, 1, "x", 1, 5) == NULL);
    CHECK(holds_value(b, 2, "k2", "b")); /* the index was rebuilt */
    e = ds_wbuf_get(b, 2, "x", 1, 5);
    CHECK(value_is(e, "x2"));
    ds_entry_decref(e, NULL);
    ds_wbuf_drop_ns(b, 9); /* nothing there */
    /* order of the survivors is kept, and writes still coalesce */
    ds_wbuf_put(b, mk(2, "k1", "B"));
    check_batch(b, "k1=B,k2=b,k3=c,x=x2");
    ds_wbuf_end_flush(b, 0);
    ds_wbuf_drop_ns(b, UINT32_MAX);
    CHECK_EQ_INT(ds_wbuf_pending(b), 0);
    ds_wbuf_put(b, mk(2, "k9", "z"));
    check_batch(b, "k9=z");
    ds_wbuf_end_flush(b, 1);
    ds_wbuf_free(b);
}

typedef struct seen {
    char text[512];
    size_t len;
    uint32_t ns;
    int wrong_ns;
} seen;

static void collect(const ds_entry *e, void *ctx)
{
    seen *s = ctx;
    if (s->ns != UINT32_MAX && e->ns != s->ns)
        s->wrong_ns++;
    s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len, "%s%s=%.*s",
                               s->len ? "," : "", ds_entry_key(e), (int)e->vlen,
                               (const char *)ds_entry_value(e));
}

static void test_foreach(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    ds_wbuf_put(b, mk(1, "a", "1"));
    ds_wbuf_put(b, mk(2, "a", "1"));
    ds_wbuf_put(b, mk(1, "b", "1"));
    ds_entry *const *items;
    size_t n;
    ds_wbuf_begin_flush(b, &items, &n);
    ds_wbuf_put(b, mk(1, "c", "2"));
    ds_wbuf_put(b, mk(1, "a", "2"));
    ds_wbuf_put(b, tomb(2, "a"));
    seen s = {.ns = 1};
    ds_wbuf_foreach(b, 1, collect, &s);
    CHECK_EQ_INT(s.wrong_ns, 0);
    if (strcmp(s.text, "a=2,b=1,c=2") != 0) {
        fprintf(stderr, "foreach: %s\n", s.text);
        CHECK(0);
    }
    seen s2 = {.ns = 2};
    ds_wbuf_foreach(b, 2, collect, &s2);
    CHECK(strcmp(s2.text, "a=") == 0); /* the tombstone, newest */
    seen s3 = {.ns = UINT32_MAX};
    ds_wbuf_foreach(b, UINT32_MAX, collect, &s3);
    CHECK(strcmp(s3.text, "a=2,a=,b=1,c=2") == 0);
    ds_wbuf_end_flush(b, 1);
    seen s4 = {.ns = 1};
    ds_wbuf_foreach(b, 1, collect, &s4);
    CHECK(strcmp(s4.text, "c=2,a=2") == 0);
    ds_wbuf_free(b);
}

static void test_collisions(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    char key[32], val[16];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 60; i++) {
            snprintf(key, sizeof key, "c%d", i);
            snprintf(val, sizeof val, "%d", round);
            ds_wbuf_put(b, entry_with_hash(0, key, 77, val, 0));
        }
    CHECK_EQ_INT(ds_wbuf_pending(b), 60);
    ds_entry *const *items;
    size_t n;
    ds_wbuf_begin_flush(b, &items, &n);
    for (int i = 0; i < 60; i += 2) {
        snprintf(key, sizeof key, "c%d", i);
        ds_wbuf_put(b, entry_with_hash(0, key, 77, "new", 0));
    }
    ds_wbuf_end_flush(b, 0);
    int bad = 0;
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "c%d", i);
        ds_entry *e = ds_wbuf_get(b, 0, key, strlen(key), 77);
        bad += !value_is(e, i % 2 ? "2" : "new");
        if (e)
            ds_entry_decref(e, NULL);
    }
    CHECK(ds_wbuf_get(b, 0, "c", 1, 77) == NULL);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    CHECK_EQ_INT(n, 60);
    for (size_t i = 0; i < n; i++) { /* first-write order survived */
        snprintf(key, sizeof key, "c%zu", i);
        bad += strcmp(ds_entry_key(items[i]), key) != 0;
    }
    CHECK_EQ_INT(bad, 0);
    ds_wbuf_end_flush(b, 1);
    ds_wbuf_free(b);
}

static void test_many_keys(void)
{
    enum { N = 200000 };
    ds_wbuf *b = ds_wbuf_new(NULL);
    char key[32], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        ds_wbuf_put(b, mk(0, key, "0"));
    }
    for (int i = 0; i < N; i += 3) {
        snprintf(key, sizeof key, "key-%d", i);
        ds_wbuf_put(b, mk(0, key, "1"));
    }
    CHECK_EQ_INT(ds_wbuf_pending(b), N);
    ds_entry *const *items;
    size_t n;
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    CHECK_EQ_INT(n, N);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "key-%zu", i);
        bad += strcmp(ds_entry_key(items[i]), key) != 0 ||
               !value_is(items[i], i % 3 ? "0" : "1");
    }
    CHECK_EQ_INT(bad, 0);
    /* while in flight: rewrite every 5th key and add N/2 new ones, which
     * makes the pending table grow past the batch size */
    for (int i = 0; i < N; i += 5) {
        snprintf(key, sizeof key, "key-%d", i);
        ds_wbuf_put(b, mk(0, key, "2"));
    }
    for (int i = N; i < N + N / 2; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        ds_wbuf_put(b, mk(0, key, "3"));
    }
    ds_wbuf_end_flush(b, 0);
    CHECK_EQ_INT(ds_wbuf_pending(b), N + N / 2);
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    CHECK_EQ_INT(n, N + N / 2);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "key-%zu", i);
        const char *want = i >= N ? "3" : i % 5 == 0 ? "2" : i % 3 == 0 ? "1" : "0";
        bad += strcmp(ds_entry_key(items[i]), key) != 0 || !value_is(items[i], want);
    }
    CHECK_EQ_INT(bad, 0);
    for (int i = 0; i < N + N / 2; i += 7) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "%s", i >= N ? "3" : i % 5 == 0 ? "2" : i % 3 == 0 ? "1" : "0");
        bad += !holds_value(b, 0, key, val);
    }
    CHECK_EQ_INT(bad, 0);
    ds_wbuf_end_flush(b, 1);
    CHECK_EQ_INT(ds_wbuf_pending(b), 0);
    ds_wbuf_free(b);
}

static void test_aux_retire(void)
{
    static int s1, s2, s3;
    ds_retire r;
    ds_retire_init(&r);
    ds_wbuf *b = ds_wbuf_new(&r);
    ds_entry *a = mk(0, "a", "1");
    atomic_store(&a->aux, (void *)&s1);
    ds_wbuf_put(b, a);
    ds_wbuf_put(b, mk(0, "a", "2")); /* coalescing frees a */
    void **items;
    size_t n = ds_retire_take(&r, &items);
    CHECK(n == 1 && items[0] == &s1);
    free(items);

    ds_entry *c = mk(0, "c", "1");
    atomic_store(&c->aux, (void *)&s2);
    ds_wbuf_put(b, c);
    ds_entry *const *batch;
    size_t bn;
    ds_wbuf_begin_flush(b, &batch, &bn);
    CHECK_EQ_INT(ds_retire_take(&r, &items), 0);
    ds_wbuf_end_flush(b, 1); /* committing frees c */
    n = ds_retire_take(&r, &items);
    CHECK(n == 1 && items[0] == &s2);
    free(items);

    ds_entry *d = mk(4, "d", "1");
    atomic_store(&d->aux, (void *)&s3);
    ds_wbuf_put(b, d);
    ds_wbuf_drop_ns(b, 4);
    n = ds_retire_take(&r, &items);
    CHECK(n == 1 && items[0] == &s3);
    free(items);
    ds_wbuf_free(b);
    ds_retire_destroy(&r);
}

/* Writers own disjoint keys and check after every write that the buffer
 * never shows an older version: the newest write is either buffered or, once
 * committed, in the simulated store the flusher fills. The flusher commits
 * or fails batches at random; readers hammer get/holds/foreach. */
enum { WRITERS = 2, KEYS = 300, WRITES = 40000 };

typedef struct shared {
    ds_wbuf *b;
    ds_retire *r;
    atomic_int store[WRITERS][KEYS]; /* committed version, 0 = none */
    int final[WRITERS][KEYS];        /* each writer's last version */
    atomic_int stop;
    atomic_int errors;
    int failed_batches, committed_batches; /* non-empty ones, for the log */
} shared;

typedef struct wargs {
    shared *s;
    int id;
} wargs;

/* Value bytes are not NUL-terminated. */
static int version_of(const ds_entry *e)
{
    int v = 0;
    for (size_t i = 0; i < e->vlen; i++)
        v = v * 10 + (ds_entry_value(e)[i] - '0');
    return v;
}

static void *writer_main(void *arg)
{
    wargs *a = arg;
    shared *s = a->s;
    int *ver = calloc(KEYS, sizeof(int));
    uint64_t rnd = 88172645463325252ULL * (uint64_t)(a->id + 1);
    char key[32], val[32];
    for (int op = 0; op < WRITES; op++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        int k = (int)(rnd % KEYS);
        if (op % 256 == 0)
            sched_yield(); /* let the flusher run even on one or two cores */
        snprintf(key, sizeof key, "w%d-%d", a->id, k);
        snprintf(val, sizeof val, "%d", ++ver[k]);
        uint64_t h = key_hash(0, key);
        if (ds_wbuf_put(s->b, entry_with_hash(0, key, h, val, 0)) != DS_OK)
            atomic_fetch_add(&s->errors, 1);
        ds_entry *e = ds_wbuf_get(s->b, 0, key, strlen(key), h);
        if (e) {
            if (version_of(e) != ver[k])
                atomic_fetch_add(&s->errors, 1);
            ds_entry_decref(e, s->r);
        } else if (atomic_load(&s->store[a->id][k]) != ver[k]) {
            atomic_fetch_add(&s->errors, 1); /* neither buffered nor stored */
        }
    }
    memcpy(s->final[a->id], ver, sizeof(int) * KEYS);
    free(ver);
    return NULL;
}

static void *flusher_main(void *arg)
{
    shared *s = arg;
    uint64_t rnd = 0xDEADBEEF;
    while (!atomic_load(&s->stop)) {
        ds_entry *const *items;
        size_t n;
        if (ds_wbuf_begin_flush(s->b, &items, &n) != DS_OK) {
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        int commit = rnd % 3 != 0;
        if (n)
            *(commit ? &s->committed_batches : &s->failed_batches) += 1;
        if (commit) {
            for (size_t i = 0; i < n; i++) {
                int id, k;
                if (sscanf(ds_entry_key(items[i]), "w%d-%d", &id, &k) == 2)
                    atomic_store(&s->store[id][k], version_of(items[i]));
            }
        }
        ds_wbuf_end_flush(s->b, commit);
    }
    return NULL;
}

static void count_cb(const ds_entry *e, void *ctx)
{
    (void)e;
    (*(size_t *)ctx)++;
}

static void *reader_main(void *arg)
{
    shared *s = arg;
    uint64_t rnd = 0xC0FFEE;
    char key[32];
    while (!atomic_load(&s->stop)) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        snprintf(key, sizeof key, "w%d-%d", (int)(rnd % WRITERS), (int)((rnd >> 8) % KEYS));
        ds_entry *e = get(s->b, 0, key);
        if (e) {
            (void)ds_wbuf_holds(s->b, e); /* may be superseded by now */
            ds_entry_decref(e, s->r);
        }
        if (rnd % 64 == 0) {
            size_t n = 0;
            ds_wbuf_foreach(s->b, 0, count_cb, &n);
            if (n > (size_t)WRITERS * KEYS)
                atomic_fetch_add(&s->errors, 1); /* newest per key only */
        }
    }
    return NULL;
}

static void test_threads(void)
{
    ds_retire r;
    ds_retire_init(&r);
    shared *s = calloc(1, sizeof(*s));
    s->b = ds_wbuf_new(&r);
    s->r = &r;
    pthread_t wt[WRITERS], ft, rt;
    wargs wa[WRITERS];
    pthread_create(&ft, NULL, flusher_main, s);
    pthread_create(&rt, NULL, reader_main, s);
    for (int i = 0; i < WRITERS; i++) {
        wa[i] = (wargs){s, i};
        pthread_create(&wt[i], NULL, writer_main, &wa[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&s->stop, 1);
    pthread_join(ft, NULL);
    pthread_join(rt, NULL);
    CHECK_EQ_INT(atomic_load(&s->errors), 0);
    printf("     %d batches committed, %d failed and merged back\n",
           s->committed_batches, s->failed_batches);
    /* a final successful flush leaves every key's newest version stored */
    ds_entry *const *items;
    size_t n;
    CHECK_EQ_INT(ds_wbuf_begin_flush(s->b, &items, &n), DS_OK);
    for (size_t i = 0; i < n; i++) {
        int id, k;
        if (sscanf(ds_entry_key(items[i]), "w%d-%d", &id, &k) == 2)
            atomic_store(&s->store[id][k], version_of(items[i]));
    }
    ds_wbuf_end_flush(s->b, 1);
    CHECK_EQ_INT(ds_wbuf_pending(s->b), 0);
    int lost = 0;
    for (int id = 0; id < WRITERS; id++)
        for (int k = 0; k < KEYS; k++)
            lost += atomic_load(&s->store[id][k]) != s->final[id][k];
    CHECK_EQ_INT(lost, 0);
    ds_wbuf_free(s->b);
    free(s);
    void **junk;
    ds_retire_take(&r, &junk);
    free(junk);
    ds_retire_destroy(&r);
}

/* Batch after batch, the tables of a committed batch serve the next one:
 * they must come back empty and indexed from scratch, also under a failed
 * flush that merges the batch back in. */
static void test_flush_cycles_reuse_tables(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    CHECK(b != NULL);
    char key[32], val[32];
    ds_entry *const *items;
    size_t n;
    for (int round = 0; round < 4; round++) {
        int count = round == 2 ? 3000 : 700; /* grows past the spare once */
        for (int i = 0; i < count; i++) {
            snprintf(key, sizeof(key), "r%d-k%d", round, i);
            snprintf(val, sizeof(val), "v%d", i);
            ds_entry *e = mk(0, key, val);
            /* the writer's hint, on every table this test goes through (no
             * effect to check; ASan checks it reads nothing it may not) */
            ds_wbuf_prefetch(b, e->hash);
            CHECK_EQ_INT(ds_wbuf_put(b, e), DS_OK);
        }
        CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
        CHECK_EQ_INT((int)n, count);
        ds_wbuf_prefetch(b, 12345); /* the fresh table, in flight */
        /* Writes during the flight go to the fresh (maybe reused) table. */
        CHECK_EQ_INT(ds_wbuf_put(b, mk(0, "during", "x")), DS_OK);
        snprintf(key, sizeof(key), "r%d-k%d", round, 5);
        CHECK_EQ_INT(ds_wbuf_put(b, mk(0, key, "newer")), DS_OK);
        ds_wbuf_end_flush(b, round != 1); /* round 1 fails and merges back */
        if (round == 1) {
            CHECK_EQ_INT((int)ds_wbuf_pending(b), count + 1);
            CHECK(holds_value(b, 0, key, "newer"));
            CHECK(holds_value(b, 0, "r1-k6", "v6"));
        } else {
            CHECK_EQ_INT((int)ds_wbuf_pending(b), 2);
            CHECK(holds_value(b, 0, key, "newer"));
            snprintf(key, sizeof(key), "r%d-k%d", round, 6);
            CHECK(get(b, 0, key) == NULL); /* committed: no stale index slot */
        }
        CHECK(holds_value(b, 0, "during", "x"));
        /* Drain what is pending so the next round starts empty. */
        CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
        ds_wbuf_end_flush(b, 1);
        CHECK_EQ_INT((int)ds_wbuf_pending(b), 0);
        CHECK(get(b, 0, "during") == NULL);
    }
    ds_wbuf_free(b);
}

#ifdef DS_TESTING
void ds_wbuf_test_caps(ds_wbuf *b, size_t *pending_cap, size_t *spare_cap);

/* One flush cycle of count fresh keys: put, begin, commit. Returns the room
 * of the pending table the flush started. */
static size_t flush_cycle(ds_wbuf *b, int round, int count)
{
    char key[32];
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof(key), "c%d-k%d", round, i);
        CHECK_EQ_INT(ds_wbuf_put(b, mk(0, key, "v")), DS_OK);
    }
    ds_entry *const *items;
    size_t n, pending_cap, spare_cap;
    CHECK_EQ_INT(ds_wbuf_begin_flush(b, &items, &n), DS_OK);
    CHECK_EQ_INT((int)n, count);
    ds_wbuf_test_caps(b, &pending_cap, &spare_cap);
    ds_wbuf_end_flush(b, 1);
    return pending_cap;
}

/* After one large batch, one-row flushes (a writethrough store's commits
 * after an update()) must not start on the large batch's arrays: taking
 * spare arrays clears their whole index, so each commit would pay for
 * clearing the large index. The spare follows the latest batch, so the
 * large arrays are not pinned either; same-size batches (a bulk load's)
 * still reuse them. */
static void test_spare_tables_fit_the_batch(void)
{
    ds_wbuf *b = ds_wbuf_new(NULL);
    CHECK(b != NULL);
    size_t pending_cap, spare_cap;
    flush_cycle(b, 0, 5000);
    ds_wbuf_test_caps(b, &pending_cap, &spare_cap);
    CHECK(spare_cap >= 5000); /* the batch's arrays, kept */
    for (int round = 1; round <= 3; round++) {
        size_t started = flush_cycle(b, round, 1);
        CHECK(started <= 64);
    }
    ds_wbuf_test_caps(b, &pending_cap, &spare_cap);
    CHECK(spare_cap <= 64);
    /* Batches of one size reuse the same arrays. */
    flush_cycle(b, 4, 3000);
    flush_cycle(b, 5, 3000);
    ds_wbuf_test_caps(b, &pending_cap, &spare_cap);
    CHECK(spare_cap >= 3000 && spare_cap <= 4 * 4096);
    CHECK(flush_cycle(b, 6, 3000) == spare_cap);
    ds_wbuf_free(b);
}
#endif

int main(void)
{
    RUN_TEST(test_coalesce_and_order);
    RUN_TEST(test_flight_reads_and_commit);
    RUN_TEST(test_failed_flush_merge);
    RUN_TEST(test_holds);
    RUN_TEST(test_namespaces_and_drop);
    RUN_TEST(test_foreach);
    RUN_TEST(test_collisions);
    RUN_TEST(test_many_keys);
    RUN_TEST(test_aux_retire);
    RUN_TEST(test_threads);
    RUN_TEST(test_flush_cycles_reuse_tables);
#ifdef DS_TESTING
    RUN_TEST(test_spare_tables_fit_the_batch);
#endif
    return CHECK_DONE();
}
