/*
 * threads_mixed: mixed reads and writes from several threads on one shared store handle, while
 * batches run on a second store, with every lost update detectable at the end. Run as a plain
 * test by `make run` and under ThreadSanitizer by scripts/tsan.sh (which is what proves "no data
 * race"; this program proves "no lost update").
 *
 * Store A, one writer handle shared by every thread below:
 *   WRITERS writers, each round:
 *     - save/load/view_open/get_rows of its own array w_<id> (values only it writes),
 *     - append (id, round) to the shared array "log",
 *     - replace_rows of its own row of the shared array "grid" (in place, no test lock),
 *     - get_rows + replace_rows of one element of "counters" under the test's own mutex (a
 *       read-modify-write: the library serialises each call, the test serialises the pair),
 *     - every 4th round: clone, drop (npk_drop), drop_rows + compact of its own array.
 *   one reader on the same handle: list, info, has, view_open, load of "log" (every row a valid,
 *     distinct (id, round) pair, the count never going down).
 *   one reader on a read-only handle: refresh, info, load of "log", the same checks.
 * Store B, its own writer handle:
 *   one batch thread, each round: a cache batch (load "acc" and bump it through the view, save a
 *     longer "seq" with the round appended, a plain save meanwhile must be NPK_BUSY, end), then a
 *     writable batch (bump "wacc" in place, end), then a plain append to "plain".
 *   one reader on the same handle: "acc" loads with all four elements equal (a cache batch
 *     commits atomically) and "seq" is always 0, 1, ..., n-1.
 * At the end, in memory and again after reopening both stores from disk: "log" holds every
 * (id, round) exactly once, every w_<id> and grid row holds its thread's last write, the counters
 * hold the exact sums, and store B's arrays hold exactly BATCH_ROUNDS updates each.
 */
#include "check.h"

#include <pthread.h>

#define WRITERS 4
#define ROUNDS 24
#define COUNTERS 5
#define COLS 6
#define BATCH_ROUNDS 24

static char *g_tmp;
static char g_dir_a[4096], g_dir_b[4096];
static npk_store *g_a, *g_b;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;     /* g_done */
static pthread_mutex_t g_counter_lock = PTHREAD_MUTEX_INITIALIZER; /* the counters' RMW */
static int g_done;

static int writers_done(void)
{
    int done;
    pthread_mutex_lock(&g_lock);
    done = g_done;
    pthread_mutex_unlock(&g_lock);
    return done;
}

typedef struct {
    int id;
    int failures;
    long ops; /* library calls made, for the summary */
    char first_failure[512];
} worker;

/* Counts one library call (or one check) and records the first failure with its message. */
static int note(worker *w, int ok, const char *what)
{
    w->ops++;
    if (ok || w->failures++)
        return ok;
    snprintf(w->first_failure, sizeof w->first_failure, "%s: %s", what, npk_last_error());
    return ok;
}

static int32_t own_value(int id, int round, int i)
{
    return id * 1000000 + round * 1000 + i;
}

