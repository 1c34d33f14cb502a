/* Unit tests of the hot map (src/core/hotmap.c). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dictsqlite/hotmap.h"
#include "test_entries.h"


/* peek_aux, checking its contract: a reference is handed out exactly when
 * the key is present without a cached object; it is released here. */
static int peek_aux_checked(ds_hotmap *m, uint32_t ns, const char *key, size_t klen,
                            uint64_t hash, void **aux, ds_retire *r)
{
    ds_entry *ref = NULL;
    int found = ds_hotmap_peek_aux(m, ns, key, klen, hash, aux, &ref);
    CHECK((found && *aux == NULL) == (ref != NULL));
    if (ref)
        ds_entry_decref(ref, r);
    return found;
}


static ds_entry *mkh(uint32_t ns, const char *key, uint64_t hash, const char *val)
{
    return entry_with_hash(ns, key, hash, val, 0);
}




static ds_entry *get(ds_hotmap *m, uint32_t ns, const char *key)
{
    return ds_hotmap_get(m, ns, key, strlen(key), key_hash(ns, key));
}

static int has(ds_hotmap *m, uint32_t ns, const char *key)
{
    return ds_hotmap_contains(m, ns, key, strlen(key), key_hash(ns, key));
}

/* Put without eviction expectations. */
static void put(ds_hotmap *m, ds_entry *e)
{
    size_t nev = 99;
    CHECK_EQ_INT(ds_hotmap_put(m, e, NULL, NULL, 0, &nev), DS_OK);
    CHECK_EQ_INT(nev, 0);
}

static void test_put_get_replace_remove(void)
{
    ds_hotmap *m = ds_hotmap_new(4, 0, 0, NULL);
    CHECK(m != NULL);
    CHECK_EQ_INT(ds_hotmap_nshards(m), 4);
    CHECK(get(m, 0, "a") == NULL);

    ds_entry *a1 = mk(0, "a", "one");
    int replaced = -1;
    CHECK_EQ_INT(ds_hotmap_put(m, a1, &replaced, NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(replaced, 0);
    CHECK_EQ_INT(ds_hotmap_size(m), 1);
    CHECK(has(m, 0, "a"));
    CHECK(!has(m, 0, "b"));

    ds_entry *g = get(m, 0, "a");
    CHECK(g == a1);
    CHECK_EQ_INT(refs(a1), 2); /* the map's and ours */
    ds_entry_decref(g, NULL);

    ds_entry_incref(a1); /* watch a1 outlive its replacement */
    ds_entry *a2 = mk(0, "a", "two");
    CHECK_EQ_INT(ds_hotmap_put(m, a2, &replaced, NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(replaced, 1);
    CHECK_EQ_INT(refs(a1), 1); /* the map let go of it */
    ds_entry_decref(a1, NULL);
    CHECK_EQ_INT(ds_hotmap_size(m), 1);
    g = get(m, 0, "a");
    CHECK(g == a2 && value_is(g, "two"));
    ds_entry_decref(g, NULL);

    /* the same entry pointer put twice keeps exactly one map reference */
    ds_entry_incref(a2);
    CHECK_EQ_INT(ds_hotmap_put(m, a2, &replaced, NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(replaced, 1);
    CHECK_EQ_INT(refs(a2), 1);

    ds_entry *r = ds_hotmap_remove(m, 0, "a", 1, key_hash(0, "a"));
    CHECK(r == a2);
    CHECK_EQ_INT(refs(r), 1); /* the map's reference is now ours */
    ds_entry_decref(r, NULL);
    CHECK(ds_hotmap_remove(m, 0, "a", 1, key_hash(0, "a")) == NULL);
    CHECK_EQ_INT(ds_hotmap_size(m), 0);
    CHECK(!has(m, 0, "a"));
    ds_hotmap_free(m);
}

static void test_empty_key_and_binary_key(void)
{
    ds_hotmap *m = ds_hotmap_new(1, 0, 0, NULL);
    ds_entry *e = ds_entry_new(0, "", 0, ds_hash_bytes("", 0), DS_CODEC_BYTES, NULL, 0, 0);
    put(m, e);
    const char bin[] = {'x', 0, 'y'};
    uint64_t hb = ds_hash_bytes(bin, 3);
    put(m, ds_entry_new(0, bin, 3, hb, DS_CODEC_BYTES, "v", 1, 0));
    CHECK(ds_hotmap_contains(m, 0, "", 0, ds_hash_bytes("", 0)));
    CHECK(ds_hotmap_contains(m, 0, bin, 3, hb));
    CHECK(!ds_hotmap_contains(m, 0, "x", 1, hb)); /* prefix, same hash */
    ds_hotmap_free(m);
}

static void test_stats_and_counting(void)
{
    ds_hotmap *m = ds_hotmap_new(2, 100, 1, NULL);
    ds_entry *a = mk(0, "a", "1"), *b = mk(0, "b", "22");
    put(m, a);
    put(m, b);
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.entries, 2);
    CHECK(st.bytes >= ds_entry_footprint(a) + ds_entry_footprint(b));
    CHECK_EQ_INT(st.hits + st.misses + st.evictions, 0);

    CHECK(has(m, 0, "a") && !has(m, 0, "zz")); /* contains counts nothing */
    ds_entry_decref(get(m, 0, "a"), NULL);
    CHECK(get(m, 0, "zz") == NULL);
    void *aux = (void *)1;
    CHECK_EQ_INT(peek_aux_checked(m, 0, "b", 1, key_hash(0, "b"), &aux, NULL), 1);
    CHECK(aux == NULL);
    CHECK_EQ_INT(peek_aux_checked(m, 0, "q", 1, key_hash(0, "q"), &aux, NULL), 0);
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.hits, 2);
    CHECK_EQ_INT(st.misses, 2);
    CHECK_EQ_INT(st.evictions, 0);

    size_t before = st.bytes, fb = ds_entry_footprint(b);
    ds_entry_decref(ds_hotmap_remove(m, 0, "b", 1, key_hash(0, "b")), NULL);
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.entries, 1);
    CHECK_EQ_INT(before - st.bytes, fb);
    ds_hotmap_free(m);
}

static void test_many_keys_growth(void)
{
    enum { N = 200000 };
    ds_hotmap *m = ds_hotmap_new(4, 0, 0, NULL);
    char key[32], val[32];
    size_t fp_sum = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "v%d", i);
        ds_entry *e = mk(0, key, val);
        fp_sum += ds_entry_footprint(e);
        /* the writer's hint, across every table size the map grows through
         * (no effect to check; ASan checks it reads nothing it may not) */
        ds_hotmap_prefetch(m, e->hash);
        ds_hotmap_prefetch(m, ~e->hash);
        put(m, e);
    }
    CHECK_EQ_INT(ds_hotmap_size(m), N);
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.entries, N);
    /* the tables add at least 12 bytes per entry: 8-byte slots at most 2/3
     * full */
    CHECK(st.bytes >= fp_sum + (size_t)N * 12);

    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "v%d", i);
        ds_entry *e = get(m, 0, key);
        bad += !value_is(e, val);
        if (e)
            ds_entry_decref(e, NULL);
    }
    CHECK_EQ_INT(bad, 0);

    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "key-%d", i);
        ds_entry *e = ds_hotmap_remove(m, 0, key, strlen(key), key_hash(0, key));
        bad += e == NULL;
        if (e)
            ds_entry_decref(e, NULL);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ds_hotmap_size(m), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        bad += has(m, 0, key) != (i % 2);
    }
    CHECK_EQ_INT(bad, 0);
    ds_hotmap_free(m);
}

