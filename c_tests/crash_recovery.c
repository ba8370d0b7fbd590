/*
 * crash_recovery: process-level crashes. A child process opens the store, commits, and dies
 * (_exit without npk_close, or SIGKILL at an arbitrary instant in a loop of commits); the parent
 * reopens and must see every commit that returned and a whole state (never half a save, append,
 * drop or compaction). Leftovers of a crash (staged files, bytes of an interrupted append) are
 * ignored by readers and cleaned up by the next writer. A reader in another process sees the
 * writer's commits after npk_refresh. Finally every operation once on an NPK_OPEN_DURABLE store.
 */
#include "check.h"

#include <signal.h>

static char *g_tmp;

static npk_store *open_ok(const char *dir, uint32_t flags)
{
    npk_store *s = NULL;
    if (!CHECK_OK(npk_open(dir, flags, &s)))
        return NULL;
    return s;
}

static int32_t has(npk_store *s, const char *name)
{
    int32_t e = -1;
    CHECK_OK(npk_has(s, name, &e));
    return e;
}

static void check_no_leftovers(const char *dir)
{
    char *listing = dir_listing(dir);
    CHECK_MSG(strstr(listing, ".npk-stage-") == NULL && strstr(listing, ".npk.commit") == NULL,
              "leftover files in %s:\n%s", dir, listing);
    free(listing);
}

/* ---- a child commits and exits without closing ------------------------------------------------*/

static const uint64_t SHAPE_A[2] = {3, 4};

static void fill_a(double *a, double base)
{
    int i;
    for (i = 0; i < 12; i++)
        a[i] = base + i;
}

/* The child's work: one commit of every kind, then death without npk_close. */
static void child_commits(const char *dir, int how)
{
    npk_store *s = NULL;
    double a[12];
    const int64_t row[3] = {7, 8, 9};
    const uint64_t shape13[2] = {1, 3};
    const int64_t first = 0;
    const uint64_t two = 2;
    const int64_t idx1 = 1;
    const float f2[2] = {1.5f, 2.5f};
    if (npk_open(dir, 0, &s) != NPK_OK)
        _exit(10);
    fill_a(a, 100);
    if (npk_save(s, "a", NPK_FLOAT64, 2, SHAPE_A, a, NULL) != NPK_OK)
        _exit(11);
    if (npk_append(s, "log", NPK_INT64, 2, shape13, row, NULL) != NPK_OK)
        _exit(12);
    if (npk_drop_rows(s, "b", &first, 1) != NPK_OK)
        _exit(13);
    if (npk_clone(s, "a", "a_copy") != NPK_OK)
        _exit(14);
    if (npk_drop(s, (const char *const[]){"c"}, 1) != NPK_OK)
        _exit(15);
    if (npk_save(s, "d", NPK_FLOAT32, 1, &two, f2, NULL) != NPK_OK)
        _exit(16);
    if (npk_drop_rows(s, "d", &idx1, 1) != NPK_OK || npk_compact(s, "d") != NPK_OK)
        _exit(17);
    if (how == 0)
        _exit(0); /* no npk_close, no atexit handlers */
    raise(SIGKILL);
    _exit(18);
}

static void verify_after_child(npk_store *s)
{
    double a[12], want[12];
    int64_t log[6];
    const uint64_t shape23[2] = {2, 3};
    const int64_t want_log[6] = {1, 2, 3, 7, 8, 9};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    float d = 0;
    const uint64_t one = 1;
    fill_a(want, 100);
    CHECK_OK(npk_load(s, "a", NPK_FLOAT64, 2, SHAPE_A, a, NULL));
    CHECK(memcmp(a, want, sizeof a) == 0);
    CHECK_OK(npk_load(s, "a_copy", NPK_FLOAT64, 2, SHAPE_A, a, NULL));
    CHECK(memcmp(a, want, sizeof a) == 0);
    CHECK_OK(npk_load(s, "log", NPK_INT64, 2, shape23, log, NULL));
    CHECK(memcmp(log, want_log, sizeof log) == 0);
    CHECK_OK(npk_info(s, "b", &info));
    CHECK(info.shape[0] == 2 && info.physical_rows == 3);
    CHECK(has(s, "c") == 0);
    CHECK_OK(npk_load(s, "d", NPK_FLOAT32, 1, &one, &d, NULL));
    CHECK(d == 1.5f);
    CHECK_OK(npk_info(s, "d", &info));
    CHECK(info.physical_rows == 1);
}

