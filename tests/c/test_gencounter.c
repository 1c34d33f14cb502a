/* ds_gencounter: sharing, allocation before mapping (no SIGBUS on a full
 * file system), and the read-only open.
 *
 * Built with its own copy of gencounter.c under DS_TESTING, so the
 * pwrite fallback that replaces posix_fallocate can be forced and tested
 * on file systems that do support fallocate. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dictsqlite/common.h"
#include "dictsqlite/gencounter.h"

/* Test hook in gencounter.c (DS_TESTING only): skip posix_fallocate and
 * use the zero-writing fallback. */
extern int ds_gencounter_test_no_fallocate;

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char buf[8][600];
    static int next = 0;
    char *p = buf[next++ % 8];
    snprintf(p, 600, "%s/%s", tmpdir, name);
    return p;
}

static const char *gen_path_of(const char *db)
{
    static char buf[700];
    snprintf(buf, sizeof(buf), "%s-dsgen", db);
    return buf;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void test_two_opens_share_one_zeroed_counter(void)
{
    const char *db = tpath("shared");
    ds_gencounter *a, *b;
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_gencounter_open(db, &a, &err), DS_OK);
    struct stat sb;
    CHECK_EQ_INT(stat(gen_path_of(db), &sb), 0);
    CHECK(sb.st_size >= 8);
    /* really allocated before any store, not a hole: that is what makes a
     * full disk fail at open rather than at the first bump */
    CHECK(sb.st_blocks > 0);
    CHECK_EQ_INT(ds_gencounter_open(db, &b, &err), DS_OK);
    CHECK_EQ_INT(ds_gencounter_load(a), 0);
    CHECK_EQ_INT(ds_gencounter_bump(a), 0);
    CHECK_EQ_INT(ds_gencounter_bump(b), 1);
    CHECK_EQ_INT(ds_gencounter_load(a), 2);
    CHECK_EQ_INT(*ds_gencounter_value_ptr(b), 2);
    ds_gencounter_close(a);
    ds_gencounter_close(b);
    /* the value outlives every mapping: it is in the file */
    CHECK_EQ_INT(ds_gencounter_open(db, &a, &err), DS_OK);
    CHECK_EQ_INT(ds_gencounter_load(a), 2);
    ds_gencounter_close(a);
}

static void test_memory_paths_get_a_private_counter(void)
{
    const char *paths[] = {":memory:", "", "file::memory:?cache=shared"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ds_gencounter *a, *b;
        CHECK_EQ_INT(ds_gencounter_open(paths[i], &a, NULL), DS_OK);
        CHECK_EQ_INT(ds_gencounter_open(paths[i], &b, NULL), DS_OK);
        ds_gencounter_bump(a);
        CHECK_EQ_INT(ds_gencounter_load(a), 1);
        CHECK_EQ_INT(ds_gencounter_load(b), 0);
        ds_gencounter_close(a);
        ds_gencounter_close(b);
    }
}

/* ---- a full file system ------------------------------------------------ */

/* In the (forked) child: a private mount namespace with a tiny tmpfs at
 * dir. Returns 0, or -1 when this machine does not allow it (no
 * CAP_SYS_ADMIN and no user namespaces), so the test is skipped. */
static int mount_tiny_tmpfs(const char *dir)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWNS) != 0) {
        /* Unprivileged: a user namespace gives the capabilities, and the
         * id maps let us create files in the new tmpfs. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            return -1;
        char map[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "deny", 4) < 0) { /* best effort */
            }
            close(fd);
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0)
            return -1;
        close(fd);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0)
            return -1;
        close(fd);
    }
    /* keep the new mount out of the parent's namespace */
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0)
        return -1;
    return 0;
}

/* Fill the file system holding dir until it refuses another byte. */
static void fill_fs(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static char block[4096];
    memset(block, 'f', sizeof(block));
    while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
        ;
    /* the tail of a block: fill to the last byte */
    while (fd >= 0 && write(fd, block, 1) > 0)
        ;
    if (fd >= 0)
        close(fd);
}

enum { CHILD_OK = 0, CHILD_WRONG_ERROR = 2, CHILD_OPENED = 3, CHILD_SKIP = 77 };

/* Child body: on a full tmpfs, open a counter that is absent (or present
 * but short, created by someone else) and must fail with ENOSPC. Before
 * allocation came first, the open succeeded and the first bump died of
 * SIGBUS. */
