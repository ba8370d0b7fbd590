/*
 * Link-time shim for scripts/tsan.sh: lets ThreadSanitizer see the acquire edge of Arc's last
 * drop, which it otherwise misses because the Rust standard library is precompiled.
 *
 * Arc::drop does `if strong.fetch_sub(1, Release) != 1 { return } fence(Acquire); drop_slow()`.
 * TSan does not model standalone fences, so the thread that frees the contents never "acquires"
 * the other threads' releases and every free of a shared snapshot is reported as a race with the
 * last read by another thread (64 false reports in c_tests/threads alone). The standard library
 * avoids this itself when it is built with -Zsanitizer=thread (cfg(sanitize = "thread") turns
 * the fence into `strong.load(Acquire)`), but that needs -Zbuild-std and the rust-src component,
 * which stable toolchains without network access do not have.
 *
 * This shim does exactly what std's own TSan build does, for every 64-bit fetch_sub with release
 * ordering that brings a counter to zero (the pattern of Arc's strong and weak counts): after the
 * real atomic operation it performs an acquire load of the same counter. It adds happens-before
 * only from earlier releases of that counter to the thread that took it to zero; it hides no
 * other access. The test programs are linked with -Wl,--wrap=__tsan_atomic64_fetch_sub and the
 * static libnumpack.a, so every instrumented call site in the library goes through here.
 */
#include <stdint.h>

typedef int64_t npk_tsan_a64;

/* LLVM's __tsan_memory_order values. */
enum { NPK_TSAN_ACQUIRE = 2, NPK_TSAN_RELEASE = 3 };

npk_tsan_a64 __real___tsan_atomic64_fetch_sub(volatile npk_tsan_a64 *a, npk_tsan_a64 v, int mo);
npk_tsan_a64 __tsan_atomic64_load(const volatile npk_tsan_a64 *a, int mo);
npk_tsan_a64 __wrap___tsan_atomic64_fetch_sub(volatile npk_tsan_a64 *a, npk_tsan_a64 v, int mo);

npk_tsan_a64 __wrap___tsan_atomic64_fetch_sub(volatile npk_tsan_a64 *a, npk_tsan_a64 v, int mo)
{
    npk_tsan_a64 old = __real___tsan_atomic64_fetch_sub(a, v, mo);
    if (mo == NPK_TSAN_RELEASE && old == v)
        (void)__tsan_atomic64_load(a, NPK_TSAN_ACQUIRE);
    return old;
}