static void test_hash_collisions(void)
{
    ds_hotmap *m = ds_hotmap_new(2, 0, 0, NULL);
    const uint64_t H = 0x8000000000000005ULL;
    char key[16];
    /* 40 keys with the very same hash, and 40 that share only the slot bits
     * (differences above bit 32 stay inside one shard for a long time) */
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "same%d", i);
        put(m, mkh(0, key, H, key));
        snprintf(key, sizeof key, "near%d", i);
        put(m, mkh(0, key, H | ((uint64_t)(i + 1) << 32), key));
    }
    CHECK_EQ_INT(ds_hotmap_size(m), 80);
    /* the same hash with another namespace or key is a different key */
    CHECK(!ds_hotmap_contains(m, 1, "same3", 5, H));
    CHECK(!ds_hotmap_contains(m, 0, "same", 4, H));
    CHECK(!ds_hotmap_contains(m, 0, "same3", 5, H ^ 1));

    /* remove from the middle of the cluster, then check every survivor */
    for (int i = 0; i < 40; i += 3) {
        snprintf(key, sizeof key, "same%d", i);
        ds_entry *e = ds_hotmap_remove(m, 0, key, strlen(key), H);
        CHECK(e != NULL);
        if (e)
            ds_entry_decref(e, NULL);
        snprintf(key, sizeof key, "near%d", i);
        e = ds_hotmap_remove(m, 0, key, strlen(key), H | ((uint64_t)(i + 1) << 32));
        CHECK(e != NULL);
        if (e)
            ds_entry_decref(e, NULL);
    }
    int bad = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "same%d", i);
        ds_entry *e = ds_hotmap_get(m, 0, key, strlen(key), H);
        bad += (e != NULL) != (i % 3 != 0);
        if (e) {
            bad += !value_is(e, key);
            ds_entry_decref(e, NULL);
        }
        snprintf(key, sizeof key, "near%d", i);
        bad += ds_hotmap_contains(m, 0, key, strlen(key), H | ((uint64_t)(i + 1) << 32)) !=
               (i % 3 != 0);
    }
    CHECK_EQ_INT(bad, 0);
    ds_hotmap_free(m);
}

/* Hashes for the differential test. */
enum {
    H_CLUSTER, /* low bits 5, 6 or 7: runs wrap past the end of a small table */
    H_ALL_ONES, /* the 32 low bits set: every key starts probing at the last
                 * slot whatever the table size (tags differ) */
    H_SAME,    /* one hash for all: only namespace and key bytes differ */
    H_SAME_TAG, /* one home slot and one tag (hash bits 32..47), hashes that
                 * differ above them: tag matches that the entry rejects */
    H_REAL,
};