static int full_fs_child(const char dir[400], int precreate, int no_fallocate)
{
    if (mount_tiny_tmpfs(dir) != 0)
        return CHILD_SKIP;
    ds_gencounter_test_no_fallocate = no_fallocate;
    char db[512];
    snprintf(db, sizeof(db), "%s/db", dir);
    if (precreate) {
        /* another client created it, ran out of space, and left it short */
        int fd = open(gen_path_of(db), O_RDWR | O_CREAT, 0644);
        if (fd < 0)
            return CHILD_SKIP;
        close(fd);
    }
    fill_fs(dir);
    ds_gencounter *g = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_gencounter_open(db, &g, &err);
    if (st == DS_OK) {
        ds_gencounter_bump(g); /* SIGBUS here without allocation */
        ds_gencounter_close(g);
        fprintf(stderr, "child: open succeeded on a full file system\n");
        return CHILD_OPENED;
    }
    int ok = st == DS_IO && (err.sys_errno == ENOSPC || err.sys_errno == EDQUOT) &&
             strstr(err.msg, gen_path_of(db)) != NULL && g == NULL;
    /* unlinked only if this open created it; someone else's stays */
    ok = ok && exists(gen_path_of(db)) == precreate;
    if (!ok) {
        fprintf(stderr, "child: status %s errno %d exists %d msg: %s\n",
                ds_status_name(st), err.sys_errno, exists(gen_path_of(db)), err.msg);
        return CHILD_WRONG_ERROR;
    }
    printf("     full fs (precreate %d, no_fallocate %d): %s\n", precreate,
           no_fallocate, err.msg);
    fflush(stdout);
    return CHILD_OK;
}

static void run_full_fs_case(int precreate, int no_fallocate)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/fullfs-%d-%d", tmpdir, precreate, no_fallocate);
    CHECK_EQ_INT(mkdir(dir, 0755), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(full_fs_child(dir, precreate, no_fallocate));
    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIP) {
        printf("     skipped: cannot mount a tmpfs in a mount namespace here\n");
    } else {
        if (WIFSIGNALED(status))
            fprintf(stderr, "child died of signal %d (%s)\n", WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, CHILD_OK);
    }
    rmdir(dir); /* the tmpfs went away with the child's namespace */
}

static void test_full_fs_open_fails_with_enospc_not_sigbus(void)
{
    run_full_fs_case(0, 0);
    run_full_fs_case(1, 0);
    run_full_fs_case(0, 1);
    run_full_fs_case(1, 1);
}

/* A file size limit below the counter's size: the allocation fails with
 * EFBIG (SIGXFSZ ignored), the open reports it, and leaves no file. */
static int fsize_child(const char *db, int no_fallocate)
{
    ds_gencounter_test_no_fallocate = no_fallocate;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {16, 16};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return CHILD_SKIP;
    ds_gencounter *g = NULL;
    ds_error err;
    ds_error_clear(&err);
    ds_status st = ds_gencounter_open(db, &g, &err);
    if (st == DS_OK) {
        ds_gencounter_bump(g);
        ds_gencounter_close(g);
        return CHILD_OPENED;
    }
    int ok = st == DS_IO && (err.sys_errno == EFBIG || err.sys_errno == ENOSPC) &&
             strstr(err.msg, gen_path_of(db)) != NULL && !exists(gen_path_of(db));
    if (!ok) {
        fprintf(stderr, "child: status %s errno %d exists %d msg: %s\n",
                ds_status_name(st), err.sys_errno, exists(gen_path_of(db)), err.msg);
        return CHILD_WRONG_ERROR;
    }
    return CHILD_OK;
}

static void test_fsize_limit_fails_cleanly_and_leaves_no_file(void)
{
    for (int no_fallocate = 0; no_fallocate <= 1; no_fallocate++) {
        const char *db = no_fallocate ? tpath("fsize-pwrite") : tpath("fsize");
        pid_t pid = fork();
        if (pid == 0)
            _exit(fsize_child(db, no_fallocate));
        int status = 0;
        CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, CHILD_OK);
        /* and without the limit the same path works */
        ds_gencounter *g;
        CHECK_EQ_INT(ds_gencounter_open(db, &g, NULL), DS_OK);
        CHECK_EQ_INT(ds_gencounter_bump(g), 0);
        ds_gencounter_close(g);
    }
}

/* The fallback keeps zero-initialised semantics and allocates too. */
static void test_pwrite_fallback_gives_a_zeroed_allocated_file(void)
{
    const char *db = tpath("fallback");
    ds_gencounter_test_no_fallocate = 1;
    ds_gencounter *g;
    CHECK_EQ_INT(ds_gencounter_open(db, &g, NULL), DS_OK);
    ds_gencounter_test_no_fallocate = 0;
    struct stat sb;
    CHECK_EQ_INT(stat(gen_path_of(db), &sb), 0);
    CHECK(sb.st_blocks > 0); /* before any store into the mapping */
    CHECK_EQ_INT(ds_gencounter_load(g), 0);
    CHECK_EQ_INT(ds_gencounter_bump(g), 0);
    ds_gencounter_close(g);
}

