/* The shared commit counter (see gencounter.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dictsqlite/gencounter.h"

/* One page would do; 64 bytes keeps the counter alone on its cache line and
 * leaves room for later fields. */
#define GEN_FILE_SIZE 64

struct ds_gencounter {
    const _Atomic uint64_t *value; /* what loads read */
    /* What bumps write: NULL for a read-only counter. A read-only counter
     * may be a PROT_READ mapping, where any store is SIGSEGV; keeping the
     * only writable pointer apart means no writer can reach it. */
    _Atomic uint64_t *writable;
    void *map;             /* NULL for a private counter */
    _Atomic uint64_t private_value;
};

static int is_memory_path(const char *path)
{
    return path[0] == '\0' || strcmp(path, ":memory:") == 0 ||
           strncmp(path, "file::memory:", 13) == 0;
}

/* Test hook (DS_TESTING builds only): pretend posix_fallocate is not
 * supported, so the pwrite fallback runs on any file system. */
#ifdef DS_TESTING
int ds_gencounter_test_no_fallocate = 0;
#endif

static char *gen_path_for(const char *db_path)
{
    size_t n = strlen(db_path) + sizeof("-dsgen");
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s-dsgen", db_path);
    return path;
}

static ds_status io_error(ds_error *err, int e, const char *what, const char *path)
{
    ds_status st = ds_error_set(err, DS_IO, "cannot %s the change counter %s: %s", what,
                                path, strerror(e));
    if (err)
        err->sys_errno = e;
    return st;
}

/* Give [from, GEN_FILE_SIZE) real blocks; returns 0 or an errno.
 *
 * A sparse file (ftruncate alone) maps fine, but the first store into the
 * mapping then needs a block the file system may not have, and the kernel
 * can only answer that with SIGBUS. Allocating here turns a full disk into
 * an error at open.
 *
 * The fallback writes zeros only from the old end of file: the file is
 * shorter than the counter, so nobody maps it yet (every opener allocates
 * first, under the lock), and the zeros are the value it would read. */
static int allocate_blocks(int fd, off_t from)
{
    int rc = EOPNOTSUPP;
#ifdef DS_TESTING
    if (!ds_gencounter_test_no_fallocate)
#endif
        rc = posix_fallocate(fd, 0, GEN_FILE_SIZE);
    if (rc != EOPNOTSUPP && rc != EINVAL)
        return rc;
    static const char zeros[GEN_FILE_SIZE];
    off_t off = from;
    while (off < GEN_FILE_SIZE) {
        ssize_t w = pwrite(fd, zeros + off, (size_t)(GEN_FILE_SIZE - off), off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        off += w;
    }
    /* Written pages may only be reserved (NFS, some FUSE file systems
     * report ENOSPC at writeback): make the file system commit to them. */
    if (fdatasync(fd) != 0)
        return errno;
    return 0;
}

/* Opens <path> read-write, creating it full size and allocated if it is
 * absent or short. *fd_out is open on success. Returns 0 or an errno, with
 * *what set to the step that failed.
 *
 * Concurrent openers (threads or processes) of a new or short file are
 * serialised by flock on the file, so that only one allocates, and so that
 * an opener that created the file and failed can unlink it without pulling
 * it from under someone else: the others notice (st_nlink == 0) and start
 * again on a fresh file. */
static int open_allocated(const char *path, int *fd_out, const char **what)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int created = 0;
        *what = "open";
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd < 0 && errno == EEXIST)
                continue; /* someone else created it meanwhile: open theirs */
            created = fd >= 0;
        }
        if (fd < 0)
            return errno;
        struct stat sb;
        if (fstat(fd, &sb) != 0)
            goto fail_errno;
        if (sb.st_size >= GEN_FILE_SIZE) { /* the common case: no lock */
            *fd_out = fd;
            return 0;
        }
        *what = "lock";
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR)
                goto fail_errno;
        }
        if (fstat(fd, &sb) != 0)
            goto fail_errno;
        if (sb.st_nlink == 0) {
            /* its creator failed to allocate it and unlinked it */
            close(fd);
            continue;
        }
        if (sb.st_size < GEN_FILE_SIZE) {
            *what = "allocate";
            int e = allocate_blocks(fd, sb.st_size);
            if (e != 0) {
                /* Still short, and we hold the lock: nobody maps it. Leave
                 * no debris we made; a file someone else made stays. */
                if (created)
                    unlink(path);
                close(fd); /* releases the lock */
                return e;
            }
        }
        *fd_out = fd; /* the lock goes with the close after mapping */
        return 0;

    fail_errno:;
        int e = errno;
        if (created)
            unlink(path);
        close(fd);
        return e;
    }
    *what = "create";
    return EAGAIN; /* it kept vanishing: other openers keep failing */
}

