/* ds_crypto: AES-256-GCM sealing with an Argon2id-derived key. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "dictsqlite/crypto.h"

/* Cheap Argon2id parameters so the tests stay fast. */
static const ds_kdf_params CHEAP = {1, 1024, 1};

static const uint8_t SALT_A[DS_CRYPTO_SALT_LEN] = {1, 2, 3, 4, 5, 6, 7, 8,
                                                   9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t SALT_B[DS_CRYPTO_SALT_LEN] = {16, 15, 14, 13, 12, 11, 10, 9,
                                                   8, 7, 6, 5, 4, 3, 2, 1};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ds_crypto *make(const char *password, const uint8_t *salt)
{
    ds_crypto *c = NULL;
    ds_error err;
    ds_status st = ds_crypto_new(password, strlen(password), salt, &CHEAP, &c, &err);
    CHECK_EQ_INT(st, DS_OK);
    if (st != DS_OK)
        fprintf(stderr, "ds_crypto_new: %s\n", err.msg);
    return c;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 8));
}

/* Seal (tbl, key, plain) and return a malloc'd buffer of sealed_len bytes. */
static uint8_t *seal(const ds_crypto *c, const char *tbl, const char *key,
                     const void *plain, size_t n)
{
    uint8_t *out = malloc(ds_crypto_sealed_len(n));
    ds_error err;
    CHECK_EQ_INT(ds_crypto_seal(c, tbl, strlen(tbl), key, strlen(key), 1, plain, n, out, &err),
                 DS_OK);
    return out;
}

static ds_status open_(const ds_crypto *c, const char *tbl, const char *key,
                       const uint8_t *sealed, size_t sealed_len, uint8_t *out,
                       ds_error *err)
{
    return ds_crypto_open(c, tbl, strlen(tbl), key, strlen(key), 1, sealed, sealed_len, out,
                          err);
}

static void test_round_trip_sizes(void)
{
    ds_crypto *c = make("hunter2", SALT_A);
    const size_t sizes[] = {0, 1, 15, 16, 17, 1000, 1 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        uint8_t *plain = malloc(n ? n : 1);
        fill(plain, n, (unsigned)i);
        uint8_t *sealed = seal(c, "tbl", "key", n ? plain : NULL, n);
        CHECK_EQ_INT(ds_crypto_sealed_len(n), n + DS_CRYPTO_OVERHEAD);
        /* The ciphertext is not the plaintext. */
        if (n >= 16)
            CHECK(memcmp(sealed + DS_CRYPTO_NONCE_LEN, plain, n) != 0);
        uint8_t *back = malloc(n ? n : 1);
        ds_error err;
        ds_status st = open_(c, "tbl", "key", sealed, ds_crypto_sealed_len(n),
                             n ? back : NULL, &err);
        CHECK_EQ_INT(st, DS_OK);
        if (st != DS_OK)
            fprintf(stderr, "size %zu: %s\n", n, err.msg);
        CHECK(memcmp(back, plain, n) == 0);
        free(plain);
        free(sealed);
        free(back);
    }
    ds_crypto_free(c);
}

static void test_empty_names(void)
{
    ds_crypto *c = make("pw", SALT_A);
    const char msg[] = "value";
    uint8_t sealed[sizeof(msg) + DS_CRYPTO_OVERHEAD], back[sizeof(msg)];
    ds_error err;
    CHECK_EQ_INT(ds_crypto_seal(c, NULL, 0, NULL, 0, 1, msg, sizeof(msg), sealed, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_open(c, NULL, 0, NULL, 0, 1, sealed, sizeof(sealed), back, &err),
                 DS_OK);
    CHECK(memcmp(back, msg, sizeof(msg)) == 0);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, NULL, 0, 1, sealed, sizeof(sealed), back, &err),
                 DS_CORRUPT);
    ds_crypto_free(c);
}

