/*
 * Assertions for the batch tests. Every CHECK counts one pass or one failure; a failure prints
 * file:line, the test it happened in, the expression and, for a status, both status names and
 * npk_last_error(). The program ends with check_summary(), which prints exactly
 * "<program>: N passed, M failed" and returns the exit code (non-zero if anything failed).
 *
 * CHECK, CHECK_STATUS and CHECK_OK are expressions worth 1 on success, 0 on failure, so a test
 * can stop early: `if (!CHECK_OK(npk_batch_begin(s, 0, &b))) goto out;`.
 */
#ifndef NPK_BATCH_CHECK_H
#define NPK_BATCH_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "numpack.h"

static int check_passed_;
static int check_failed_;
static const char *check_test_ = "";

static inline int check_true_(int ok, const char *file, int line, const char *expr)
{
    if (ok) {
        check_passed_++;
        return 1;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: [%s] CHECK failed: %s\n", file, line, check_test_, expr);
    return 0;
}

static inline int check_status_(npk_status got, npk_status want, const char *file, int line,
                                const char *expr)
{
    if (got == want) {
        check_passed_++;
        return 1;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: [%s] %s returned %s (%d), expected %s: %s\n", file, line, check_test_,
            expr, npk_status_str(got), (int)got, npk_status_str(want),
            got != NPK_OK ? npk_last_error() : "(no error)");
    return 0;
}

/* A failure with a formatted explanation (for comparisons whose values matter). */
static inline int check_msg_(int ok, const char *file, int line, const char *expr, const char *fmt,
                             ...)
{
    if (ok) {
        check_passed_++;
        return 1;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: [%s] CHECK failed: %s: ", file, line, check_test_, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

#define CHECK(cond) check_true_((cond) != 0, __FILE__, __LINE__, #cond)
#define CHECK_MSG(cond, ...) check_msg_((cond) != 0, __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_STATUS(call, want) check_status_((call), (want), __FILE__, __LINE__, #call)
#define CHECK_OK(call) CHECK_STATUS(call, NPK_OK)

/* Runs one test function, naming it in failure messages. */
#define RUN_TEST(fn)                                                                           \
    do {                                                                                       \
        int failed_before_ = check_failed_;                                                    \
        check_test_ = #fn;                                                                     \
        fn();                                                                                  \
        if (check_failed_ != failed_before_)                                                   \
            fprintf(stderr, "FAIL %s\n", #fn);                                                 \
        check_test_ = "";                                                                      \
    } while (0)

static inline int check_summary(const char *program)
{
    printf("%s: %d passed, %d failed\n", program, check_passed_, check_failed_);
    fflush(stdout);
    return check_failed_ > 0 ? 1 : 0;
}

#endif /* NPK_BATCH_CHECK_H */
