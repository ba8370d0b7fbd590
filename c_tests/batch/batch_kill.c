/*
 * Crash atomicity of a cache-batch commit. A child process opens the store, saves generation g
 * of four arrays of different sizes in a cache batch (every value = g, and each array's row
 * count depends on g, so a shape tells its generation too) and calls npk_batch_end. The parent
 * SIGKILLs it after a delay swept from 0 to beyond the commit's measured duration (extended
 * until some kill landed before and some after the commit's decision). After each
 * kill the store must show all four arrays at g-1 or all at g, never a mixture: first through a
 * read-only open (no repair), then through a writer open (which completes or sweeps the
 * interrupted commit), which must show the same generation and leave no staging files.
 * Between trials the parent drops the last row of "small" (a deletion bitmap), so every commit
 * also retires a bitmap: the old state is "small" one row short, the new one whole.
 */
#include <signal.h>
#include <sys/wait.h>

#include "batch_util.h"

#define N_ARR 4
static const char *const NAMES[N_ARR] = {"tiny", "small", "medium", "large"};
static const npk_dtype DTYPES[N_ARR] = {NPK_INT64, NPK_FLOAT64, NPK_INT32, NPK_FLOAT32};
static const uint64_t BASE_ROWS[N_ARR] = {3, 1000, 50000, 200000};
static const uint64_t COLS[N_ARR] = {2, 16, 10, 4};

static uint64_t rows_of(int i, long g)
{
    return BASE_ROWS[i] + (uint64_t)(g % 5);
}

static void *make_generation(int i, long g, uint64_t *nelem)
{
    uint64_t n = rows_of(i, g) * COLS[i];
    void *p = xmalloc((size_t)(n * npk_dtype_size(DTYPES[i])));
    for (uint64_t k = 0; k < n; k++)
        put_elem(DTYPES[i], p, (size_t)k, (double)g, 0);
    *nelem = n;
    return p;
}

/* The generation the store shows: >= 0 when all four arrays agree (values and shapes),
 * -1 for a mixture or a damaged array (the reason goes to stderr). */
static long observed_generation(npk_store *s, const char *how, long dropped_gen)
{
    long gen[N_ARR];
    for (int i = 0; i < N_ARR; i++) {
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        npk_status st;
        void *data = load_all(s, NAMES[i], &info, &st);
        if (data == NULL) {
            fprintf(stderr, "  %s: %s: %s: %s\n", how, NAMES[i], npk_status_str(st),
                    npk_last_error());
            return -1;
        }
        uint64_t n = info.nbytes / npk_dtype_size(DTYPES[i]);
        double v0, im;
        get_elem(DTYPES[i], data, 0, &v0, &im);
        int uniform = info.dtype == DTYPES[i] && info.ndim == 2 && info.shape[1] == COLS[i];
        for (uint64_t k = 1; k < n && uniform; k++) {
            double v;
            get_elem(DTYPES[i], data, (size_t)k, &v, &im);
            uniform = v == v0;
        }
        free(data);
        gen[i] = (long)v0;
        uint64_t want_rows = rows_of(i, gen[i]) - (i == 1 && gen[i] == dropped_gen ? 1 : 0);
        if (!uniform || info.shape[0] != want_rows) {
            fprintf(stderr, "  %s: %s has shape (%llu,%llu) and %s values (first %g)\n", how,
                    NAMES[i], (unsigned long long)info.shape[0],
                    (unsigned long long)info.shape[1], uniform ? "uniform" : "mixed", v0);
            return -1;
        }
    }
    for (int i = 1; i < N_ARR; i++)
        if (gen[i] != gen[0]) {
            fprintf(stderr, "  %s: mixture: %s at generation %ld, %s at %ld\n", how, NAMES[0],
                    gen[0], NAMES[i], gen[i]);
            return -1;
        }
    return gen[0];
}

