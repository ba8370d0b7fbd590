/* Many in-place writers of one store (issue #11 points 3 and 5), as plain processes racing:
 * K forked NPK_OPEN_SHARED writers write disjoint row blocks of one array with npk_write_block
 * (merging their modify times into the catalogue with npk_refresh after each block), while a
 * structural writer tries to open (refused, NPK_LOCKED) and reader processes re-read the
 * catalogue the whole time and never see a torn one. Afterwards the array holds every writer's
 * rows. Then: what a killed in-place writer leaves. Every step waits on pipes, never on time. */
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>

#include "check.h"

enum { K = 4, READERS = 2, ROWS_EACH = 64, COLS = 5, BLOCK_ROWS = 8 };
#define ROWS ((uint64_t)K * ROWS_EACH)

static const char *g_dir;

/* Progress counters shared with the children (an anonymous shared mapping made before forking):
 * the race runs until every reader has made ROUNDS_DURING rounds and the writers
 * MERGES_DURING catalogue merges within the same stretch, however slow the machine. */
enum { ROUNDS_DURING = 50, MERGES_DURING = 50 };
typedef struct {
    long reader_rounds[READERS];
    long merges[K];
} progress;
static progress *g_progress;

static long load_count(long *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void bump(long *p)
{
    __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

static double value_at(uint64_t row, uint64_t col)
{
    return (double)(row / ROWS_EACH + 1) * 1e6 + (double)(row * COLS + col);
}

static void put_byte(int fd, char b)
{
    CHECK(write(fd, &b, 1) == 1);
}

static char get_byte(int fd)
{
    char b = 0;
    return read(fd, &b, 1) == 1 ? b : 0;
}

/* ---- the writers ------------------------------------------------------------------------------ */

typedef struct {
    int k;
    int to_parent;   /* 'o' opened, 'd' done writing */
    int from_parent; /* 'g' go, 'c' close */
} writer_arg;

static void writer_main(void *p)
{
    writer_arg *a = p;
    npk_store *s = NULL;
    uint64_t shape[2] = {4, COLS};
    double zeros[4 * COLS] = {0};
    const char *names[1] = {"u"};
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_SHARED, &s))) {
        put_byte(a->to_parent, 'x');
        return;
    }
    put_byte(a->to_parent, 'o');
    CHECK(get_byte(a->from_parent) == 'g');
    /* Structural calls are refused and write nothing, beside the other writers. */
    CHECK_ERR2(npk_save(s, "w", NPK_FLOAT64, 2, shape, zeros, NULL), NPK_WRONG_MODE, "save",
               "NPK_OPEN_SHARED");
    CHECK_ERR(npk_create(s, "w", NPK_FLOAT64, 2, shape, NULL), NPK_WRONG_MODE, "create");
    CHECK_ERR(npk_drop(s, names, 1), NPK_WRONG_MODE, "drop");
    for (uint64_t first = 0; first < ROWS_EACH; first += BLOCK_ROWS) {
        double block[BLOCK_ROWS * COLS];
        uint64_t offset[2] = {(uint64_t)a->k * ROWS_EACH + first, 0};
        uint64_t count[2] = {BLOCK_ROWS, COLS};
        for (uint64_t r = 0; r < BLOCK_ROWS; r++)
            for (uint64_t c = 0; c < COLS; c++)
                block[r * COLS + c] = value_at(offset[0] + r, c);
        CHECK_OK(npk_write_block(s, "u", NPK_FLOAT64, 2, offset, count, block, NULL));
        /* Records this writer's modify time in the catalogue: a catalogue commit each time,
         * racing the other writers' and the readers. */
        CHECK_OK(npk_refresh(s));
    }
    put_byte(a->to_parent, 'd');
    /* Until told to close: rewrite the first block (same values, new modify time) and merge, so
     * catalogue commits keep coming while the readers read. */
    {
        struct pollfd p = {a->from_parent, POLLIN, 0};
        uint64_t offset[2] = {(uint64_t)a->k * ROWS_EACH, 0};
        uint64_t count[2] = {BLOCK_ROWS, COLS};
        double block[BLOCK_ROWS * COLS];
        long failed = 0;
        for (uint64_t r = 0; r < BLOCK_ROWS; r++)
            for (uint64_t c = 0; c < COLS; c++)
                block[r * COLS + c] = value_at(offset[0] + r, c);
        while (poll(&p, 1, 0) == 0) {
            failed += npk_write_block(s, "u", NPK_FLOAT64, 2, offset, count, block, NULL) != NPK_OK;
            failed += npk_refresh(s) != NPK_OK;
            bump(&g_progress->merges[a->k]);
        }
        CHECK_MSG(failed == 0, "%ld rewrites or merges failed: %s", failed, npk_last_error());
    }
    CHECK(get_byte(a->from_parent) == 'c');
    CHECK_OK(npk_close(s));
}

