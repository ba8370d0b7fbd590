/*
 * bench_rows.c: one process reads `ranges` random ranges of `len` rows from a float64 array of
 * ROWS x 16 (see benches/README.md, "Parallel slabs and row ranges"): libnumpack's
 * npk_read_block vs raw pread vs memcpy from a kept shared mapping of the same file (raw_mmap;
 * the floor is the faster of the two raw ways, as in bench_c.c) vs a serial HDF5 hyperslab read
 * (contiguous dataset, H5Dread of a (len, 16) selection into a (len, 16) memory space). numpack's slice getitem is
 * measured by bench_rows.py on the range starts this program writes to <dir>/starts.u64.
 *
 * Each implementation has its own file in <dir>, written once at setup and kept open; the page
 * cache is warm (one warm-up pass over all ranges per implementation), then `runs` timed passes
 * in which the implementations take turns, the order rotating every run. Every pass sums the
 * first element of each range it read and checks the sum.
 *
 * Output, one TSV line per implementation:  rows_<len>  1  impl  median_s  min_s  runs
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "numpack.h"

#define NCOL 16
#define NIMPL 4
#define MAXRUNS 128
#define CHUNK_ROWS (1u << 20) /* setup writes the array in 128 MiB pieces */

enum { LIB, RAW, MMAP, H5 };
static const char *IMPL[NIMPL] = {"libnumpack", "raw", "raw_mmap", "hdf5"};

static uint64_t ROWS, LEN, NRANGES, *START;
static const char *DIR_;
static npk_store *STORE;
static int RAWFD;
static hid_t H5F, H5D, H5FS, H5MS;
static double *BUF;
static const char *MAP; /* raw.bin mapped shared, kept for the run */

#define BENCH_DIE_PREFIX() fprintf(stderr, "bench_rows: ")
#include "bench_util.h"

