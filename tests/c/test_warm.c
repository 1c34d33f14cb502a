/* Unit tests of the warm cache (src/core/warm.c). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dictsqlite/warm.h"
#include "test_entries.h"


static ds_entry *mkh(uint32_t ns, const char *key, uint64_t hash, const char *val)
{
    return entry_with_hash(ns, key, hash, val, 0);
}




static int has(ds_warm *w, uint32_t ns, const char *key)
{
    return ds_warm_contains(w, ns, key, strlen(key), key_hash(ns, key));
}

static ds_entry *take(ds_warm *w, uint32_t ns, const char *key)
{
    return ds_warm_take(w, ns, key, strlen(key), key_hash(ns, key));
}

/* Footprint of the entries mk(0, one-letter key, one-letter value) makes. */
static size_t small_fp(void)
{
    ds_entry *e = mk(0, "a", "1");
    size_t fp = ds_entry_footprint(e);
    ds_entry_decref(e, NULL);
    return fp;
}

static void test_put_take_contains(void)
{
    ds_warm *w = ds_warm_new(1 << 20, NULL);
    ds_entry *a = mk(0, "a", "1");
    ds_warm_put(w, a);
    CHECK(has(w, 0, "a"));
    CHECK(!has(w, 0, "b"));
    CHECK(!has(w, 1, "a"));
    ds_warm_stats st;
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 1);
    CHECK_EQ_INT(st.bytes, ds_entry_footprint(a));
    CHECK_EQ_INT(st.max_bytes, 1 << 20);
    CHECK_EQ_INT(st.hits + st.misses, 0); /* contains counts nothing */

    ds_entry *t = take(w, 0, "a");
    CHECK(t == a);
    CHECK_EQ_INT(refs(t), 1); /* the cache's reference, now ours */
    CHECK(t->lru_prev == NULL && t->lru_next == NULL);
    CHECK(!has(w, 0, "a"));
    CHECK(take(w, 0, "a") == NULL);
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 0);
    CHECK_EQ_INT(st.bytes, 0);
    CHECK_EQ_INT(st.hits, 1);
    CHECK_EQ_INT(st.misses, 1);
    ds_entry_decref(t, NULL);

    /* replacing releases the old entry and keeps one reference to the new */
    ds_entry *b1 = mk(0, "b", "1"), *b2 = mk(0, "b", "22");
    ds_entry_incref(b1);
    ds_warm_put(w, b1);
    ds_warm_put(w, b2);
    CHECK_EQ_INT(refs(b1), 1);
    ds_entry_decref(b1, NULL);
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 1);
    CHECK_EQ_INT(st.bytes, ds_entry_footprint(b2));
    /* the same pointer twice */
    ds_entry_incref(b2);
    ds_warm_put(w, b2);
    CHECK_EQ_INT(refs(b2), 1);
    t = take(w, 0, "b");
    CHECK(t == b2 && value_is(t, "22"));
    ds_entry_decref(t, NULL);
    ds_warm_free(w);
}

static void test_byte_bound_lru(void)
{
    size_t fp = small_fp();
    ds_warm *w = ds_warm_new(3 * fp, NULL);
    ds_warm_put(w, mk(0, "a", "1"));
    ds_warm_put(w, mk(0, "b", "1"));
    ds_warm_put(w, mk(0, "c", "1"));
    ds_warm_stats st;
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 3);
    CHECK_EQ_INT(st.evictions, 0);
    ds_warm_put(w, mk(0, "d", "1")); /* a goes: d c b */
    CHECK(!has(w, 0, "a") && has(w, 0, "b") && has(w, 0, "c") && has(w, 0, "d"));
    ds_warm_put(w, mk(0, "b", "2")); /* replacing refreshes: b d c */
    ds_warm_put(w, mk(0, "e", "1")); /* c goes: e b d */
    CHECK(!has(w, 0, "c") && has(w, 0, "b") && has(w, 0, "d") && has(w, 0, "e"));
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 3);
    CHECK_EQ_INT(st.bytes, 3 * fp);
    CHECK_EQ_INT(st.evictions, 2);

    /* one larger entry displaces as many of the oldest as needed */
    char big[64];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ds_entry *B = mk(0, "B", big);
    size_t fpB = ds_entry_footprint(B);
    CHECK(fpB > fp && fpB <= 3 * fp);
    ds_warm_put(w, B);
    ds_warm_get_stats(w, &st);
    CHECK(st.bytes <= 3 * fp);
    CHECK(has(w, 0, "B"));
    CHECK(!has(w, 0, "d")); /* the oldest went first */
    CHECK_EQ_INT(st.bytes, fpB + (st.entries - 1) * fp);
    ds_warm_free(w);

    /* more victims than put() releases per lock round trip */
    ds_entry *probe = mk(0, "00", "1");
    size_t fp2 = ds_entry_footprint(probe);
    ds_entry_decref(probe, NULL);
    w = ds_warm_new(100 * fp2, NULL);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "%02d", i);
        ds_warm_put(w, mk(0, key, "1"));
    }
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 100);
    fp = fp2;
    char *huge = malloc(90 * fp);
    memset(huge, 'h', 90 * fp - 1);
    huge[90 * fp - 1] = '\0';
    ds_warm_put(w, mk(0, "huge", huge));
    free(huge);
    ds_warm_get_stats(w, &st);
    CHECK(st.bytes <= 100 * fp);
    CHECK(has(w, 0, "huge"));
    CHECK(st.evictions >= 90);
    ds_warm_free(w);
}