static void test_exit_without_close(int how)
{
    char dir[4096];
    npk_store *s;
    pid_t pid;
    int status = 0;
    const int64_t log0[3] = {1, 2, 3};
    const uint64_t shape13[2] = {1, 3}, shape3 = 3;
    const uint8_t b[3] = {1, 2, 3};
    SECTION(how == 0 ? "child _exit()s without closing" : "child is killed after its commits");
    snprintf(dir, sizeof dir, "%s/exit%d", g_tmp, how);
    if ((s = open_ok(dir, NPK_OPEN_CREATE)) == NULL)
        return;
    CHECK_OK(npk_save(s, "log", NPK_INT64, 2, shape13, log0, NULL));
    CHECK_OK(npk_save(s, "b", NPK_UINT8, 1, &shape3, b, NULL));
    CHECK_OK(npk_save(s, "c", NPK_UINT8, 1, &shape3, b, NULL));
    CHECK_OK(npk_close(s));

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0)
        child_commits(dir, how);
    waitpid(pid, &status, 0);
    if (how == 0)
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    else
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x",
                  status);

    /* A reader sees every commit (no writer has run recovery yet). */
    if ((s = open_ok(dir, NPK_OPEN_READ_ONLY)) != NULL) {
        verify_after_child(s);
        CHECK_OK(npk_close(s));
    }
    /* The dead child's lock is gone: a writer opens, and sees the same. */
    if ((s = open_ok(dir, 0)) != NULL) {
        verify_after_child(s);
        CHECK_OK(npk_close(s));
    }
    check_no_leftovers(dir);
    CHECK(!path_exists(path_in(dir, "data_c.npkd")));
    CHECK(!path_exists(path_in(dir, "deleted_d.npkb")));
}

/* ---- SIGKILL at arbitrary instants in a loop of commits ---------------------------------------*/

#define KILL_ROUNDS 40
#define STATE_N 65536 /* int32: 256 KiB per save, so a kill often lands inside one */
#define KILL_AFTER_APPENDS 2 /* each child is killed only after this many committed appends */

/* Saves "state" (every element k), appends row (k, k, k, k) to "log", and rewrites "holes"
 * (ten rows of k, one dropped, compacted every other time), for k = rows of log, k + 1, ...
 * until killed. Writes one byte to `progress` each time an append has returned: the parent
 * kills only after it has seen some, so every round commits, however slow the machine. */
static void kill_loop_child(const char *dir, int progress)
{
    npk_store *s = NULL;
    static int32_t state[STATE_N];
    const uint64_t state_shape = STATE_N, row_shape[2] = {1, 4}, ten = 10;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    int64_t k, row[4], holes[10];
    int i;
    if (npk_open(dir, 0, &s) != NPK_OK || npk_info(s, "log", &info) != NPK_OK)
        _exit(10);
    k = (int64_t)info.shape[0];
    for (;; k++) {
        const int64_t drop = k % 10;
        for (i = 0; i < STATE_N; i++)
            state[i] = (int32_t)k;
        if (npk_save(s, "state", NPK_INT32, 1, &state_shape, state, NULL) != NPK_OK)
            _exit(12);
        row[0] = row[1] = row[2] = row[3] = k;
        if (npk_append(s, "log", NPK_INT64, 2, row_shape, row, NULL) != NPK_OK)
            _exit(13);
        if (write(progress, "c", 1) != 1)
            _exit(11);
        for (i = 0; i < 10; i++)
            holes[i] = k;
        if (npk_save(s, "holes", NPK_INT64, 1, &ten, holes, NULL) != NPK_OK ||
            npk_drop_rows(s, "holes", &drop, 1) != NPK_OK)
            _exit(14);
        if (k % 2 == 0 && npk_compact(s, NULL) != NPK_OK)
            _exit(15);
        if (k % 5 == 0) {
            int32_t e = 0;
            npk_has(s, "state_copy", &e);
            if ((e && npk_drop(s, (const char *const[]){"state_copy"}, 1) != NPK_OK) ||
                npk_clone(s, "state", "state_copy") != NPK_OK)
                _exit(16);
        }
    }
}

