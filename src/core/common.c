/* Error records and the byte hash shared by the core. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dictsqlite/common.h"

ds_status ds_error_set(ds_error *err, ds_status status, const char *fmt, ...)
{
    if (err) {
        err->status = status;
        /* a caller with a system error sets sys_errno after this call;
         * these two classes always carry theirs */
        err->sqlite_code = 0;
        err->sys_errno = status == DS_BUSY ? EBUSY : status == DS_READONLY ? EROFS : 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return status;
}

void ds_error_clear(ds_error *err)
{
    if (err) {
        err->status = DS_OK;
        err->sqlite_code = 0;
        err->sys_errno = 0;
        err->msg[0] = '\0';
    }
}

const char *ds_status_name(ds_status status)
{
    switch (status) {
    case DS_OK: return "ok";
    case DS_NOTFOUND: return "not found";
    case DS_NOMEM: return "out of memory";
    case DS_IO: return "I/O error";
    case DS_CORRUPT: return "corrupt data";
    case DS_CLOSED: return "closed";
    case DS_INVALID: return "invalid argument";
    case DS_NEED_IO: return "needs I/O";
    case DS_BUSY: return "database is locked";
    case DS_READONLY: return "read-only";
    }
    return "unknown status";
}

/* 64x64->128 multiply folded to 64 bits: the mixing step of wyhash. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t ds_hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL;
    uint64_t h = k0 ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        h = mix(h ^ read64(p + i), k1);
    uint64_t tail = 0;
    for (size_t j = 0; i + j < len; j++)
        tail |= (uint64_t)p[i + j] << (8 * j);
    return mix(h ^ tail, k1 ^ (uint64_t)len);
}