static void *writer(void *arg)
{
    worker *w = (worker *)arg;
    char name[32], clone_name[32];
    const uint64_t shape[2] = {4, COLS}, row_shape[2] = {1, COLS}, log_shape[2] = {1, 2};
    const uint64_t one[1] = {1};
    int32_t mine[4 * COLS], back[4 * COLS];
    int64_t grid_row[COLS], log_row[2];
    int round, i;
    snprintf(name, sizeof name, "w_%d", w->id);
    snprintf(clone_name, sizeof clone_name, "c_%d", w->id);
    for (round = 0; round < ROUNDS; round++) {
        const int64_t my_row = w->id, second = 1, k = round % COUNTERS;
        npk_view v = NPK_VIEW_INIT;
        int64_t counter;

        for (i = 0; i < 4 * COLS; i++)
            mine[i] = own_value(w->id, round, i);
        note(w, npk_save(g_a, name, NPK_INT32, 2, shape, mine, NULL) == NPK_OK, "save");
        note(w, npk_load(g_a, name, NPK_INT32, 2, shape, back, NULL) == NPK_OK, "load");
        note(w, memcmp(back, mine, sizeof mine) == 0, "loaded values");
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        if (note(w, npk_view_open(g_a, name, &v) == NPK_OK, "view_open")) {
            note(w, v.nbytes == sizeof mine && memcmp(v.data, mine, sizeof mine) == 0,
                 "view values");
            note(w, npk_view_release(&v) == NPK_OK, "view_release");
        }
        note(w, npk_get_rows(g_a, name, &second, 1, NPK_INT32, 2, row_shape, back, NULL) ==
                    NPK_OK,
             "get_rows");
        note(w, memcmp(back, mine + COLS, COLS * sizeof(int32_t)) == 0, "get_rows values");

        log_row[0] = w->id;
        log_row[1] = round;
        note(w, npk_append(g_a, "log", NPK_INT64, 2, log_shape, log_row, NULL) == NPK_OK,
             "append");

        for (i = 0; i < COLS; i++)
            grid_row[i] = (int64_t)w->id * 1000 + round;
        note(w, npk_replace_rows(g_a, "grid", &my_row, 1, NPK_INT64, 2, row_shape, grid_row,
                                 NULL) == NPK_OK,
             "replace_rows grid");
        note(w, npk_get_rows(g_a, "grid", &my_row, 1, NPK_INT64, 2, row_shape, grid_row,
                             NULL) == NPK_OK &&
                    grid_row[0] == (int64_t)w->id * 1000 + round &&
                    grid_row[COLS - 1] == (int64_t)w->id * 1000 + round,
             "own grid row read back");

        pthread_mutex_lock(&g_counter_lock);
        counter = -1;
        if (note(w, npk_get_rows(g_a, "counters", &k, 1, NPK_INT64, 1, one, &counter, NULL) ==
                        NPK_OK,
                 "get_rows counter")) {
            counter += w->id + 1;
            note(w, npk_replace_rows(g_a, "counters", &k, 1, NPK_INT64, 1, one, &counter,
                                     NULL) == NPK_OK,
                 "replace_rows counter");
        }
        pthread_mutex_unlock(&g_counter_lock);

        if (round % 4 == 3) {
            const char *names[1];
            int32_t exists = 1;
            const int64_t first = 0;
            names[0] = clone_name;
            note(w, npk_clone(g_a, name, clone_name) == NPK_OK, "clone");
            note(w, npk_drop(g_a, names, 1) == NPK_OK, "drop");
            note(w, npk_has(g_a, clone_name, &exists) == NPK_OK && exists == 0, "dropped");
            note(w, npk_drop_rows(g_a, name, &first, 1) == NPK_OK, "drop_rows");
            note(w, npk_compact(g_a, name) == NPK_OK, "compact");
        }
    }
    /* ROUNDS % 4 == 0: w_<id> is left as the last round wrote it minus its first row. */
    return NULL;
}

/* "log" as one snapshot (a view): every row a valid (id, round) pair, none twice. Returns the
 * row count, or -1 when the view failed. Also loads it through info + load, which are two
 * snapshots: on the shared handle "log" may grow in between (NPK_SHAPE_MISMATCH, retried). */
static long check_log(worker *w, npk_store *s, const char *what)
{
    npk_view v = NPK_VIEW_INIT;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    const int64_t *rows;
    long n;
    uint64_t k;
    int seen[WRITERS][ROUNDS];
    int bad = 0;
    npk_status st = NPK_INTERNAL;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    if (!note(w, npk_view_open(s, "log", &v) == NPK_OK && v.ndim == 2 && v.shape[1] == 2 &&
                     v.dtype == NPK_INT64,
              what))
        return -1;
    n = (long)v.shape[0];
    rows = (const int64_t *)v.data;
    memset(seen, 0, sizeof seen);
    for (k = 0; k < v.shape[0]; k++) {
        int64_t id = rows[2 * k], round = rows[2 * k + 1];
        if (id < 0 || id >= WRITERS || round < 0 || round >= ROUNDS || seen[id][round]++)
            bad++;
    }
    note(w, bad == 0, "log rows valid and distinct");
    note(w, npk_view_release(&v) == NPK_OK, "view_release log");
    do {
        int64_t *copy;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (!note(w, npk_info(s, "log", &info) == NPK_OK, what))
            break;
        copy = (int64_t *)malloc((size_t)info.shape[0] * 16 + 16);
        {
            const uint64_t shape[2] = {info.shape[0], 2};
            st = npk_load(s, "log", NPK_INT64, 2, shape, copy, NULL);
        }
        free(copy);
    } while (st == NPK_SHAPE_MISMATCH && s == g_a);
    note(w, st == NPK_OK, what);
    return n;
}