/* The invariants of a whole state. Returns the number of log rows. */
static uint64_t verify_kill_state(npk_store *s, const char *dir, int writer)
{
    static int32_t state[STATE_N];
    const uint64_t state_shape = STATE_N;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    uint64_t rows = 0, r;
    int64_t *log;
    int i, uniform = 1;

    CHECK_OK(npk_info(s, "log", &info));
    rows = info.shape[0];
    log = (int64_t *)malloc((size_t)(rows * 4 + 1) * sizeof(int64_t));
    {
        const uint64_t shape[2] = {rows, 4};
        if (CHECK_OK(npk_load(s, "log", NPK_INT64, 2, shape, log, NULL))) {
            int ok = 1;
            for (r = 0; r < rows * 4; r++)
                ok &= log[r] == (int64_t)(r / 4);
            CHECK_MSG(ok, "log rows are not 0, 1, 2, ... (%llu rows)", (unsigned long long)rows);
        }
    }
    free(log);
    /* A writer trims bytes an interrupted append left past the end. */
    if (writer)
        CHECK_EQ_U64(file_size(path_in(dir, "data_log.npkd")), rows * 32);
    else
        CHECK(file_size(path_in(dir, "data_log.npkd")) >= (long long)(rows * 32));

    /* "state" is one whole save: the one before or the one after the last append. */
    if (CHECK_OK(npk_load(s, "state", NPK_INT32, 1, &state_shape, state, NULL))) {
        for (i = 1; i < STATE_N; i++)
            uniform &= state[i] == state[0];
        CHECK_MSG(uniform, "state mixes two saves");
        CHECK_MSG((int64_t)state[0] == (int64_t)rows - 1 || (int64_t)state[0] == (int64_t)rows,
                  "state is %d with %llu log rows", state[0], (unsigned long long)rows);
    }
    if (has(s, "state_copy") == 1 &&
        CHECK_OK(npk_load(s, "state_copy", NPK_INT32, 1, &state_shape, state, NULL))) {
        for (i = 1; i < STATE_N; i++)
            uniform &= state[i] == state[0];
        CHECK_MSG(uniform, "state_copy mixes two saves");
    }
    /* "holes": ten equal rows, or nine after the drop (compacted or not). */
    if (has(s, "holes") == 1 && CHECK_OK(npk_info(s, "holes", &info))) {
        int64_t h[10];
        const uint64_t n = info.shape[0];
        CHECK_MSG(n == 9 || n == 10, "holes has %llu rows", (unsigned long long)n);
        CHECK(info.physical_rows == 10 || (n == 9 && info.physical_rows == 9));
        if (n <= 10 && CHECK_OK(npk_load(s, "holes", NPK_INT64, 1, &n, h, NULL))) {
            int ok = 1;
            for (r = 1; r < n; r++)
                ok &= h[r] == h[0];
            CHECK_MSG(ok, "holes mixes two saves");
        }
    }
    return rows;
}