/* The child: commit generation g of every array in one cache batch. It writes one byte to
 * `ready` just before npk_batch_end, so the parent's delay covers the commit only. */
static void child_commit(const char *dir, long g, int ready, uint32_t flags)
{
    npk_store *s = NULL;
    npk_batch *b = NULL;
    if (npk_open(dir, flags, &s) != NPK_OK || npk_batch_begin(s, 0, &b) != NPK_OK) {
        fprintf(stderr, "  child: %s\n", npk_last_error());
        _exit(3);
    }
    for (int i = 0; i < N_ARR; i++) {
        uint64_t n;
        void *data = make_generation(i, g, &n);
        uint64_t shape[2] = {rows_of(i, g), COLS[i]};
        if (npk_batch_save(b, NAMES[i], DTYPES[i], 2, shape, data, NULL) != NPK_OK)
            _exit(4);
        free(data);
    }
    char c = 'g';
    if (write(ready, &c, 1) != 1)
        _exit(5);
    if (npk_batch_end(b) != NPK_OK) {
        fprintf(stderr, "  child: end: %s\n", npk_last_error());
        _exit(6);
    }
    npk_close(s);
    _exit(0);
}

typedef struct {
    int old_state, new_state, mixed, killed, rolled_forward, swept;
} tally;

/* One trial: a child commits generation cur+1, killed `delay_us` after it starts committing
 * (delay_us < 0: not killed). Returns the generation the store then shows, -1 on a violation.
 * `commit_s` receives the time from "ready" to the child's exit when it was not killed. */