/* ---- the readers ------------------------------------------------------------------------------ */

typedef struct {
    int index;
    int stop;        /* read end; EOF means stop */
    int stop_writer; /* the write end, which the reader closes so that EOF can come */
    int to_parent;
} reader_arg;

static int stop_requested(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* One whole catalogue: both arrays, with their dtypes and shapes. */
static int catalogue_whole(npk_store *s)
{
    npk_array_info u = NPK_ARRAY_INFO_INIT, v = NPK_ARRAY_INFO_INIT;
    uint64_t needed = 0, count = 0;
    return npk_info(s, "u", &u) == NPK_OK && npk_info(s, "v", &v) == NPK_OK &&
           u.dtype == NPK_FLOAT64 && u.ndim == 2 && u.shape[0] == ROWS && u.shape[1] == COLS &&
           v.dtype == NPK_INT32 && v.ndim == 1 && v.shape[0] == 3 &&
           npk_list(s, NULL, 0, &needed, &count) == NPK_OK && count == 2;
}

static void reader_main(void *p)
{
    reader_arg *a = p;
    npk_store *s = NULL;
    long rounds = 0, torn = 0;
    close(a->stop_writer);
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &s)))
        return;
    put_byte(a->to_parent, 'r');
    while (!stop_requested(a->stop)) {
        npk_store *fresh = NULL;
        int bad = npk_refresh(s) != NPK_OK || !catalogue_whole(s);
        /* A new handle reads the catalogue from scratch. */
        bad |= npk_open(g_dir, NPK_OPEN_READ_ONLY, &fresh) != NPK_OK || !catalogue_whole(fresh);
        npk_close(fresh);
        torn += bad;
        rounds++;
        bump(&g_progress->reader_rounds[a->index]);
    }
    CHECK_MSG(torn == 0, "%ld of %ld rounds saw a torn or unreadable catalogue: %s", torn,
              rounds, npk_last_error());
    CHECK_MSG(rounds > 0, "the reader never read");
    CHECK_OK(npk_close(s));
}

static int make_pipe(int fds[2])
{
    return CHECK_MSG(pipe(fds) == 0, "pipe: %s", strerror(errno));
}