static uint64_t diff_hash(int mode, int k, uint32_t ns, const char *key)
{
    switch (mode) {
    case H_CLUSTER:
        return (uint64_t)(5 + k % 3) | ((uint64_t)(k / 3) << 3);
    case H_ALL_ONES:
        return 0xFFFFFFFFULL | ((uint64_t)k << 32);
    case H_SAME:
        return 0x5555555555555555ULL;
    case H_SAME_TAG:
        return 0x0000123400000005ULL | ((uint64_t)k << 48);
    default:
        return key_hash(ns, key);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Random operations compared with a plain array: puts, removes, clears of
 * one namespace or all, in alternating phases that grow the map and then
 * delete most of it, so that DUMMY slots (reused or cleaned up), rebuilds
 * (growing and shrinking) and clears of one namespace all happen. Every key is checked every
 * check_every steps. With lru the bound is never reached: same
 * expectations. */
static void differential(int K, int nns, size_t nshards, int lru, int mode, int steps,
                         int check_every)
{
    ds_hotmap *m = ds_hotmap_new(nshards, lru ? (size_t)(2 * K * nns) + nshards : 0, lru, NULL);
    int *present = calloc((size_t)(K * nns), sizeof(int));
    int *version = calloc((size_t)(K * nns), sizeof(int));
    char key[16], val[16];
    uint64_t rnd = 0x1234567 + (uint64_t)K * 31 + (uint64_t)mode;
    int bad = 0;
    for (int step = 0; step < steps && !bad; step++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        int k = (int)(rnd % (uint64_t)K), op = (int)((rnd >> 8) % 16);
        uint32_t ns = (uint32_t)((rnd >> 24) % (uint64_t)nns);
        int *pr = &present[ns * (uint32_t)K + (uint32_t)k];
        int *ver = &version[ns * (uint32_t)K + (uint32_t)k];
        int growing = (step / 997) % 2 == 0;
        snprintf(key, sizeof key, "k%d", k);
        uint64_t h = diff_hash(mode, k, ns, key);
        if (op < (growing ? 10 : 4)) {
            ++*ver;
            snprintf(val, sizeof val, "%d", *ver);
            int replaced = -1;
            ds_hotmap_put(m, mkh(ns, key, h, val), &replaced, NULL, 0, NULL);
            bad += replaced != *pr;
            *pr = 1;
        } else if (op < 15) {
            ds_entry *e = ds_hotmap_remove(m, ns, key, strlen(key), h);
            bad += (e != NULL) != *pr;
            if (e)
                ds_entry_decref(e, NULL);
            *pr = 0;
        } else if ((rnd >> 40) % 64 == 0) {
            ds_hotmap_clear(m, ns);
            memset(present + ns * (uint32_t)K, 0, (size_t)K * sizeof(int));
        } else if ((rnd >> 40) % 64 == 1) {
            ds_hotmap_clear(m, UINT32_MAX);
            memset(present, 0, (size_t)(K * nns) * sizeof(int));
        }
        if (step % check_every != 0 && step != steps - 1)
            continue;
        size_t live = 0;
        for (uint32_t n = 0; n < (uint32_t)nns; n++)
            for (int j = 0; j < K; j++) {
                snprintf(key, sizeof key, "k%d", j);
                h = diff_hash(mode, j, n, key);
                int want = present[n * (uint32_t)K + (uint32_t)j];
                live += (size_t)want;
                ds_entry *e = ds_hotmap_get(m, n, key, strlen(key), h);
                bad += (e != NULL) != want;
                bad += ds_hotmap_contains(m, n, key, strlen(key), h) != want;
                if (e) {
                    snprintf(val, sizeof val, "%d", version[n * (uint32_t)K + (uint32_t)j]);
                    bad += !value_is(e, val);
                    ds_entry_decref(e, NULL);
                }
            }
        bad += ds_hotmap_size(m) != live;
    }
    CHECK_EQ_INT(bad, 0);
    /* collect sees exactly the live keys of each namespace */
    for (uint32_t n = 0; n < (uint32_t)nns; n++) {
        ds_entry **items = NULL;
        size_t cnt = ds_hotmap_collect(m, n, &items), want = 0;
        for (int j = 0; j < K; j++)
            want += (size_t)present[n * (uint32_t)K + (uint32_t)j];
        CHECK_EQ_INT(cnt, want);
        for (size_t i = 0; i < cnt; i++) {
            int j = atoi(ds_entry_key(items[i]) + 1);
            CHECK(items[i]->ns == n && present[n * (uint32_t)K + (uint32_t)j]);
            ds_entry_decref(items[i], NULL);
        }
        free(items);
        /* and key_hashes exactly their key hashes */
        uint64_t *hashes = NULL, *expect = malloc((want + 1) * sizeof(*expect));
        CHECK_EQ_INT(ds_hotmap_key_hashes(m, n, &hashes), want);
        size_t w = 0;
        for (int j = 0; j < K; j++) {
            if (!present[n * (uint32_t)K + (uint32_t)j])
                continue;
            snprintf(key, sizeof key, "k%d", j);
            expect[w++] = ds_hash_bytes(key, strlen(key));
        }
        qsort(expect, w, sizeof(*expect), cmp_u64);
        if (want)
            qsort(hashes, want, sizeof(*hashes), cmp_u64);
        CHECK(want == 0 || memcmp(hashes, expect, want * sizeof(*expect)) == 0);
        free(hashes);
        free(expect);
    }
    uint64_t *all = NULL;
    CHECK_EQ_INT(ds_hotmap_key_hashes(m, UINT32_MAX, &all), ds_hotmap_size(m));
    free(all);
    free(present);
    free(version);
    ds_hotmap_free(m);
}

static void test_differential_small_table(void)
{
    differential(6, 1, 1, 0, H_CLUSTER, 20000, 1); /* stays within 8 slots: runs wrap */
    differential(24, 1, 1, 0, H_CLUSTER, 20000, 1); /* grows and shrinks */
    differential(24, 1, 1, 1, H_CLUSTER, 20000, 1);
    differential(5, 1, 1, 0, H_ALL_ONES, 20000, 1);
    differential(24, 2, 1, 0, H_ALL_ONES, 20000, 1);
    differential(12, 2, 1, 1, H_SAME, 20000, 1);
    differential(24, 2, 1, 0, H_SAME_TAG, 20000, 1);
}

static void test_differential_large(void)
{
    differential(400, 3, 1, 0, H_REAL, 60000, 97);
    differential(400, 3, 4, 1, H_REAL, 60000, 97);
    differential(300, 2, 2, 0, H_ALL_ONES, 40000, 97);
    differential(300, 2, 1, 0, H_CLUSTER, 40000, 97);
    differential(300, 2, 1, 0, H_SAME_TAG, 40000, 97);
}

/* Bytes of the tables alone (stats minus the entries' footprints). */
static size_t table_bytes(ds_hotmap *m)
{
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    ds_entry **items = NULL;
    size_t n = ds_hotmap_collect(m, UINT32_MAX, &items), fp = 0;
    for (size_t i = 0; i < n; i++) {
        fp += ds_entry_footprint(items[i]);
        ds_entry_decref(items[i], NULL);
    }
    free(items);
    CHECK_EQ_INT(n, st.entries);
    return st.bytes - fp;
}

/* Rounds of deleting most keys and inserting new ones: the holes and DUMMY
 * slots they leave must be reclaimed (the tables stay proportional to the
 * live keys) and no key may get lost or resurrected on the way. */
static void test_delete_insert_churn(void)
{
    enum { LIVE = 3000, ROUNDS = 12, SH = 2 };
    ds_hotmap *m = ds_hotmap_new(SH, 0, 0, NULL);
    char key[32], val[32];
    int next = 0, bad = 0;
    int *alive = calloc(LIVE * (ROUNDS + 1), sizeof(int));
    size_t peak = 0;
    for (int round = 0; round <= ROUNDS; round++) {
        for (int i = 0; i < LIVE; i++, next++) { /* insert a fresh batch */
            snprintf(key, sizeof key, "c%d", next);
            snprintf(val, sizeof val, "v%d", next);
            put(m, mk(0, key, val));
            alive[next] = 1;
        }
        /* delete 90% of all live keys, scattered */
        uint64_t rnd = 0x9E3779B97F4A7C15ULL ^ (uint64_t)round;
        for (int j = 0; j < next; j++) {
            rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
            if (!alive[j] || rnd % 10 == 0)
                continue;
            snprintf(key, sizeof key, "c%d", j);
            ds_entry *e = ds_hotmap_remove(m, 0, key, strlen(key), key_hash(0, key));
            bad += e == NULL;
            if (e)
                ds_entry_decref(e, NULL);
            alive[j] = 0;
        }
        size_t tb = table_bytes(m);
        if (tb > peak)
            peak = tb;
    }
    size_t live = 0;
    for (int j = 0; j < next; j++) {
        snprintf(key, sizeof key, "c%d", j);
        snprintf(val, sizeof val, "v%d", j);
        ds_entry *e = get(m, 0, key);
        bad += (e != NULL) != alive[j];
        if (e) {
            bad += !value_is(e, val);
            ds_entry_decref(e, NULL);
        }
        live += (size_t)alive[j];
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ds_hotmap_size(m), live);
    /* at most about LIVE + live keys at once: 64 bytes of table per key is
     * already generous (about 30 without deletions) */
    CHECK(peak < (size_t)(LIVE + live) * 64 + 4096);
    free(alive);
    ds_hotmap_free(m);
}

/* clear(ns) on shards holding several namespaces and holes from earlier
 * deletions; then clear(UINT32_MAX) gives the grown tables back. */
static void test_clear_mixed_namespaces(void)
{
    enum { K = 2000, NS = 4 };
    ds_hotmap *m = ds_hotmap_new(4, 0, 0, NULL);
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    size_t empty_bytes = st.bytes;
    char key[32], val[32];
    for (int i = 0; i < K; i++) /* interleaved, so every shard mixes them */
        for (uint32_t ns = 0; ns < NS; ns++) {
            snprintf(key, sizeof key, "m%d", i);
            snprintf(val, sizeof val, "%u-%d", ns, i);
            put(m, mk(ns, key, val));
        }
    for (int i = 0; i < K; i += 3) /* holes in every namespace */
        for (uint32_t ns = 0; ns < NS; ns++) {
            snprintf(key, sizeof key, "m%d", i);
            ds_entry_decref(ds_hotmap_remove(m, ns, key, strlen(key), key_hash(ns, key)), NULL);
        }
    ds_hotmap_clear(m, 1);
    ds_hotmap_clear(m, 3);
    int bad = 0;
    for (int i = 0; i < K; i++)
        for (uint32_t ns = 0; ns < NS; ns++) {
            snprintf(key, sizeof key, "m%d", i);
            snprintf(val, sizeof val, "%u-%d", ns, i);
            ds_entry *e = ds_hotmap_get(m, ns, key, strlen(key), key_hash(ns, key));
            int want = (ns == 0 || ns == 2) && i % 3 != 0;
            bad += (e != NULL) != want;
            if (e) {
                bad += !value_is(e, val);
                ds_entry_decref(e, NULL);
            }
        }
    CHECK_EQ_INT(bad, 0);
    size_t kept = 2 * (size_t)(K - (K + 2) / 3);
    CHECK_EQ_INT(ds_hotmap_size(m), kept);
    ds_entry **items = NULL;
    CHECK_EQ_INT(ds_hotmap_collect(m, 1, &items), 0);
    free(items);
    /* the cleared namespaces take new keys, the others still answer */
    for (int i = 0; i < K; i++) {
        snprintf(key, sizeof key, "n%d", i);
        put(m, mk(3, key, "new"));
    }
    for (int i = 0; i < K; i++) {
        snprintf(key, sizeof key, "n%d", i);
        bad += !has(m, 3, key) || has(m, 1, key);
        snprintf(key, sizeof key, "m%d", i);
        bad += has(m, 2, key) != (i % 3 != 0);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(ds_hotmap_size(m), kept + K);

    ds_hotmap_clear(m, UINT32_MAX);
    CHECK_EQ_INT(ds_hotmap_size(m), 0);
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.bytes, empty_bytes); /* back to the starting tables */
    put(m, mk(0, "again", "v"));
    CHECK(has(m, 0, "again"));
    ds_hotmap_free(m);
}

static void test_namespaces(void)
{
    ds_hotmap *m = ds_hotmap_new(4, 0, 0, NULL);
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        for (uint32_t ns = 0; ns < 3; ns++)
            put(m, mk(ns, key, ns == 0 ? "zero" : ns == 1 ? "one" : "two"));
    }
    /* also the same key with the same (crafted) hash in two namespaces */
    put(m, mkh(1, "x", 42, "x1"));
    put(m, mkh(2, "x", 42, "x2"));
    CHECK_EQ_INT(ds_hotmap_size(m), 302);
    ds_entry *e = ds_hotmap_get(m, 2, "x", 1, 42);
    CHECK(value_is(e, "x2"));
    ds_entry_decref(e, NULL);
    e = get(m, 1, "k7");
    CHECK(value_is(e, "one"));
    ds_entry_decref(e, NULL);

    ds_entry **items = NULL;
    size_t n = ds_hotmap_collect(m, 2, &items);
    CHECK_EQ_INT(n, 101);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += items[i]->ns != 2;
        ds_entry_decref(items[i], NULL);
    }
    free(items);
    CHECK_EQ_INT(bad, 0);

    ds_hotmap_clear(m, 1);
    CHECK_EQ_INT(ds_hotmap_size(m), 201);
    CHECK(!ds_hotmap_contains(m, 1, "x", 1, 42));
    CHECK(ds_hotmap_contains(m, 2, "x", 1, 42));
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        bad += has(m, 1, key) || !has(m, 0, key) || !has(m, 2, key);
    }
    CHECK_EQ_INT(bad, 0);
    ds_hotmap_clear(m, 7); /* no such namespace: a no-op */
    CHECK_EQ_INT(ds_hotmap_size(m), 201);
    ds_hotmap_clear(m, UINT32_MAX);
    CHECK_EQ_INT(ds_hotmap_size(m), 0);
    n = ds_hotmap_collect(m, UINT32_MAX, &items);
    CHECK_EQ_INT(n, 0);
    free(items);
    /* still usable after a clear */
    put(m, mk(0, "again", "v"));
    CHECK(has(m, 0, "again"));
    ds_hotmap_free(m);
}

