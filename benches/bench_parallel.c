/*
 * bench_parallel.c: N processes (MPI ranks) write a float64 array of ROWS x 16 by row slabs (each
 * rank its contiguous slab), then read their slabs back (see benches/README.md, "Parallel slabs
 * and row ranges"). Run as `mpirun -np N bench_parallel --dir D --rows R --runs K`.
 *
 * Implementations, each on its own files in D, each kept open for the whole run:
 *   libnumpack   rank 0 creates the array (npk_create, structural open), then every rank opens
 *                the store with NPK_OPEN_SHARED and calls npk_write_block / npk_read_block on
 *                its slab (non-durable store: no fsync)
 *   raw          the floor: one file sized with ftruncate by rank 0, every rank pwrite/pread of
 *                its slab on its own fd
 *   hdf5_indep   parallel HDF5 (MPI-IO driver), one contiguous dataset (space allocated early,
 *   hdf5_coll    fill never written), a hyperslab per rank, H5FD_MPIO_INDEPENDENT resp.
 *                H5FD_MPIO_COLLECTIVE transfers; no H5Fflush (in parallel it is MPI_File_sync,
 *                i.e. an fsync, which no other implementation does)
 *   npy          one .npy file per rank, written as np.save writes it (open O_TRUNC, header,
 *                data, close) and read as np.load reads it (open, parse the header, read the
 *                data, close) into the rank's buffer
 *
 * Timing: the ranks meet at a barrier that blocks in the kernel (a process-shared pthread
 * barrier in a mapped file, so no rank spins on a core while others work, as MPI_Barrier's
 * busy-polling would on an oversubscribed machine), each rank notes CLOCK_MONOTONIC after it,
 * does its slab, notes the clock again; the time is last end - first start. Before every write
 * and every read, rank 0 runs syncfs (outside the timing) so no earlier dirty data is written
 * back during the measurement; writes are not synced (page cache), reads hit a warm page cache
 * (the data was just written). Every run writes the same data over the same, already allocated
 * blocks (the warm-up run allocated them), except npy, which truncates and re-creates its files
 * like np.save. One warm-up run, then `runs` timed runs in which the implementations take turns,
 * the order rotating every run. Every read is checked (sampled elements, cleared before).
 *
 * Output on rank 0, one TSV line per (phase, implementation):
 *   phase  nprocs  impl  median_s  min_s  runs
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <mpi.h>

#include "numpack.h"

#define NCOL 16
#define NIMPL 5
#define MAXRUNS 64
#define SAMPLE 4096 /* every SAMPLE-th element of a read is checked */

enum { LIB, RAW, H5I, H5C, NPY };
static const char *IMPL[NIMPL] = {"libnumpack", "raw", "hdf5_indep", "hdf5_coll", "npy"};

static int RANK, NPROC;
static uint64_t ROWS, R0, NR; /* array rows; this rank's first row and row count */
static double *WBUF, *RBUF;   /* this rank's slab: the data written, the buffer read into */
static const char *DIR_;
static int DIRFD;

#define BENCH_DIE_PREFIX() fprintf(stderr, "bench_parallel rank %d: ", RANK)
#define BENCH_DIE_EXIT() MPI_Abort(MPI_COMM_WORLD, 1)
#include "bench_util.h"

static char *path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", DIR_, name);
    return buf;
}

/* ---- the blocking barrier and the shared clock readings --------------------------------------- */
struct shared {
    pthread_barrier_t bar;
    double t0[256], t1[256];
};
static struct shared *SH;