static void k_writers_write_disjoint_blocks_while_the_structural_writer_is_refused(void)
{
    npk_store *s = NULL;
    npk_array_info before = NPK_ARRAY_INFO_INIT, after = NPK_ARRAY_INFO_INIT;
    uint64_t shape[2] = {ROWS, COLS};
    uint64_t vshape[1] = {3};
    int32_t v[3] = {1, 2, 3};
    int up[K][2], down[K][2], rup[2], rstop[2];
    writer_arg wa[K];
    reader_arg ra[READERS];
    check_child writers[K], readers[READERS];
    long rounds_at[READERS], merges_at = 0, merges_end = 0, rounds_all = 0;
    double deadline;
    double *all;

    g_dir = make_tmpdir("many");
    /* Rank 0's part: a structural open creates the arrays, then closes. */
    CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &s));
    CHECK_OK(npk_create(s, "u", NPK_FLOAT64, 2, shape, NULL));
    CHECK_OK(npk_save(s, "v", NPK_INT32, 1, vshape, v, NULL));
    CHECK_OK(npk_info(s, "u", &before));
    CHECK_OK(npk_close(s));

    if (!make_pipe(rup) || !make_pipe(rstop))
        return;
    for (int i = 0; i < READERS; i++) {
        ra[i].index = i;
        ra[i].stop = rstop[0];
        ra[i].stop_writer = rstop[1];
        ra[i].to_parent = rup[1];
        readers[i] = check_child_spawn(reader_main, &ra[i]);
    }
    for (int i = 0; i < READERS; i++)
        CHECK(get_byte(rup[0]) == 'r');

    for (int k = 0; k < K; k++) {
        if (!make_pipe(up[k]) || !make_pipe(down[k]))
            return;
        wa[k].k = k;
        wa[k].to_parent = up[k][1];
        wa[k].from_parent = down[k][0];
        writers[k] = check_child_spawn(writer_main, &wa[k]);
    }
    /* Every writer holds its shared open at once. */
    for (int k = 0; k < K; k++)
        CHECK(get_byte(up[k][0]) == 'o');
    CHECK_ERR(npk_open(g_dir, 0, &s), NPK_LOCKED, "in-place writers (NPK_OPEN_SHARED)");
    wait_clock_after(before.modify_time_us);
    for (int k = 0; k < K; k++)
        put_byte(down[k][1], 'g');
    for (int k = 0; k < K; k++)
        CHECK(get_byte(up[k][0]) == 'd');
    /* All have written and none has closed: still refused. */
    CHECK_ERR(npk_open(g_dir, NPK_OPEN_CREATE, &s), NPK_LOCKED, "in-place writers");
    /* Every reader makes ROUNDS_DURING rounds while the writers make MERGES_DURING merges (a
     * hang guard of 120 s fails instead of waiting forever). */
    for (int k = 0; k < K; k++)
        merges_at += load_count(&g_progress->merges[k]);
    for (int i = 0; i < READERS; i++)
        rounds_at[i] = load_count(&g_progress->reader_rounds[i]);
    deadline = now_s() + 120;
    for (;;) {
        int behind = 0;
        long merges_now = 0;
        for (int i = 0; i < READERS; i++)
            behind += load_count(&g_progress->reader_rounds[i]) < rounds_at[i] + ROUNDS_DURING;
        for (int k = 0; k < K; k++)
            merges_now += load_count(&g_progress->merges[k]);
        behind += merges_now < merges_at + MERGES_DURING;
        if (!behind)
            break;
        if (now_s() > deadline) {
            CHECK_MSG(0, "no progress: %d of %d readers and writers still behind after 120 s",
                      behind, READERS + 1);
            break;
        }
        sched_yield();
    }
    for (int k = 0; k < K; k++)
        put_byte(down[k][1], 'c');
    for (int k = 0; k < K; k++) {
        check_child_collect(writers[k], "an in-place writer");
        merges_end += load_count(&g_progress->merges[k]);
        close(up[k][0]);
        close(up[k][1]);
        close(down[k][0]);
        close(down[k][1]);
    }
    close(rstop[1]);
    for (int i = 0; i < READERS; i++)
        check_child_collect(readers[i], "a reader");
    close(rstop[0]);
    close(rup[0]);
    close(rup[1]);
    for (int i = 0; i < READERS; i++)
        rounds_all += load_count(&g_progress->reader_rounds[i]);
    printf("shared_writers: %ld catalogue merges by %d in-place writers while %d readers each "
           "made at least %d rounds (%ld rounds in all)\n",
           merges_end - merges_at, K, READERS, ROUNDS_DURING, rounds_all);

    /* The structural writer opens now, and the array holds every writer's rows. */
    if (!CHECK_OK(npk_open(g_dir, 0, &s)))
        return;
    all = malloc(ROWS * COLS * sizeof *all);
    CHECK(all != NULL);
    if (all && CHECK_OK(npk_load(s, "u", NPK_FLOAT64, 2, shape, all, NULL))) {
        uint64_t wrong = 0;
        for (uint64_t r = 0; r < ROWS; r++)
            for (uint64_t c = 0; c < COLS; c++)
                wrong += all[r * COLS + c] != value_at(r, c);
        CHECK_MSG(wrong == 0, "%llu values are not their writer's", (unsigned long long)wrong);
    }
    free(all);
    CHECK_OK(npk_info(s, "u", &after));
    CHECK_MSG(after.modify_time_us > before.modify_time_us, "modify time not raised");
    CHECK_OK(npk_close(s));
    remove_tree(g_dir);
}

/* ---- a killed in-place writer ----------------------------------------------------------------- */

typedef struct {
    int to_parent;
} victim_arg;

static void victim_main(void *p)
{
    victim_arg *a = p;
    npk_store *s = NULL;
    double row[COLS];
    uint64_t offset[2] = {0, 0}, count[2] = {1, COLS};
    for (int c = 0; c < COLS; c++)
        row[c] = 7.0;
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_SHARED, &s)))
        return;
    CHECK_OK(npk_write_block(s, "u", NPK_FLOAT64, 2, offset, count, row, NULL));
    put_byte(a->to_parent, 'w');
    /* Killed here, never closing. */
    for (;;)
        pause();
}