static void test_kill_loop(void)
{
    char dir[4096];
    npk_store *s;
    const uint64_t shape04[2] = {0, 4}, state_shape = STATE_N;
    int32_t *minus1 = (int32_t *)malloc(STATE_N * sizeof(int32_t));
    uint64_t rows = 0, last_rows = 0;
    int round, i;
    SECTION("SIGKILL during commits");
    snprintf(dir, sizeof dir, "%s/killed", g_tmp);
    for (i = 0; i < STATE_N; i++)
        minus1[i] = -1;
    if ((s = open_ok(dir, NPK_OPEN_CREATE)) == NULL)
        return;
    CHECK_OK(npk_save(s, "log", NPK_INT64, 2, shape04, NULL, NULL));
    CHECK_OK(npk_save(s, "state", NPK_INT32, 1, &state_shape, minus1, NULL));
    CHECK_OK(npk_close(s));
    free(minus1);

    for (round = 0; round < KILL_ROUNDS; round++) {
        int progress[2];
        pid_t pid;
        char c;
        int status = 0, seen = 0;
        uint64_t t0 = 0, cycle_us;
        if (!CHECK(pipe(progress) == 0))
            return;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
            close(progress[0]);
            kill_loop_child(dir, progress[1]);
        }
        close(progress[1]);
        /* Wait for the appends themselves (a blocking read, no timer): a child that dies early
         * ends the read with EOF and fails the check below. */
        while (seen < KILL_AFTER_APPENDS && read(progress[0], &c, 1) == 1)
            if (++seen == 1)
                t0 = now_us();
        cycle_us = now_us() - t0;
        CHECK_MSG(seen == KILL_AFTER_APPENDS, "round %d: the child made only %d appends", round,
                  seen);
        /* Kill at a different point of the next cycle each round: a fraction of the time the last
         * cycle took. This only moves where the kill lands; no check depends on it. */
        sleep_us((long)(cycle_us * (uint64_t)((round * 7) % 23) / 23));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        close(progress[0]);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the child ended on its own (status %#x)", round, status);

        /* A reader first (it must not need a writer's recovery), then a writer. */
        if ((s = open_ok(dir, NPK_OPEN_READ_ONLY)) != NULL) {
            rows = verify_kill_state(s, dir, 0);
            CHECK_OK(npk_close(s));
        }
        if ((s = open_ok(dir, 0)) != NULL) {
            CHECK_EQ_U64(verify_kill_state(s, dir, 1), rows);
            CHECK_OK(npk_close(s));
        }
        check_no_leftovers(dir);
        /* Every append the parent was told about is committed. */
        CHECK_MSG(rows >= last_rows + KILL_AFTER_APPENDS, "round %d: %llu log rows after %llu",
                  round, (unsigned long long)rows, (unsigned long long)last_rows);
        last_rows = rows;
    }
    printf("crash_recovery: %llu appends committed across %d killed writers\n",
           (unsigned long long)last_rows, KILL_ROUNDS);
}

/* ---- leftovers of a crash, made by hand -------------------------------------------------------*/

static void test_leftovers(void)
{
    char dir[4096];
    npk_store *s;
    const uint64_t shape23[2] = {2, 3};
    const int16_t v[6] = {1, 2, 3, 4, 5, 6};
    int16_t back[6];
    const unsigned char junk[10] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    SECTION("leftovers");
    snprintf(dir, sizeof dir, "%s/leftovers", g_tmp);
    if ((s = open_ok(dir, NPK_OPEN_CREATE)) == NULL)
        return;
    CHECK_OK(npk_save(s, "v", NPK_INT16, 2, shape23, v, NULL));
    CHECK_OK(npk_close(s));

    /* An append that died after writing its bytes but before its commit: bytes past the end. */
    CHECK(patch_file(path_in(dir, "data_v.npkd"), 12, junk, sizeof junk) == 0);
    /* Staged files of a commit that never decided. */
    CHECK(write_file(path_in(dir, ".npk-stage-deadbeef-1"), junk, sizeof junk) == 0);
    CHECK(write_file(path_in(dir, ".npk.commit.tmp"), junk, 3) == 0);

    /* A reader ignores all of it and changes nothing. */
    if ((s = open_ok(dir, NPK_OPEN_READ_ONLY)) != NULL) {
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        CHECK_OK(npk_info(s, "v", &info));
        CHECK(info.shape[0] == 2 && info.nbytes == 12);
        CHECK_OK(npk_load(s, "v", NPK_INT16, 2, shape23, back, NULL));
        CHECK(memcmp(back, v, sizeof v) == 0);
        CHECK_OK(npk_close(s));
    }
    CHECK_EQ_U64(file_size(path_in(dir, "data_v.npkd")), 22);
    CHECK(path_exists(path_in(dir, ".npk-stage-deadbeef-1")));
    /* A writer cleans up: trims the data file and removes the staged files. */
    if ((s = open_ok(dir, 0)) != NULL) {
        CHECK_OK(npk_load(s, "v", NPK_INT16, 2, shape23, back, NULL));
        CHECK(memcmp(back, v, sizeof v) == 0);
        CHECK_EQ_U64(file_size(path_in(dir, "data_v.npkd")), 12);
        CHECK(!path_exists(path_in(dir, ".npk-stage-deadbeef-1")));
        CHECK(!path_exists(path_in(dir, ".npk.commit.tmp")));
        /* ... and appends after the trimmed end. */
        CHECK_OK(npk_append(s, "v", NPK_INT16, 2, shape23, v, NULL));
        CHECK_EQ_U64(file_size(path_in(dir, "data_v.npkd")), 24);
        CHECK_OK(npk_close(s));
    }
}