/* Several processes create the same new counter at once: one file, one
 * allocation, and every bump counted. */
static void test_racing_creators_share_one_file(void)
{
    enum { PROCS = 6, BUMPS = 2000 };
    const char *db = tpath("race");
    int go[2];
    CHECK_EQ_INT(pipe(go), 0);
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) < 0) /* returns 0 when the parent closes */
                _exit(2);
            ds_gencounter *g;
            if (ds_gencounter_open(db, &g, NULL) != DS_OK)
                _exit(3);
            for (int k = 0; k < BUMPS; k++)
                ds_gencounter_bump(g);
            ds_gencounter_close(g);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]); /* start them all */
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        CHECK_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ds_gencounter *g;
    CHECK_EQ_INT(ds_gencounter_open(db, &g, NULL), DS_OK);
    CHECK_EQ_INT(ds_gencounter_load(g), PROCS * BUMPS);
    ds_gencounter_close(g);
}

/* ---- read-only --------------------------------------------------------- */

/* Names, sizes and modification times of every entry of dir, as one
 * string, to show a read-only open changed nothing there. */
static void snapshot_dir(const char *dir, char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
    char names[64][256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            snprintf(names[n++], 256, "%s", de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        char p[700];
        snprintf(p, sizeof(p), "%.400s/%.255s", dir, names[i]);
        struct stat sb;
        if (stat(p, &sb) != 0)
            continue;
        int w = snprintf(out + used, cap - used, "%s:%lld:%lld.%09ld;", names[i],
                         (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
                         sb.st_mtim.tv_nsec);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

static void test_readonly_sees_the_shared_value_and_writes_nothing(void)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
    CHECK_EQ_INT(mkdir(dir, 0755), 0);
    char db[512];
    snprintf(db, sizeof(db), "%s/db", dir);
    ds_gencounter *w, *r;
    CHECK_EQ_INT(ds_gencounter_open(db, &w, NULL), DS_OK);
    for (int i = 0; i < 3; i++)
        ds_gencounter_bump(w);
    ds_gencounter_close(w);

    static char before[8192], after[8192];
    snapshot_dir(dir, before, sizeof(before));
    ds_error err;
    ds_error_clear(&err);
    CHECK_EQ_INT(ds_gencounter_open_readonly(db, &r, &err), DS_OK);
    CHECK(ds_gencounter_is_shared(r));
    CHECK(ds_gencounter_is_readonly(r));
    CHECK_EQ_INT(ds_gencounter_load(r), 3);
    /* a writer's bump shows through the PROT_READ mapping */
    CHECK_EQ_INT(ds_gencounter_open(db, &w, NULL), DS_OK);
    CHECK(!ds_gencounter_is_readonly(w));
    ds_gencounter_bump(w);
    CHECK_EQ_INT(ds_gencounter_load(r), 4);
    CHECK_EQ_INT(*ds_gencounter_value_ptr(r), 4);
    /* a bump on the read-only counter: no SIGSEGV, no change */
    CHECK_EQ_INT(ds_gencounter_bump(r), 4);
    CHECK_EQ_INT(ds_gencounter_load(r), 4);
    CHECK_EQ_INT(ds_gencounter_load(w), 4);
    ds_gencounter_close(w);
    ds_gencounter_close(r);
    /* compare after the writer's bump is in: the writer changed the file's
     * contents through its mapping, but stat sizes/times are what a reader
     * could have touched; retake "before" to exclude the writer's change */
    snapshot_dir(dir, before, sizeof(before));
    CHECK_EQ_INT(ds_gencounter_open_readonly(db, &r, NULL), DS_OK);
    CHECK_EQ_INT(ds_gencounter_bump(r), 4);
    ds_gencounter_close(r);
    snapshot_dir(dir, after, sizeof(after));
    CHECK(strcmp(before, after) == 0);
    CHECK(strstr(after, "db-dsgen:64:") != NULL);
}

static void test_readonly_without_a_counter_file_creates_none(void)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/ro-missing", tmpdir);
    CHECK_EQ_INT(mkdir(dir, 0755), 0);
    char db[512];
    snprintf(db, sizeof(db), "%s/db", dir);
    ds_gencounter *r;
    CHECK_EQ_INT(ds_gencounter_open_readonly(db, &r, NULL), DS_OK);
    CHECK(!ds_gencounter_is_shared(r));
    CHECK(ds_gencounter_is_readonly(r));
    CHECK_EQ_INT(ds_gencounter_load(r), 0);
    CHECK_EQ_INT(ds_gencounter_bump(r), 0);
    CHECK_EQ_INT(ds_gencounter_load(r), 0);
    ds_gencounter_close(r);
    static char after[8192];
    snapshot_dir(dir, after, sizeof(after));
    CHECK_EQ_INT(strlen(after), 0);

    /* a short file (a writer still allocating, or one that failed): no
     * mapping past its end (SIGBUS on read), a private counter, untouched */
    int fd = open(gen_path_of(db), O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, "\1\0\0", 3), 3);
    close(fd);
    static char before[8192];
    snapshot_dir(dir, before, sizeof(before));
    CHECK_EQ_INT(ds_gencounter_open_readonly(db, &r, NULL), DS_OK);
    CHECK(!ds_gencounter_is_shared(r));
    CHECK_EQ_INT(ds_gencounter_load(r), 0);
    ds_gencounter_bump(r);
    ds_gencounter_close(r);
    snapshot_dir(dir, after, sizeof(after));
    CHECK(strcmp(before, after) == 0);

    /* memory paths: private and read-only too */
    CHECK_EQ_INT(ds_gencounter_open_readonly(":memory:", &r, NULL), DS_OK);
    CHECK(!ds_gencounter_is_shared(r));
    CHECK_EQ_INT(ds_gencounter_bump(r), 0);
    CHECK_EQ_INT(ds_gencounter_load(r), 0);
    ds_gencounter_close(r);
}

/* On a file system mounted read-only, the normal open fails (EROFS) and the
 * read-only open still maps the file: proof that it asks for no write
 * access at all. */
static int rofs_child(const char dir[400])
{
    if (mount_tiny_tmpfs(dir) != 0)
        return CHILD_SKIP;
    char db[512];
    snprintf(db, sizeof(db), "%s/db", dir);
    ds_gencounter *g;
    if (ds_gencounter_open(db, &g, NULL) != DS_OK)
        return CHILD_WRONG_ERROR;
    ds_gencounter_bump(g);
    ds_gencounter_bump(g);
    ds_gencounter_close(g);
    if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0)
        return CHILD_SKIP;
    ds_error err;
    ds_error_clear(&err);
    if (ds_gencounter_open(db, &g, &err) != DS_IO || err.sys_errno != EROFS) {
        fprintf(stderr, "child: normal open on a read-only fs: errno %d %s\n",
                err.sys_errno, err.msg);
        return CHILD_WRONG_ERROR;
    }
    if (ds_gencounter_open_readonly(db, &g, NULL) != DS_OK || !ds_gencounter_is_shared(g) ||
        ds_gencounter_load(g) != 2 || ds_gencounter_bump(g) != 2) {
        fprintf(stderr, "child: read-only open on a read-only fs failed\n");
        return CHILD_WRONG_ERROR;
    }
    ds_gencounter_close(g);
    /* missing file on a read-only fs: still fine */
    snprintf(db, sizeof(db), "%s/other", dir);
    if (ds_gencounter_open_readonly(db, &g, NULL) != DS_OK || ds_gencounter_is_shared(g))
        return CHILD_WRONG_ERROR;
    ds_gencounter_close(g);
    return CHILD_OK;
}