/* put that expects up to max evictions; returns how many, releasing them
 * after recording their keys in out (if not NULL). */
static size_t put_ev(ds_hotmap *m, ds_entry *e, size_t max, char out[][16])
{
    ds_entry *ev[16];
    size_t n = 99;
    CHECK_EQ_INT(ds_hotmap_put(m, e, NULL, ev, max, &n), DS_OK);
    for (size_t i = 0; i < n; i++) {
        CHECK(ev[i] != e);
        if (out)
            snprintf(out[i], 16, "%s", ds_entry_key(ev[i]));
        ds_entry_decref(ev[i], NULL);
    }
    return n;
}

/* Entries whose hash is their home slot, so the clock hand's order (slot
 * order) is known. Tables of these tests start with 8 or more slots. */
static ds_entry *at_slot(const char *key, uint64_t slot)
{
    return mkh(0, key, slot, "1");
}

static int has_at(ds_hotmap *m, const char *key, uint64_t slot)
{
    return ds_hotmap_contains(m, 0, key, strlen(key), slot);
}

static void read_at(ds_hotmap *m, const char *key, uint64_t slot)
{
    ds_entry *e = ds_hotmap_get(m, 0, key, strlen(key), slot);
    CHECK(e != NULL);
    ds_entry_decref(e, NULL);
}

/* CLOCK: every put and read marks its entry; the hand clears the marks it
 * passes and takes the first entry it finds unmarked. */
static void test_clock_eviction_order(void)
{
    ds_hotmap *m = ds_hotmap_new(1, 3, 1, NULL);
    char out[16][16];
    void *aux;
    CHECK_EQ_INT(put_ev(m, at_slot("a", 0), 4, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("b", 1), 4, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("c", 2), 4, out), 0);
    /* all marked: a full turn clears them, then the first is taken */
    CHECK_EQ_INT(put_ev(m, at_slot("d", 3), 4, out), 1);
    CHECK(strcmp(out[0], "a") == 0);
    /* a read marks b, so the hand passes it and takes c */
    read_at(m, "b", 1);
    CHECK_EQ_INT(put_ev(m, at_slot("e", 4), 4, out), 1);
    CHECK(strcmp(out[0], "c") == 0);
    /* contains marks nothing: d goes next */
    CHECK(has_at(m, "d", 3));
    CHECK_EQ_INT(put_ev(m, at_slot("f", 5), 4, out), 1);
    CHECK(strcmp(out[0], "d") == 0);
    /* b (cleared) would be next after e and f; replacing it marks it */
    CHECK_EQ_INT(put_ev(m, mkh(0, "b", 1, "2"), 4, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("g", 6), 4, out), 1);
    CHECK(strcmp(out[0], "e") == 0);
    CHECK(has_at(m, "b", 1));
    /* the binding's read (peek_aux) marks too: f is passed, g goes */
    CHECK_EQ_INT(peek_aux_checked(m, 0, "f", 1, 5, &aux, NULL), 1);
    CHECK_EQ_INT(put_ev(m, at_slot("h", 7), 4, out), 1);
    CHECK(strcmp(out[0], "g") == 0);
    CHECK_EQ_INT(ds_hotmap_size(m), 3);
    /* a removal frees a place: the next put evicts nothing */
    ds_entry_decref(ds_hotmap_remove(m, 0, "b", 1, 1), NULL);
    CHECK_EQ_INT(put_ev(m, at_slot("i", 8), 4, out), 0);
    CHECK(has_at(m, "f", 5) && has_at(m, "h", 7) && has_at(m, "i", 8));
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.evictions, 5);
    ds_hotmap_free(m);
}

/* A sweep over a shard whose entries are all marked ends after one turn,
 * and leaves them cleared: the next evictions take them in hand order,
 * except those read again since. */
static void test_clock_full_turn(void)
{
    ds_hotmap *m = ds_hotmap_new(1, 64, 1, NULL);
    char key[16], out[16][16];
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        CHECK_EQ_INT(put_ev(m, at_slot(key, (uint64_t)i), 4, out), 0);
        read_at(m, key, (uint64_t)i);
    }
    CHECK_EQ_INT(put_ev(m, at_slot("n0", 64), 4, out), 1);
    CHECK(strcmp(out[0], "k00") == 0);
    CHECK_EQ_INT(put_ev(m, at_slot("n1", 65), 4, out), 1);
    CHECK(strcmp(out[0], "k01") == 0);
    read_at(m, "k03", 3);
    CHECK_EQ_INT(put_ev(m, at_slot("n2", 66), 4, out), 1);
    CHECK(strcmp(out[0], "k02") == 0);
    CHECK_EQ_INT(put_ev(m, at_slot("n3", 67), 4, out), 1);
    CHECK(strcmp(out[0], "k04") == 0);
    CHECK(has_at(m, "k03", 3));
    ds_hotmap_free(m);
}