static void shared_setup(void) {
    int fd = -1;
    if (RANK == 0) {
        SYS(fd = open(path("barrier"), O_RDWR | O_CREAT | O_TRUNC, 0644));
        SYS(ftruncate(fd, sizeof(struct shared)));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (RANK != 0)
        SYS(fd = open(path("barrier"), O_RDWR));
    SH = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (SH == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    close(fd);
    if (RANK == 0) {
        pthread_barrierattr_t a;
        pthread_barrierattr_init(&a);
        pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        if (pthread_barrier_init(&SH->bar, &a, (unsigned)NPROC) != 0)
            die("pthread_barrier_init failed");
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void barrier(void) { pthread_barrier_wait(&SH->bar); }

/* ---- implementations ------------------------------------------------------------------------ */
static npk_store *STORE;
static int RAWFD;
static hid_t H5F[2], H5D[2], H5FS[2], H5MS, H5X[2];

static void setup(void) {
    uint64_t shape[2] = {ROWS, NCOL};
    /* libnumpack: the structural open creates, the shared opens write */
    if (RANK == 0) {
        npk_store *s;
        CK(npk_open(path("lib"), NPK_OPEN_CREATE, &s));
        CK(npk_create(s, "a", NPK_FLOAT64, 2, shape, NULL));
        CK(npk_close(s));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CK(npk_open(path("lib"), NPK_OPEN_SHARED, &STORE));

    /* raw */
    if (RANK == 0) {
        int fd;
        SYS(fd = open(path("raw.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644));
        SYS(ftruncate(fd, (off_t)(ROWS * NCOL * 8)));
        close(fd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    SYS(RAWFD = open(path("raw.bin"), O_RDWR));

    /* parallel HDF5: two files, one per transfer mode */
    if (mkdir(path("npy"), 0755) < 0 && errno != EEXIST)
        die("mkdir %s: %s", path("npy"), strerror(errno));
    hsize_t dims[2] = {ROWS, NCOL}, mdims[2] = {NR, NCOL};
    hsize_t start[2] = {R0, 0}, count[2] = {NR, NCOL};
    H5MS = H5Screate_simple(2, mdims, NULL);
    for (int i = 0; i < 2; i++) {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5CK(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL));
        H5CK(H5F[i] = H5Fcreate(path(i ? "coll.h5" : "indep.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
        H5Pclose(fapl);
        hid_t sp = H5Screate_simple(2, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5CK(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
        H5CK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
        H5CK(H5D[i] = H5Dcreate2(H5F[i], "a", H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT));
        H5Pclose(dcpl);
        H5Sclose(sp);
        H5CK(H5FS[i] = H5Dget_space(H5D[i]));
        H5CK(H5Sselect_hyperslab(H5FS[i], H5S_SELECT_SET, start, NULL, count, NULL));
        H5X[i] = H5Pcreate(H5P_DATASET_XFER);
        H5CK(H5Pset_dxpl_mpio(H5X[i], i ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT));
    }
}

static void teardown(void) {
    CK(npk_close(STORE));
    close(RAWFD);
    for (int i = 0; i < 2; i++) {
        H5Pclose(H5X[i]);
        H5Sclose(H5FS[i]);
        H5Dclose(H5D[i]);
        H5Fclose(H5F[i]);
    }
    H5Sclose(H5MS);
}

static char *npy_path(void) {
    static char buf[64];
    snprintf(buf, sizeof buf, "npy/rank%d.npy", RANK);
    return path(buf);
}

/* The .npy header np.save writes for a C-order <f8 array of shape (NR, NCOL): format 1.0,
 * padded with spaces to a multiple of 64 bytes, ending in a newline. */
static size_t npy_header(char *h) {
    char dict[128];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (%llu, %d), }",
                     (unsigned long long)NR, NCOL);
    size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)((total - 10) & 0xff);
    h[9] = (char)((total - 10) >> 8);
    memcpy(h + 10, dict, (size_t)n);
    memset(h + 10 + n, ' ', total - 10 - (size_t)n - 1);
    h[total - 1] = '\n';
    return total;
}

static void do_write(int impl) {
    size_t bytes = NR * NCOL * 8;
    uint64_t off[2] = {R0, 0}, cnt[2] = {NR, NCOL};
    switch (impl) {
    case LIB:
        CK(npk_write_block(STORE, "a", NPK_FLOAT64, 2, off, cnt, WBUF, NULL));
        break;
    case RAW:
        pwrite_all(RAWFD, WBUF, bytes, (off_t)(R0 * NCOL * 8));
        break;
    case H5I:
    case H5C: {
        int i = impl == H5C;
        H5CK(H5Dwrite(H5D[i], H5T_NATIVE_DOUBLE, H5MS, H5FS[i], H5X[i], WBUF));
        break;
    }
    case NPY: {
        char h[256];
        size_t hl = npy_header(h);
        int fd;
        SYS(fd = open(npy_path(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        pwrite_all(fd, h, hl, 0);
        pwrite_all(fd, WBUF, bytes, (off_t)hl);
        SYS(close(fd));
        break;
    }
    }
}

static void do_read(int impl) {
    size_t bytes = NR * NCOL * 8;
    uint64_t off[2] = {R0, 0}, cnt[2] = {NR, NCOL};
    switch (impl) {
    case LIB:
        CK(npk_read_block(STORE, "a", NPK_FLOAT64, 2, off, cnt, RBUF, NULL));
        break;
    case RAW:
        pread_all(RAWFD, RBUF, bytes, (off_t)(R0 * NCOL * 8));
        break;
    case H5I:
    case H5C: {
        int i = impl == H5C;
        H5CK(H5Dread(H5D[i], H5T_NATIVE_DOUBLE, H5MS, H5FS[i], H5X[i], RBUF));
        break;
    }
    case NPY: {
        char h[256], want[256];
        size_t hl = npy_header(want);
        int fd;
        SYS(fd = open(npy_path(), O_RDONLY));
        pread_all(fd, h, 10, 0);
        size_t len = 10 + (size_t)(unsigned char)h[8] + ((size_t)(unsigned char)h[9] << 8);
        if (len != hl)
            die("npy: header of %zu bytes, expected %zu", len, hl);
        pread_all(fd, h, len, 0);
        if (memcmp(h, want, len) != 0)
            die("npy: unexpected header");
        pread_all(fd, RBUF, bytes, (off_t)len);
        close(fd);
        break;
    }
    }
}

/* One timed phase: rank 0 syncs the filesystem, all meet at the barrier, each rank notes the
 * clock, works, notes the clock; returns last end - first start (on every rank). */
static double phase(int impl, int write) {
    if (RANK == 0)
        syncfs(DIRFD);
    if (!write) /* a read that did not happen must not pass the check */
        for (uint64_t i = 0; i < NR * NCOL; i += SAMPLE)
            RBUF[i] = -1;
    barrier();
    double t0 = mono();
    if (write)
        do_write(impl);
    else
        do_read(impl);
    double t1 = mono();
    SH->t0[RANK] = t0;
    SH->t1[RANK] = t1;
    barrier();
    double a = SH->t0[0], b = SH->t1[0];
    for (int r = 1; r < NPROC; r++) {
        if (SH->t0[r] < a)
            a = SH->t0[r];
        if (SH->t1[r] > b)
            b = SH->t1[r];
    }
    barrier(); /* nobody overwrites the readings before everyone has read them */
    if (!write)
        for (uint64_t i = 0; i < NR * NCOL; i += SAMPLE)
            if (RBUF[i] != WBUF[i])
                die("%s read element %llu of its slab as %g, wrote %g", IMPL[impl],
                    (unsigned long long)i, RBUF[i], WBUF[i]);
    return b - a;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &RANK);
    MPI_Comm_size(MPI_COMM_WORLD, &NPROC);
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            DIR_ = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            ROWS = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else
            die("usage: bench_parallel --dir D --rows R [--runs K]");
    }
    if (!DIR_ || !ROWS || runs < 1 || runs > MAXRUNS || NPROC > 256)
        die("usage: bench_parallel --dir D --rows R [--runs K<=%d] (at most 256 ranks)", MAXRUNS);
    if (ROWS % (uint64_t)NPROC)
        die("%llu rows do not split evenly over %d ranks", (unsigned long long)ROWS, NPROC);
    NR = ROWS / (uint64_t)NPROC;
    R0 = NR * (uint64_t)RANK;
    SYS(DIRFD = open(DIR_, O_RDONLY | O_DIRECTORY));

    WBUF = xalloc(NR * NCOL * 8);
    RBUF = xalloc(NR * NCOL * 8);
    for (uint64_t i = 0; i < NR * NCOL; i++)
        WBUF[i] = (double)(R0 * NCOL + i); /* the element's index in the whole array */
    shared_setup();
    setup();

    static double t[NIMPL][2][MAXRUNS];
    for (int run = -1; run < runs; run++) { /* run -1: the warm-up, not recorded */
        for (int k = 0; k < NIMPL; k++) {
            int impl = (k + (run < 0 ? 0 : run)) % NIMPL;
            double w = phase(impl, 1);
            double r = phase(impl, 0);
            if (run >= 0) {
                t[impl][0][run] = w;
                t[impl][1][run] = r;
            }
        }
    }
    if (RANK == 0)
        for (int ph = 0; ph < 2; ph++)
            for (int impl = 0; impl < NIMPL; impl++) {
                double *v = t[impl][ph];
                qsort(v, (size_t)runs, sizeof *v, cmp_d);
                double med = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
                printf("%s\t%d\t%s\t%.6f\t%.6f\t%d\n", ph ? "slab_read" : "slab_write", NPROC,
                       IMPL[impl], med, v[0], runs);
            }
    fflush(stdout);
    teardown();
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