static void test_nonces_differ(void)
{
    ds_crypto *c = make("pw", SALT_A);
    const char msg[] = "the same plaintext";
    size_t n = sizeof(msg) - 1;
    uint8_t *a = seal(c, "t", "k", msg, n), *b = seal(c, "t", "k", msg, n);
    CHECK(memcmp(a, b, DS_CRYPTO_NONCE_LEN) != 0);
    CHECK(memcmp(a, b, ds_crypto_sealed_len(n)) != 0);
    /* Both still open. */
    uint8_t back[64];
    ds_error err;
    CHECK_EQ_INT(open_(c, "t", "k", a, ds_crypto_sealed_len(n), back, &err), DS_OK);
    CHECK(memcmp(back, msg, n) == 0);
    CHECK_EQ_INT(open_(c, "t", "k", b, ds_crypto_sealed_len(n), back, &err), DS_OK);
    CHECK(memcmp(back, msg, n) == 0);
    free(a);
    free(b);
    ds_crypto_free(c);
}

static void test_wrong_password(void)
{
    ds_crypto *right = make("correct horse", SALT_A);
    ds_crypto *wrong = make("correct horsf", SALT_A);
    const char msg[] = "secret value";
    size_t n = sizeof(msg) - 1;
    uint8_t *sealed = seal(right, "t", "k", msg, n);
    uint8_t back[64];
    memset(back, 0xAA, sizeof(back));
    ds_error err;
    CHECK_EQ_INT(open_(wrong, "t", "k", sealed, ds_crypto_sealed_len(n), back, &err),
                 DS_CORRUPT);
    CHECK_EQ_INT(err.status, DS_CORRUPT);
    CHECK(strstr(err.msg, "wrong password") != NULL);
    CHECK(strstr(err.msg, "authentication failed") != NULL);
    /* No unauthenticated plaintext is left in out. */
    CHECK(memcmp(back, msg, n) != 0);
    free(sealed);
    ds_crypto_free(right);
    ds_crypto_free(wrong);
}

static void test_tamper_every_byte(void)
{
    ds_crypto *c = make("pw", SALT_A);
    uint8_t msg[40];
    fill(msg, sizeof(msg), 3);
    size_t len = ds_crypto_sealed_len(sizeof(msg));
    uint8_t *sealed = seal(c, "tbl", "key", msg, sizeof(msg));
    uint8_t *copy = malloc(len), back[sizeof(msg)];
    int corrupt = 0;
    /* Every byte: the nonce, the ciphertext and the tag. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(copy, sealed, len);
            copy[i] ^= (uint8_t)(1u << bit);
            ds_error err;
            if (open_(c, "tbl", "key", copy, len, back, &err) == DS_CORRUPT)
                corrupt++;
        }
    }
    CHECK_EQ_INT(corrupt, 2 * (long long)len);
    /* The untouched value still opens. */
    ds_error err;
    CHECK_EQ_INT(open_(c, "tbl", "key", sealed, len, back, &err), DS_OK);
    /* Truncating or extending the value fails as well. */
    CHECK_EQ_INT(open_(c, "tbl", "key", sealed, len - 1, back, &err), DS_CORRUPT);
    free(copy);
    free(sealed);
    ds_crypto_free(c);
}