static void a_killed_in_place_writer_leaves_its_rows_and_the_catalogue_and_the_lock_goes(void)
{
    npk_store *s = NULL, *survivor = NULL;
    npk_array_info before = NPK_ARRAY_INFO_INIT, after = NPK_ARRAY_INFO_INIT;
    uint64_t shape[2] = {2, COLS};
    uint64_t offset[2] = {1, 0}, count[2] = {1, COLS};
    double got[2 * COLS], mine[COLS];
    int fds[2];
    victim_arg va;
    check_child victim;
    int status = 0;

    g_dir = make_tmpdir("killed");
    CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &s));
    CHECK_OK(npk_create(s, "u", NPK_FLOAT64, 2, shape, NULL));
    CHECK_OK(npk_info(s, "u", &before));
    CHECK_OK(npk_close(s));
    wait_clock_after(before.modify_time_us);

    CHECK_OK(npk_open(g_dir, NPK_OPEN_SHARED, &survivor));
    if (!make_pipe(fds))
        return;
    va.to_parent = fds[1];
    victim = check_child_spawn(victim_main, &va);
    if (victim.pid < 0) { /* counted as a failure; never kill(-1) */
        close(fds[0]);
        close(fds[1]);
        return;
    }
    CHECK(get_byte(fds[0]) == 'w');
    kill(victim.pid, SIGKILL);
    waitpid(victim.pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(victim.results);
    close(fds[0]);
    close(fds[1]);

    /* Its row is in the file; the catalogue on disk is untouched (its modify time never merged). */
    CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &s));
    CHECK_OK(npk_info(s, "u", &after));
    CHECK_EQ_U64(after.modify_time_us, before.modify_time_us);
    CHECK_OK(npk_load(s, "u", NPK_FLOAT64, 2, shape, got, NULL));
    CHECK(got[0] == 7.0 && got[COLS - 1] == 7.0 && got[COLS] == 0.0);
    CHECK_OK(npk_close(s));

    /* The other in-place writer carries on; the structural writer waits only for it. */
    for (int c = 0; c < COLS; c++)
        mine[c] = 8.0;
    CHECK_OK(npk_write_block(survivor, "u", NPK_FLOAT64, 2, offset, count, mine, NULL));
    CHECK_ERR(npk_open(g_dir, 0, &s), NPK_LOCKED, "in-place writers");
    CHECK_OK(npk_close(survivor));
    if (!CHECK_OK(npk_open(g_dir, 0, &s)))
        return;
    CHECK_OK(npk_load(s, "u", NPK_FLOAT64, 2, shape, got, NULL));
    CHECK(got[0] == 7.0 && got[COLS] == 8.0);
    CHECK_OK(npk_info(s, "u", &after));
    CHECK_MSG(after.modify_time_us > before.modify_time_us, "the survivor's time was recorded");
    CHECK_OK(npk_close(s));
    remove_tree(g_dir);
}

/* ---- flags and codes -------------------------------------------------------------------------- */

static void shared_opens_are_refused_beside_a_structural_writer_and_with_create(void)
{
    npk_store *w = NULL, *s = NULL;
    g_dir = make_tmpdir("flags");
    CHECK_ERR2(npk_open(g_dir, NPK_OPEN_SHARED | NPK_OPEN_CREATE, &s), NPK_INVALID_ARGUMENT,
               "NPK_OPEN_SHARED", "NPK_OPEN_CREATE");
    CHECK_ERR2(npk_open(g_dir, NPK_OPEN_SHARED | NPK_OPEN_READ_ONLY, &s), NPK_INVALID_ARGUMENT,
               "NPK_OPEN_SHARED", "NPK_OPEN_READ_ONLY");
    CHECK_ERR(npk_open(g_dir, 64, &s), NPK_INVALID_ARGUMENT, "unknown open flags 0x40");
    CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &w));
    CHECK_ERR(npk_open(g_dir, NPK_OPEN_SHARED, &s), NPK_LOCKED, "locked by a structural writer");
    /* Without locking nothing is checked: the caller guarantees the exclusion. */
    CHECK_OK(npk_open(g_dir, NPK_OPEN_SHARED | NPK_OPEN_NO_LOCKING, &s));
    CHECK_OK(npk_close(s));
    CHECK_OK(npk_close(w));
    CHECK_STR(npk_status_str(NPK_WRONG_MODE), "NPK_WRONG_MODE");
    CHECK(NPK_WRONG_MODE == 15 && NPK_OPEN_SHARED == 8 && NPK_OPEN_NO_LOCKING == 16);
    remove_tree(g_dir);
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    g_progress = mmap(NULL, sizeof *g_progress, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    if (g_progress == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(g_progress, 0, sizeof *g_progress);
    RUN_TEST(shared_opens_are_refused_beside_a_structural_writer_and_with_create);
    RUN_TEST(k_writers_write_disjoint_blocks_while_the_structural_writer_is_refused);
    RUN_TEST(a_killed_in_place_writer_leaves_its_rows_and_the_catalogue_and_the_lock_goes);
    return check_end();
}