/* Reader on the shared writer handle. */
static void *reader_same(void *arg)
{
    worker *w = (worker *)arg;
    long last = 0, iterations = 0;
    while (!writers_done() || iterations < 5) {
        uint64_t needed = 0, count = 0;
        int32_t exists = 0;
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        npk_view v = NPK_VIEW_INIT;
        long n;
        char *names;
        note(w, npk_list(g_a, NULL, 0, &needed, &count) == NPK_OK && count >= 3, "list sizes");
        names = (char *)malloc((size_t)needed + 1);
        if (names != NULL) {
            uint64_t needed2 = 0, count2 = 0;
            npk_status st = npk_list(g_a, names, needed, &needed2, &count2);
            /* Another thread may have created or dropped an array between the two calls. */
            note(w, st == NPK_OK || st == NPK_BUFFER_TOO_SMALL, "list");
            free(names);
        }
        note(w, npk_has(g_a, "grid", &exists) == NPK_OK && exists == 1, "has grid");
        note(w, npk_info(g_a, "grid", &info) == NPK_OK && info.shape[0] == WRITERS &&
                    info.shape[1] == COLS,
             "info grid");
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        if (note(w, npk_view_open(g_a, "grid", &v) == NPK_OK, "view_open grid")) {
            note(w, v.ndim == 2 && v.shape[0] == WRITERS && v.nbytes == WRITERS * COLS * 8,
                 "grid view shape");
            note(w, npk_view_release(&v) == NPK_OK, "view_release grid");
        }
        n = check_log(w, g_a, "log on the shared handle");
        note(w, n >= last, "log never shrinks (shared handle)");
        if (n > last)
            last = n;
        iterations++;
        usleep(100); /* overlap the writers without starving them on 2 cores */
    }
    return NULL;
}

/* Reader on its own read-only handle of store A. */
static void *reader_ro(void *arg)
{
    worker *w = (worker *)arg;
    npk_store *r = NULL;
    long last = 0, iterations = 0;
    if (!note(w, npk_open(g_dir_a, NPK_OPEN_READ_ONLY, &r) == NPK_OK, "open read-only"))
        return NULL;
    while (!writers_done() || iterations < 5) {
        const uint64_t shape[2] = {1, 2};
        const int64_t row = 0;
        long n;
        note(w, npk_refresh(r) == NPK_OK, "refresh");
        n = check_log(w, r, "log on the read-only handle");
        note(w, n >= last, "log never shrinks (read-only handle)");
        if (n > last)
            last = n;
        note(w, npk_save(r, "x", NPK_INT64, 2, shape, &row, NULL) == NPK_READ_ONLY,
             "read-only save refused");
        iterations++;
        usleep(100); /* overlap the writers without starving them on 2 cores */
    }
    note(w, npk_close(r) == NPK_OK, "close read-only");
    return NULL;
}

