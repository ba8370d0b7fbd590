/*
 * bench_c.c: the libnumpack, raw POSIX and HDF5 columns of the benchmark (see benches/README.md).
 *
 * One process, one array size. Every workload runs one warm-up per implementation, then `runs`
 * timed runs in which the implementations take turns (the order rotates every run, so drift on a
 * noisy VM hits them all alike). Each implementation works on its own files:
 *   <dir>/lib/   a libnumpack store     (arrays a, b0..b9)
 *   <dir>/raw/   plain files a.bin, b0..b9.bin
 *   <dir>/h5/    a.h5 (datasets a contiguous, c chunked+unlimited, b0..b9), new.h5 (save new)
 * Output: one TSV line per (workload, implementation):
 *   workload  size  impl  median_s  min_s  runs  note
 *
 * Implementations ("impl"):
 *   libnumpack  the library through its C ABI
 *   floor       the same bytes moved with raw POSIX calls the way libnumpack's design moves them,
 *               plus the same arithmetic on plain, pre-faulted memory:
 *                 save new: a new file (open O_CREAT|O_TRUNC + pwrite + rename);
 *                 save overwrite, plain rounds, cache-batch end: pwrite into the existing,
 *                   cached file. Since commit 40f3938 ("atomic saves at overwrite speed") the
 *                   library writes an overwrite into a spare copy of the array's file, i.e. an
 *                   overwrite of allocated, cached pages, then renames: the overwrite is the
 *                   floor. (Before it, every save wrote a new file: then the new-file variant,
 *                   the "raw" column of those rows, was the floor.)
 *                 writable batch: arithmetic on plain memory + one msync(MS_ASYNC) (what the
 *                   library issues on a non-durable store);
 *               for reads and row writes the report takes min(floor or raw, raw_mmap);
 *                 row ranges (range_read_100, range_write_100): one pread / pwrite per range.
 *   raw         the other raw POSIX variant of the same bytes: for saves and save rounds the NEW
 *               FILE write (open O_CREAT|O_TRUNC a fresh name + pwrite + rename over the target +
 *               close the old fd, freeing the old inode); for reads and row writes pread/pwrite on
 *               a kept-open fd (one call per row for random rows); for the writable batch mmap +
 *               arithmetic in the mapping + msync(MS_ASYNC) + munmap
 *   raw_mmap    memcpy from/into a kept-open shared mapping of the same file (reads, row writes)
 *   hdf5        HDF5 C library: contiguous dataset, hyperslabs for rows, H5Dset_extent on a
 *               chunked dataset for append, H5Fflush after every write (so data leaves the
 *               library's caches like a libnumpack commit does)
 *   floor of append_100 / append_1: pwrite at the end + the cheapest correct catalogue swap
 *               (99 bytes written in place over a kept spare, swapped in with
 *               renameat2(RENAME_EXCHANGE); the old catalogue is the next spare), as the library
 *               commits an append since issue #13
 *   diag_*      diagnostics of libnumpack's costs, shown under the table: diag_commit = the raw
 *               operation plus one catalogue commit (new 99-byte file renamed over the old one);
 *               diag_unlink_rename = the new-file save with the old file unlinked first;
 *               diag_fresh_memory = pread into freshly mapped anonymous memory (+ munmap).
 *   hdf5        HDF5 C library: contiguous dataset, hyperslabs for rows, H5Dset_extent on a
 *               chunked dataset for append, H5Fflush after every write (so data leaves the
 *               library's caches like a libnumpack commit does)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "numpack.h"

#define NCOL 10
#define NB 10 /* arrays in the batch-commit workload */

/* ---- configuration ------------------------------------------------------------------------ */
static uint64_t N;          /* rows of the main array */
static uint64_t NBYTES;     /* N * NCOL * 4 */
static uint64_t BROWS;      /* rows of each of the NB batch arrays (N / NB) */
static int RUNS = 7;        /* timed runs for heavy workloads */
static int RUNS_LIGHT = 21; /* timed runs for sub-millisecond workloads */
static int KR = 100;        /* rounds in batch-mode and row-level round workloads */
static int KP = 100;        /* rounds in plain-mode full load/save round workloads */
static int KB = 100;        /* rounds in whole-array batch-mode round workloads */
static int KRB;             /* the batch-mode rounds of the workload running now (KR or KB) */
static int WARMING;         /* the warm-up runs 2 rounds of a round workload, not K */
static const char *DIR_;
static const char *LABEL;
static const char *ONLY; /* comma-separated workload filter, NULL = all */
static int SQUARE; /* also the 4096 x 4096 float64 column-major rows (--square) */
static double BUDGET = 6; /* seconds of timed runs per implementation and workload (soft) */

/* ---- helpers -------------------------------------------------------------------------------- */
#define BENCH_DIE_PREFIX() fprintf(stderr, "bench_c: ")
#include "bench_util.h"

static int kk(int k) { return WARMING && k > 2 ? 2 : k; }

/* The arithmetic of every round: x *= 2, vectorised like NumPy's loop (SSE2 at -O2). */
__attribute__((noinline, optimize("tree-vectorize"))) static void mul2(float *restrict p,
                                                                        size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] *= 2.0f;
}

