/* Status codes and the error record shared by every part of the C core.
 *
 * The core reports failures with return codes and an optional ds_error; only
 * the CPython binding turns them into exceptions. No Python.h anywhere here.
 */
#ifndef DICTSQLITE_COMMON_H
#define DICTSQLITE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ds_status {
    DS_OK = 0,
    DS_NOTFOUND,  /* the key is in no tier */
    DS_NOMEM,     /* an allocation failed */
    DS_IO,        /* SQLite (or the file system) failed; ds_error has the text */
    DS_CORRUPT,   /* the file holds something we cannot read */
    DS_CLOSED,    /* the engine/store was closed */
    DS_INVALID,   /* a caller passed an argument outside the contract */
    DS_NEED_IO,   /* only from calls made with allow_io=0: the answer needs
                   * SQLite, so the caller should release the GIL and retry
                   * with allow_io=1. Nothing was changed. */
    DS_BUSY,      /* another connection held the lock past the busy timeout;
                   * ds_error.sys_errno is EBUSY. Nothing was changed. */
    DS_READONLY,  /* a write to a database opened read-only (or a file the
                   * process may not write); sys_errno is EROFS or EACCES */
} ds_status;

/* Room for a message such as SQLite's plus the path or key it concerns. */
#define DS_ERROR_MSG_MAX 512

typedef struct ds_error {
    ds_status status;
    int sqlite_code;  /* extended SQLite result code, 0 if not from SQLite */
    int sys_errno;    /* errno when the failure came from the OS, else 0 */
    char msg[DS_ERROR_MSG_MAX];
} ds_error;

/* Fill err (if not NULL) and return status, so call sites can write
 * `return ds_error_set(err, DS_IO, "...", ...);`. */
ds_status ds_error_set(ds_error *err, ds_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

void ds_error_clear(ds_error *err);

/* A human-readable name for a status, for messages and tests. */
const char *ds_status_name(ds_status status);

/* 64-bit hash of a byte string (wyhash-style mixing). The binding may pass
 * its own hash instead (Python caches str hashes); what matters is that one
 * engine always sees one hash function. */
uint64_t ds_hash_bytes(const void *data, size_t len);

/* Fold a namespace id into a key hash so "a" in namespace 1 and "a" in
 * namespace 2 land in different buckets. */
static inline uint64_t ds_hash_with_ns(uint64_t key_hash, uint32_t ns)
{
    return key_hash ^ ((uint64_t)ns * 0x9E3779B97F4A7C15ULL);
}

#if defined(__GNUC__)
#define DS_LIKELY(x) __builtin_expect(!!(x), 1)
#define DS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define DS_LIKELY(x) (x)
#define DS_UNLIKELY(x) (x)
#endif

#ifdef __cplusplus
}
#endif
#endif
