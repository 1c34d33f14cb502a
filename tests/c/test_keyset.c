/* ds_keyset: exact negatives, counted duplicates, growth, deletion. */
#include <stdlib.h>

#include "check.h"
#include "dictsqlite/common.h"
#include "dictsqlite/keyset.h"

static void test_added_hashes_are_found_and_others_are_not(void)
{
    ds_keyset *s = ds_keyset_new(0);
    for (uint64_t i = 0; i < 100000; i++)
        CHECK_EQ_INT(ds_keyset_add(s, ds_hash_bytes(&i, sizeof(i))), 0);
    CHECK_EQ_INT(ds_keyset_size(s), 100000);
    int missing = 0, false_hits = 0;
    for (uint64_t i = 0; i < 100000; i++)
        missing += !ds_keyset_maybe(s, ds_hash_bytes(&i, sizeof(i)));
    for (uint64_t i = 100000; i < 200000; i++)
        false_hits += ds_keyset_maybe(s, ds_hash_bytes(&i, sizeof(i)));
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(false_hits, 0);
    ds_keyset_free(s);
}

static void test_duplicates_are_counted_so_one_removal_keeps_the_other(void)
{
    ds_keyset *s = ds_keyset_new(4);
    ds_keyset_add(s, 42);
    ds_keyset_add(s, 42);
    ds_keyset_remove(s, 42);
    CHECK(ds_keyset_maybe(s, 42));
    ds_keyset_remove(s, 42);
    CHECK(!ds_keyset_maybe(s, 42));
    ds_keyset_remove(s, 42); /* absent: no-op */
    CHECK_EQ_INT(ds_keyset_size(s), 0);
    ds_keyset_add(s, 0); /* hash 0 is a valid hash too */
    CHECK(ds_keyset_maybe(s, 0));
    ds_keyset_free(s);
}

static void test_removal_keeps_colliding_probe_chains_reachable(void)
{
    ds_keyset *s = ds_keyset_new(0);
    /* same low bits: one long probe chain */
    for (uint64_t i = 1; i <= 12; i++)
        ds_keyset_add(s, i << 40);
    for (uint64_t i = 1; i <= 12; i += 2)
        ds_keyset_remove(s, i << 40);
    for (uint64_t i = 1; i <= 12; i++)
        CHECK_EQ_INT(ds_keyset_maybe(s, i << 40), i % 2 == 0);
    ds_keyset_free(s);
}

/* add_many is ds_keyset_add of each: same counts, found the same, growing
 * from the smallest table, and duplicates among and across batches count. */
static void test_add_many_matches_single_adds(void)
{
    enum { N = 50000 };
    uint64_t *h = malloc(N * sizeof(*h));
    for (uint64_t i = 0; i < N; i++)
        h[i] = ds_hash_bytes(&i, sizeof(i));
    h[3] = 0;        /* hash 0 is a valid hash too */
    h[N - 1] = h[0]; /* a duplicate inside the batch */
    ds_keyset *many = ds_keyset_new(0), *one = ds_keyset_new(0);
    CHECK_EQ_INT(ds_keyset_add_many(many, h, N), 0);
    CHECK_EQ_INT(ds_keyset_add_many(many, h, 10), 0); /* and across batches */
    CHECK_EQ_INT(ds_keyset_add_many(many, h, 0), 0);
    for (size_t i = 0; i < N; i++)
        ds_keyset_add(one, h[i]);
    for (size_t i = 0; i < 10; i++)
        ds_keyset_add(one, h[i]);
    CHECK_EQ_INT(ds_keyset_size(many), N + 10);
    CHECK_EQ_INT(ds_keyset_size(many), ds_keyset_size(one));
    CHECK_EQ_INT(ds_keyset_bytes(many) <= ds_keyset_bytes(one) * 2, 1);
    int differ = 0;
    for (uint64_t i = 0; i < 2 * N; i++) {
        uint64_t x = ds_hash_bytes(&i, sizeof(i));
        differ += ds_keyset_maybe(many, x) != ds_keyset_maybe(one, x);
    }
    for (size_t i = 0; i < N; i++)
        differ += !ds_keyset_maybe(many, h[i]);
    CHECK_EQ_INT(differ, 0);
    /* h[0] is there three times now: two removals keep it */
    ds_keyset_remove(many, h[0]);
    ds_keyset_remove(many, h[0]);
    CHECK(ds_keyset_maybe(many, h[0]));
    ds_keyset_free(many);
    ds_keyset_free(one);
    free(h);
}

int main(void)
{
    RUN_TEST(test_added_hashes_are_found_and_others_are_not);
    RUN_TEST(test_duplicates_are_counted_so_one_removal_keeps_the_other);
    RUN_TEST(test_removal_keeps_colliding_probe_chains_reachable);
    RUN_TEST(test_add_many_matches_single_adds);
    return CHECK_DONE();
}
