/*
 * The one assertion and fixture harness of the C tests of libnumpack: the store suite (this
 * directory) and the batch suite (batch/, whose batch_util.h adds batch fixtures on top).
 *
 * Every CHECK* macro counts one pass or one failure and evaluates to 1 on success, 0 on failure,
 * so a test can bail out early: `if (!CHECK_OK(npk_open(p, NPK_OPEN_CREATE, &s))) return;`.
 * A failure prints file:line, the current section, the expression and, for statuses, the
 * expected and actual status names and npk_last_error(). SECTION(name) names what follows;
 * RUN_TEST(fn) runs one test function as a section of its own name.
 *
 * A program calls check_begin(argv[0]) first and returns check_end() from main; check_end prints
 * exactly "<program>: N passed, M failed" and returns non-zero when anything failed.
 *
 * Compile with _GNU_SOURCE (or _XOPEN_SOURCE=700) defined: mkdtemp, nftw, fork, symlink.
 */
#ifndef NPK_C_TESTS_CHECK_H
#define NPK_C_TESTS_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numpack.h"

static int check_passed_;
static int check_failed_;
static const char *check_prog_ = "c_test";
static const char *check_section_ = "";

/* Names the part of the program that follows, for failure messages. */
#define SECTION(name) (check_section_ = (name))