static long trial(const char *dir, long cur, double delay_us, uint32_t flags, tally *t,
                  double *commit_s)
{
    long g = cur + 1;
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(p[0]);
        child_commit(dir, g, p[1], flags);
    }
    close(p[1]);
    char c;
    ssize_t r = read(p[0], &c, 1);
    double t0 = now_s();
    close(p[0]);
    int status = 0, reaped = 0;
    if (r == 1 && delay_us >= 0) {
        /* Spin rather than sleep, so the kill lands within microseconds of the delay; stop early
         * when the child has finished on its own (a long delay must not outlast it). */
        while ((now_s() - t0) * 1e6 < delay_us && !reaped)
            reaped = waitpid(pid, &status, WNOHANG) == pid;
        if (!reaped)
            kill(pid, SIGKILL);
    }
    if (!reaped)
        waitpid(pid, &status, 0);
    if (commit_s)
        *commit_s = now_s() - t0;
    if (!CHECK_MSG(r == 1, "child never got to npk_batch_end (status 0x%x)", status))
        return -1;
    if (WIFSIGNALED(status))
        t->killed++;
    else
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);

    /* Read-only first: no lock, no repair; it must already show one whole generation. */
    npk_store *ro = NULL;
    long seen_ro = -1;
    if (CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &ro))) {
        seen_ro = observed_generation(ro, "read-only", cur);
        npk_close(ro);
    }
    struct stat st;
    int record = stat_in(dir, ".npk.commit", &st) == 0;
    int staged = count_stage_files(dir);

    /* Then a writer, which completes a decided commit or sweeps an undecided one. */
    npk_store *w = NULL;
    long seen_w = -1;
    if (CHECK_OK(npk_open(dir, 0, &w))) {
        seen_w = observed_generation(w, "writer", cur);
        if (seen_w == g) { /* the next commit retires a bitmap again */
            CHECK(stat_in(dir, "deleted_small.npkb", &st) != 0);
            CHECK_OK(npk_drop_rows(w, "small", (int64_t[]){-1}, 1));
        }
        npk_close(w);
    }
    CHECK_MSG(seen_ro == cur || seen_ro == g, "read-only open shows generation %ld, want %ld or %ld",
              seen_ro, cur, g);
    CHECK_MSG(seen_w == seen_ro, "writer open shows generation %ld, read-only showed %ld", seen_w,
              seen_ro);
    CHECK_MSG(count_stage_files(dir) == 0, "staging files left after the writer open");
    CHECK(stat_in(dir, ".npk.commit", &st) != 0 && stat_in(dir, ".npk.commit.tmp", &st) != 0);
    if (seen_w == cur && seen_ro == cur)
        t->old_state++;
    else if (seen_w == g && seen_ro == g)
        t->new_state++;
    else
        t->mixed++;
    if (record)
        t->rolled_forward++;
    else if (staged > 0)
        t->swept++;
    return seen_w;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void sweep(uint32_t flags, int n_trials, const char *label)
{
    char *dir = make_tmpdir("kill");
    npk_store *s = NULL;
    if (!CHECK_OK(npk_open(dir, NPK_OPEN_CREATE | flags, &s)))
        return;
    for (int i = 0; i < N_ARR; i++) {
        uint64_t n;
        void *data = make_generation(i, 0, &n);
        CHECK_OK(npk_save(s, NAMES[i], DTYPES[i], 2, (uint64_t[]){rows_of(i, 0), COLS[i]}, data,
                          NULL));
        free(data);
    }
    CHECK_OK(npk_drop_rows(s, "small", (int64_t[]){-1}, 1));
    npk_close(s);

    /* Measure the commit first: five unkilled runs, median. */
    tally t = {0, 0, 0, 0, 0, 0};
    long cur = 0;
    double d[5];
    for (int k = 0; k < 5; k++) {
        long g = trial(dir, cur, -1, flags, &t, &d[k]);
        CHECK(g == cur + 1);
        cur = g < 0 ? cur : g;
    }
    qsort(d, 5, sizeof d[0], cmp_double);
    double commit_us = d[2] * 1e6;
    double span_us = commit_us * 1.5 + 50;
    t = (tally){0, 0, 0, 0, 0, 0};
    double t_start = now_s();
    for (int k = 0; k < n_trials; k++) {
        double delay = span_us * k / (n_trials - 1);
        long g = trial(dir, cur, delay, flags, &t, NULL);
        if (g >= 0)
            cur = g;
    }
    /* The span comes from commits timed before the sweep; on a machine that has since slowed
     * down every kill may land before the decision (or, descheduled, after it). Then keep going:
     * kill later and later until a commit completes first, and at once until one is cut short,
     * so that the coverage checks below follow from the commit, not from the machine's speed.
     * The bound only guards against a hang. */
    int extra = 0;
    double late_us = span_us;
    for (; extra < 100 && (t.old_state == 0 || t.new_state == 0); extra++) {
        double delay = 0;
        if (t.new_state == 0) {
            late_us = late_us * 2 < 60e6 ? late_us * 2 : 60e6;
            delay = late_us;
        }
        long g = trial(dir, cur, delay, flags, &t, NULL);
        if (g >= 0)
            cur = g;
    }
    printf("  %s: commit takes ~%.0f us; %d kills swept 0..%.0f us (and %d more to cover both "
           "outcomes) in %.1f s: all-old %d, all-new %d, mixed %d (killed %d; recovery rolled a "
           "decided commit forward %d times, swept staged files %d times)\n",
           label, commit_us, n_trials, span_us, extra, now_s() - t_start, t.old_state,
           t.new_state, t.mixed, t.killed, t.rolled_forward, t.swept);
    CHECK_MSG(t.mixed == 0, "%d trials showed a mixture", t.mixed);
    CHECK_MSG(t.old_state > 0, "no trial ended all-old: the sweep never hit the commit");
    CHECK_MSG(t.new_state > 0, "no trial ended all-new");
    remove_tree(dir);
    free(dir);
}

static void kill_during_commit(void)
{
    sweep(0, 240, "cache batch commit");
}

static void kill_during_durable_commit(void)
{
    sweep(NPK_OPEN_DURABLE, 200, "durable cache batch commit");
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    RUN_TEST(kill_during_commit);
    RUN_TEST(kill_during_durable_commit);
    return check_end();
}