static void test_lru_overflow_and_self(void)
{
    char out[16][16];
    /* capacity 1: the entry just inserted is never the victim */
    ds_hotmap *m = ds_hotmap_new(1, 1, 1, NULL);
    CHECK_EQ_INT(put_ev(m, mk(0, "a", "1"), 4, out), 0);
    CHECK_EQ_INT(put_ev(m, mk(0, "b", "1"), 4, out), 1);
    CHECK(strcmp(out[0], "a") == 0);
    CHECK(has(m, 0, "b"));
    ds_hotmap_free(m);

    /* no room to hand victims back: keep them rather than lose them */
    m = ds_hotmap_new(1, 2, 1, NULL);
    CHECK_EQ_INT(put_ev(m, at_slot("a", 0), 0, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("b", 1), 0, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("c", 2), 0, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("d", 3), 1, out), 1); /* a; still 3 */
    CHECK(strcmp(out[0], "a") == 0);
    CHECK_EQ_INT(ds_hotmap_size(m), 3);
    CHECK(ds_hotmap_put(m, at_slot("e", 4), NULL, NULL, 5, NULL) == DS_OK);
    CHECK_EQ_INT(ds_hotmap_size(m), 4);
    /* the next put with room catches up, in hand order */
    CHECK_EQ_INT(put_ev(m, at_slot("f", 5), 8, out), 3);
    CHECK(strcmp(out[0], "b") == 0 && strcmp(out[1], "c") == 0 && strcmp(out[2], "d") == 0);
    CHECK_EQ_INT(ds_hotmap_size(m), 2);
    CHECK(has_at(m, "e", 4) && has_at(m, "f", 5));
    ds_hotmap_free(m);
}

static void test_lru_capacity_bound_sharded(void)
{
    enum { N = 20000, CAP = 1000, SH = 8 };
    ds_hotmap *m = ds_hotmap_new(SH, CAP, 1, NULL);
    CHECK_EQ_INT(ds_hotmap_capacity(m), CAP);
    char key[32];
    size_t evicted = 0, max_size = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        evicted += put_ev(m, mk(0, key, "v"), 4, NULL);
        CHECK(has(m, 0, key));
        size_t sz = ds_hotmap_size(m);
        if (sz > max_size)
            max_size = sz;
    }
    CHECK(max_size <= CAP);
    CHECK_EQ_INT(evicted + ds_hotmap_size(m), N);
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.evictions, evicted);
    /* a key outlives at least one turn of its shard's hand, about half as
     * many later puts into its shard as the shard holds (about 125): the
     * last 100 (about 12 a shard) are all there */
    int missing = 0;
    for (int i = N - 100; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        missing += !has(m, 0, key);
    }
    CHECK_EQ_INT(missing, 0);
    ds_hotmap_free(m);
}

/* An LRU shard at its bound evicts on every insert, so each put leaves a
 * hole: the tables must not grow with the number of puts. */
static void test_lru_churn_bounded_tables(void)
{
    enum { CAP = 200, N = 50000 };
    ds_hotmap *m = ds_hotmap_new(1, CAP, 1, NULL);
    char key[32];
    size_t evicted = 0, peak = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "u%d", i);
        evicted += put_ev(m, mk(0, key, "v"), 4, NULL);
        if (i % 1000 == 999) {
            size_t tb = table_bytes(m);
            if (tb > peak)
                peak = tb;
        }
    }
    CHECK_EQ_INT(ds_hotmap_size(m), CAP);
    CHECK_EQ_INT(evicted, N - CAP);
    /* a key outlives at least one turn of the hand, about CAP / 2 puts */
    int missing = 0;
    for (int i = N - CAP / 4; i < N; i++) {
        snprintf(key, sizeof key, "u%d", i);
        missing += !has(m, 0, key);
    }
    CHECK_EQ_INT(missing, 0);
    CHECK(peak < CAP * 64 + 4096);
    ds_hotmap_free(m);
}

#ifdef DS_TESTING
/* Hooks compiled into this test's copy of hotmap.c (see CMakeLists.txt). */
void ds_hotmap_test_set_wide(int (*is_wide)(const ds_entry *e));
void ds_hotmap_test_tables(ds_hotmap *m, size_t *slots, size_t *filled,
                           size_t *tagged_shards);
void ds_hotmap_test_fail_rebuilds(int n);

static size_t filled_slots(ds_hotmap *m)
{
    size_t slots, filled, tagged;
    ds_hotmap_test_tables(m, &slots, &filled, &tagged);
    return filled;
}

static size_t tagged_shards(ds_hotmap *m)
{
    size_t slots, filled, tagged;
    ds_hotmap_test_tables(m, &slots, &filled, &tagged);
    return tagged;
}
#endif

/* collect and clear(ns) over shards full of DUMMY slots left by scattered
 * deletions: every live entry exactly once, no deleted one. */
static void test_collect_clear_after_deletes(void)
{
    enum { K = 3000, NS = 3 };
    ds_hotmap *m = ds_hotmap_new(4, 0, 0, NULL);
    char key[32];
    static unsigned char seen[NS][K];
    for (int i = 0; i < K; i++)
        for (uint32_t ns = 0; ns < NS; ns++) {
            snprintf(key, sizeof key, "d%d", i);
            put(m, mk(ns, key, "v"));
        }
    for (int i = 0; i < K; i++) /* 2 of every 3, in every namespace */
        for (uint32_t ns = 0; ns < NS; ns++)
            if (i % 3 != 1) {
                snprintf(key, sizeof key, "d%d", i);
                ds_entry_decref(ds_hotmap_remove(m, ns, key, strlen(key), key_hash(ns, key)),
                                NULL);
            }
    for (int round = 0; round < 2; round++) {
        /* round 1: after clearing namespace 1 */
        ds_entry **items = NULL;
        size_t n = ds_hotmap_collect(m, UINT32_MAX, &items);
        size_t want = (size_t)(K / 3) * (round ? NS - 1 : NS);
        CHECK_EQ_INT(n, want);
        CHECK_EQ_INT(ds_hotmap_size(m), want);
        memset(seen, 0, sizeof seen);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            int j = atoi(ds_entry_key(items[i]) + 1);
            uint32_t ns = items[i]->ns;
            bad += ns >= NS || j < 0 || j >= K || j % 3 != 1 || (round && ns == 1);
            if (ns < NS && j >= 0 && j < K)
                bad += seen[ns][j]++ != 0;
            ds_entry_decref(items[i], NULL);
        }
        free(items);
        CHECK_EQ_INT(bad, 0);
        n = ds_hotmap_collect(m, 2, &items);
        CHECK_EQ_INT(n, K / 3);
        for (size_t i = 0; i < n; i++) {
            bad += items[i]->ns != 2;
            ds_entry_decref(items[i], NULL);
        }
        free(items);
        CHECK_EQ_INT(bad, 0);
        if (round == 0) {
            ds_hotmap_clear(m, 1);
#ifdef DS_TESTING
            /* it rebuilt the shards: no DUMMY left */
            CHECK_EQ_INT(filled_slots(m), ds_hotmap_size(m));
#endif
        }
    }
    /* the survivors still answer, the cleared and deleted keys do not */
    int bad = 0;
    for (int i = 0; i < K; i++)
        for (uint32_t ns = 0; ns < NS; ns++) {
            snprintf(key, sizeof key, "d%d", i);
            bad += has(m, ns, key) != (i % 3 == 1 && ns != 1);
        }
    CHECK_EQ_INT(bad, 0);
    ds_hotmap_clear(m, UINT32_MAX);
    CHECK_EQ_INT(ds_hotmap_size(m), 0);
    ds_entry **items = NULL;
    CHECK_EQ_INT(ds_hotmap_collect(m, UINT32_MAX, &items), 0);
    free(items);
    ds_hotmap_free(m);
}

#ifdef DS_TESTING
/* A deletion inside a probe run leaves a DUMMY, which the next insert on
 * that run reuses; one at the end of a run empties it and the DUMMY slots
 * before it. Keys here share one home slot (one shard of 8 slots). */