/* ---- a reader in one process, the writer in another -------------------------------------------*/

static void test_reader_sees_other_process(void)
{
    char dir[4096];
    npk_store *s, *r = NULL;
    int to_parent[2], to_child[2];
    pid_t pid;
    char c = 0;
    int status = 0;
    const uint64_t one = 1;
    int64_t got = 0;
    SECTION("reader in another process");
    snprintf(dir, sizeof dir, "%s/shared", g_tmp);
    if ((s = open_ok(dir, NPK_OPEN_CREATE)) == NULL)
        return;
    CHECK_OK(npk_close(s));
    if (pipe(to_parent) != 0 || pipe(to_child) != 0)
        return;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        /* The writer: commit v = 1, wait, commit v = 2 (and another array), wait, die. */
        npk_store *w = NULL;
        int64_t v = 1;
        char go;
        close(to_parent[0]);
        close(to_child[1]);
        if (npk_open(dir, 0, &w) != NPK_OK ||
            npk_save(w, "v", NPK_INT64, 1, &one, &v, NULL) != NPK_OK)
            _exit(10);
        if (write(to_parent[1], "1", 1) != 1 || read(to_child[0], &go, 1) != 1)
            _exit(11);
        v = 2;
        if (npk_save(w, "v", NPK_INT64, 1, &one, &v, NULL) != NPK_OK ||
            npk_save(w, "w", NPK_INT64, 1, &one, &v, NULL) != NPK_OK)
            _exit(12);
        if (write(to_parent[1], "2", 1) != 1 || read(to_child[0], &go, 1) != 1)
            _exit(13);
        _exit(0);
    }
    close(to_parent[1]);
    close(to_child[0]);
    CHECK(read(to_parent[0], &c, 1) == 1 && c == '1');
    if ((r = open_ok(dir, NPK_OPEN_READ_ONLY)) != NULL) {
        npk_store *w2 = (npk_store *)0x1;
        CHECK_OK(npk_load(r, "v", NPK_INT64, 1, &one, &got, NULL));
        CHECK(got == 1);
        /* The child holds the lock. */
        CHECK_ERR(npk_open(dir, 0, &w2), NPK_LOCKED, dir);
        CHECK(write(to_child[1], "g", 1) == 1);
        CHECK(read(to_parent[0], &c, 1) == 1 && c == '2');
        /* The reader's snapshot is unchanged until it refreshes. */
        CHECK_OK(npk_load(r, "v", NPK_INT64, 1, &one, &got, NULL));
        CHECK(got == 1);
        CHECK(has(r, "w") == 0);
        CHECK_OK(npk_refresh(r));
        CHECK_OK(npk_load(r, "v", NPK_INT64, 1, &one, &got, NULL));
        CHECK(got == 2);
        CHECK(has(r, "w") == 1);
        CHECK(write(to_child[1], "g", 1) == 1);
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* The writer is gone (without closing); the reader still works, and a writer opens. */
        CHECK_OK(npk_refresh(r));
        CHECK_OK(npk_load(r, "v", NPK_INT64, 1, &one, &got, NULL));
        CHECK(got == 2);
        CHECK_OK(npk_close(r));
        if ((s = open_ok(dir, 0)) != NULL)
            CHECK_OK(npk_close(s));
    }
    close(to_parent[0]);
    close(to_child[1]);
}

/* ---- NPK_OPEN_DURABLE: every operation once ---------------------------------------------------*/

