/* Checkpoint and restart from N MPI ranks into one store: `mpirun -np 4 ./mpi_checkpoint DIR`.
 * Rank 0 creates the arrays, every rank writes its slab of rows in place, then every rank reads
 * its neighbour's slab back as a restart would. The ranks order these phases with barriers. */
#include <stdio.h>
#include <stdlib.h>
#include <mpi.h>
#include "numpack.h"

#define NX 1001 /* "u": NX x NY float64; neither NX nor NI divides by 4, so the slabs are uneven */
#define NY 37
#define NI 50   /* "rho": NI x NJ x NK float32, split on axis 0 like "u" */
#define NJ 6
#define NK 5
#define STEP 42 /* "step": one int64, -1 until every rank has written its slabs of step STEP */

static int rank;

/* One failed call stops every rank: the other ranks would wait at the next barrier forever. */
#define CHECK(call) do { npk_status s_ = (call); if (s_ != NPK_OK) { \
    fprintf(stderr, "rank %d: %s failed: %s: %s\n", rank, #call, npk_status_str(s_), \
            npk_last_error()); \
    MPI_Abort(MPI_COMM_WORLD, 1); } } while (0)

/* Values are a function of the global index, so any rank, and Python, can check any slab. */
static double u_at(uint64_t i, uint64_t j) { return 1000.0 * i + j; }
static float rho_at(uint64_t i, uint64_t j, uint64_t k) { return (float)(10000 * i + 100 * j + k); }

/* Rank r's rows of an n-row array: the first n % size ranks take one row more. */
static void slab(uint64_t n, int r, int size, uint64_t *first, uint64_t *rows) {
    uint64_t base = n / (uint64_t)size, extra = n % (uint64_t)size, ur = (uint64_t)r;
    *first = ur * base + (ur < extra ? ur : extra);
    *rows = base + (ur < extra);
}

int main(int argc, char **argv) {
    int size, failures = 0, total;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *path = argc > 1 ? argv[1] : "checkpoint.npk";
    npk_store *store;

    const uint64_t step_offset[1] = {0}, step_count[1] = {1};
    int64_t step = -1;

    /* 1. Rank 0 alone makes the structural change: sized arrays, no data written (reads give
     * zeros, or the fill value given: -1 for "step"). */
    if (rank == 0) {
        const uint64_t u_shape[2] = {NX, NY}, rho_shape[3] = {NI, NJ, NK}, step_shape[1] = {1};
        CHECK(npk_open(path, NPK_OPEN_CREATE, &store));
        CHECK(npk_create(store, "u", NPK_FLOAT64, 2, u_shape, NULL));
        CHECK(npk_create(store, "rho", NPK_FLOAT32, 3, rho_shape, NULL));
        CHECK(npk_create(store, "step", NPK_INT64, 1, step_shape, &step));
        CHECK(npk_close(store));
    }
    /* Until rank 0 has closed, its structural handle holds the store exclusively: a shared open
     * would get NPK_LOCKED. */
    MPI_Barrier(MPI_COMM_WORLD);

    /* Buffers with room for the largest slab of either array. */
    double *u = malloc((NX / (uint64_t)size + 1) * NY * sizeof *u);
    float *rho = malloc((NI / (uint64_t)size + 1) * NJ * NK * sizeof *rho);
    if (u == NULL || rho == NULL) {
        fprintf(stderr, "rank %d: out of memory\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    uint64_t first, rows;

    /* 2. Checkpoint: every rank writes its own rows in place, all ranks at once. */
    CHECK(npk_open(path, NPK_OPEN_SHARED, &store));
    slab(NX, rank, size, &first, &rows);
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t j = 0; j < NY; j++) u[i * NY + j] = u_at(first + i, j);
    const uint64_t u_offset[2] = {first, 0}, u_count[2] = {rows, NY};
    CHECK(npk_write_block(store, "u", NPK_FLOAT64, 2, u_offset, u_count, u, NULL));

    slab(NI, rank, size, &first, &rows);
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t j = 0; j < NJ; j++)
            for (uint64_t k = 0; k < NK; k++) rho[(i * NJ + j) * NK + k] = rho_at(first + i, j, k);
    const uint64_t rho_offset[3] = {first, 0, 0}, rho_count[3] = {rows, NJ, NK};
    CHECK(npk_write_block(store, "rho", NPK_FLOAT32, 3, rho_offset, rho_count, rho, NULL));
    CHECK(npk_close(store));
    MPI_Barrier(MPI_COMM_WORLD); /* every slab is written and its handle closed */

    /* Written last: a crash before this point leaves "step" at -1, so a restart knows the slabs
     * are incomplete (in-place writes are not atomic) and uses an older checkpoint. */
    if (rank == 0) {
        step = STEP;
        CHECK(npk_open(path, NPK_OPEN_SHARED, &store));
        CHECK(npk_write_block(store, "step", NPK_INT64, 1, step_offset, step_count, &step, NULL));
        CHECK(npk_close(store));
    }
    MPI_Barrier(MPI_COMM_WORLD);

    /* 3. Restart: every rank reads its neighbour's slab, so each check crosses processes. A restart
     * goes on writing in place, so it opens shared; a reader only would use NPK_OPEN_READ_ONLY. */
    int next = (rank + 1) % size;
    CHECK(npk_open(path, NPK_OPEN_SHARED, &store));
    step = -1; /* not what rank 0 wrote: the read must bring STEP back */
    CHECK(npk_read_block(store, "step", NPK_INT64, 1, step_offset, step_count, &step, NULL));
    failures += step != STEP;
    slab(NX, next, size, &first, &rows);
    const uint64_t next_u_offset[2] = {first, 0}, next_u_count[2] = {rows, NY};
    CHECK(npk_read_block(store, "u", NPK_FLOAT64, 2, next_u_offset, next_u_count, u, NULL));
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t j = 0; j < NY; j++) failures += u[i * NY + j] != u_at(first + i, j);

    /* Any box, not only whole rows: the neighbour's rows of "rho" without the outer j/k layer. */
    slab(NI, next, size, &first, &rows);
    const uint64_t box_offset[3] = {first, 1, 1}, box_count[3] = {rows, NJ - 2, NK - 2};
    CHECK(npk_read_block(store, "rho", NPK_FLOAT32, 3, box_offset, box_count, rho, NULL));
    for (uint64_t i = 0; i < rows; i++)
        for (uint64_t j = 0; j < NJ - 2; j++)
            for (uint64_t k = 0; k < NK - 2; k++)
                failures +=
                    rho[(i * (NJ - 2) + j) * (NK - 2) + k] != rho_at(first + i, j + 1, k + 1);
    CHECK(npk_close(store));

    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (failures != 0)
        fprintf(stderr, "rank %d: %d wrong values read back\n", rank, failures);
    if (rank == 0)
        printf("%d ranks wrote u (%d x %d float64) and rho (%d x %d x %d float32) into %s; restart "
               "check: %s (%d wrong values)\n", size, NX, NY, NI, NJ, NK, path,
               total == 0 ? "OK" : "FAILED", total);
    free(u);
    free(rho);
    MPI_Finalize();
    return total != 0;
}