/* splitmix64, mirrored in bench_py.py so both processes use the same random rows. */
static uint64_t SM;
static uint64_t splitmix(void) {
    uint64_t z = (SM += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* n distinct rows in [0, rows), random order: seed 1000+n. */
static void random_rows(int64_t *out, size_t n, uint64_t rows) {
    SM = 1000 + n;
    uint8_t *seen = calloc((rows + 7) / 8, 1);
    size_t k = 0;
    while (k < n) {
        uint64_t r = splitmix() % rows;
        if (seen[r / 8] & (1u << (r % 8)))
            continue;
        seen[r / 8] |= (uint8_t)(1u << (r % 8));
        out[k++] = (int64_t)r;
    }
    free(seen);
}

/* ---- state ---------------------------------------------------------------------------------- */
static float *SRC;  /* pristine content, N x NCOL */
static float *BUF;  /* destination of full loads (pre-faulted) */
static float *ROWS; /* 10,000 rows of values for replace/append */
static float *OUT;  /* destination of row reads */
static uint64_t SHAPE[2];
static int64_t IDX100[100], IDX1K[1000], IDX10K[10000], IDX10[10];

static npk_store *ST;
static char LIBDIR_[PATH_MAX];

static char RAWA[PATH_MAX], RAWTMP[PATH_MAX], RAWB[NB][PATH_MAX];
static char RAWMETA[PATH_MAX], RAWMETATMP[PATH_MAX]; /* a 99-byte catalogue, like metadata.npkm */
static int RAWFD = -1, RAWBFD[NB];
static uint64_t RAWROWS;    /* rows in raw a.bin (grows with append) */
static char *RAWMAP;        /* kept-open shared mapping of a.bin */
static int RAWMAP_FD = -1;  /* the fd RAWMAP was made from (remapped when RAWFD changes) */
static uint64_t RAWMAP_LEN;
static char *FMAP;          /* floor of the writable batch: a mapping dirtied before timing */

static char H5PATH[PATH_MAX], H5NEW[PATH_MAX];
static hid_t H5F = -1, DA = -1, DC = -1, DB[NB];
static hsize_t H5C_ROWS;

/* ---- the harness ---------------------------------------------------------------------------- */
typedef void (*fn_t)(void);
typedef double (*op_t)(void); /* returns its own measured seconds, or < 0 to be timed outside */
typedef struct {
    const char *impl;
    fn_t pre;  /* untimed, before every run */
    op_t op;   /* timed */
    fn_t post; /* untimed, after every run */
} var_t;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int selected(const char *wl) {
    if (!ONLY)
        return 1;
    size_t n = strlen(wl);
    const char *p = ONLY;
    while ((p = strstr(p, wl)) != NULL) {
        if ((p == ONLY || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
        p += n;
    }
    return 0;
}

/* Every run starts with the CPU caches and TLB in the same (cold) state: otherwise the
 * implementation that runs right after another one touching the same rows (pread warms the
 * cache lines a memcpy from a mapping then hits) gets them for free. The page cache stays warm. */
#define SCRUB_BYTES (64u << 20) /* twice this machine's 32 MiB L3 */
static char *SCRUB;
static void scrub_caches(void) {
    volatile char *p = SCRUB;
    for (size_t i = 0; i < SCRUB_BYTES; i += 64)
        p[i]++;
}

static double run_one(const var_t *v) {
    scrub_caches();
    if (v->pre)
        v->pre();
    double t0 = mono();
    double self = v->op();
    double t1 = mono();
    if (v->post)
        v->post();
    return self >= 0 ? self : t1 - t0;
}

static void bench(const char *wl, const char *note, var_t *v, int nv, int runs) {
    if (!selected(wl))
        return;
    static int dirfd = -1;
    if (dirfd < 0)
        dirfd = open(DIR_, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    syncfs(dirfd); /* earlier workloads' dirty data goes to disk now, not during this one */
    fprintf(stderr, "[%s %s] ", LABEL, wl);
    double t_start = mono();
    /* warm-up: data in page cache, code paths hot (a round workload does 2 rounds here). The
     * first timed run sizes the rest: an implementation whose run took w seconds gets
     * max(5, min(runs, BUDGET / w)) runs, so one slow peer (HDF5's 10,000-row hyperslab union)
     * cannot eat the time budget */
    WARMING = 1;
    for (int i = 0; i < nv; i++)
        run_one(&v[i]);
    WARMING = 0;
    int *ri = malloc(sizeof(int) * (size_t)nv);
    double *t = malloc(sizeof(double) * (size_t)(nv * runs));
    for (int i = 0; i < nv; i++)
        ri[i] = runs;
    for (int r = 0; r < runs; r++) {
        for (int j = 0; j < nv; j++) {
            int i = (j + r) % nv;
            if (r < ri[i])
                t[i * runs + r] = run_one(&v[i]);
        }
        if (r == 0)
            for (int i = 0; i < nv; i++) {
                double w = t[i * runs], fit = w > 0 ? BUDGET / w : runs;
                ri[i] = fit >= runs ? runs : fit <= 5 ? 5 : (int)fit;
            }
    }
    for (int i = 0; i < nv; i++) {
        double *ti = &t[i * runs];
        int n = ri[i];
        qsort(ti, (size_t)n, sizeof(double), cmp_d);
        double med = n % 2 ? ti[n / 2] : (ti[n / 2 - 1] + ti[n / 2]) / 2;
        printf("%s\t%s\t%s\t%.9f\t%.9f\t%d\t%s\n", wl, LABEL, v[i].impl, med, ti[0], n,
               note ? note : "");
    }
    free(ri);
    fflush(stdout);
    fprintf(stderr, "%.1fs\n", mono() - t_start);
    free(t);
}

/* ---- raw file plumbing ---------------------------------------------------------------------- */
/* What a libnumpack commit does to the data file, with raw calls: a new file under a fresh name,
 * written, renamed over the target; the old descriptor closed (which frees the old inode, as the
 * library's old snapshot does); the new descriptor kept. */
static void raw_new_file(const char *target, int *fd, const void *data, size_t n) {
    int nfd = open(RAWTMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (nfd < 0)
        die("open %s: %s", RAWTMP, strerror(errno));
    pwrite_all(nfd, data, n, 0);
    SYS(rename(RAWTMP, target));
    if (*fd >= 0)
        close(*fd);
    *fd = nfd;
}

/* What one libnumpack catalogue commit costs at least, with raw calls: a new 99-byte file
 * (metadata.npkm's size for one 2-d array) renamed over the old one. */
static void raw_commit(void) {
    static const char meta[99] = "NPKB";
    int fd = open(RAWMETATMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open %s: %s", RAWMETATMP, strerror(errno));
    pwrite_all(fd, meta, sizeof meta, 0);
    close(fd);
    SYS(rename(RAWMETATMP, RAWMETA));
}

/* The save floor with the old file unlinked before the rename: ext4 (auto_da_alloc) starts
 * writeback of a file renamed OVER another one, and freeing the old inode then waits for its
 * own writeback; a rename onto a free name does neither. */
static double raw_new_unlink_src(void) {
    int nfd = open(RAWTMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (nfd < 0)
        die("open %s: %s", RAWTMP, strerror(errno));
    pwrite_all(nfd, SRC, NBYTES, 0);
    SYS(unlink(RAWA));
    SYS(rename(RAWTMP, RAWA));
    if (RAWFD >= 0)
        close(RAWFD);
    RAWFD = nfd;
    return -1;
}

static void rawmap_refresh(void) {
    if (RAWMAP && RAWMAP_FD == RAWFD && RAWMAP_LEN == NBYTES)
        return;
    if (RAWMAP)
        munmap(RAWMAP, RAWMAP_LEN);
    RAWMAP = mmap(NULL, NBYTES, PROT_READ | PROT_WRITE, MAP_SHARED, RAWFD, 0);
    if (RAWMAP == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    RAWMAP_FD = RAWFD;
    RAWMAP_LEN = NBYTES;
    volatile char sink = 0;
    for (uint64_t o = 0; o < NBYTES; o += 4096)
        sink += RAWMAP[o];
    (void)sink;
}

/* ---- HDF5 plumbing -------------------------------------------------------------------------- */
static hid_t h5_make(hid_t f, const char *name, hsize_t rows, int chunked, const void *data) {
    hsize_t dims[2] = {rows, NCOL}, maxd[2] = {H5S_UNLIMITED, NCOL}, chunk[2] = {4096, NCOL};
    hid_t sp = H5Screate_simple(2, dims, chunked ? maxd : NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked)
        H5CK(H5Pset_chunk(dcpl, 2, chunk));
    hid_t d = H5Dcreate2(f, name, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0)
        die("H5Dcreate2 %s", name);
    H5CK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

/* A file-space selection of the given rows (union of one-row hyperslabs) and a memory space. */
static void h5_rows(hid_t d, const int64_t *idx, size_t n, hid_t *fs, hid_t *ms) {
    *fs = H5Dget_space(d);
    hsize_t cnt[2] = {1, NCOL};
    for (size_t i = 0; i < n; i++) {
        hsize_t start[2] = {(hsize_t)idx[i], 0};
        H5CK(H5Sselect_hyperslab(*fs, i ? H5S_SELECT_OR : H5S_SELECT_SET, start, NULL, cnt, NULL));
    }
    hsize_t md[2] = {n, NCOL};
    *ms = H5Screate_simple(2, md, NULL);
}

static void h5_read_rows(hid_t d, const int64_t *idx, size_t n, void *out) {
    hid_t fs, ms;
    h5_rows(d, idx, n, &fs, &ms);
    H5CK(H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out));
    H5Sclose(fs);
    H5Sclose(ms);
}

static void h5_write_rows(hid_t d, const int64_t *idx, size_t n, const void *in) {
    hid_t fs, ms;
    h5_rows(d, idx, n, &fs, &ms);
    H5CK(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, in));
    H5Sclose(fs);
    H5Sclose(ms);
}

static void h5_flush(void) { H5CK(H5Fflush(H5F, H5F_SCOPE_LOCAL)); }

/* ---- libnumpack plumbing -------------------------------------------------------------------- */
static void lib_load(float *dst) { CK(npk_load(ST, "a", NPK_FLOAT32, 2, SHAPE, dst, NULL)); }
static void lib_save(const float *src) {
    CK(npk_save(ST, "a", NPK_FLOAT32, 2, SHAPE, src, NULL));
}

/* ======================================================================================== */
/* Workloads                                                                                 */
/* ======================================================================================== */

/* -- save (new) -- */
static void lib_drop_a(void) {
    int32_t e = 0;
    CK(npk_has(ST, "a", &e));
    if (e) {
        const char *n[] = {"a"};
        CK(npk_drop(ST, n, 1));
    }
}
static double lib_save_src(void) { lib_save(SRC); return -1; }
static void raw_unlink_a(void) {
    if (RAWFD >= 0)
        close(RAWFD);
    RAWFD = -1;
    if (RAWMAP) {
        munmap(RAWMAP, RAWMAP_LEN);
        RAWMAP = NULL;
    }
    unlink(RAWA);
}
static double newfile_save_src(void) { raw_new_file(RAWA, &RAWFD, SRC, NBYTES); return -1; }
static void h5_unlink_new(void) { unlink(H5NEW); }
static double h5_save_new(void) {
    hid_t f = H5Fcreate(H5NEW, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        die("H5Fcreate %s", H5NEW);
    hid_t d = h5_make(f, "a", N, 0, SRC);
    H5Dclose(d);
    H5CK(H5Fclose(f));
    return -1;
}

/* -- save (overwrite) -- */
static double inplace_save_src(void) { pwrite_all(RAWFD, SRC, NBYTES, 0); return -1; }
static double h5_overwrite(void) {
    H5CK(H5Dwrite(DA, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, SRC));
    h5_flush();
    return -1;
}

/* -- full load -- */
static double lib_load_op(void) { lib_load(BUF); return -1; }
static double raw_load(void) { pread_all(RAWFD, BUF, NBYTES, 0); return -1; }
static double rawmap_load(void) { memcpy(BUF, RAWMAP, NBYTES); return -1; }
static double raw_load_fresh(void) { /* into fresh anonymous memory, as a cache-batch load */
    void *p = mmap(NULL, NBYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    pread_all(RAWFD, p, NBYTES, 0);
    munmap(p, NBYTES);
    return -1;
}
static double h5_load(void) {
    H5CK(H5Dread(DA, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, BUF));
    return -1;
}

/* -- view open (lazy load): the mean over VIEW_REPS opens, each released untimed -- */
#define VIEW_REPS 200
static double lib_view(void) {
    double s = 0;
    for (int i = 0; i < VIEW_REPS; i++) {
        npk_view v = NPK_VIEW_INIT;
        double t0 = mono();
        CK(npk_view_open(ST, "a", &v));
        s += mono() - t0;
        CK(npk_view_release(&v));
    }
    return s / VIEW_REPS;
}
static double raw_view(void) {
    double s = 0;
    for (int i = 0; i < VIEW_REPS; i++) {
        double t0 = mono();
        void *p = mmap(NULL, NBYTES, PROT_READ, MAP_SHARED, RAWFD, 0);
        s += mono() - t0;
        if (p == MAP_FAILED)
            die("mmap: %s", strerror(errno));
        munmap(p, NBYTES);
    }
    return s / VIEW_REPS;
}

/* -- get rows -- */
static const int64_t *GIDX;
static size_t GN;
static double lib_get(void) {
    uint64_t sh[2] = {GN, NCOL};
    CK(npk_get_rows(ST, "a", GIDX, GN, NPK_FLOAT32, 2, sh, OUT, NULL));
    return -1;
}
static double raw_get(void) { /* one pread per row: the rows are random, runs are rare */
    for (size_t i = 0; i < GN; i++)
        pread_all(RAWFD, OUT + i * NCOL, NCOL * 4, (off_t)GIDX[i] * NCOL * 4);
    return -1;
}
static double rawmap_get(void) {
    for (size_t i = 0; i < GN; i++)
        memcpy(OUT + i * NCOL, RAWMAP + GIDX[i] * NCOL * 4, NCOL * 4);
    return -1;
}
/* The library's design with raw calls: one lseek (its check that the file was not truncated
 * behind its back, without which a cut file raises SIGBUS), then the copies from the mapping. */
static double rawmap_lseek_get(void) {
    if (lseek(RAWFD, 0, SEEK_END) < 0)
        die("lseek: %s", strerror(errno));
    return rawmap_get();
}
static double h5_get(void) { h5_read_rows(DA, GIDX, GN, OUT); return -1; }

/* -- replace rows -- */
static double lib_replace(void) {
    uint64_t sh[2] = {100, NCOL};
    CK(npk_replace_rows(ST, "a", IDX100, 100, NPK_FLOAT32, 2, sh, ROWS, NULL));
    return -1;
}
static double raw_replace(void) {
    for (size_t i = 0; i < 100; i++)
        pwrite_all(RAWFD, ROWS + i * NCOL, NCOL * 4, (off_t)IDX100[i] * NCOL * 4);
    return -1;
}
static double rawmap_replace(void) {
    for (size_t i = 0; i < 100; i++)
        memcpy(RAWMAP + IDX100[i] * NCOL * 4, ROWS + i * NCOL, NCOL * 4);
    return -1;
}
static double raw_replace_commit(void) { raw_replace(); raw_commit(); return -1; }
static double h5_replace(void) { h5_write_rows(DA, IDX100, 100, ROWS); h5_flush(); return -1; }

/* -- row ranges: NRANGES random ranges of RANGE_ROWS whole rows, as an MPI rank reads or writes
 *    its slab: one npk_read_block / npk_write_block per range against one pread / pwrite of the
 *    same bytes (the floor), and an HDF5 hyperslab per range. Range i goes to / comes from rows
 *    (i % 100) * RANGE_ROWS.. of OUT / ROWS, so no implementation gets a cache-hot buffer. -- */
#define NRANGES 1000
#define RANGE_ROWS 100
static uint64_t RSTART[NRANGES];
static void random_ranges(void) { /* seed 7000; starts in [0, N - RANGE_ROWS] */
    SM = 7000;
    for (int i = 0; i < NRANGES; i++)
        RSTART[i] = splitmix() % (N - RANGE_ROWS + 1);
}
static float *range_buf(float *base, int i) { return base + (size_t)(i % 100) * RANGE_ROWS * NCOL; }
static double lib_range_read(void) {
    uint64_t cnt[2] = {RANGE_ROWS, NCOL};
    for (int i = 0; i < NRANGES; i++) {
        uint64_t off[2] = {RSTART[i], 0};
        CK(npk_read_block(ST, "a", NPK_FLOAT32, 2, off, cnt, range_buf(OUT, i), NULL));
    }
    return -1;
}
static double raw_range_read(void) {
    for (int i = 0; i < NRANGES; i++)
        pread_all(RAWFD, range_buf(OUT, i), RANGE_ROWS * NCOL * 4, (off_t)RSTART[i] * NCOL * 4);
    return -1;
}
static double lib_range_write(void) {
    uint64_t cnt[2] = {RANGE_ROWS, NCOL};
    for (int i = 0; i < NRANGES; i++) {
        uint64_t off[2] = {RSTART[i], 0};
        CK(npk_write_block(ST, "a", NPK_FLOAT32, 2, off, cnt, range_buf(ROWS, i), NULL));
    }
    return -1;
}
static double raw_range_write(void) {
    for (int i = 0; i < NRANGES; i++)
        pwrite_all(RAWFD, range_buf(ROWS, i), RANGE_ROWS * NCOL * 4, (off_t)RSTART[i] * NCOL * 4);
    return -1;
}
static void h5_range(int write) {
    hsize_t cnt[2] = {RANGE_ROWS, NCOL};
    hid_t fs = H5Dget_space(DA), ms = H5Screate_simple(2, cnt, NULL);
    for (int i = 0; i < NRANGES; i++) {
        hsize_t start[2] = {RSTART[i], 0};
        H5CK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL));
        if (write)
            H5CK(H5Dwrite(DA, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, range_buf(ROWS, i)));
        else
            H5CK(H5Dread(DA, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, range_buf(OUT, i)));
    }
    H5Sclose(ms);
    H5Sclose(fs);
    if (write)
        h5_flush();
}
static double h5_range_read(void) { h5_range(0); return -1; }
static double h5_range_write(void) { h5_range(1); return -1; }

/* -- append 100 rows -- */
static double lib_append(void) {
    uint64_t sh[2] = {100, NCOL};
    CK(npk_append(ST, "a", NPK_FLOAT32, 2, sh, ROWS, NULL));
    return -1;
}
static double raw_append(void) {
    pwrite_all(RAWFD, ROWS, 100 * NCOL * 4, (off_t)RAWROWS * NCOL * 4);
    RAWROWS += 100;
    return -1;
}
static double raw_append_commit(void) { raw_append(); raw_commit(); return -1; }

/* The cheapest correct catalogue commit: the catalogue's bytes written in place over a spare
 * and swapped in by one renameat2(RENAME_EXCHANGE); the old catalogue becomes the spare, so two
 * kept descriptors take turns. */
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
static char RAWCAT[PATH_MAX], RAWSPARE[PATH_MAX]; /* its own pair: raw_commit renames RAWMETA */
static int SWAPFD[2] = {-1, -1};                   /* [0]: the spare, [1]: the catalogue */
static void raw_swap(void) {
    static char meta[99] = "NPKB";
    if (SWAPFD[0] < 0) {
        SWAPFD[0] = open(RAWSPARE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        SWAPFD[1] = open(RAWCAT, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (SWAPFD[0] < 0 || SWAPFD[1] < 0)
            die("open %s / %s: %s", RAWSPARE, RAWCAT, strerror(errno));
        pwrite_all(SWAPFD[1], meta, sizeof meta, 0);
    }
    meta[8]++;
    pwrite_all(SWAPFD[0], meta, sizeof meta, 0);
    SYS(syscall(SYS_renameat2, AT_FDCWD, RAWSPARE, AT_FDCWD, RAWCAT, RENAME_EXCHANGE));
    int t = SWAPFD[0];
    SWAPFD[0] = SWAPFD[1];
    SWAPFD[1] = t;
}
static double floor_append(void) { raw_append(); raw_swap(); return -1; }

/* -- append 1 row -- */
static double lib_append1(void) {
    uint64_t sh[2] = {1, NCOL};
    CK(npk_append(ST, "a", NPK_FLOAT32, 2, sh, ROWS, NULL));
    return -1;
}
static double raw_append1(void) {
    pwrite_all(RAWFD, ROWS, NCOL * 4, (off_t)RAWROWS * NCOL * 4);
    RAWROWS += 1;
    return -1;
}
static double floor_append1(void) { raw_append1(); raw_swap(); return -1; }
static double h5_append(void) {
    hsize_t dims[2] = {H5C_ROWS + 100, NCOL};
    H5CK(H5Dset_extent(DC, dims));
    hid_t fs = H5Dget_space(DC);
    hsize_t start[2] = {H5C_ROWS, 0}, cnt[2] = {100, NCOL};
    H5CK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL));
    hid_t ms = H5Screate_simple(2, cnt, NULL);
    H5CK(H5Dwrite(DC, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, ROWS));
    H5Sclose(ms);
    H5Sclose(fs);
    h5_flush();
    H5C_ROWS += 100;
    return -1;
}

/* -- rounds: K x (load -> x2 -> save), on the whole array (MULN = N*NCOL floats) or on the
 *    first 10 rows (MULN = 100: NumPack's README round, arr[:10] *= 2) -- */
static size_t MULN;
static double lib_rounds_plain(void) {
    for (int k = 0; k < kk(KP); k++) {
        lib_load(BUF);
        mul2(BUF, MULN);
        lib_save(BUF);
    }
    return -1;
}
static double inplace_rounds_plain(void) {
    for (int k = 0; k < kk(KP); k++) {
        pread_all(RAWFD, BUF, NBYTES, 0);
        mul2(BUF, MULN);
        pwrite_all(RAWFD, BUF, NBYTES, 0);
    }
    return -1;
}
static double newfile_rounds_plain(void) {
    for (int k = 0; k < kk(KP); k++) {
        pread_all(RAWFD, BUF, NBYTES, 0);
        mul2(BUF, MULN);
        raw_new_file(RAWA, &RAWFD, BUF, NBYTES);
    }
    return -1;
}
static double h5_rounds_plain(void) {
    for (int k = 0; k < kk(KP); k++) {
        H5CK(H5Dread(DA, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, BUF));
        mul2(BUF, MULN);
        H5CK(H5Dwrite(DA, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, BUF));
        h5_flush();
    }
    return -1;
}

/* cache batch */
static double lib_rounds_cache(void) {
    npk_batch *b;
    CK(npk_batch_begin(ST, 0, &b));
    for (int k = 0; k < kk(KRB); k++) {
        npk_view v = NPK_VIEW_INIT;
        CK(npk_batch_load(b, "a", &v));
        mul2(v.data, MULN);
        CK(npk_batch_save(b, "a", NPK_FLOAT32, 2, SHAPE, v.data, NULL));
    }
    CK(npk_batch_end(b));
    return -1;
}
static double inplace_rounds_cache(void) { /* read once, K x arithmetic, write back in place */
    pread_all(RAWFD, BUF, NBYTES, 0);
    for (int k = 0; k < kk(KRB); k++)
        mul2(BUF, MULN);
    pwrite_all(RAWFD, BUF, NBYTES, 0);
    return -1;
}
static double newfile_rounds_cache(void) { /* read once, K x arithmetic, one new-file save */
    pread_all(RAWFD, BUF, NBYTES, 0);
    for (int k = 0; k < kk(KRB); k++)
        mul2(BUF, MULN);
    raw_new_file(RAWA, &RAWFD, BUF, NBYTES);
    return -1;
}
static double h5_rounds_cache(void) { /* HDF5 has no batch mode: batching by hand */
    H5CK(H5Dread(DA, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, BUF));
    for (int k = 0; k < kk(KRB); k++)
        mul2(BUF, MULN);
    H5CK(H5Dwrite(DA, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, BUF));
    h5_flush();
    return -1;
}

/* writable batch */
static double lib_rounds_writable(void) {
    npk_batch *b;
    CK(npk_writable_batch_begin(ST, &b));
    for (int k = 0; k < kk(KRB); k++) {
        npk_view v = NPK_VIEW_INIT;
        CK(npk_batch_load(b, "a", &v));
        mul2(v.data, MULN);
        CK(npk_batch_save(b, "a", NPK_FLOAT32, 2, SHAPE, v.data, NULL));
    }
    CK(npk_batch_end(b));
    return -1;
}
static double raw_rounds_writable(void) { /* mmap shared, K x arithmetic in the mapping */
    char *p = mmap(NULL, NBYTES, PROT_READ | PROT_WRITE, MAP_SHARED, RAWFD, 0);
    if (p == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    for (int k = 0; k < kk(KRB); k++)
        mul2((float *)p, MULN);
    SYS(msync(p, NBYTES, MS_ASYNC));
    munmap(p, NBYTES);
    return -1;
}
static double raw_writable_commit(void) { raw_rounds_writable(); raw_commit(); return -1; }
static void floor_writable_pre(void) { /* a mapping whose changed bytes are already dirty */
    FMAP = mmap(NULL, NBYTES, PROT_READ | PROT_WRITE, MAP_SHARED, RAWFD, 0);
    if (FMAP == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    for (uint64_t o = 0; o < MULN * 4; o += 4096)
        ((volatile char *)FMAP)[o] = FMAP[o];
}
static double floor_rounds_writable(void) { /* K x arithmetic on plain memory + one msync */
    for (int k = 0; k < kk(KRB); k++)
        mul2(BUF, MULN);
    SYS(msync(FMAP, NBYTES, MS_ASYNC));
    return -1;
}
static void floor_writable_post(void) { munmap(FMAP, NBYTES); }

/* README round through row calls: K x (get rows 0..9 -> x2 -> replace rows 0..9) */
static double lib_readme_replace(void) {
    uint64_t sh[2] = {10, NCOL};
    for (int k = 0; k < kk(KR); k++) {
        CK(npk_get_rows(ST, "a", IDX10, 10, NPK_FLOAT32, 2, sh, OUT, NULL));
        mul2(OUT, 10 * NCOL);
        CK(npk_replace_rows(ST, "a", IDX10, 10, NPK_FLOAT32, 2, sh, OUT, NULL));
    }
    return -1;
}
static double raw_readme_replace(void) {
    for (int k = 0; k < kk(KR); k++) {
        pread_all(RAWFD, OUT, 10 * NCOL * 4, 0);
        mul2(OUT, 10 * NCOL);
        pwrite_all(RAWFD, OUT, 10 * NCOL * 4, 0);
    }
    return -1;
}
static double raw_readme_replace_commit(void) {
    for (int k = 0; k < kk(KR); k++) {
        pread_all(RAWFD, OUT, 10 * NCOL * 4, 0);
        mul2(OUT, 10 * NCOL);
        pwrite_all(RAWFD, OUT, 10 * NCOL * 4, 0);
        raw_commit();
    }
    return -1;
}
static double h5_readme_replace(void) {
    for (int k = 0; k < kk(KR); k++) {
        h5_read_rows(DA, IDX10, 10, OUT);
        mul2(OUT, 10 * NCOL);
        h5_write_rows(DA, IDX10, 10, OUT);
        h5_flush();
    }
    return -1;
}

/* -- a cache-batch commit of NB changed arrays (each N/NB rows: the same bytes in total) -- */
static double lib_batch10(void) {
    npk_batch *b;
    uint64_t sh[2] = {BROWS, NCOL};
    CK(npk_batch_begin(ST, 0, &b));
    for (int i = 0; i < NB; i++) {
        char name[8];
        snprintf(name, sizeof name, "b%d", i);
        npk_view v = NPK_VIEW_INIT;
        CK(npk_batch_load(b, name, &v));
        mul2(v.data, BROWS * NCOL);
        CK(npk_batch_save(b, name, NPK_FLOAT32, 2, sh, v.data, NULL));
    }
    CK(npk_batch_end(b));
    return -1;
}
static double inplace_batch10(void) {
    size_t n = BROWS * NCOL * 4;
    for (int i = 0; i < NB; i++) {
        pread_all(RAWBFD[i], BUF, n, 0);
        mul2(BUF, BROWS * NCOL);
        pwrite_all(RAWBFD[i], BUF, n, 0);
    }
    return -1;
}
static double newfile_batch10(void) {
    size_t n = BROWS * NCOL * 4;
    float *p = BUF;
    for (int i = 0; i < NB; i++, p += BROWS * NCOL) { /* all read and changed first ... */
        pread_all(RAWBFD[i], p, n, 0);
        mul2(p, BROWS * NCOL);
    }
    p = BUF;
    for (int i = 0; i < NB; i++, p += BROWS * NCOL) /* ... then written as new files */
        raw_new_file(RAWB[i], &RAWBFD[i], p, n);
    return -1;
}
static double h5_batch10(void) {
    float *p = BUF;
    for (int i = 0; i < NB; i++, p += BROWS * NCOL) {
        H5CK(H5Dread(DB[i], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p));
        mul2(p, BROWS * NCOL);
    }
    p = BUF;
    for (int i = 0; i < NB; i++, p += BROWS * NCOL)
        H5CK(H5Dwrite(DB[i], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p));
    h5_flush();
    return -1;
}

/* -- column-major buffers (issue #13.2): what a Fortran or Julia caller hands over -- */
/* One case: a 2-d array saved from and loaded into a column-major buffer, against the same bytes
 * in C order through the library (the floor of the layout conversion), a raw pwrite/pread of the
 * bytes, and HDF5 the way its Fortran users store such an array: the dataset declared with the
 * dimensions reversed and the buffer written as it is (no transpose at all). */
typedef struct {
    const char *name;    /* array in the store, dataset in the HDF5 file */
    npk_dtype dtype;
    hid_t h5type;
    size_t item;
    uint64_t shape[2];   /* the array's (C) shape */
    int64_t fstrides[2]; /* column-major byte strides of the same shape */
    void *src, *buf;     /* content to save; destination of loads (pre-faulted) */
    int rawfd;
    hid_t h5;
} lay_t;
static lay_t *LC;
static size_t lay_bytes(const lay_t *c) { return c->shape[0] * c->shape[1] * c->item; }
static void lay_setup(lay_t *c, const char *name, npk_dtype dt, hid_t h5t, size_t item,
                      uint64_t rows, uint64_t cols, void *src) {
    char p[PATH_MAX];
    *c = (lay_t){name, dt, h5t, item, {rows, cols}, {(int64_t)item, (int64_t)(item * rows)},
                 src, NULL, -1, -1};
    if (!c->src) {
        c->src = xalloc(lay_bytes(c));
        for (size_t i = 0; i < lay_bytes(c) / 4; i++)
            ((float *)c->src)[i] = (float)(i % 1000003) * 0.001f;
    }
    c->buf = xalloc(lay_bytes(c));
    CK(npk_save(ST, name, dt, 2, c->shape, c->src, c->fstrides));
    snprintf(p, sizeof p, "%s/raw/%s.bin", DIR_, name);
    c->rawfd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->rawfd < 0)
        die("open %s: %s", p, strerror(errno));
    pwrite_all(c->rawfd, c->src, lay_bytes(c), 0);
    hsize_t dims[2] = {cols, rows}; /* reversed: the column-major buffer is C order of (cols, rows) */
    hid_t sp = H5Screate_simple(2, dims, NULL);
    c->h5 = H5Dcreate2(H5F, name, h5t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (c->h5 < 0)
        die("H5Dcreate2 %s", name);
    H5Sclose(sp);
    H5CK(H5Dwrite(c->h5, h5t, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->src));
    h5_flush();
}
static double lay_save_f(void) {
    CK(npk_save(ST, LC->name, LC->dtype, 2, LC->shape, LC->src, LC->fstrides));
    return -1;
}
static double lay_save_c(void) {
    CK(npk_save(ST, LC->name, LC->dtype, 2, LC->shape, LC->src, NULL));
    return -1;
}
static double lay_save_raw(void) { pwrite_all(LC->rawfd, LC->src, lay_bytes(LC), 0); return -1; }
static double lay_save_h5(void) {
    H5CK(H5Dwrite(LC->h5, LC->h5type, H5S_ALL, H5S_ALL, H5P_DEFAULT, LC->src));
    h5_flush();
    return -1;
}
static double lay_load_f(void) {
    CK(npk_load(ST, LC->name, LC->dtype, 2, LC->shape, LC->buf, LC->fstrides));
    return -1;
}
static double lay_load_c(void) {
    CK(npk_load(ST, LC->name, LC->dtype, 2, LC->shape, LC->buf, NULL));
    return -1;
}
static double lay_load_raw(void) { pread_all(LC->rawfd, LC->buf, lay_bytes(LC), 0); return -1; }
static double lay_load_h5(void) {
    H5CK(H5Dread(LC->h5, LC->h5type, H5S_ALL, H5S_ALL, H5P_DEFAULT, LC->buf));
    return -1;
}
static void bench_layout(lay_t *c, const char *save_wl, const char *load_wl) {
    LC = c;
    const char *note = "floor=libnumpack, same bytes in C order; raw=pwrite/pread in place; "
                       "HDF5: reversed dims, no transpose";
    {
        var_t v[] = {{"libnumpack", NULL, lay_save_f, NULL},
                     {"floor", NULL, lay_save_c, NULL},
                     {"raw", NULL, lay_save_raw, NULL},
                     {"hdf5", NULL, lay_save_h5, NULL}};
        bench(save_wl, note, v, 4, RUNS);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lay_load_f, NULL},
                     {"floor", NULL, lay_load_c, NULL},
                     {"raw", NULL, lay_load_raw, NULL},
                     {"hdf5", NULL, lay_load_h5, NULL}};
        bench(load_wl, note, v, 4, RUNS);
    }
}

/* ---- setup ---------------------------------------------------------------------------------- */
static void mkdir_p(const char *p) {
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        die("mkdir %s: %s", p, strerror(errno));
}

static void setup(void) {
    char p[PATH_MAX];
    mkdir_p(DIR_);
    NBYTES = N * NCOL * 4;
    BROWS = N / NB;
    SHAPE[0] = N;
    SHAPE[1] = NCOL;
    SCRUB = xalloc(SCRUB_BYTES);
    SRC = xalloc(NBYTES);
    BUF = xalloc(NBYTES);
    ROWS = xalloc(10000 * NCOL * 4);
    OUT = xalloc(10000 * NCOL * 4);
    for (uint64_t i = 0; i < N * NCOL; i++)
        SRC[i] = (float)(i % 1000003) * 0.001f;
    for (int i = 0; i < 10000 * NCOL; i++)
        ROWS[i] = (float)i;
    random_rows(IDX100, 100, N);
    random_rows(IDX1K, 1000, N);
    random_rows(IDX10K, 10000, N);
    for (int i = 0; i < 10; i++)
        IDX10[i] = i;

    /* libnumpack store */
    snprintf(LIBDIR_, sizeof LIBDIR_, "%s/lib", DIR_);
    CK(npk_open(LIBDIR_, NPK_OPEN_CREATE, &ST));
    lib_save(SRC);
    for (int i = 0; i < NB; i++) {
        char name[8];
        uint64_t sh[2] = {BROWS, NCOL};
        snprintf(name, sizeof name, "b%d", i);
        CK(npk_save(ST, name, NPK_FLOAT32, 2, sh, SRC + (uint64_t)i * BROWS * NCOL, NULL));
    }

    /* raw files */
    snprintf(p, sizeof p, "%s/raw", DIR_);
    mkdir_p(p);
    snprintf(RAWA, sizeof RAWA, "%s/raw/a.bin", DIR_);
    snprintf(RAWTMP, sizeof RAWTMP, "%s/raw/staged.tmp", DIR_);
    snprintf(RAWMETA, sizeof RAWMETA, "%s/raw/meta", DIR_);
    snprintf(RAWMETATMP, sizeof RAWMETATMP, "%s/raw/meta.tmp", DIR_);
    snprintf(RAWCAT, sizeof RAWCAT, "%s/raw/cat", DIR_);
    snprintf(RAWSPARE, sizeof RAWSPARE, "%s/raw/cat.spare", DIR_);
    raw_commit();
    raw_new_file(RAWA, &RAWFD, SRC, NBYTES);
    RAWROWS = N;
    for (int i = 0; i < NB; i++) {
        snprintf(RAWB[i], sizeof RAWB[i], "%s/raw/b%d.bin", DIR_, i);
        RAWBFD[i] = -1;
        raw_new_file(RAWB[i], &RAWBFD[i], SRC + (uint64_t)i * BROWS * NCOL, BROWS * NCOL * 4);
    }

    /* HDF5 */
    snprintf(p, sizeof p, "%s/h5", DIR_);
    mkdir_p(p);
    snprintf(H5PATH, sizeof H5PATH, "%s/h5/a.h5", DIR_);
    snprintf(H5NEW, sizeof H5NEW, "%s/h5/new.h5", DIR_);
    H5F = H5Fcreate(H5PATH, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (H5F < 0)
        die("H5Fcreate %s", H5PATH);
    DA = h5_make(H5F, "a", N, 0, SRC);
    DC = h5_make(H5F, "c", N, 1, SRC);
    H5C_ROWS = N;
    for (int i = 0; i < NB; i++) {
        char name[8];
        snprintf(name, sizeof name, "b%d", i);
        DB[i] = h5_make(H5F, name, BROWS, 0, SRC + (uint64_t)i * BROWS * NCOL);
    }
    h5_flush();
}

static void set_rawmap(void) { rawmap_refresh(); }

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--rows") && v)
            N = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--runs") && v)
            RUNS = atoi(v), i++;
        else if (!strcmp(a, "--runs-light") && v)
            RUNS_LIGHT = atoi(v), i++;
        else if (!strcmp(a, "--rounds") && v)
            KR = atoi(v), i++;
        else if (!strcmp(a, "--batch-rounds") && v)
            KB = atoi(v), i++;
        else if (!strcmp(a, "--plain-rounds") && v)
            KP = atoi(v), i++;
        else if (!strcmp(a, "--dir") && v)
            DIR_ = v, i++;
        else if (!strcmp(a, "--label") && v)
            LABEL = v, i++;
        else if (!strcmp(a, "--budget") && v)
            BUDGET = atof(v), i++;
        else if (!strcmp(a, "--only") && v)
            ONLY = v, i++;
        else if (!strcmp(a, "--square"))
            SQUARE = 1;
        else
            die("usage: bench_c --rows N --dir DIR --label L [--runs 7] [--runs-light 21] "
                "[--rounds 100] [--batch-rounds 100] [--plain-rounds 100] [--budget 6] "
                "[--only w1,w2] [--square]");
    }
    if (!N || !DIR_ || !LABEL)
        die("--rows, --dir and --label are required");
    if (RUNS < 5 || RUNS_LIGHT < 5)
        die("at least 5 runs");
    if (N < 10000 || N % NB)
        die("--rows must be >= 10000 and a multiple of %d", NB);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (npk_version_number() != NPK_VERSION_MAJOR * 10000 + NPK_VERSION_MINOR * 100 +
                                    NPK_VERSION_PATCH)
        die("header and library versions differ");
    setup();
    char note[128];

    {
        var_t v[] = {{"libnumpack", lib_drop_a, lib_save_src, NULL},
                     {"floor", raw_unlink_a, newfile_save_src, NULL},
                     {"hdf5", h5_unlink_new, h5_save_new, NULL}};
        bench("save_new", "floor=raw=new file", v, 3, RUNS);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_save_src, NULL},
                     {"floor", NULL, inplace_save_src, NULL},
                     {"raw", NULL, newfile_save_src, NULL},
                     {"diag_unlink_rename", NULL, raw_new_unlink_src, NULL},
                     {"hdf5", NULL, h5_overwrite, NULL}};
        bench("save_overwrite", "floor=pwrite in place; raw=new file+rename", v, 5, RUNS);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_load_op, NULL},
                     {"raw", NULL, raw_load, NULL},
                     {"raw_mmap", set_rawmap, rawmap_load, NULL},
                     {"diag_fresh_memory", NULL, raw_load_fresh, NULL},
                     {"hdf5", NULL, h5_load, NULL}};
        bench("load", "raw=pread; floor=min(pread, memcpy from mapping)", v, 5, RUNS);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_view, NULL}, {"raw", NULL, raw_view, NULL}};
        bench("view_open", "mean of 200 opens per run; raw=mmap", v, 2, RUNS_LIGHT);
    }
    {
        static const int64_t *idx[] = {IDX100, IDX1K, IDX10K};
        static const size_t cnt[] = {100, 1000, 10000};
        static const char *names[] = {"get_100", "get_1000", "get_10000"};
        for (int k = 0; k < 3; k++) {
            GIDX = idx[k];
            GN = cnt[k];
            var_t v[] = {{"libnumpack", NULL, lib_get, NULL},
                         {"raw", NULL, raw_get, NULL},
                         {"raw_mmap", set_rawmap, rawmap_get, NULL},
                         {"diag_lseek", set_rawmap, rawmap_lseek_get, NULL},
                         {"hdf5", NULL, h5_get, NULL}};
            bench(names[k], "random distinct rows; raw=pread/row", v, 5, RUNS_LIGHT);
        }
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_replace, NULL},
                     {"raw", NULL, raw_replace, NULL},
                     {"raw_mmap", set_rawmap, rawmap_replace, NULL},
                     {"diag_commit", NULL, raw_replace_commit, NULL},
                     {"hdf5", NULL, h5_replace, NULL}};
        bench("replace_100", "random distinct rows; raw=pwrite/row", v, 5, RUNS_LIGHT);
    }

    random_ranges();
    {
        var_t v[] = {{"libnumpack", NULL, lib_range_read, NULL},
                     {"floor", NULL, raw_range_read, NULL},
                     {"hdf5", NULL, h5_range_read, NULL}};
        bench("range_read_100", "1,000 random 100-row ranges; floor=pread/range", v, 3,
              RUNS_LIGHT);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_range_write, NULL},
                     {"floor", NULL, raw_range_write, NULL},
                     {"hdf5", NULL, h5_range_write, NULL}};
        bench("range_write_100", "1,000 random 100-row ranges; floor=pwrite/range", v, 3,
              RUNS_LIGHT);
    }

    MULN = N * NCOL;
    snprintf(note, sizeof note, "%d rounds", KP);
    {
        var_t v[] = {{"libnumpack", NULL, lib_rounds_plain, NULL},
                     {"floor", NULL, inplace_rounds_plain, NULL},
                     {"raw", NULL, newfile_rounds_plain, NULL},
                     {"hdf5", NULL, h5_rounds_plain, NULL}};
        bench("rounds_plain", note, v, 4, RUNS);
    }
    snprintf(note, sizeof note, "%d rounds", KB);
    KRB = KB;
    {
        var_t v[] = {{"libnumpack", NULL, lib_rounds_cache, NULL},
                     {"floor", NULL, inplace_rounds_cache, NULL},
                     {"raw", NULL, newfile_rounds_cache, NULL},
                     {"hdf5", NULL, h5_rounds_cache, NULL}};
        bench("rounds_cache", note, v, 4, RUNS);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_rounds_writable, NULL},
                     {"raw", NULL, raw_rounds_writable, NULL},
                     {"floor", floor_writable_pre, floor_rounds_writable, floor_writable_post}};
        bench("rounds_writable", note, v, 3, RUNS);
    }

    MULN = 10 * NCOL;
    KRB = KR;
    snprintf(note, sizeof note, "%d rounds", KP);
    {
        var_t v[] = {{"libnumpack", NULL, lib_rounds_plain, NULL},
                     {"floor", NULL, inplace_rounds_plain, NULL},
                     {"raw", NULL, newfile_rounds_plain, NULL},
                     {"hdf5", NULL, h5_rounds_plain, NULL}};
        bench("readme_plain", note, v, 4, RUNS);
    }
    snprintf(note, sizeof note, "%d rounds", KR);
    {
        var_t v[] = {{"libnumpack", NULL, lib_readme_replace, NULL},
                     {"raw", NULL, raw_readme_replace, NULL},
                     {"diag_commit", NULL, raw_readme_replace_commit, NULL},
                     {"hdf5", NULL, h5_readme_replace, NULL}};
        bench("readme_rows", note, v, 4, RUNS_LIGHT);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_rounds_cache, NULL},
                     {"floor", NULL, inplace_rounds_cache, NULL},
                     {"raw", NULL, newfile_rounds_cache, NULL},
                     {"hdf5", NULL, h5_rounds_cache, NULL}};
        bench("readme_cache", note, v, 4, RUNS);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_rounds_writable, NULL},
                     {"raw", NULL, raw_rounds_writable, NULL},
                     {"diag_commit", NULL, raw_writable_commit, NULL},
                     {"floor", floor_writable_pre, floor_rounds_writable, floor_writable_post}};
        bench("readme_writable", note, v, 4, RUNS_LIGHT);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_append, NULL},
                     {"raw", NULL, raw_append, NULL},
                     {"diag_commit", NULL, raw_append_commit, NULL},
                     {"floor", NULL, floor_append, NULL},
                     {"hdf5", NULL, h5_append, NULL}};
        bench("append_100", "raw=pwrite at end", v, 5, RUNS_LIGHT);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_append1, NULL},
                     {"raw", NULL, raw_append1, NULL},
                     {"floor", NULL, floor_append1, NULL}};
        bench("append_1", "raw=pwrite at end", v, 3, RUNS_LIGHT);
    }
    {
        var_t v[] = {{"libnumpack", NULL, lib_batch10, NULL},
                     {"floor", NULL, inplace_batch10, NULL},
                     {"raw", NULL, newfile_batch10, NULL},
                     {"hdf5", NULL, h5_batch10, NULL}};
        bench("batch_commit_10", "10 arrays of N/10 rows: load, x2, save, commit", v, 4, RUNS);
    }

    if (selected("save_fortran") || selected("load_fortran")) {
        static lay_t c;
        lay_setup(&c, "f", NPK_FLOAT32, H5T_NATIVE_FLOAT, 4, N, NCOL, SRC);
        bench_layout(&c, "save_fortran", "load_fortran");
        H5Dclose(c.h5);
    }
    if (SQUARE && (selected("save_fortran") || selected("load_fortran"))) {
        static lay_t c;
        const char *label = LABEL;
        LABEL = "4096x4096 f64";
        lay_setup(&c, "sq", NPK_FLOAT64, H5T_NATIVE_DOUBLE, 8, 4096, 4096, NULL);
        bench_layout(&c, "save_fortran", "load_fortran");
        H5Dclose(c.h5);
        LABEL = label;
    }

    CK(npk_close(ST));
    for (int i = 0; i < NB; i++)
        H5Dclose(DB[i]);
    H5Dclose(DA);
    H5Dclose(DC);
    H5Fclose(H5F);
    return 0;
}
