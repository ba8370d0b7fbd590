/*
 * bench_many.c: issue #14, stores with many arrays. For each store size n (10, 1,000, 10,000
 * arrays of 16 float32): libnumpack vs HDF5 (one dataset per array in one file, H5Fflush after
 * each write as in bench_c.c) vs the floor, in the same run, implementations taking turns:
 *
 *   many_fill   filling the store from 0 to n arrays, per save (one pass, untimed repeats)
 *   many_save   a save of a new small array into the store of n arrays, per save (K saves per
 *               run; the K arrays are dropped again after each run, untimed)
 *   many_open_ro / many_open_rw   open read-only / as a writer, load one array, close
 *
 * The save floor is the issue's: the same save into a store of 10 arrays (libnumpack, timed in
 * the same run) + a raw write of the n-entry catalogue's bytes (those of libnumpack's store) the
 * way a commit writes it: in place over a kept spare, swapped in with renameat2(RENAME_EXCHANGE).
 * The open floor: open, pread and close the catalogue and one data file.
 * numpack's columns come from bench_many.py.
 *
 * Output, one TSV line per implementation:  workload  <n>arr  impl  median_s  min_s  runs  note
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <hdf5.h>

#include "numpack.h"

#define BENCH_DIE_PREFIX() fprintf(stderr, "bench_many: ")
#include "bench_util.h"

#define NEL 16
#define MAXRUNS 64
#define NAMELEN 32

static const char *DIR_;
static int RUNS = 7, SAVES = 20;
static float DATA[NEL], BACK[NEL];
static const uint64_t SHAPE[1] = {NEL};

static char *path(const char *a, const char *b) {
    static char buf[2][4096];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s%s%s", DIR_, a, b ? "/" : "", b ? b : "");
    return buf[k];
}

static void name_of(char *out, const char *prefix, int i) {
    snprintf(out, NAMELEN, "%s%06d", prefix, i);
}

static double median(double *t, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void emit(const char *wl, int n, const char *impl, double *t, int runs, const char *note) {
    double med = median(t, runs);
    printf("%s\t%darr\t%s\t%.9f\t%.9f\t%d\t%s\n", wl, n, impl, med, t[0], runs, note);
    fflush(stdout);
}

/* ---- libnumpack ------------------------------------------------------------------------------ */

static void lib_save(npk_store *s, const char *name) {
    CK(npk_save(s, name, NPK_FLOAT32, 1, SHAPE, DATA, NULL));
}

static void lib_drop_run(npk_store *s, const char *prefix, int k) {
    char names[MAXRUNS * 4][NAMELEN];
    const char *ptrs[MAXRUNS * 4];
    for (int i = 0; i < k; i++) {
        name_of(names[i], prefix, i);
        ptrs[i] = names[i];
    }
    CK(npk_drop(s, ptrs, (uint64_t)k));
}

static double lib_saves(npk_store *s, const char *prefix, int k) {
    char name[NAMELEN];
    double t0 = mono();
    for (int i = 0; i < k; i++) {
        name_of(name, prefix, i);
        lib_save(s, name);
    }
    return mono() - t0;
}

static double lib_open_load(const char *dir, uint32_t flags) {
    npk_store *s;
    double t0 = mono();
    CK(npk_open(dir, flags, &s));
    CK(npk_load(s, "a000000", NPK_FLOAT32, 1, SHAPE, BACK, NULL));
    CK(npk_close(s));
    double t = mono() - t0;
    if (BACK[3] != DATA[3])
        die("libnumpack loaded the wrong data");
    return t;
}

/* ---- HDF5 ------------------------------------------------------------------------------------ */

static void h5_save(hid_t f, const char *name) {
    hsize_t dims[1] = {NEL};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d;
    H5CK(d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5CK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, DATA));
    H5Dclose(d);
    H5Sclose(sp);
    H5CK(H5Fflush(f, H5F_SCOPE_LOCAL));
}

static double h5_saves(hid_t f, const char *prefix, int k) {
    char name[NAMELEN];
    double t0 = mono();
    for (int i = 0; i < k; i++) {
        name_of(name, prefix, i);
        h5_save(f, name);
    }
    return mono() - t0;
}

static void h5_drop_run(hid_t f, const char *prefix, int k) {
    char name[NAMELEN];
    for (int i = 0; i < k; i++) {
        name_of(name, prefix, i);
        H5CK(H5Ldelete(f, name, H5P_DEFAULT));
    }
    H5CK(H5Fflush(f, H5F_SCOPE_LOCAL));
}