static void *batcher(void *arg)
{
    worker *w = (worker *)arg;
    const uint64_t acc_shape[1] = {4};
    int round;
    for (round = 0; round < BATCH_ROUNDS; round++) {
        npk_batch *b = NULL;
        npk_view v = NPK_VIEW_INIT;
        int i;

        /* Cache batch: bump "acc" through its view, save "seq" one longer. */
        if (note(w, npk_batch_begin(g_b, 0, &b) == NPK_OK, "batch_begin")) {
            int64_t *seq;
            uint64_t n;
            if (note(w, npk_batch_load(b, "acc", &v) == NPK_OK && v.shape[0] == 4, "load acc")) {
                for (i = 0; i < 4; i++)
                    ((int64_t *)v.data)[i] += 1;
                note(w, npk_batch_save(b, "acc", NPK_INT64, 1, acc_shape, v.data, NULL) ==
                            NPK_OK,
                     "save acc");
            }
            if (note(w, npk_batch_load(b, "seq", &v) == NPK_OK && v.ndim == 1, "load seq")) {
                n = v.shape[0];
                seq = (int64_t *)malloc((size_t)(n + 1) * 8);
                if (seq != NULL) {
                    const uint64_t seq_shape[1] = {n + 1};
                    if (n > 0)
                        memcpy(seq, v.data, (size_t)n * 8);
                    seq[n] = round;
                    note(w, npk_batch_save(b, "seq", NPK_INT64, 1, seq_shape, seq, NULL) ==
                                NPK_OK,
                         "save seq");
                    free(seq);
                }
            }
            {
                const int64_t zeros[4] = {0, 0, 0, 0};
                note(w, npk_save(g_b, "acc", NPK_INT64, 1, acc_shape, zeros, NULL) == NPK_BUSY,
                     "plain save during a batch is NPK_BUSY");
            }
            if (!note(w, npk_batch_end(b) == NPK_OK, "batch_end"))
                npk_batch_abort(b);
        }

        /* Writable batch: bump "wacc" in place. */
        if (note(w, npk_writable_batch_begin(g_b, &b) == NPK_OK, "writable_batch_begin")) {
            if (note(w, npk_batch_load(b, "wacc", &v) == NPK_OK && v.shape[0] == 4,
                     "load wacc")) {
                for (i = 0; i < 4; i++)
                    ((int64_t *)v.data)[i] += 1;
            }
            if (!note(w, npk_batch_end(b) == NPK_OK, "writable batch_end"))
                npk_batch_abort(b);
        }

        /* A plain write between batches. */
        {
            const uint64_t shape[1] = {1};
            const int64_t value = round;
            note(w, npk_append(g_b, "plain", NPK_INT64, 1, shape, &value, NULL) == NPK_OK,
                 "append plain");
        }
    }
    return NULL;
}

/* Reader on store B's writer handle while the batches run. */
static void *reader_b(void *arg)
{
    worker *w = (worker *)arg;
    long iterations = 0;
    while (!writers_done() || iterations < 5) {
        const uint64_t acc_shape[1] = {4};
        int64_t acc[4] = {-1, -1, -1, -1};
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        if (note(w, npk_load(g_b, "acc", NPK_INT64, 1, acc_shape, acc, NULL) == NPK_OK,
                 "load acc"))
            note(w, acc[0] == acc[1] && acc[1] == acc[2] && acc[2] == acc[3] && acc[0] >= 0 &&
                        acc[0] <= BATCH_ROUNDS,
                 "acc committed as a whole");
        if (note(w, npk_info(g_b, "seq", &info) == NPK_OK, "info seq")) {
            const uint64_t shape[1] = {info.shape[0]};
            int64_t *seq = (int64_t *)malloc((size_t)info.shape[0] * 8 + 8);
            npk_status st = npk_load(g_b, "seq", NPK_INT64, 1, shape, seq, NULL);
            /* A batch may commit a longer "seq" between info and load. */
            if (st == NPK_OK) {
                uint64_t k;
                int ok = 1;
                for (k = 0; k < info.shape[0]; k++)
                    ok &= seq[k] == (int64_t)k;
                note(w, ok, "seq is 0..n-1");
            } else {
                note(w, st == NPK_SHAPE_MISMATCH, "load seq");
            }
            free(seq);
        }
        iterations++;
        usleep(100); /* overlap the writers without starving them on 2 cores */
    }
    return NULL;
}