static void test_oversize_and_disabled(void)
{
    size_t fp = small_fp();
    ds_retire r;
    ds_retire_init(&r);
    static int s1, s2;
    ds_warm *w = ds_warm_new(2 * fp, &r);
    ds_warm_put(w, mk(0, "k", "1"));
    ds_warm_put(w, mk(0, "other", "1"));
    CHECK(has(w, 0, "k"));
    char big[128];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ds_entry *B = mk(0, "k", big);
    atomic_store(&B->aux, (void *)&s1);
    CHECK(ds_entry_footprint(B) > 2 * fp);
    ds_warm_put(w, B);
    /* not kept, and the older value of "k" must not be served either */
    CHECK(!has(w, 0, "k"));
    CHECK(has(w, 0, "other"));
    void **items;
    size_t n = ds_retire_take(&r, &items);
    CHECK(n == 1 && items[0] == &s1);
    free(items);
    ds_warm_stats st;
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 1);
    CHECK_EQ_INT(st.bytes, fp);
    ds_warm_free(w);

    w = ds_warm_new(0, &r);
    ds_entry *e = mk(0, "a", "1");
    atomic_store(&e->aux, (void *)&s2);
    ds_entry_incref(e);
    ds_warm_put(w, e);
    CHECK_EQ_INT(refs(e), 1);
    CHECK(!has(w, 0, "a"));
    CHECK(take(w, 0, "a") == NULL);
    ds_entry_decref(e, &r);
    n = ds_retire_take(&r, &items);
    CHECK(n == 1 && items[0] == &s2);
    free(items);
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries + st.bytes + st.max_bytes, 0);
    ds_warm_free(w);
    ds_retire_destroy(&r);
}

static void test_remove_and_clear(void)
{
    ds_warm *w = ds_warm_new(1 << 20, NULL);
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        for (uint32_t ns = 1; ns <= 3; ns++)
            ds_warm_put(w, mk(ns, key, "v"));
    }
    /* same bytes, same crafted hash, two namespaces */
    ds_warm_put(w, mkh(1, "x", 7, "1"));
    ds_warm_put(w, mkh(2, "x", 7, "2"));
    ds_warm_remove(w, 2, "k3", 2, key_hash(2, "k3"));
    ds_warm_remove(w, 2, "k3", 2, key_hash(2, "k3")); /* absent: no-op */
    CHECK(!has(w, 2, "k3") && has(w, 1, "k3") && has(w, 3, "k3"));
    ds_warm_remove(w, 1, "x", 1, 7);
    CHECK(!ds_warm_contains(w, 1, "x", 1, 7));
    CHECK(ds_warm_contains(w, 2, "x", 1, 7));

    ds_warm_clear(w, 2);
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        bad += has(w, 2, key) || !has(w, 1, key) || !has(w, 3, key);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(!ds_warm_contains(w, 2, "x", 1, 7));
    ds_warm_stats st;
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 100);
    ds_warm_clear(w, UINT32_MAX);
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, 0);
    CHECK_EQ_INT(st.bytes, 0);
    ds_warm_put(w, mk(1, "again", "v")); /* usable after clearing */
    CHECK(has(w, 1, "again"));
    ds_warm_free(w);
}

