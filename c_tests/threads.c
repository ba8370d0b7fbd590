/*
 * threads: one store handle shared by several threads, as the header allows ("any number of
 * threads may share one handle and call any function on it concurrently"). Each worker saves,
 * reloads and drops rows of its own arrays and appends to one shared array, while a reader
 * thread on a read-only handle keeps refreshing and loading. At the end every append is there
 * exactly once and every array holds what its thread last wrote. Also: each thread has its own
 * npk_last_error().
 */
#include "check.h"

#include <pthread.h>

#define WORKERS 8
#define ROUNDS 40

static char *g_tmp;
static char g_dir[4096];
static npk_store *g_store;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_writers_done;

static int writers_done(void)
{
    int done;
    pthread_mutex_lock(&g_lock);
    done = g_writers_done;
    pthread_mutex_unlock(&g_lock);
    return done;
}

typedef struct {
    int id;
    int failures;
    char first_failure[512];
} worker;

static void note(worker *w, int ok, const char *what)
{
    if (ok || w->failures++)
        return;
    snprintf(w->first_failure, sizeof w->first_failure, "%s: %s", what, npk_last_error());
}

static void *work(void *arg)
{
    worker *w = (worker *)arg;
    char name[32], missing[32];
    const uint64_t shape[2] = {4, 8}, row_shape[2] = {1, 2};
    int32_t mine[32], back[32];
    int64_t row[2];
    int round, i;
    snprintf(name, sizeof name, "worker_%d", w->id);
    snprintf(missing, sizeof missing, "nothing_%d", w->id);
    for (round = 0; round < ROUNDS; round++) {
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        int32_t exists = 0;
        for (i = 0; i < 32; i++)
            mine[i] = w->id * 100000 + round * 100 + i;
        note(w, npk_save(g_store, name, NPK_INT32, 2, shape, mine, NULL) == NPK_OK, "save");
        note(w, npk_load(g_store, name, NPK_INT32, 2, shape, back, NULL) == NPK_OK, "load");
        note(w, memcmp(back, mine, sizeof mine) == 0, "loaded values");
        row[0] = w->id;
        row[1] = round;
        note(w, npk_append(g_store, "shared", NPK_INT64, 2, row_shape, row, NULL) == NPK_OK,
             "append");
        note(w, npk_has(g_store, name, &exists) == NPK_OK && exists == 1, "has");
        note(w, npk_info(g_store, name, &info) == NPK_OK && info.shape[1] == 8, "info");
        /* Every thread's own failure message is its own. */
        note(w, npk_load(g_store, missing, NPK_INT32, 2, shape, back, NULL) == NPK_NOT_FOUND,
             "load missing");
        note(w, strstr(npk_last_error(), missing) != NULL, "own last error");
        if (round % 4 == 3) {
            const int64_t first = 0;
            note(w, npk_drop_rows(g_store, name, &first, 1) == NPK_OK, "drop_rows");
            note(w, npk_compact(g_store, name) == NPK_OK, "compact");
        }
    }
    /* Leave the last round's array in place, with its first row dropped (ROUNDS % 4 == 0). */
    return NULL;
}

static void *read_loop(void *arg)
{
    worker *w = (worker *)arg;
    npk_store *r = NULL;
    int iterations = 0;
    note(w, npk_open(g_dir, NPK_OPEN_READ_ONLY, &r) == NPK_OK, "open read-only");
    if (r == NULL)
        return NULL;
    while (!writers_done() || iterations < 10) {
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        uint64_t needed = 0, count = 0;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        note(w, npk_refresh(r) == NPK_OK, "refresh");
        note(w, npk_info(r, "shared", &info) == NPK_OK, "reader info");
        note(w, npk_list(r, NULL, 0, &needed, &count) == NPK_OK, "reader list");
        if (info.shape[0] > 0) {
            const uint64_t shape[2] = {info.shape[0], 2};
            int64_t *rows = (int64_t *)malloc((size_t)info.shape[0] * 16);
            note(w, npk_load(r, "shared", NPK_INT64, 2, shape, rows, NULL) == NPK_OK,
                 "reader load");
            free(rows);
        }
        iterations++;
    }
    npk_close(r);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t threads[WORKERS + 1];
    worker workers[WORKERS + 1];
    const uint64_t empty[2] = {0, 2};
    int i;
    (void)argc;
    check_begin(argv[0]);
    g_tmp = make_tmpdir(NULL);
    snprintf(g_dir, sizeof g_dir, "%s/store", g_tmp);
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &g_store)))
        return check_end();
    CHECK_OK(npk_save(g_store, "shared", NPK_INT64, 2, empty, NULL, NULL));

    SECTION("threads");
    memset(workers, 0, sizeof workers);
    for (i = 0; i <= WORKERS; i++) {
        workers[i].id = i;
        CHECK(pthread_create(&threads[i], NULL, i < WORKERS ? work : read_loop, &workers[i]) ==
              0);
    }
    for (i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_lock(&g_lock);
    g_writers_done = 1;
    pthread_mutex_unlock(&g_lock);
    pthread_join(threads[WORKERS], NULL);
    for (i = 0; i <= WORKERS; i++)
        CHECK_MSG(workers[i].failures == 0, "thread %d: %d failures, first: %s", i,
                  workers[i].failures, workers[i].first_failure);

    /* Every append exactly once; every worker's array as it left it. */
    SECTION("after the threads");
    {
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        static int seen[WORKERS][ROUNDS];
        int64_t *rows;
        int dup = 0, bad = 0, t, r;
        CHECK_OK(npk_info(g_store, "shared", &info));
        CHECK_EQ_U64(info.shape[0], WORKERS * ROUNDS);
        rows = (int64_t *)malloc((size_t)info.shape[0] * 16 + 16);
        {
            const uint64_t shape[2] = {info.shape[0], 2};
            if (CHECK_OK(npk_load(g_store, "shared", NPK_INT64, 2, shape, rows, NULL))) {
                uint64_t k;
                for (k = 0; k < info.shape[0]; k++) {
                    int64_t tid = rows[2 * k], round = rows[2 * k + 1];
                    if (tid < 0 || tid >= WORKERS || round < 0 || round >= ROUNDS)
                        bad++;
                    else if (seen[tid][round]++)
                        dup++;
                }
                CHECK_MSG(bad == 0 && dup == 0, "%d bad rows, %d duplicates", bad, dup);
            }
        }
        free(rows);
        for (t = 0; t < WORKERS; t++) {
            char name[32];
            const uint64_t shape[2] = {3, 8};
            int32_t back[24];
            snprintf(name, sizeof name, "worker_%d", t);
            if (CHECK_OK(npk_load(g_store, name, NPK_INT32, 2, shape, back, NULL))) {
                int ok = 1;
                for (r = 0; r < 24; r++)
                    ok &= back[r] == t * 100000 + (ROUNDS - 1) * 100 + 8 + r;
                CHECK_MSG(ok, "%s does not hold its last round", name);
            }
        }
    }
    CHECK_OK(npk_close(g_store));
    remove_tree(g_tmp);
    free(g_tmp);
    return check_end();
}