/* The final state of both stores, through the given handles. */
static void check_final(npk_store *a, npk_store *b, const char *when)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    int t, i;
    SECTION(when);
    /* "log": every (id, round) exactly once. */
    if (CHECK_OK(npk_info(a, "log", &info))) {
        const uint64_t shape[2] = {info.shape[0], 2};
        int64_t *rows = (int64_t *)malloc((size_t)info.shape[0] * 16 + 16);
        static int seen[WRITERS][ROUNDS];
        int bad = 0, missing = 0;
        uint64_t k;
        CHECK_EQ_U64(info.shape[0], WRITERS * ROUNDS);
        memset(seen, 0, sizeof seen);
        if (CHECK_OK(npk_load(a, "log", NPK_INT64, 2, shape, rows, NULL))) {
            for (k = 0; k < info.shape[0]; k++) {
                int64_t id = rows[2 * k], round = rows[2 * k + 1];
                if (id < 0 || id >= WRITERS || round < 0 || round >= ROUNDS || seen[id][round]++)
                    bad++;
            }
            for (t = 0; t < WRITERS; t++)
                for (i = 0; i < ROUNDS; i++)
                    missing += seen[t][i] == 0;
            CHECK_MSG(bad == 0 && missing == 0, "log: %d bad or duplicate rows, %d missing", bad,
                      missing);
        }
        free(rows);
    }
    /* w_<id>: the last round, minus its first row. */
    for (t = 0; t < WRITERS; t++) {
        char name[32];
        const uint64_t shape[2] = {3, COLS};
        int32_t back[3 * COLS];
        int ok = 1;
        snprintf(name, sizeof name, "w_%d", t);
        if (CHECK_OK(npk_load(a, name, NPK_INT32, 2, shape, back, NULL))) {
            for (i = 0; i < 3 * COLS; i++)
                ok &= back[i] == own_value(t, ROUNDS - 1, COLS + i);
            CHECK_MSG(ok, "%s does not hold its last round", name);
        }
    }
    /* grid: row t is t*1000 + the last round. */
    {
        const uint64_t shape[2] = {WRITERS, COLS};
        int64_t grid[WRITERS * COLS];
        if (CHECK_OK(npk_load(a, "grid", NPK_INT64, 2, shape, grid, NULL))) {
            int ok = 1;
            for (t = 0; t < WRITERS; t++)
                for (i = 0; i < COLS; i++)
                    ok &= grid[t * COLS + i] == (int64_t)t * 1000 + ROUNDS - 1;
            CHECK_MSG(ok, "grid rows are not every thread's last write");
        }
    }
    /* counters[k]: sum over threads of (id + 1) for every round with round % COUNTERS == k. */
    {
        const uint64_t shape[1] = {COUNTERS};
        int64_t counters[COUNTERS], want[COUNTERS], total = 0, want_total = 0;
        int r;
        memset(want, 0, sizeof want);
        for (t = 0; t < WRITERS; t++)
            for (r = 0; r < ROUNDS; r++)
                want[r % COUNTERS] += t + 1;
        if (CHECK_OK(npk_load(a, "counters", NPK_INT64, 1, shape, counters, NULL))) {
            for (i = 0; i < COUNTERS; i++) {
                total += counters[i];
                want_total += want[i];
                CHECK_MSG(counters[i] == want[i], "counters[%d] = %lld, want %lld", i,
                          (long long)counters[i], (long long)want[i]);
            }
            CHECK_MSG(total == want_total, "counter total %lld, want %lld", (long long)total,
                      (long long)want_total);
        }
    }
    /* No clone left behind. */
    for (t = 0; t < WRITERS; t++) {
        char name[32];
        int32_t exists = 1;
        snprintf(name, sizeof name, "c_%d", t);
        CHECK(npk_has(a, name, &exists) == NPK_OK && exists == 0);
    }
    /* Store B: every batch round exactly once. */
    {
        const uint64_t shape4[1] = {4}, shape_n[1] = {BATCH_ROUNDS};
        int64_t acc[4], wacc[4], seq[BATCH_ROUNDS], plain[BATCH_ROUNDS];
        int ok;
        if (CHECK_OK(npk_load(b, "acc", NPK_INT64, 1, shape4, acc, NULL)))
            CHECK_MSG(acc[0] == BATCH_ROUNDS && acc[1] == BATCH_ROUNDS && acc[2] == BATCH_ROUNDS &&
                          acc[3] == BATCH_ROUNDS,
                      "acc = %lld %lld %lld %lld", (long long)acc[0], (long long)acc[1],
                      (long long)acc[2], (long long)acc[3]);
        if (CHECK_OK(npk_load(b, "wacc", NPK_INT64, 1, shape4, wacc, NULL)))
            CHECK_MSG(wacc[0] == BATCH_ROUNDS && wacc[1] == BATCH_ROUNDS &&
                          wacc[2] == BATCH_ROUNDS && wacc[3] == BATCH_ROUNDS,
                      "wacc = %lld %lld %lld %lld", (long long)wacc[0], (long long)wacc[1],
                      (long long)wacc[2], (long long)wacc[3]);
        if (CHECK_OK(npk_load(b, "seq", NPK_INT64, 1, shape_n, seq, NULL))) {
            ok = 1;
            for (i = 0; i < BATCH_ROUNDS; i++)
                ok &= seq[i] == i;
            CHECK_MSG(ok, "seq is not 0..%d", BATCH_ROUNDS - 1);
        }
        if (CHECK_OK(npk_load(b, "plain", NPK_INT64, 1, shape_n, plain, NULL))) {
            ok = 1;
            for (i = 0; i < BATCH_ROUNDS; i++)
                ok &= plain[i] == i;
            CHECK_MSG(ok, "plain is not 0..%d", BATCH_ROUNDS - 1);
        }
    }
}