static inline int check_report_(int ok, const char *file, int line)
{
    if (ok) {
        check_passed_++;
        return 1;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: [%s] ", file, line, check_section_);
    return 0;
}

static inline int check_true_(int ok, const char *file, int line, const char *expr)
{
    if (check_report_(ok, file, line))
        return 1;
    fprintf(stderr, "CHECK failed: %s\n", expr);
    return 0;
}

static inline int check_msg_(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    if (check_report_(ok, file, line))
        return 1;
    fprintf(stderr, "CHECK failed: %s: ", expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

static inline int check_status_(npk_status got, npk_status want, const char *file, int line,
                         const char *expr)
{
    if (check_report_(got == want, file, line))
        return 1;
    fprintf(stderr, "%s\n    returned %s (%d), expected %s (%d)\n    npk_last_error: \"%s\"\n",
            expr, npk_status_str(got), (int)got, npk_status_str(want), (int)want,
            got != NPK_OK ? npk_last_error() : "(call succeeded)");
    return 0;
}

/* The status must be `want` and npk_last_error() must contain every non-NULL needle. */
static inline int check_error_(npk_status got, npk_status want, const char *needle1, const char *needle2,
                        const char *file, int line, const char *expr)
{
    const char *msg = npk_last_error();
    int ok = got == want && msg != NULL && (needle1 == NULL || strstr(msg, needle1) != NULL) &&
             (needle2 == NULL || strstr(msg, needle2) != NULL);
    if (check_report_(ok, file, line))
        return 1;
    fprintf(stderr,
            "%s\n    returned %s (%d), expected %s (%d)\n    npk_last_error: \"%s\"\n"
            "    expected the message to contain \"%s\"%s%s%s\n",
            expr, npk_status_str(got), (int)got, npk_status_str(want), (int)want,
            got != NPK_OK ? (msg ? msg : "(NULL)") : "(call succeeded)",
            needle1 ? needle1 : "", needle2 ? " and \"" : "", needle2 ? needle2 : "",
            needle2 ? "\"" : "");
    return 0;
}

#define CHECK(cond) check_true_((cond) != 0, __FILE__, __LINE__, #cond)
#define CHECK_MSG(cond, ...) check_msg_((cond) != 0, __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_STATUS(call, want) check_status_((call), (want), __FILE__, __LINE__, #call)
#define CHECK_OK(call) CHECK_STATUS(call, NPK_OK)
/* Status `want` and npk_last_error() contains `needle` (e.g. the array name or the path). */
#define CHECK_ERR(call, want, needle)                                                          \
    check_error_((call), (want), (needle), NULL, __FILE__, __LINE__, #call)
#define CHECK_ERR2(call, want, needle1, needle2)                                               \
    check_error_((call), (want), (needle1), (needle2), __FILE__, __LINE__, #call)
#define CHECK_EQ_U64(a, b)                                                                     \
    CHECK_MSG((uint64_t)(a) == (uint64_t)(b), "%llu != %llu", (unsigned long long)(a),        \
              (unsigned long long)(b))
#define CHECK_STR(a, b)                                                                        \
    CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

/* Runs one test function, naming it in failure messages, and says which function failed. */
#define RUN_TEST(fn)                                                                           \
    do {                                                                                       \
        int failed_before_ = check_failed_;                                                    \
        SECTION(#fn);                                                                          \
        fn();                                                                                  \
        if (check_failed_ != failed_before_)                                                   \
            fprintf(stderr, "FAIL %s\n", #fn);                                                 \
        SECTION("");                                                                           \
    } while (0)

static inline void check_begin(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    check_prog_ = slash ? slash + 1 : argv0;
    /* Failures go to stderr, the summary to stdout: keep their order readable. */
    setvbuf(stdout, NULL, _IONBF, 0);
}

static inline int check_end(void)
{
    printf("%s: %d passed, %d failed\n", check_prog_, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

/* ---- running part of a test in a child process ------------------------------------------------
 * Runs fn(arg) in a forked child, whose checks are added to this process's counts (through a
 * pipe). A child that dies without reporting (a crash, an abort) counts as one failure.
 * check_in_child runs one and waits; check_child_spawn / check_child_collect let several run at
 * once. */
typedef struct {
    pid_t pid;   /* -1: it could not be started (already counted as a failure) */
    int results; /* read end of the pipe */
} check_child;

/* Forks a child that runs fn(arg) with fresh counts and reports them; returns at once. */
static inline check_child check_child_spawn(void (*fn)(void *), void *arg)
{
    check_child c = {-1, -1};
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK_MSG(0, "pipe: %s", strerror(errno));
        return c;
    }
    fflush(stdout);
    fflush(stderr);
    c.pid = fork();
    if (c.pid == 0) {
        int counts[2];
        close(fds[0]);
        check_passed_ = 0;
        check_failed_ = 0;
        fn(arg);
        counts[0] = check_passed_;
        counts[1] = check_failed_;
        if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    if (c.pid < 0) {
        CHECK_MSG(0, "fork: %s", strerror(errno));
        close(fds[0]);
        return c;
    }
    c.results = fds[0];
    return c;
}

/* Waits for the child and adds its checks to ours; a child that died unreported is a failure. */
static inline void check_child_collect(check_child c, const char *what)
{
    int counts[2] = {0, 0};
    int status = 0;
    ssize_t got;
    if (c.pid < 0)
        return;
    got = read(c.results, counts, sizeof counts);
    close(c.results);
    waitpid(c.pid, &status, 0);
    if (got == (ssize_t)sizeof counts) {
        check_passed_ += counts[0];
        check_failed_ += counts[1];
    }
    CHECK_MSG(got == (ssize_t)sizeof counts && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child process for %s did not report (status %#x)", what, status);
}

static inline void check_in_child(void (*fn)(void *), void *arg, const char *what)
{
    check_child_collect(check_child_spawn(fn, arg), what);
}

/* ---- temporary directories and files --------------------------------------------------------- */

/* A fresh directory $TMPDIR/npk_c_<prog>[_<tag>]_XXXXXX (TMPDIR unset: /tmp), malloc'ed;
 * the tag (NULL for none) tells one test's leftovers from another's. Exits if that fails. */
static inline char *make_tmpdir(const char *tag)
{
    char tmpl[512];
    char *dir;
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    snprintf(tmpl, sizeof tmpl, "%s/npk_c_%s%s%s_XXXXXX", base, check_prog_, tag ? "_" : "",
             tag ? tag : "");
    dir = mkdtemp(tmpl);
    if (dir == NULL) {
        fprintf(stderr, "mkdtemp(%s): %s\n", tmpl, strerror(errno));
        exit(2);
    }
    return strdup(dir);
}

static inline int remove_one_(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf, never following symlinks. */
static inline void remove_tree(const char *path)
{
    nftw(path, remove_one_, 16, FTW_DEPTH | FTW_PHYS);
}

/* "<dir>/<name>" in a static ring of buffers, so a few may be used in one expression. */
static inline const char *path_in(const char *dir, const char *name)
{
    static char ring[8][4096];
    static int next;
    char *buf = ring[next++ % 8];
    size_t a = strlen(dir), b = strlen(name);
    if (a + 1 + b >= sizeof ring[0]) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
    memcpy(buf, dir, a);
    buf[a] = '/';
    memcpy(buf + a + 1, name, b + 1);
    return buf;
}

/* 1 if the path exists (as anything, symlinks not followed). */
static inline int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Size of a file in bytes, -1 if it does not exist. */
static inline long long file_size(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

/* The whole file, malloc'ed (NULL if unreadable); *len gets its size. */
static inline unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    *len = 0;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        *len = (size_t)n;
    return buf;
}

/* Replaces the file's content (creating it); 0 on success. */
static inline int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL)
        return -1;
    ok = len == 0 || fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Overwrites `len` bytes at `offset` of an existing file, in place; 0 on success. */
static inline int patch_file(const char *path, long offset, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY);
    ssize_t n;
    if (fd < 0)
        return -1;
    n = pwrite(fd, data, len, (off_t)offset);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* The directory's entry names (without . and ..), sorted, joined by '\n', malloc'ed. Two
 * listings compare equal with strcmp when the directory holds the same names. */
static inline int cmp_str_(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static inline char *dir_listing(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[1024];
    size_t n = 0, total = 1, i;
    char *out;
    if (d == NULL)
        return strdup("(cannot open directory)");
    while ((e = readdir(d)) != NULL && n < 1024) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        names[n] = strdup(e->d_name);
        total += strlen(e->d_name) + 1;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str_);
    out = (char *)malloc(total);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        strcat(out, names[i]);
        strcat(out, "\n");
        free(names[i]);
    }
    return out;
}

/* Number of entries in a directory (without . and ..), -1 if it cannot be opened. */
static inline int dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- directory snapshots ----------------------------------------------------------------------
 * Every entry of a store directory (name, type, inode, bytes; a symlink's target) except the
 * writer's lock file, which a writer open may create and stamp with its pid. check_unchanged
 * then proves an operation wrote nothing: no file written, replaced, added or removed. */
#define SNAP_MAX 64

typedef struct {
    char name[256];
    mode_t mode;
    ino_t ino;
    unsigned char *bytes; /* file content, or symlink target */
    size_t len;
} snap_file;

typedef struct {
    snap_file files[SNAP_MAX];
    int n;
    int overflow; /* more than SNAP_MAX entries: the snapshot is incomplete */
} snapshot;

/* The files of `dir` and their bytes, except the lock file and a writer's spares
 * (`.npk-spare-*`: files of no committed state, which a writer overwrites before a commit's
 * decision and removes at close, and a writer's open sweeps). */
static inline void take_snapshot(const char *dir, snapshot *snap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    snap->n = 0;
    snap->overflow = 0;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        snap_file *f = &snap->files[snap->n];
        struct stat st;
        const char *p;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, ".npk.lock") == 0 || strncmp(e->d_name, ".npk-spare-", 11) == 0)
            continue;
        if (snap->n == SNAP_MAX) {
            snap->overflow = 1;
            break;
        }
        p = path_in(dir, e->d_name);
        if (lstat(p, &st) != 0)
            continue;
        snprintf(f->name, sizeof f->name, "%s", e->d_name);
        f->mode = st.st_mode;
        f->ino = st.st_ino;
        f->bytes = NULL;
        f->len = 0;
        if (S_ISREG(st.st_mode)) {
            f->bytes = read_file(p, &f->len);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(p, target, sizeof target);
            if (n > 0) {
                f->bytes = (unsigned char *)malloc((size_t)n);
                memcpy(f->bytes, target, (size_t)n);
                f->len = (size_t)n;
            }
        }
        snap->n++;
    }
    closedir(d);
}

static inline void free_snapshot(snapshot *snap)
{
    int i;
    for (i = 0; i < snap->n; i++)
        free(snap->files[i].bytes);
    snap->n = 0;
}

static inline const snap_file *snapshot_find(const snapshot *snap, const char *name)
{
    int i;
    for (i = 0; i < snap->n; i++)
        if (strcmp(snap->files[i].name, name) == 0)
            return &snap->files[i];
    return NULL;
}

/* Checks that `dir` holds what `before` recorded: same names, types, inodes and bytes. */
static inline void check_unchanged(const snapshot *before, const char *dir)
{
    snapshot *after = (snapshot *)malloc(sizeof *after);
    int i;
    take_snapshot(dir, after);
    CHECK_MSG(!before->overflow && !after->overflow, "more than %d files in %s", SNAP_MAX, dir);
    CHECK_MSG(after->n == before->n, "%d files before, %d after", before->n, after->n);
    for (i = 0; i < before->n; i++) {
        const snap_file *b = &before->files[i];
        const snap_file *a = snapshot_find(after, b->name);
        if (!CHECK_MSG(a != NULL, "%s disappeared", b->name))
            continue;
        CHECK_MSG(a->mode == b->mode && a->ino == b->ino, "%s was replaced", b->name);
        CHECK_MSG(a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0),
                  "%s changed (%zu bytes before, %zu after)", b->name, b->len, a->len);
    }
    for (i = 0; i < after->n; i++)
        CHECK_MSG(snapshot_find(before, after->files[i].name) != NULL, "%s appeared",
                  after->files[i].name);
    free_snapshot(after);
    free(after);
}

/* ---- clocks -------------------------------------------------------------------------------------*/

/* Microseconds since the Unix epoch, as npk_array_info.modify_time_us counts. */
static inline uint64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Seconds on the monotonic clock, for measuring durations. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_us(long us)
{
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void sleep_ms(long ms)
{
    sleep_us(ms * 1000);
}

/* Returns once the wall clock (the one npk_array_info.modify_time_us reads) is past `t_us`, so
 * that a modify time recorded from now on is later than `t_us`, however fast the machine. */
static inline void wait_clock_after(uint64_t t_us)
{
    while (now_us() <= t_us)
        sleep_us(50);
}

/* Deterministic bytes: fill_bytes(buf, n, seed) gives the same content for the same seed. */
static inline void fill_bytes(void *buf, size_t n, uint32_t seed)
{
    unsigned char *p = (unsigned char *)buf;
    uint32_t x = seed * 2654435761u + 12345u;
    size_t i;
    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
}

#endif /* NPK_C_TESTS_CHECK_H */