static void test_dummy_reuse(void)
{
    ds_hotmap *m = ds_hotmap_new(1, 0, 0, NULL);
    const uint64_t H = 3; /* home slot 3, tag 0 */
    put(m, mkh(0, "a", H, "a"));
    put(m, mkh(0, "b", H | (1ULL << 32), "b")); /* another tag */
    put(m, mkh(0, "c", H, "c"));
    CHECK_EQ_INT(filled_slots(m), 3);
    ds_entry_decref(ds_hotmap_remove(m, 0, "b", 1, H | (1ULL << 32)), NULL);
    CHECK_EQ_INT(filled_slots(m), 3); /* a DUMMY: c lies past it */
    CHECK(ds_hotmap_contains(m, 0, "c", 1, H));
    put(m, mkh(0, "d", H, "d"));
    CHECK_EQ_INT(filled_slots(m), 3); /* took the DUMMY */
    CHECK_EQ_INT(ds_hotmap_size(m), 3);
    ds_entry_decref(ds_hotmap_remove(m, 0, "d", 1, H), NULL);
    CHECK_EQ_INT(filled_slots(m), 3);
    ds_entry_decref(ds_hotmap_remove(m, 0, "c", 1, H), NULL);
    CHECK_EQ_INT(filled_slots(m), 1); /* c's slot and d's DUMMY emptied */
    CHECK(ds_hotmap_contains(m, 0, "a", 1, H));
    CHECK(!ds_hotmap_contains(m, 0, "c", 1, H) && !ds_hotmap_contains(m, 0, "d", 1, H));
    /* a run wrapping past the table's end: home slot 7 */
    put(m, mkh(0, "w0", 7, "w"));
    put(m, mkh(0, "w1", 7, "w"));
    put(m, mkh(0, "w2", 7, "w")); /* slots 7, 0, 1 */
    ds_entry_decref(ds_hotmap_remove(m, 0, "w1", 2, 7), NULL);
    CHECK_EQ_INT(filled_slots(m), 4);
    ds_entry_decref(ds_hotmap_remove(m, 0, "w2", 2, 7), NULL);
    CHECK_EQ_INT(filled_slots(m), 2); /* a and w0 */
    CHECK(ds_hotmap_contains(m, 0, "w0", 2, 7) && ds_hotmap_contains(m, 0, "a", 1, H));
    ds_hotmap_free(m);
}

/* Scattered deletions pile up DUMMY slots; the insert that would take the
 * table past 2/3 full counting them rebuilds it for the live keys only:
 * the table stays proportional to them, and no DUMMY survives a rebuild. */
static void test_rebuild_after_many_deletes(void)
{
    enum { LIVE = 1000, ROUNDS = 40 };
    ds_hotmap *m = ds_hotmap_new(1, 0, 0, NULL);
    char key[32];
    int next = 0, bad = 0, rebuilds = 0;
    size_t max_slots = 0;
    for (; next < LIVE; next++) {
        snprintf(key, sizeof key, "r%d", next);
        put(m, mk(0, key, "v"));
    }
    size_t slots, filled, tagged;
    /* each round: delete the oldest half, insert as many new keys */
    for (int round = 0; round < ROUNDS; round++) {
        for (int j = next - LIVE; j < next - LIVE / 2; j++) {
            snprintf(key, sizeof key, "r%d", j);
            ds_entry *e = ds_hotmap_remove(m, 0, key, strlen(key), key_hash(0, key));
            bad += e == NULL;
            if (e)
                ds_entry_decref(e, NULL);
        }
        for (int j = 0; j < LIVE / 2; j++, next++) {
            ds_hotmap_test_tables(m, &slots, &filled, &tagged);
            size_t before = filled;
            snprintf(key, sizeof key, "r%d", next);
            put(m, mk(0, key, "v"));
            ds_hotmap_test_tables(m, &slots, &filled, &tagged);
            bad += filled * 3 > slots * 2; /* at most 2/3 full */
            if (filled < before) { /* a rebuild: only live keys left */
                rebuilds++;
                bad += filled != ds_hotmap_size(m);
            }
            if (slots > max_slots)
                max_slots = slots;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(rebuilds > 0);
    /* sized by the live keys (at most LIVE: 2048 slots), never by the
     * DUMMY slots */
    CHECK(max_slots <= 2048);
    CHECK_EQ_INT(ds_hotmap_size(m), LIVE);
    for (int j = 0; j < next; j++) {
        snprintf(key, sizeof key, "r%d", j);
        bad += has(m, 0, key) != (j >= next - LIVE);
    }
    CHECK_EQ_INT(bad, 0);
    ds_hotmap_free(m);
}

/* Entries that the hook makes count as too wide for a tagged slot. */
static int wide_if_marked(const ds_entry *e) { return e->klen > 0 && e->data[0] == '!'; }
static int wide_if_ends_in_7(const ds_entry *e)
{
    return e->klen > 0 && e->data[e->klen - 1] == '7';
}

/* The untagged fallback: an entry whose address needs the tag bits switches
 * its shard, populated, DUMMY slots and all, to plain pointers; lookups,
 * replacement, eviction and rebuilds go on working. Entries here are real,
 * so their addresses fit; the hook makes chosen ones count as too wide. */
/* A put that needs a larger table and cannot get one returns DS_NOMEM with
 * the map unchanged and the entry still the caller's (the engine then
 * removes the key's old entry itself and releases this one). A replacement
 * needs no room, so it still succeeds. */
static void test_put_out_of_memory(void)
{
    ds_hotmap *m = ds_hotmap_new(1, 0, 0, NULL); /* 8 slots, 5 usable */
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put(m, mk(0, key, "v"));
    }
    ds_hotmap_test_fail_rebuilds(1);
    ds_entry *e = mk(0, "new", "v");
    int replaced = -1;
    size_t nev = 99;
    CHECK_EQ_INT(ds_hotmap_put(m, e, &replaced, NULL, 0, &nev), DS_NOMEM);
    CHECK_EQ_INT(replaced, 0);
    CHECK_EQ_INT(nev, 0);
    CHECK_EQ_INT(refs(e), 1); /* ours, not released */
    CHECK_EQ_INT(ds_hotmap_size(m), 5);
    CHECK(!has(m, 0, "new"));
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(has(m, 0, key));
    }
    ds_hotmap_test_fail_rebuilds(1);
    CHECK_EQ_INT(ds_hotmap_put(m, mk(0, "k3", "w"), &replaced, NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(replaced, 1);
    ds_hotmap_test_fail_rebuilds(0);
    /* with room again, the same entry goes in */
    CHECK_EQ_INT(ds_hotmap_put(m, e, &replaced, NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(ds_hotmap_size(m), 6);
    CHECK(has(m, 0, "new"));
    ds_hotmap_free(m);
}

static void test_untagged_fallback(void)
{
    char key[32], val[32];
    ds_hotmap *m = ds_hotmap_new(2, 0, 0, NULL);
    ds_hotmap_test_set_wide(wide_if_marked);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "t%d", i);
        put(m, mk(0, key, key));
    }
    for (int i = 0; i < 2000; i += 3) {
        snprintf(key, sizeof key, "t%d", i);
        ds_entry_decref(ds_hotmap_remove(m, 0, key, strlen(key), key_hash(0, key)), NULL);
    }
    CHECK_EQ_INT(tagged_shards(m), 2);
    /* a new key that does not fit untags its shard */
    put(m, mk(0, "!first", "v"));
    CHECK_EQ_INT(tagged_shards(m), 1);
    CHECK(has(m, 0, "!first"));
    int bad = 0;
    /* more of them, until both shards are untagged */
    for (int i = 0; i < 64 && tagged_shards(m) > 0; i++) {
        snprintf(key, sizeof key, "!x%d", i);
        put(m, mk(0, key, key));
    }
    CHECK_EQ_INT(tagged_shards(m), 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "t%d", i);
        ds_entry *g = get(m, 0, key);
        bad += (g != NULL) != (i % 3 != 0);
        if (g) {
            bad += !value_is(g, key);
            ds_entry_decref(g, NULL);
        }
    }
    /* replacement, growth, deletes in untagged mode */
    put(m, mk(0, "t1", "new"));
    for (int i = 2000; i < 6000; i++) {
        snprintf(key, sizeof key, "t%d", i);
        put(m, mk(0, key, key));
    }
    for (int i = 0; i < 6000; i += 2) {
        snprintf(key, sizeof key, "t%d", i);
        ds_entry *r = ds_hotmap_remove(m, 0, key, strlen(key), key_hash(0, key));
        if (r)
            ds_entry_decref(r, NULL);
    }
    for (int i = 0; i < 6000; i++) {
        snprintf(key, sizeof key, "t%d", i);
        snprintf(val, sizeof val, "%s", i == 1 ? "new" : key);
        ds_entry *g = get(m, 0, key);
        bad += (g != NULL) != (i % 2 == 1 && (i >= 2000 || i % 3 != 0));
        if (g) {
            bad += !value_is(g, val);
            ds_entry_decref(g, NULL);
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(tagged_shards(m), 0); /* for good */
    ds_hotmap_free(m);

    /* a replacement that does not fit untags its shard too */
    m = ds_hotmap_new(1, 0, 0, NULL);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "r%d", i);
        put(m, mk(0, key, key));
    }
    ds_hotmap_test_set_wide(wide_if_ends_in_7);
    int replaced = 0;
    CHECK_EQ_INT(ds_hotmap_put(m, mk(0, "r17", "new"), &replaced, NULL, 0, NULL), DS_OK);
    CHECK_EQ_INT(replaced, 1);
    CHECK_EQ_INT(tagged_shards(m), 0);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "r%d", i);
        ds_entry *g = get(m, 0, key);
        bad += !value_is(g, i == 17 ? "new" : key);
        if (g)
            ds_entry_decref(g, NULL);
    }
    CHECK_EQ_INT(bad, 0);
    ds_hotmap_free(m);

    /* the clock's reference bits work in an untagged shard too */
    char out[16][16];
    ds_hotmap_test_set_wide(wide_if_marked);
    m = ds_hotmap_new(1, 3, 1, NULL);
    CHECK_EQ_INT(put_ev(m, at_slot("a", 0), 4, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("!b", 1), 4, out), 0);
    CHECK_EQ_INT(tagged_shards(m), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("c", 2), 4, out), 0);
    CHECK_EQ_INT(put_ev(m, at_slot("d", 3), 4, out), 1);
    CHECK(strcmp(out[0], "a") == 0);
    read_at(m, "!b", 1);
    CHECK_EQ_INT(put_ev(m, at_slot("e", 4), 4, out), 1);
    CHECK(strcmp(out[0], "c") == 0);
    CHECK(has_at(m, "!b", 1) && has_at(m, "d", 3) && has_at(m, "e", 4));
    ds_hotmap_free(m);

    /* the differential test with shards that turn untagged on the way (at
     * the first key ending in 7 each sees) */
    ds_hotmap_test_set_wide(wide_if_ends_in_7);
    differential(24, 1, 1, 0, H_CLUSTER, 20000, 1);
    differential(12, 2, 1, 1, H_SAME, 20000, 1);
    differential(24, 2, 1, 0, H_SAME_TAG, 20000, 1);
    differential(400, 3, 4, 1, H_REAL, 60000, 97);
    ds_hotmap_test_set_wide(NULL);
}
#endif