static void test_readonly_works_on_a_read_only_file_system(void)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/rofs", tmpdir);
    CHECK_EQ_INT(mkdir(dir, 0755), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(rofs_child(dir));
    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIP)
        printf("     skipped: cannot mount a tmpfs in a mount namespace here\n");
    else
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK);
    rmdir(dir);
}

/* Removes the test directory (flat: only files and empty directories). */
static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        const char *p = tpath(de->d_name);
        if (unlink(p) == 0)
            continue;
        /* one level of subdirectory (the read-only tests' own) */
        DIR *sub = opendir(p);
        struct dirent *se;
        while (sub && (se = readdir(sub)) != NULL) {
            char q[1000];
            snprintf(q, sizeof(q), "%s/%s", p, se->d_name);
            unlink(q);
        }
        if (sub)
            closedir(sub);
        rmdir(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ds-gencounter-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN_TEST(test_two_opens_share_one_zeroed_counter);
    RUN_TEST(test_memory_paths_get_a_private_counter);
    RUN_TEST(test_full_fs_open_fails_with_enospc_not_sigbus);
    RUN_TEST(test_fsize_limit_fails_cleanly_and_leaves_no_file);
    RUN_TEST(test_pwrite_fallback_gives_a_zeroed_allocated_file);
    RUN_TEST(test_racing_creators_share_one_file);
    RUN_TEST(test_readonly_sees_the_shared_value_and_writes_nothing);
    RUN_TEST(test_readonly_without_a_counter_file_creates_none);
    RUN_TEST(test_readonly_works_on_a_read_only_file_system);
    remove_tmpdir();
    return CHECK_DONE();
}
