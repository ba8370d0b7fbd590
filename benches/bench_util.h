/*
 * What the C benchmarks share: dying with a message, checking npk, HDF5 and system calls, and a
 * monotonic clock. Before including, a benchmark defines BENCH_DIE_PREFIX() (prints its
 * "name: " prefix to stderr) and may define BENCH_DIE_EXIT() (how to stop; MPI ranks abort
 * the job instead of leaving the others waiting at a barrier).
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