ds_status ds_gencounter_open(const char *db_path, ds_gencounter **out, ds_error *err)
{
    *out = NULL;
    ds_gencounter *g = calloc(1, sizeof(*g));
    if (!g)
        return ds_error_set(err, DS_NOMEM, "out of memory");
    atomic_init(&g->private_value, 0);
    if (is_memory_path(db_path)) {
        g->value = g->writable = &g->private_value;
        *out = g;
        return DS_OK;
    }
    char *path = gen_path_for(db_path);
    if (!path) {
        free(g);
        return ds_error_set(err, DS_NOMEM, "out of memory");
    }
    int fd = -1;
    const char *what = "open";
    int e = open_allocated(path, &fd, &what);
    ds_status st = DS_OK;
    if (e != 0) {
        st = io_error(err, e, what, path);
    } else {
        /* A new file reads as zeros, a valid start value. */
        void *map = mmap(NULL, GEN_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            st = io_error(err, errno, "map", path);
        } else {
            g->map = map;
            g->value = g->writable = (_Atomic uint64_t *)map;
        }
        close(fd); /* the mapping stays valid */
    }
    free(path);
    if (st != DS_OK) {
        free(g);
        return st;
    }
    *out = g;
    return DS_OK;
}

ds_status ds_gencounter_open_readonly(const char *db_path, ds_gencounter **out,
                                     ds_error *err)
{
    *out = NULL;
    ds_gencounter *g = calloc(1, sizeof(*g));
    if (!g)
        return ds_error_set(err, DS_NOMEM, "out of memory");
    atomic_init(&g->private_value, 0);
    g->value = &g->private_value; /* unless a full-size file is found */
    g->writable = NULL;
    if (!is_memory_path(db_path)) {
        char *path = gen_path_for(db_path);
        if (!path) {
            free(g);
            return ds_error_set(err, DS_NOMEM, "out of memory");
        }
        /* O_NONBLOCK: a FIFO at that name must not hang the open. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat sb;
        /* Only a regular file at least as long as the mapping: a read of a
         * mapped page wholly past the end of file is SIGBUS. A short file
         * is one a writer is still allocating (or failed to): it has no
         * commits to show yet, and ours stays private. */
        if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
            sb.st_size >= GEN_FILE_SIZE) {
            void *map = mmap(NULL, GEN_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
            if (map != MAP_FAILED) {
                g->map = map;
                g->value = (const _Atomic uint64_t *)map;
            }
        }
        /* Any other failure (absent, unreadable, unmappable) leaves the
         * private counter: a reader must work without writing anything, and
         * ds_gencounter_is_shared tells the caller it sees no other bumps. */
        if (fd >= 0)
            close(fd);
        free(path);
    }
    *out = g;
    return DS_OK;
}

int ds_gencounter_is_shared(const ds_gencounter *g)
{
    return g->map != NULL;
}

int ds_gencounter_is_readonly(const ds_gencounter *g)
{
    return g->writable == NULL;
}

void ds_gencounter_close(ds_gencounter *g)
{
    if (!g)
        return;
    if (g->map)
        munmap(g->map, GEN_FILE_SIZE);
    free(g);
}

/* On the 64-bit targets we build for, an atomic 64-bit load is a plain
 * load, valid on a PROT_READ page. (Where it is a compare-and-swap, as on
 * i386 without SSE2, the read-only mapping would fault: such a port must use
 * a private copy instead.) */
uint64_t ds_gencounter_load(const ds_gencounter *g)
{
    return atomic_load_explicit(g->value, memory_order_acquire);
}

uint64_t ds_gencounter_bump(ds_gencounter *g)
{
    /* Read-only: a no-op that reports the value it sees. Nothing opened
     * read-only commits, so there is nothing to announce. */
    if (DS_UNLIKELY(!g->writable))
        return atomic_load_explicit(g->value, memory_order_acquire);
    return atomic_fetch_add_explicit(g->writable, 1, memory_order_acq_rel);
}

const _Atomic uint64_t *ds_gencounter_value_ptr(const ds_gencounter *g)
{
    return g->value;
}