static void test_many_keys_and_collisions(void)
{
    enum { N = 200000 };
    ds_warm *w = ds_warm_new((size_t)1 << 30, NULL);
    char key[32], val[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "%d", i);
        ds_warm_put(w, mk(0, key, val));
    }
    /* 30 keys sharing one hash */
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "c%d", i);
        ds_warm_put(w, mkh(0, key, 0xABCDEF, key));
    }
    ds_warm_stats st;
    ds_warm_get_stats(w, &st);
    CHECK_EQ_INT(st.entries, N + 30);
    CHECK_EQ_INT(st.evictions, 0);
    int bad = 0;
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "%d", i);
        ds_entry *e = take(w, 0, key);
        bad += !value_is(e, val);
        if (e)
            ds_entry_decref(e, NULL);
    }
    for (int i = 0; i < 30; i += 4) {
        snprintf(key, sizeof key, "c%d", i);
        ds_warm_remove(w, 0, key, strlen(key), 0xABCDEF);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        bad += has(w, 0, key) != (i % 2);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "c%d", i);
        ds_entry *e = ds_warm_take(w, 0, key, strlen(key), 0xABCDEF);
        bad += (e != NULL) != (i % 4 != 0);
        if (e) {
            bad += !value_is(e, key);
            ds_entry_decref(e, NULL);
        }
    }
    CHECK_EQ_INT(bad, 0);
    ds_warm_free(w);
}

static void test_aux_retire_on_eviction(void)
{
    static int s1;
    size_t fp = small_fp();
    ds_retire r;
    ds_retire_init(&r);
    ds_warm *w = ds_warm_new(fp, &r);
    ds_entry *a = mk(0, "a", "1");
    atomic_store(&a->aux, (void *)&s1);
    ds_warm_put(w, a);
    void **items;
    CHECK_EQ_INT(ds_retire_take(&r, &items), 0);
    ds_warm_put(w, mk(0, "b", "1")); /* evicts a: the cache held the last ref */
    size_t n = ds_retire_take(&r, &items);
    CHECK(n == 1 && items[0] == &s1);
    free(items);
    ds_warm_free(w);
    ds_retire_destroy(&r);
}

typedef struct worker {
    ds_warm *w;
    int id;
} worker;

static void *worker_main(void *arg)
{
    worker *wk = arg;
    uint64_t rnd = 0x2545F4914F6CDD1DULL * (uint64_t)(wk->id + 1);
    char key[32];
    for (int op = 0; op < 100000; op++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        uint32_t ns = (uint32_t)(rnd >> 50) % 2;
        snprintf(key, sizeof key, "k%u", (unsigned)((rnd >> 20) % 2000));
        uint64_t h = key_hash(ns, key);
        switch (rnd % 10) {
        case 0: case 1: case 2: case 3:
            ds_warm_put(wk->w, mkh(ns, key, h, "value"));
            break;
        case 4: case 5: {
            ds_entry *e = ds_warm_take(wk->w, ns, key, strlen(key), h);
            if (e)
                ds_entry_decref(e, NULL);
            break;
        }
        case 6: case 7:
            ds_warm_remove(wk->w, ns, key, strlen(key), h);
            break;
        case 8:
            (void)ds_warm_contains(wk->w, ns, key, strlen(key), h);
            break;
        default:
            if ((rnd >> 32) % 500 == 0)
                ds_warm_clear(wk->w, ns);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    size_t fp = small_fp();
    ds_warm *w = ds_warm_new(500 * (fp + 16), NULL);
    pthread_t th[3];
    worker wk[3];
    for (int i = 0; i < 3; i++) {
        wk[i] = (worker){w, i};
        pthread_create(&th[i], NULL, worker_main, &wk[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    ds_warm_stats st;
    ds_warm_get_stats(w, &st);
    CHECK(st.bytes <= st.max_bytes);
    CHECK(st.entries > 0);
    ds_warm_free(w);
}

int main(void)
{
    RUN_TEST(test_put_take_contains);
    RUN_TEST(test_byte_bound_lru);
    RUN_TEST(test_oversize_and_disabled);
    RUN_TEST(test_remove_and_clear);
    RUN_TEST(test_many_keys_and_collisions);
    RUN_TEST(test_aux_retire_on_eviction);
    RUN_TEST(test_threads);
    return CHECK_DONE();
}