/* The shard comes from the hash's top bits, and the bound is on the whole
 * map: a shard may hold more than its share. A put evicts from its own shard
 * while that has anything else, then from the others. */
static void test_shard_selection_and_bound(void)
{
    char out[16][16];
    ds_hotmap *m = ds_hotmap_new(3, 10, 1, NULL); /* rounded up to 4 shards */
    CHECK_EQ_INT(ds_hotmap_nshards(m), 4);
    char key[16];
    /* ten keys, all in shard 2: all fit */
    for (uint64_t i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "t%d", (int)i);
        CHECK_EQ_INT(put_ev(m, mkh(0, key, (2ULL << 62) | i, "v"), 4, out), 0);
    }
    CHECK_EQ_INT(ds_hotmap_size(m), 10);
    /* one more there evicts one of its own: after a full turn clearing the
     * marks, the hand takes t0 in slot 0 */
    CHECK_EQ_INT(put_ev(m, mkh(0, "t10", (2ULL << 62) | 10, "v"), 4, out), 1);
    CHECK(strcmp(out[0], "t0") == 0);
    /* a key in empty shard 0 has nothing to evict there: shard 2 gives t1 */
    CHECK_EQ_INT(put_ev(m, mkh(0, "u0", 5, "v"), 4, out), 1);
    CHECK(strcmp(out[0], "t1") == 0);
    CHECK_EQ_INT(ds_hotmap_size(m), 10);
    CHECK(ds_hotmap_contains(m, 0, "u0", 2, 5));
    /* keys in every shard: never more than the capacity, always exactly it */
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "f%d", i);
        put_ev(m, mkh(0, key, ((uint64_t)(i % 4) << 62) | ((uint64_t)i << 24), "v"), 4, out);
        CHECK_EQ_INT(ds_hotmap_size(m), 10);
    }
    /* a removal makes room again, in any shard (f39, just put, is in 3) */
    ds_entry *gone = ds_hotmap_remove(m, 0, "f39", 3, (3ULL << 62) | (39ULL << 24));
    CHECK(gone != NULL);
    ds_entry_decref(gone, NULL);
    CHECK_EQ_INT(put_ev(m, mkh(0, "v0", 1ULL << 62, "v"), 4, out), 0);
    CHECK_EQ_INT(ds_hotmap_size(m), 10);
    ds_hotmap_free(m);
}

static void test_memory_mode_never_evicts(void)
{
    ds_hotmap *m = ds_hotmap_new(2, 10, 0, NULL);
    char key[16];
    ds_entry *first = NULL;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ds_entry *e = mk(0, key, "v");
        if (i == 0)
            first = e;
        CHECK_EQ_INT(put_ev(m, e, 8, NULL), 0);
    }
    CHECK_EQ_INT(ds_hotmap_size(m), 1000);
    void *aux;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(peek_aux_checked(m, 0, key, strlen(key), key_hash(0, key), &aux, NULL));
    }
    /* no LRU bookkeeping at all in this mode */
    CHECK(first->lru_prev == NULL && first->lru_next == NULL);
    ds_hotmap_stats st;
    ds_hotmap_get_stats(m, &st);
    CHECK_EQ_INT(st.evictions, 0);
    CHECK_EQ_INT(st.hits, 1000);
    ds_hotmap_free(m);
}

static int retired_has(ds_retire *r, void *p, size_t *n_out)
{
    void **items;
    size_t n = ds_retire_take(r, &items);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= items[i] == p;
    free(items);
    if (n_out)
        *n_out = n;
    return found;
}