static double h5_open_load(const char *file, unsigned flags) {
    double t0 = mono();
    hid_t f, d;
    H5CK(f = H5Fopen(file, flags, H5P_DEFAULT));
    H5CK(d = H5Dopen2(f, "a000000", H5P_DEFAULT));
    H5CK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, BACK));
    H5Dclose(d);
    H5Fclose(f);
    double t = mono() - t0;
    if (BACK[3] != DATA[3])
        die("HDF5 loaded the wrong data");
    return t;
}

/* ---- raw floors ------------------------------------------------------------------------------ */

/* The catalogue-size part of a commit, the cheapest correct way (bench_c.c's raw_swap, and the
 * library's own since its commits write the catalogue into a spare): the catalogue's bytes
 * written in place over a kept spare, swapped in by one renameat2(RENAME_EXCHANGE); the old
 * catalogue becomes the spare, so two kept descriptors take turns. The version field changes
 * each time, as the modify time of a real commit does. */
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
static double raw_catalogue_writes(const char *dir, char *bytes, size_t len, int k) {
    static int fd[2] = {-1, -1}; /* [0]: the spare, [1]: the catalogue */
    static char spare[4096], cat[4096];
    if (fd[0] >= 0 && strncmp(cat, dir, strlen(dir)) != 0) {
        close(fd[0]);
        close(fd[1]);
        fd[0] = fd[1] = -1;
    }
    if (fd[0] < 0) {
        snprintf(spare, sizeof spare, "%s/.spare", dir);
        snprintf(cat, sizeof cat, "%s/metadata.npkm", dir);
        SYS(fd[0] = open(spare, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        SYS(fd[1] = open(cat, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        pwrite_all(fd[0], bytes, len, 0);
        pwrite_all(fd[1], bytes, len, 0);
    }
    double t0 = mono();
    for (int i = 0; i < k; i++) {
        bytes[4]++;
        pwrite_all(fd[0], bytes, len, 0);
        SYS(syscall(SYS_renameat2, AT_FDCWD, spare, AT_FDCWD, cat, RENAME_EXCHANGE));
        int t = fd[0];
        fd[0] = fd[1];
        fd[1] = t;
    }
    return mono() - t0;
}

/* Diagnostic: what creating one new file costs in `dir` (each save of a new array creates its
 * data file there): open(O_CREAT | O_EXCL), a 64-byte pwrite, close; removed again untimed. */
static double raw_creates(const char *dir, int k) {
    char p[4096 + 32];
    char bytes[64] = {0};
    double t = 0;
    for (int i = 0; i < k; i++) {
        int fd;
        snprintf(p, sizeof p, "%s/.diag-%d", dir, i);
        double t0 = mono();
        SYS(fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        pwrite_all(fd, bytes, sizeof bytes, 0);
        SYS(close(fd));
        t += mono() - t0;
    }
    for (int i = 0; i < k; i++) {
        snprintf(p, sizeof p, "%s/.diag-%d", dir, i);
        SYS(unlink(p));
    }
    return t;
}

static double read_file(const char *p, char *buf, size_t cap) {
    int fd;
    double t0 = mono();
    SYS(fd = open(p, O_RDONLY | O_CLOEXEC));
    struct stat st;
    SYS(fstat(fd, &st));
    if ((size_t)st.st_size > cap)
        die("%s: %lld bytes, more than %zu", p, (long long)st.st_size, cap);
    pread_all(fd, buf, (size_t)st.st_size, 0);
    SYS(close(fd));
    return mono() - t0;
}

static char *slurp(const char *p, size_t *len) {
    int fd;
    SYS(fd = open(p, O_RDONLY | O_CLOEXEC));
    struct stat st;
    SYS(fstat(fd, &st));
    char *b = xalloc((size_t)st.st_size + 1);
    pread_all(fd, b, (size_t)st.st_size, 0);
    SYS(close(fd));
    *len = (size_t)st.st_size;
    return b;
}

/* ---- one store size -------------------------------------------------------------------------- */

enum { LIB, H5, FLOOR, NIMPL, DIAG = NIMPL };
static const char *IMPL[NIMPL + 1] = {"libnumpack", "hdf5", "floor", "diag_create"};

static void size_n(int n, npk_store *small) {
    char sub[64], name[NAMELEN];
    snprintf(sub, sizeof sub, "n%d", n);
    mkdir(path(sub, NULL), 0755);
    char libdir[4096], h5file[4096], rawdir[4096];
    snprintf(libdir, sizeof libdir, "%s", path(sub, "lib"));
    snprintf(h5file, sizeof h5file, "%s", path(sub, "a.h5"));
    snprintf(rawdir, sizeof rawdir, "%s", path(sub, "raw"));
    SYS(mkdir(rawdir, 0755));

    /* fill: one pass each, per save */
    npk_store *s;
    CK(npk_open(libdir, NPK_OPEN_CREATE, &s));
    hid_t f;
    H5CK(f = H5Fcreate(h5file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    double fill[NIMPL][1];
    double t0 = mono();
    for (int i = 0; i < n; i++) {
        name_of(name, "a", i);
        lib_save(s, name);
    }
    fill[LIB][0] = (mono() - t0) / n;
    t0 = mono();
    for (int i = 0; i < n; i++) {
        name_of(name, "a", i);
        h5_save(f, name);
    }
    fill[H5][0] = (mono() - t0) / n;
    emit("many_fill", n, "libnumpack", fill[LIB], 1, "one pass");
    emit("many_fill", n, "hdf5", fill[H5], 1, "one pass");

    /* the n-entry catalogue's bytes, as the library wrote them */
    size_t cat_len;
    char *cat = slurp(path(sub, "lib/metadata.npkm"), &cat_len);
    raw_catalogue_writes(rawdir, cat, cat_len, 1);

    double t[NIMPL + 1][MAXRUNS];
    sync();
    /* warm-up run, then RUNS timed, the order rotating */
    for (int r = -1; r < RUNS; r++) {
        for (int j = 0; j <= NIMPL; j++) {
            int i = (j + (r < 0 ? 0 : r)) % (NIMPL + 1);
            double dt;
            switch (i) {
            case LIB:
                dt = lib_saves(s, "new", SAVES);
                lib_drop_run(s, "new", SAVES);
                break;
            case H5:
                dt = h5_saves(f, "new", SAVES);
                h5_drop_run(f, "new", SAVES);
                break;
            case DIAG:
                dt = raw_creates(libdir, SAVES);
                break;
            default:
                dt = lib_saves(small, "new", SAVES);
                lib_drop_run(small, "new", SAVES);
                dt += raw_catalogue_writes(rawdir, cat, cat_len, SAVES);
                break;
            }
            if (r >= 0)
                t[i][r] = dt / SAVES;
        }
    }
    char note[128];
    snprintf(note, sizeof note, "%d saves per run; catalogue %zu bytes", SAVES, cat_len);
    for (int i = 0; i <= NIMPL; i++)
        emit("many_save", n, IMPL[i], t[i], RUNS, note);
    CK(npk_close(s));
    H5CK(H5Fclose(f));

    /* opens: each implementation opens, loads one array, closes */
    char *buf = xalloc(cat_len + 4096);
    const char *wls[2] = {"many_open_ro", "many_open_rw"};
    for (int w = 0; w < 2; w++) {
        sync();
        for (int r = -1; r < RUNS; r++) {
            for (int j = 0; j < NIMPL; j++) {
                int i = (j + (r < 0 ? 0 : r)) % NIMPL;
                double dt;
                if (i == LIB)
                    dt = lib_open_load(libdir, w ? 0 : NPK_OPEN_READ_ONLY);
                else if (i == H5)
                    dt = h5_open_load(h5file, w ? H5F_ACC_RDWR : H5F_ACC_RDONLY);
                else
                    dt = read_file(path(sub, "lib/metadata.npkm"), buf, cat_len + 4096) +
                         read_file(path(sub, "lib/data_a000000.npkd"), buf, cat_len + 4096);
                if (r >= 0)
                    t[i][r] = dt;
            }
        }
        for (int i = 0; i < NIMPL; i++)
            emit(wls[w], n, IMPL[i], t[i], RUNS, "open, load one array, close");
    }
    free(buf);
    free(cat);
}

int main(int argc, char **argv) {
    int sizes[8], nsizes = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            DIR_ = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            RUNS = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--saves") && i + 1 < argc)
            SAVES = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc && nsizes < 8)
            sizes[nsizes++] = atoi(argv[++i]);
        else
            die("usage: bench_many --dir D [--runs R] [--saves K] --size N [--size N ...]");
    }
    if (!DIR_ || !nsizes || RUNS < 1 || RUNS > MAXRUNS || SAVES < 1 || SAVES > MAXRUNS)
        die("usage: bench_many --dir D [--runs R<=%d] [--saves K<=%d] --size N ...", MAXRUNS,
            MAXRUNS);
    for (int i = 0; i < NEL; i++)
        DATA[i] = (float)i * 0.5f;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    mkdir(DIR_, 0755);
    npk_store *small;
    char name[NAMELEN];
    CK(npk_open(path("small", NULL), NPK_OPEN_CREATE, &small));
    for (int i = 0; i < 10; i++) {
        name_of(name, "a", i);
        lib_save(small, name);
    }
    for (int k = 0; k < nsizes; k++) {
        fprintf(stderr, "[bench_many %d arrays] ", sizes[k]);
        double t0 = mono();
        size_n(sizes[k], small);
        fprintf(stderr, "%.1fs\n", mono() - t0);
    }
    CK(npk_close(small));
    return 0;
}