static void test_durable(void)
{
    char dir[4096];
    npk_store *s;
    const uint64_t shape43[2] = {4, 3}, shape13[2] = {1, 3}, shape23[2] = {2, 3};
    const uint64_t shape33[2] = {3, 3};
    double m[12], back[12], rows[6];
    const int64_t idx_last = -1, idx2[2] = {0, -1};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    uint64_t needed = 0, count = 0;
    char names[64];
    int i;
    SECTION("durable");
    snprintf(dir, sizeof dir, "%s/durable/store", g_tmp);
    for (i = 0; i < 12; i++)
        m[i] = i;
    if ((s = open_ok(dir, NPK_OPEN_CREATE | NPK_OPEN_DURABLE)) == NULL)
        return;
    CHECK_OK(npk_save(s, "m", NPK_FLOAT64, 2, shape43, m, NULL));
    CHECK_OK(npk_load(s, "m", NPK_FLOAT64, 2, shape43, back, NULL));
    CHECK(memcmp(back, m, sizeof m) == 0);
    CHECK_OK(npk_append(s, "m", NPK_FLOAT64, 2, shape13, m, NULL)); /* row 4 = row 0 */
    {
        const double r[3] = {-1, -2, -3};
        CHECK_OK(npk_replace_rows(s, "m", &idx_last, 1, NPK_FLOAT64, 2, shape13, r, NULL));
    }
    CHECK_OK(npk_get_rows(s, "m", idx2, 2, NPK_FLOAT64, 2, shape23, rows, NULL));
    CHECK(rows[0] == 0 && rows[3] == -1 && rows[5] == -3);
    CHECK_OK(npk_drop_rows(s, "m", &idx2[0], 1)); /* rows 1, 2, 3, 4 remain */
    CHECK_OK(npk_clone(s, "m", "m_copy"));
    CHECK_OK(npk_compact(s, "m"));
    CHECK_OK(npk_save(s, "tmp", NPK_FLOAT64, 2, shape13, m, NULL));
    CHECK_OK(npk_drop(s, (const char *const[]){"tmp"}, 1));
    CHECK(has(s, "tmp") == 0 && has(s, "m") == 1);
    CHECK_OK(npk_list(s, names, sizeof names, &needed, &count));
    CHECK(count == 2 && strcmp(names, "m") == 0 && strcmp(names + 2, "m_copy") == 0);
    CHECK_OK(npk_info(s, "m", &info));
    CHECK(info.shape[0] == 4 && info.physical_rows == 4);
    CHECK_OK(npk_view_open(s, "m", &view));
    CHECK(view.data && ((const double *)view.data)[0] == 3 && ((const double *)view.data)[9] == -1);
    CHECK_OK(npk_view_release(&view));
    CHECK_OK(npk_refresh(s));
    CHECK_OK(npk_close(s));

    /* Reopened: read-only, then a durable writer. */
    {
        static const uint32_t flags[2] = {NPK_OPEN_READ_ONLY, NPK_OPEN_DURABLE};
        const uint64_t shape43b[2] = {4, 3};
        const double want[12] = {3, 4, 5, 6, 7, 8, 9, 10, 11, -1, -2, -3};
        int k;
        for (k = 0; k < 2; k++) {
            if ((s = open_ok(dir, flags[k])) == NULL)
                continue;
            CHECK_OK(npk_load(s, "m", NPK_FLOAT64, 2, shape43b, back, NULL));
            CHECK(memcmp(back, want, sizeof want) == 0);
            CHECK_OK(npk_load(s, "m_copy", NPK_FLOAT64, 2, shape43b, back, NULL));
            CHECK(memcmp(back, want, sizeof want) == 0);
            CHECK_ERR(npk_load(s, "m", NPK_FLOAT64, 2, shape33, back, NULL), NPK_SHAPE_MISMATCH,
                      "\"m\"");
            CHECK(has(s, "tmp") == 0);
            CHECK_OK(npk_close(s));
        }
    }
    check_no_leftovers(dir);
    CHECK(!path_exists(path_in(dir, "deleted_m.npkb")));
    CHECK(!path_exists(path_in(dir, "data_tmp.npkd")));
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    g_tmp = make_tmpdir(NULL);

    test_exit_without_close(0);
    test_exit_without_close(1);
    test_kill_loop();
    test_leftovers();
    test_reader_sees_other_process();
    test_durable();

    remove_tree(g_tmp);
    free(g_tmp);
    return check_end();
}