static void test_aux_retire(void)
{
    static int s1, s2, s3, s4;
    ds_retire r;
    CHECK_EQ_INT(ds_retire_init(&r), 0);
    ds_hotmap *m = ds_hotmap_new(2, 0, 0, &r);

    ds_entry *a = mk(0, "a", "1");
    atomic_store(&a->aux, (void *)&s1);
    put(m, a);
    void *aux = NULL;
    CHECK_EQ_INT(peek_aux_checked(m, 0, "a", 1, key_hash(0, "a"), &aux, NULL), 1);
    CHECK(aux == &s1);
    CHECK_EQ_INT(refs(a), 1); /* peek takes no reference */

    /* replaced while someone else still holds it: not retired yet */
    ds_entry *held = get(m, 0, "a");
    put(m, mk(0, "a", "2"));
    size_t n;
    CHECK(!retired_has(&r, &s1, &n));
    CHECK_EQ_INT(n, 0);
    ds_entry_decref(held, &r); /* the last reference */
    CHECK(retired_has(&r, &s1, &n));
    CHECK_EQ_INT(n, 1);

    ds_entry *b = mk(1, "b", "1");
    atomic_store(&b->aux, (void *)&s2);
    put(m, b);
    ds_hotmap_clear(m, 1);
    CHECK(retired_has(&r, &s2, NULL));

    ds_entry *c = mk(0, "c", "1");
    atomic_store(&c->aux, (void *)&s3);
    put(m, c);
    ds_hotmap_free(m);
    CHECK(retired_has(&r, &s3, NULL));

    /* eviction hands the reference over instead of releasing it */
    m = ds_hotmap_new(1, 1, 1, &r);
    ds_entry *d = mk(0, "d", "1");
    atomic_store(&d->aux, (void *)&s4);
    put(m, d);
    ds_entry *ev[2];
    size_t nev = 0;
    ds_hotmap_put(m, mk(0, "e", "1"), NULL, ev, 2, &nev);
    CHECK_EQ_INT(nev, 1);
    CHECK(nev == 1 && ev[0] == d);
    CHECK(!retired_has(&r, &s4, NULL));
    ds_entry_decref(d, &r);
    CHECK(retired_has(&r, &s4, NULL));
    ds_hotmap_free(m);
    ds_retire_destroy(&r);
}

/* Threads mixing every operation on shared keys (namespace 1, cleared now
 * and then) and checking read-your-writes on private keys (namespace 0). */
typedef struct worker {
    ds_hotmap *m;
    ds_retire *r;
    int id, lru, errors;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    enum { SHARED = 3000, PRIVATE = 500, OPS = 150000 };
    static int sentinel;
    int *version = calloc(PRIVATE, sizeof(int));
    uint64_t rnd = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1);
    char key[32], val[32];
    ds_entry *ev[4];
    for (int op = 0; op < OPS; op++) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        unsigned what = (unsigned)(rnd % 100);
        if (what < 50) {
            int k = (int)((rnd >> 16) % SHARED);
            snprintf(key, sizeof key, "s%d", k);
            uint64_t h = key_hash(1, key);
            if (what < 20) {
                ds_entry *e = mkh(1, key, h, "x");
                if (rnd & (1u << 30))
                    atomic_store(&e->aux, (void *)&sentinel);
                size_t nev = 0;
                ds_hotmap_put(w->m, e, NULL, ev, 4, &nev);
                for (size_t i = 0; i < nev; i++)
                    ds_entry_decref(ev[i], w->r);
            } else if (what < 30) {
                ds_entry *e = ds_hotmap_get(w->m, 1, key, strlen(key), h);
                if (e) {
                    w->errors += e->ns != 1 || strcmp(ds_entry_key(e), key) != 0;
                    ds_entry_decref(e, w->r);
                }
            } else if (what < 40) {
                void *aux;
                if (peek_aux_checked(w->m, 1, key, strlen(key), h, &aux, w->r))
                    w->errors += aux != NULL && aux != &sentinel;
            } else if (what < 48) {
                ds_entry *e = ds_hotmap_remove(w->m, 1, key, strlen(key), h);
                if (e)
                    ds_entry_decref(e, w->r);
            } else if (what < 49) {
                (void)ds_hotmap_contains(w->m, 1, key, strlen(key), h);
            } else if ((rnd >> 40) % 200 == 0) {
                ds_hotmap_clear(w->m, 1);
            }
        } else {
            int k = (int)((rnd >> 16) % PRIVATE);
            snprintf(key, sizeof key, "p%d-%d", w->id, k);
            uint64_t h = key_hash(0, key);
            if (what < 75) {
                version[k]++;
                snprintf(val, sizeof val, "%d", version[k]);
                size_t nev = 0;
                ds_hotmap_put(w->m, mkh(0, key, h, val), NULL, ev, 4, &nev);
                for (size_t i = 0; i < nev; i++)
                    ds_entry_decref(ev[i], w->r);
            }
            ds_entry *e = ds_hotmap_get(w->m, 0, key, strlen(key), h);
            snprintf(val, sizeof val, "%d", version[k]);
            if (e) {
                w->errors += !value_is(e, val);
                ds_entry_decref(e, w->r);
            } else {
                /* only eviction may lose a private key */
                w->errors += !w->lru && version[k] > 0;
            }
        }
    }
    free(version);
    return NULL;
}

static void run_threads(int lru)
{
    enum { T = 4 };
    ds_retire r;
    ds_retire_init(&r);
    ds_hotmap *m = ds_hotmap_new(4, lru ? 2000 : 0, lru, &r);
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){.m = m, .r = &r, .id = i, .lru = lru, .errors = 0};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    CHECK_EQ_INT(errors, 0);

    /* the structure is still consistent: every collected entry is found */
    ds_entry **items;
    size_t n = ds_hotmap_collect(m, UINT32_MAX, &items);
    CHECK_EQ_INT(n, ds_hotmap_size(m));
    if (lru)
        CHECK(n <= 2000);
    int lost = 0;
    for (size_t i = 0; i < n; i++) {
        lost += !ds_hotmap_contains(m, items[i]->ns, ds_entry_key(items[i]),
                                    items[i]->klen, items[i]->hash);
        ds_entry_decref(items[i], &r);
    }
    free(items);
    CHECK_EQ_INT(lost, 0);
    ds_hotmap_free(m);
    void **junk;
    ds_retire_take(&r, &junk);
    free(junk);
    ds_retire_destroy(&r);
}

static void test_threads_memory_mode(void) { run_threads(0); }
static void test_threads_lru(void) { run_threads(1); }
#ifdef DS_TESTING
static void test_threads_untagged(void)
{
    ds_hotmap_test_set_wide(wide_if_ends_in_7); /* see test_untagged_fallback */
    run_threads(1);
    ds_hotmap_test_set_wide(NULL);
}
#endif

int main(void)
{
    RUN_TEST(test_put_get_replace_remove);
    RUN_TEST(test_empty_key_and_binary_key);
    RUN_TEST(test_stats_and_counting);
    RUN_TEST(test_many_keys_growth);
    RUN_TEST(test_hash_collisions);
    RUN_TEST(test_differential_small_table);
    RUN_TEST(test_differential_large);
    RUN_TEST(test_namespaces);
    RUN_TEST(test_delete_insert_churn);
    RUN_TEST(test_clear_mixed_namespaces);
    RUN_TEST(test_clock_eviction_order);
    RUN_TEST(test_clock_full_turn);
    RUN_TEST(test_lru_overflow_and_self);
    RUN_TEST(test_lru_capacity_bound_sharded);
    RUN_TEST(test_lru_churn_bounded_tables);
    RUN_TEST(test_collect_clear_after_deletes);
#ifdef DS_TESTING
    RUN_TEST(test_dummy_reuse);
    RUN_TEST(test_rebuild_after_many_deletes);
    RUN_TEST(test_untagged_fallback);
    RUN_TEST(test_put_out_of_memory);
#endif
    RUN_TEST(test_shard_selection_and_bound);
    RUN_TEST(test_memory_mode_never_evicts);
    RUN_TEST(test_aux_retire);
    RUN_TEST(test_threads_memory_mode);
    RUN_TEST(test_threads_lru);
#ifdef DS_TESTING
    RUN_TEST(test_threads_untagged);
#endif
    return CHECK_DONE();
}
