/* Fault injection for tests (issue 11), as apsw does: compiled in only with
 * -DDS_FAULTS (DICTSQLITE_FAULTS=1 python3 setup.py build_ext; see
 * scripts/faults.sh), never in a default build, where every hook below is
 * the plain call.
 *
 * Armed with n, the nth call of a kind from then on (1-based) fails, once.
 * The calls are redefined as function-like macros, which do not expand
 * recursively, so the real function is still what runs when no fault is
 * due. Include this after sqlite3.h and the OpenSSL headers. */
#ifndef DICTSQLITE_FAULTS_H
#define DICTSQLITE_FAULTS_H

typedef enum ds_fault_kind {
    DS_FAULT_STEP,    /* sqlite3_step fails with SQLITE_IOERR */
    DS_FAULT_PREPARE, /* sqlite3_prepare_v2/v3 fail with SQLITE_NOMEM */
    DS_FAULT_EVP,     /* an OpenSSL EVP or RAND_bytes call fails (0 / NULL) */
    DS_FAULT_NKINDS
} ds_fault_kind;

#ifdef DS_FAULTS
/* 1 if this call is the one armed to fail (counts the call either way). */
int ds_fault_hit(ds_fault_kind kind);
/* Arm: the nth call of kind from now fails; n = 0 disarms. Resets the count. */
void ds_fault_arm(ds_fault_kind kind, long n);
/* Calls of kind since it was last armed. */
long ds_fault_count(ds_fault_kind kind);

#ifdef SQLITE_OK
#define sqlite3_step(st) (ds_fault_hit(DS_FAULT_STEP) ? SQLITE_IOERR : sqlite3_step(st))
#define sqlite3_prepare_v2(db, sql, n, st, tail)                                \
    (ds_fault_hit(DS_FAULT_PREPARE) ? (*(st) = NULL, SQLITE_NOMEM)             \
                                    : sqlite3_prepare_v2(db, sql, n, st, tail))
#define sqlite3_prepare_v3(db, sql, n, f, st, tail)                             \
    (ds_fault_hit(DS_FAULT_PREPARE) ? (*(st) = NULL, SQLITE_NOMEM)             \
                                    : sqlite3_prepare_v3(db, sql, n, f, st, tail))
#endif

#ifdef HEADER_ENVELOPE_H
#define DS_EVP_FAULT (ds_fault_hit(DS_FAULT_EVP))
#define EVP_CipherInit_ex(...) (DS_EVP_FAULT ? 0 : EVP_CipherInit_ex(__VA_ARGS__))
#define EVP_EncryptUpdate(...) (DS_EVP_FAULT ? 0 : EVP_EncryptUpdate(__VA_ARGS__))
#define EVP_EncryptFinal_ex(...) (DS_EVP_FAULT ? 0 : EVP_EncryptFinal_ex(__VA_ARGS__))
#define EVP_DecryptUpdate(...) (DS_EVP_FAULT ? 0 : EVP_DecryptUpdate(__VA_ARGS__))
#define EVP_DecryptFinal_ex(...) (DS_EVP_FAULT ? 0 : EVP_DecryptFinal_ex(__VA_ARGS__))
#define EVP_CIPHER_CTX_new() (DS_EVP_FAULT ? NULL : EVP_CIPHER_CTX_new())
/* The GCM nonce length and tag, and the cipher fetch at open: the other
 * EVP calls the encryption path makes, so a sweep reaches their error paths
 * too. */
#define EVP_CIPHER_CTX_ctrl(...) (DS_EVP_FAULT ? 0 : EVP_CIPHER_CTX_ctrl(__VA_ARGS__))
#define EVP_CIPHER_fetch(...) (DS_EVP_FAULT ? NULL : EVP_CIPHER_fetch(__VA_ARGS__))
#endif

/* RAND_bytes (salt and nonces) counts as an EVP call: the one other OpenSSL
 * call made per sealed value. */
#ifdef OPENSSL_RAND_H
#define RAND_bytes(...) (ds_fault_hit(DS_FAULT_EVP) ? 0 : RAND_bytes(__VA_ARGS__))
#endif
#endif /* DS_FAULTS */

#endif
