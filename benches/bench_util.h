/*
 * What the C benchmarks share: dying with a message, checking npk, HDF5 and system calls, a
 * monotonic clock, page-aligned buffers, and whole-buffer pwrite/pread. Before including, a
 * benchmark defines BENCH_DIE_PREFIX() (prints its "name: " prefix to stderr) and may define
 * BENCH_DIE_EXIT() (how to stop; MPI ranks abort the job instead of leaving the others waiting
 * at a barrier).
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_DIE_EXIT
#define BENCH_DIE_EXIT() exit(1)
#endif

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    BENCH_DIE_PREFIX();
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    BENCH_DIE_EXIT();
    exit(1);
}

#define CK(call)                                                                                   \
    do {                                                                                           \
        npk_status st_ = (call);                                                                   \
        if (st_ != NPK_OK)                                                                         \
            die("%s:%d %s -> %s: %s", __FILE__, __LINE__, #call, npk_status_str(st_),               \
                npk_last_error());                                                                 \
    } while (0)
#define H5CK(call)                                                                                 \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            die("%s:%d %s failed", __FILE__, __LINE__, #call);                                     \
    } while (0)
#define SYS(call)                                                                                  \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            die("%s:%d %s: %s", __FILE__, __LINE__, #call, strerror(errno));                       \
    } while (0)

/* Seconds on the monotonic clock. */
static inline double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Page-aligned, zeroed and faulted in, so that no timing pays for the page faults. */
static inline void *xalloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 4096, n ? n : 1) != 0)
        die("out of memory (%zu bytes)", n);
    memset(p, 0, n); /* fault every page in now, outside any timing */
    return p;
}

/* Whole buffers, through short writes and EINTR; nothing written or read is an error. */
static inline void pwrite_all(int fd, const void *buf, size_t n, off_t off) {
    const char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("pwrite: %s", w < 0 ? strerror(errno) : "wrote nothing");
        p += w;
        n -= (size_t)w;
        off += w;
    }
}

static inline void pread_all(int fd, void *buf, size_t n, off_t off) {
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("pread: %s", r < 0 ? strerror(errno) : "short file");
        p += r;
        n -= (size_t)r;
        off += r;
    }
}

#endif