static char *path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", DIR_, name);
    return buf;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void setup(void) {
    uint64_t shape[2] = {ROWS, NCOL};
    CK(npk_open(path("lib"), NPK_OPEN_CREATE, &STORE));
    CK(npk_create(STORE, "a", NPK_FLOAT64, 2, shape, NULL));
    SYS(RAWFD = open(path("raw.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644));
    hsize_t dims[2] = {ROWS, NCOL}, mdims[2] = {LEN, NCOL};
    H5CK(H5F = H5Fcreate(path("a.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    hid_t sp = H5Screate_simple(2, dims, NULL);
    H5CK(H5D = H5Dcreate2(H5F, "a", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(sp);
    H5CK(H5FS = H5Dget_space(H5D));
    H5MS = H5Screate_simple(2, mdims, NULL);

    /* the same data in all three: every element is its index in the array */
    double *chunk = malloc((size_t)CHUNK_ROWS * NCOL * 8);
    if (!chunk)
        die("out of memory");
    for (uint64_t r0 = 0; r0 < ROWS; r0 += CHUNK_ROWS) {
        uint64_t n = ROWS - r0 < CHUNK_ROWS ? ROWS - r0 : CHUNK_ROWS;
        for (uint64_t i = 0; i < n * NCOL; i++)
            chunk[i] = (double)(r0 * NCOL + i);
        uint64_t off[2] = {r0, 0}, cnt[2] = {n, NCOL};
        CK(npk_write_block(STORE, "a", NPK_FLOAT64, 2, off, cnt, chunk, NULL));
        pwrite_all(RAWFD, chunk, n * NCOL * 8, (off_t)(r0 * NCOL * 8));
        hsize_t hs[2] = {r0, 0}, hc[2] = {n, NCOL};
        hid_t ms = H5Screate_simple(2, hc, NULL);
        H5CK(H5Sselect_hyperslab(H5FS, H5S_SELECT_SET, hs, NULL, hc, NULL));
        H5CK(H5Dwrite(H5D, H5T_NATIVE_DOUBLE, ms, H5FS, H5P_DEFAULT, chunk));
        H5Sclose(ms);
    }
    free(chunk);
    MAP = mmap(NULL, ROWS * NCOL * 8, PROT_READ, MAP_SHARED, RAWFD, 0);
    if (MAP == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    H5CK(H5Fflush(H5F, H5F_SCOPE_LOCAL));
    int dfd;
    SYS(dfd = open(DIR_, O_RDONLY | O_DIRECTORY));
    syncfs(dfd); /* setup's dirty data goes to disk now, not during the timed passes */
    close(dfd);
}

/* One pass over all ranges; returns the sum of each range's first element. */
static double pass(int impl) {
    double sum = 0;
    size_t bytes = LEN * NCOL * 8;
    for (uint64_t k = 0; k < NRANGES; k++) {
        uint64_t s = START[k];
        switch (impl) {
        case LIB: {
            uint64_t off[2] = {s, 0}, cnt[2] = {LEN, NCOL};
            CK(npk_read_block(STORE, "a", NPK_FLOAT64, 2, off, cnt, BUF, NULL));
            break;
        }
        case RAW:
            if (pread(RAWFD, BUF, bytes, (off_t)(s * NCOL * 8)) != (ssize_t)bytes)
                die("pread: %s", strerror(errno));
            break;
        case MMAP:
            memcpy(BUF, MAP + s * NCOL * 8, bytes);
            break;
        case H5: {
            hsize_t hs[2] = {s, 0}, hc[2] = {LEN, NCOL};
            H5CK(H5Sselect_hyperslab(H5FS, H5S_SELECT_SET, hs, NULL, hc, NULL));
            H5CK(H5Dread(H5D, H5T_NATIVE_DOUBLE, H5MS, H5FS, H5P_DEFAULT, BUF));
            break;
        }
        }
        sum += BUF[0];
    }
    return sum;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = 11;
    LEN = 100;
    NRANGES = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            DIR_ = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            ROWS = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--len") && i + 1 < argc)
            LEN = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--ranges") && i + 1 < argc)
            NRANGES = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else
            die("usage: bench_rows --dir D --rows R [--len 100] [--ranges 1000] [--runs 11]");
    }
    if (!DIR_ || ROWS < LEN || !LEN || !NRANGES || runs < 1 || runs > MAXRUNS)
        die("usage: bench_rows --dir D --rows R [--len 100] [--ranges 1000] [--runs <=%d]",
            MAXRUNS);

    START = malloc(NRANGES * sizeof *START);
    BUF = malloc(LEN * NCOL * 8);
    if (!START || !BUF)
        die("out of memory");
    uint64_t seed = 11, expect = 0;
    for (uint64_t k = 0; k < NRANGES; k++) {
        START[k] = splitmix(&seed) % (ROWS - LEN + 1);
        expect += START[k] * NCOL;
    }
    FILE *f = fopen(path("starts.u64"), "wb");
    if (!f || fwrite(START, sizeof *START, NRANGES, f) != NRANGES || fclose(f))
        die("writing starts.u64: %s", strerror(errno));
    setup();

    static double t[NIMPL][MAXRUNS];
    for (int run = -1; run < runs; run++) /* run -1: the warm-up, not recorded */
        for (int k = 0; k < NIMPL; k++) {
            int impl = (k + (run < 0 ? 0 : run)) % NIMPL;
            double t0 = mono();
            double sum = pass(impl);
            double dt = mono() - t0;
            if (sum != (double)expect)
                die("%s: ranges read wrong data (sum %.17g, expected %llu)", IMPL[impl], sum,
                    (unsigned long long)expect);
            if (run >= 0)
                t[impl][run] = dt;
        }
    for (int impl = 0; impl < NIMPL; impl++) {
        double *v = t[impl];
        qsort(v, (size_t)runs, sizeof *v, cmp_d);
        double med = runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
        printf("rows_%llu\t1\t%s\t%.6f\t%.6f\t%d\n", (unsigned long long)LEN, IMPL[impl], med,
               v[0], runs);
    }
    CK(npk_close(STORE));
    munmap((void *)MAP, ROWS * NCOL * 8);
    close(RAWFD);
    H5Sclose(H5MS);
    H5Sclose(H5FS);
    H5Dclose(H5D);
    H5Fclose(H5F);
    return 0;
}
