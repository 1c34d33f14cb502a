/* The shared commit counter (see gencounter.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dictsqlite/gencounter.h"

/* One page would do; 64 bytes keeps the counter alone on its cache line and
 * leaves room for later fields. */
#define GEN_FILE_SIZE 64

struct ds_gencounter {
    _Atomic uint64_t *value;
    void *map;             /* NULL for a private counter */
    _Atomic uint64_t private_value;
};

static int is_memory_path(const char *path)
{
    return path[0] == '\0' || strcmp(path, ":memory:") == 0 ||
           strncmp(path, "file::memory:", 13) == 0;
}

ds_status ds_gencounter_open(const char *db_path, ds_gencounter **out, ds_error *err)
{
    *out = NULL;
    ds_gencounter *g = calloc(1, sizeof(*g));
    if (!g)
        return ds_error_set(err, DS_NOMEM, "out of memory");
    atomic_init(&g->private_value, 0);
    if (is_memory_path(db_path)) {
        g->value = &g->private_value;
        *out = g;
        return DS_OK;
    }
    size_t n = strlen(db_path) + sizeof("-dsgen");
    char *path = malloc(n);
    if (!path) {
        free(g);
        return ds_error_set(err, DS_NOMEM, "out of memory");
    }
    snprintf(path, n, "%s-dsgen", db_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat sb;
    ds_status st = DS_OK;
    if (fd < 0 || fstat(fd, &sb) < 0 ||
        (sb.st_size < GEN_FILE_SIZE && ftruncate(fd, GEN_FILE_SIZE) < 0)) {
        int e = errno;
        st = ds_error_set(err, DS_IO, "cannot open the change counter %s: %s", path,
                          strerror(e));
        if (err)
            err->sys_errno = e;
    } else {
        /* A file extended by ftruncate reads as zeros, a valid start value. */
        void *map = mmap(NULL, GEN_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            st = ds_error_set(err, DS_IO, "cannot map the change counter %s: %s", path,
                              strerror(e));
        } else {
            g->map = map;
            g->value = (_Atomic uint64_t *)map;
        }
    }
    if (fd >= 0)
        close(fd); /* the mapping stays valid */
    free(path);
    if (st != DS_OK) {
        free(g);
        return st;
    }
    *out = g;
    return DS_OK;
}

void ds_gencounter_close(ds_gencounter *g)
{
    if (!g)
        return;
    if (g->map)
        munmap(g->map, GEN_FILE_SIZE);
    free(g);
}

uint64_t ds_gencounter_load(const ds_gencounter *g)
{
    return atomic_load_explicit(g->value, memory_order_acquire);
}

uint64_t ds_gencounter_bump(ds_gencounter *g)
{
    return atomic_fetch_add_explicit(g->value, 1, memory_order_acq_rel);
}

const _Atomic uint64_t *ds_gencounter_value_ptr(const ds_gencounter *g)
{
    return g->value;
}