int main(int argc, char **argv)
{
    enum { NTHREADS = WRITERS + 4 };
    pthread_t threads[NTHREADS];
    worker workers[NTHREADS];
    void *(*fns[NTHREADS])(void *);
    long ops = 0;
    int i;
    (void)argc;
    check_begin(argv[0]);
    g_tmp = make_tmpdir(NULL);
    snprintf(g_dir_a, sizeof g_dir_a, "%s/a", g_tmp);
    snprintf(g_dir_b, sizeof g_dir_b, "%s/b", g_tmp);

    SECTION("setup");
    if (!CHECK_OK(npk_open(g_dir_a, NPK_OPEN_CREATE, &g_a)) ||
        !CHECK_OK(npk_open(g_dir_b, NPK_OPEN_CREATE, &g_b)))
        return check_end();
    {
        const uint64_t empty2[2] = {0, 2}, grid_shape[2] = {WRITERS, COLS};
        const uint64_t counters_shape[1] = {COUNTERS}, four[1] = {4}, empty1[1] = {0};
        int64_t grid[WRITERS * COLS], counters[COUNTERS], zeros[4] = {0, 0, 0, 0};
        memset(grid, 0, sizeof grid);
        memset(counters, 0, sizeof counters);
        CHECK_OK(npk_save(g_a, "log", NPK_INT64, 2, empty2, NULL, NULL));
        CHECK_OK(npk_save(g_a, "grid", NPK_INT64, 2, grid_shape, grid, NULL));
        CHECK_OK(npk_save(g_a, "counters", NPK_INT64, 1, counters_shape, counters, NULL));
        CHECK_OK(npk_save(g_b, "acc", NPK_INT64, 1, four, zeros, NULL));
        CHECK_OK(npk_save(g_b, "wacc", NPK_INT64, 1, four, zeros, NULL));
        CHECK_OK(npk_save(g_b, "seq", NPK_INT64, 1, empty1, NULL, NULL));
        CHECK_OK(npk_save(g_b, "plain", NPK_INT64, 1, empty1, NULL, NULL));
    }

    SECTION("threads");
    memset(workers, 0, sizeof workers);
    for (i = 0; i < WRITERS; i++)
        fns[i] = writer;
    fns[WRITERS] = batcher;
    fns[WRITERS + 1] = reader_same;
    fns[WRITERS + 2] = reader_ro;
    fns[WRITERS + 3] = reader_b;
    for (i = 0; i < NTHREADS; i++) {
        workers[i].id = i;
        CHECK(pthread_create(&threads[i], NULL, fns[i], &workers[i]) == 0);
    }
    /* Writers and the batch thread first, then tell the readers to finish. */
    for (i = 0; i <= WRITERS; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_lock(&g_lock);
    g_done = 1;
    pthread_mutex_unlock(&g_lock);
    for (i = WRITERS + 1; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);
    for (i = 0; i < NTHREADS; i++) {
        CHECK_MSG(workers[i].failures == 0, "thread %d: %d failures, first: %s", i,
                  workers[i].failures, workers[i].first_failure);
        ops += workers[i].ops;
    }
    /* On stderr: the summary line on stdout must stay the last one. */
    fprintf(stderr, "threads_mixed: %d threads, %ld library calls and checks\n", NTHREADS, ops);

    check_final(g_a, g_b, "after the threads");
    CHECK_OK(npk_close(g_a));
    CHECK_OK(npk_close(g_b));

    /* The same from disk, through fresh read-only handles. */
    if (CHECK_OK(npk_open(g_dir_a, NPK_OPEN_READ_ONLY, &g_a)) &&
        CHECK_OK(npk_open(g_dir_b, NPK_OPEN_READ_ONLY, &g_b)))
        check_final(g_a, g_b, "reopened");
    CHECK_OK(npk_close(g_a));
    CHECK_OK(npk_close(g_b));
    remove_tree(g_tmp);
    free(g_tmp);
    return check_end();
}