static void test_aad_binding(void)
{
    ds_crypto *c = make("pw", SALT_A);
    const char msg[] = "bound value";
    size_t n = sizeof(msg) - 1, len = ds_crypto_sealed_len(n);
    uint8_t back[64];
    ds_error err;

    uint8_t *s = seal(c, "users", "alice", msg, n);
    CHECK_EQ_INT(open_(c, "users", "alice", s, len, back, &err), DS_OK);
    CHECK_EQ_INT(open_(c, "users", "bob", s, len, back, &err), DS_CORRUPT);   /* other key */
    CHECK_EQ_INT(open_(c, "admins", "alice", s, len, back, &err), DS_CORRUPT); /* other table */
    CHECK_EQ_INT(open_(c, "users", "alic", s, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(open_(c, "", "usersalice", s, len, back, &err), DS_CORRUPT);
    free(s);

    /* ("a","bc") and ("ab","c") concatenate to the same bytes. */
    s = seal(c, "a", "bc", msg, n);
    CHECK_EQ_INT(open_(c, "a", "bc", s, len, back, &err), DS_OK);
    CHECK_EQ_INT(open_(c, "ab", "c", s, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(open_(c, "abc", "", s, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(open_(c, "", "abc", s, len, back, &err), DS_CORRUPT);
    free(s);

    /* Keys with embedded NUL bytes are bound by their full length. */
    const char k1[] = {'k', 0, 'x'}, k2[] = {'k', 0, 'y'};
    uint8_t sealed[64];
    CHECK_EQ_INT(ds_crypto_seal(c, "t", 1, k1, 3, 1, msg, n, sealed, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k1, 3, 1, sealed, len, back, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k2, 3, 1, sealed, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k1, 1, 1, sealed, len, back, &err), DS_CORRUPT);
    /* the codec byte is bound too: relabelling a value fails, and a value
     * sealed without it opens only without it */
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k1, 3, 4, sealed, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k1, 3, DS_CRYPTO_NO_CODEC, sealed, len, back, &err),
                 DS_CORRUPT);
    CHECK_EQ_INT(ds_crypto_seal(c, "t", 1, k1, 3, DS_CRYPTO_NO_CODEC, msg, n, sealed, &err),
                 DS_OK);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k1, 3, DS_CRYPTO_NO_CODEC, sealed, len, back, &err),
                 DS_OK);
    CHECK_EQ_INT(ds_crypto_open(c, "t", 1, k1, 3, 1, sealed, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(ds_crypto_seal(c, "t", 1, k1, 3, 256, msg, n, sealed, &err), DS_INVALID);
    ds_crypto_free(c);
}

static void test_too_short(void)
{
    ds_crypto *c = make("pw", SALT_A);
    uint8_t junk[DS_CRYPTO_OVERHEAD] = {0}, back[8];
    ds_error err;
    for (size_t n = 0; n < DS_CRYPTO_OVERHEAD; n++) {
        ds_error_clear(&err);
        CHECK_EQ_INT(open_(c, "t", "k", n ? junk : NULL, n, back, &err), DS_CORRUPT);
        CHECK(strstr(err.msg, "shorter") != NULL);
    }
    /* Exactly the overhead but never sealed: authentication fails. */
    CHECK_EQ_INT(open_(c, "t", "k", junk, DS_CRYPTO_OVERHEAD, NULL, &err), DS_CORRUPT);
    CHECK(strstr(err.msg, "authentication failed") != NULL);
    ds_crypto_free(c);
}

static void test_key_check(void)
{
    ds_crypto *right = make("open sesame", SALT_A);
    ds_crypto *wrong = make("open sesamE", SALT_A);
    ds_crypto *other_salt = make("open sesame", SALT_B);
    uint8_t check[64], check2[64];
    size_t len = 0, len2 = 0;
    ds_error err;
    CHECK_EQ_INT(ds_crypto_make_check(right, check, &len, &err), DS_OK);
    CHECK(len > DS_CRYPTO_OVERHEAD && len <= 64);
    CHECK_EQ_INT(ds_crypto_verify_check(right, check, len, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_verify_check(wrong, check, len, &err), DS_CORRUPT);
    CHECK(strstr(err.msg, "wrong password") != NULL);
    CHECK_EQ_INT(ds_crypto_verify_check(other_salt, check, len, &err), DS_CORRUPT);

    /* Random nonce: two checks differ but both verify. */
    CHECK_EQ_INT(ds_crypto_make_check(right, check2, &len2, &err), DS_OK);
    CHECK_EQ_INT(len2, len);
    CHECK(memcmp(check, check2, len) != 0);
    CHECK_EQ_INT(ds_crypto_verify_check(right, check2, len2, &err), DS_OK);

    /* Truncated or tampered checks are rejected. */
    CHECK_EQ_INT(ds_crypto_verify_check(right, check, len - 1, &err), DS_CORRUPT);
    CHECK_EQ_INT(ds_crypto_verify_check(right, check, 0, &err), DS_CORRUPT);
    check[len - 1] ^= 1;
    CHECK_EQ_INT(ds_crypto_verify_check(right, check, len, &err), DS_CORRUPT);

    /* A value sealed under other associated data is not a key check. */
    uint8_t fake[64];
    const char text[] = "dictsqlite key check v1";
    CHECK_EQ_INT(ds_crypto_seal(right, "t", 1, "k", 1, 1, text, sizeof(text) - 1, fake, &err),
                 DS_OK);
    CHECK_EQ_INT(ds_crypto_verify_check(right, fake, ds_crypto_sealed_len(sizeof(text) - 1),
                                        &err),
                 DS_CORRUPT);
    ds_crypto_free(right);
    ds_crypto_free(wrong);
    ds_crypto_free(other_salt);
}

/* Same password, salt and params give the same key; a different salt or
 * params a different one. Observed through seal/open across instances. */
static void test_kdf_deterministic(void)
{
    ds_crypto *a1 = make("pw", SALT_A), *a2 = make("pw", SALT_A);
    ds_crypto *b = make("pw", SALT_B);
    ds_crypto *p = NULL;
    const ds_kdf_params other = {2, 1024, 1};
    ds_error err;
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, &other, &p, &err), DS_OK);

    const char msg[] = "kdf";
    size_t n = sizeof(msg) - 1, len = ds_crypto_sealed_len(n);
    uint8_t *s = seal(a1, "t", "k", msg, n), back[16];
    CHECK_EQ_INT(open_(a2, "t", "k", s, len, back, &err), DS_OK);
    CHECK(memcmp(back, msg, n) == 0);
    CHECK_EQ_INT(open_(b, "t", "k", s, len, back, &err), DS_CORRUPT);
    CHECK_EQ_INT(open_(p, "t", "k", s, len, back, &err), DS_CORRUPT);
    free(s);

    /* Random salts are random. */
    uint8_t s1[DS_CRYPTO_SALT_LEN], s2[DS_CRYPTO_SALT_LEN];
    CHECK_EQ_INT(ds_crypto_random_salt(s1, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_random_salt(s2, &err), DS_OK);
    CHECK(memcmp(s1, s2, DS_CRYPTO_SALT_LEN) != 0);

    ds_crypto_free(a1);
    ds_crypto_free(a2);
    ds_crypto_free(b);
    ds_crypto_free(p);
}

static void test_empty_password(void)
{
    ds_crypto *c = NULL, *d = NULL;
    ds_error err;
    CHECK_EQ_INT(ds_crypto_new(NULL, 0, SALT_A, &CHEAP, &c, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_new("", 0, SALT_A, &CHEAP, &d, &err), DS_OK);
    uint8_t check[64];
    size_t len = 0;
    CHECK_EQ_INT(ds_crypto_make_check(c, check, &len, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_verify_check(d, check, len, &err), DS_OK);
    ds_crypto_free(c);
    ds_crypto_free(d);
}

static void test_invalid_params(void)
{
    ds_crypto *c = (ds_crypto *)&c;
    ds_error err;
    const ds_kdf_params zero_t = {0, 1024, 1}, zero_p = {1, 1024, 0}, tiny_m = {1, 4, 1},
                        m_lt_8p = {1, 16, 4};
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, &zero_t, &c, &err), DS_INVALID);
    CHECK(c == NULL);
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, &zero_p, &c, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, &tiny_m, &c, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, &m_lt_8p, &c, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_new("pw", 2, NULL, &CHEAP, &c, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, NULL, &c, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_new(NULL, 2, SALT_A, &CHEAP, &c, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_new("pw", 2, SALT_A, &CHEAP, NULL, &err), DS_INVALID);
    CHECK(c == NULL);
    CHECK_EQ_INT(ds_crypto_random_salt(NULL, &err), DS_INVALID);
    ds_crypto_free(NULL);

    ds_crypto *k = make("pw", SALT_A);
    uint8_t buf[64];
    size_t len;
    CHECK_EQ_INT(ds_crypto_seal(k, "t", 1, "k", 1, 1, NULL, 5, buf, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_seal(k, "t", 1, "k", 1, 1, "x", 1, NULL, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_seal(k, NULL, 1, "k", 1, 1, "x", 1, buf, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_seal(NULL, "t", 1, "k", 1, 1, "x", 1, buf, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_seal(k, "t", 1, "k", 1, 1, "x", 1, buf, NULL), DS_OK); /* err optional */
    CHECK_EQ_INT(ds_crypto_open(k, "t", 1, "k", 1, 1, buf, 1 + DS_CRYPTO_OVERHEAD, NULL, &err),
                 DS_INVALID);
    CHECK_EQ_INT(ds_crypto_open(k, "t", 1, "k", 1, 1, buf, 1 + DS_CRYPTO_OVERHEAD, buf + 40,
                                NULL),
                 DS_OK);
    CHECK_EQ_INT(ds_crypto_make_check(k, buf, NULL, &err), DS_INVALID);
    CHECK_EQ_INT(ds_crypto_make_check(k, NULL, &len, &err), DS_INVALID);
    ds_crypto_free(k);
}

/* The production parameters: informational timing only. */
static void test_kdf_defaults(void)
{
    CHECK_EQ_INT(DS_KDF_DEFAULTS.t_cost, 2);
    CHECK_EQ_INT(DS_KDF_DEFAULTS.m_cost_kib, 19456);
    CHECK_EQ_INT(DS_KDF_DEFAULTS.parallelism, 1);
    ds_crypto *c = NULL, *d = NULL;
    ds_error err;
    double t0 = now_s();
    ds_status st = ds_crypto_new("a reasonable password", 21, SALT_A, &DS_KDF_DEFAULTS, &c,
                                 &err);
    double t1 = now_s();
    CHECK_EQ_INT(st, DS_OK);
    if (st != DS_OK) {
        fprintf(stderr, "ds_crypto_new(defaults): %s\n", err.msg);
        return;
    }
    printf("  Argon2id t=%u m=%u KiB p=%u: %.1f ms\n", (unsigned)DS_KDF_DEFAULTS.t_cost,
           (unsigned)DS_KDF_DEFAULTS.m_cost_kib, (unsigned)DS_KDF_DEFAULTS.parallelism,
           (t1 - t0) * 1e3);
    CHECK_EQ_INT(ds_crypto_new("a reasonable password", 21, SALT_A, &DS_KDF_DEFAULTS, &d,
                               &err),
                 DS_OK);
    uint8_t check[64];
    size_t len = 0;
    CHECK_EQ_INT(ds_crypto_make_check(c, check, &len, &err), DS_OK);
    CHECK_EQ_INT(ds_crypto_verify_check(d, check, len, &err), DS_OK);
    ds_crypto_free(c);
    ds_crypto_free(d);
}

/* Informational: µs per seal and per open for a small and a large value. */
static void test_throughput(void)
{
    ds_crypto *c = make("pw", SALT_A);
    const size_t sizes[] = {100, 64 * 1024};
    const int iters[] = {20000, 1000};
    for (int s = 0; s < 2; s++) {
        size_t n = sizes[s];
        uint8_t *plain = malloc(n), *sealed = malloc(ds_crypto_sealed_len(n)),
                *back = malloc(n);
        fill(plain, n, 9);
        ds_error err;
        int ok = 1;
        double t0 = now_s();
        for (int i = 0; i < iters[s]; i++)
            ok &= ds_crypto_seal(c, "tbl", 3, "some key", 8, 1, plain, n, sealed, &err) == DS_OK;
        double t1 = now_s();
        for (int i = 0; i < iters[s]; i++)
            ok &= ds_crypto_open(c, "tbl", 3, "some key", 8, 1, sealed, ds_crypto_sealed_len(n),
                                 back, &err) == DS_OK;
        double t2 = now_s();
        CHECK(ok);
        CHECK(memcmp(back, plain, n) == 0);
        printf("  %6zu-byte value: seal %.2f us/op, open %.2f us/op\n", n,
               (t1 - t0) * 1e6 / iters[s], (t2 - t1) * 1e6 / iters[s]);
        free(plain);
        free(sealed);
        free(back);
    }
    ds_crypto_free(c);
}

struct thread_arg {
    const ds_crypto *c;
    int id;
    int failures;
};

static void *worker(void *p)
{
    struct thread_arg *a = p;
    char key[32];
    uint8_t plain[300], sealed[300 + DS_CRYPTO_OVERHEAD], back[300];
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)((i * 37 + a->id) % 300);
        fill(plain, n, (unsigned)(a->id * 1000 + i));
        int klen = snprintf(key, sizeof(key), "t%d-k%d", a->id, i);
        ds_error err;
        if (ds_crypto_seal(a->c, "shared", 6, key, (size_t)klen, 1, plain, n, sealed, &err) !=
                DS_OK ||
            ds_crypto_open(a->c, "shared", 6, key, (size_t)klen, 1, sealed,
                           ds_crypto_sealed_len(n), back, &err) != DS_OK ||
            memcmp(back, plain, n) != 0)
            a->failures++;
        /* Another thread's key must not open it. */
        if (ds_crypto_open(a->c, "shared", 6, "t9-k0", 5, 1, sealed, ds_crypto_sealed_len(n),
                           back, &err) != DS_CORRUPT)
            a->failures++;
    }
    return NULL;
}

static void test_threads(void)
{
    ds_crypto *c = make("pw", SALT_A);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){c, i, 0};
        CHECK_EQ_INT(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    ds_crypto_free(c);
}

/* The Rust package's format: raw key, no associated data. NIST's GCM test
 * case 14 (AES-256, zero key and nonce, one zero block). */
static void test_open_unbound_reads_a_known_vector(void)
{
    static const uint8_t key[32] = {0}, nonce[12] = {0};
    static const uint8_t ct[16] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
                                   0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18};
    static const uint8_t tag[16] = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
                                    0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
    uint8_t out[16], zero[16] = {0}, bad[16];
    ds_error err;
    CHECK_EQ_INT(ds_crypto_open_unbound(key, nonce, ct, 16, tag, out, &err), DS_OK);
    CHECK(memcmp(out, zero, 16) == 0);
    memcpy(bad, tag, 16);
    bad[0] ^= 1;
    CHECK_EQ_INT(ds_crypto_open_unbound(key, nonce, ct, 16, bad, out, &err), DS_CORRUPT);
    CHECK_EQ_INT(ds_crypto_open_unbound(NULL, nonce, ct, 16, tag, out, &err), DS_INVALID);
}

int main(void)
{
    RUN_TEST(test_round_trip_sizes);
    RUN_TEST(test_empty_names);
    RUN_TEST(test_nonces_differ);
    RUN_TEST(test_wrong_password);
    RUN_TEST(test_tamper_every_byte);
    RUN_TEST(test_aad_binding);
    RUN_TEST(test_too_short);
    RUN_TEST(test_key_check);
    RUN_TEST(test_kdf_deterministic);
    RUN_TEST(test_empty_password);
    RUN_TEST(test_invalid_params);
    RUN_TEST(test_kdf_defaults);
    RUN_TEST(test_throughput);
    RUN_TEST(test_threads);
    RUN_TEST(test_open_unbound_reads_a_known_vector);
    return CHECK_DONE();
}
