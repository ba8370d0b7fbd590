/*
 * Fixtures of the batch tests, on top of the common harness (../check.h): temporary stores,
 * whole-array reads, /proc inspection (mappings, resident memory, bytes read) and per-dtype
 * element access. Everything is `static inline` so a program that uses only part of it still
 * builds with -Werror.
 */
#ifndef NPK_BATCH_UTIL_H
#define NPK_BATCH_UTIL_H

#include <math.h>

#include "../check.h"

/* ---- temporary directories and stores --------------------------------------------------- */

/* A store in a fresh temporary directory, opened for writing. */
typedef struct {
    char dir[512];
    npk_store *s;
} fixture;

static inline void fx_open(fixture *f, const char *tag)
{
    char *dir = make_tmpdir(tag);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    free(dir);
    f->s = NULL;
    npk_status st = npk_open(f->dir, NPK_OPEN_CREATE, &f->s);
    if (st != NPK_OK) {
        fprintf(stderr, "npk_open(%s): %s: %s\n", f->dir, npk_status_str(st), npk_last_error());
        exit(2);
    }
}

/* Reopens the fixture's store (after a close), writer or read-only. */
static inline npk_store *fx_reopen(const fixture *f, uint32_t flags)
{
    npk_store *s = NULL;
    npk_status st = npk_open(f->dir, flags, &s);
    if (st != NPK_OK) {
        fprintf(stderr, "npk_open(%s, %u): %s: %s\n", f->dir, flags, npk_status_str(st),
                npk_last_error());
        return NULL;
    }
    return s;
}

static inline void fx_close(fixture *f)
{
    npk_close(f->s);
    f->s = NULL;
    remove_tree(f->dir);
}

/* ---- arrays ------------------------------------------------------------------------------ */

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

/* rows x cols float64 with element (i,j) = scale * (i*cols + j) + offset. */
static inline double *f64_seq(uint64_t rows, uint64_t cols, double scale, double offset)
{
    double *a = (double *)xmalloc((size_t)(rows * cols) * sizeof(double));
    for (uint64_t k = 0; k < rows * cols; k++)
        a[k] = scale * (double)k + offset;
    return a;
}

/* Multiplies every float64 element of a view in place. */
static inline void scale_view(const npk_view *v, double k)
{
    double *x = (double *)v->data;
    for (uint64_t i = 0; i < v->nbytes / 8; i++)
        x[i] *= k;
}

static inline npk_status save_f64_2d(npk_store *s, const char *name, uint64_t rows, uint64_t cols,
                                     const double *data)
{
    uint64_t shape[2] = {rows, cols};
    return npk_save(s, name, NPK_FLOAT64, 2, shape, data, NULL);
}

static inline npk_status load_f64_2d(npk_store *s, const char *name, uint64_t rows, uint64_t cols,
                                     double *out)
{
    uint64_t shape[2] = {rows, cols};
    return npk_load(s, name, NPK_FLOAT64, 2, shape, out, NULL);
}

/* Reads a whole array (any dtype/shape, per npk_info) into a new buffer; NULL on failure
 * (the status is in *st when st is not NULL). */
static inline void *load_all(npk_store *s, const char *name, npk_array_info *info, npk_status *st)
{
    npk_status r = npk_info(s, name, info);
    if (r == NPK_OK) {
        void *buf = xmalloc((size_t)info->nbytes);
        r = npk_load(s, name, info->dtype, info->ndim, info->shape, buf, NULL);
        if (r == NPK_OK) {
            if (st)
                *st = r;
            return buf;
        }
        free(buf);
    }
    if (st)
        *st = r;
    return NULL;
}

/* 1 if every element of the float64 buffer equals scale*k + offset (k the flat index). */
static inline int f64_is_seq(const double *a, uint64_t n, double scale, double offset)
{
    for (uint64_t k = 0; k < n; k++)
        if (a[k] != scale * (double)k + offset)
            return 0;
    return 1;
}

/* 1 if the stored float64 array has this shape and the values scale*k + offset. */
static inline int stored_f64_is_seq(npk_store *s, const char *name, uint64_t rows, uint64_t cols,
                                    double scale, double offset)
{
    double *a = (double *)xmalloc((size_t)(rows * cols) * sizeof(double));
    int ok = load_f64_2d(s, name, rows, cols, a) == NPK_OK && f64_is_seq(a, rows * cols, scale, offset);
    free(a);
    return ok;
}

static inline int view_has_shape(const npk_view *v, uint32_t ndim, const uint64_t *shape)
{
    if (v->ndim != ndim)
        return 0;
    for (uint32_t d = 0; d < ndim; d++)
        if (v->shape[d] != shape[d])
            return 0;
    return 1;
}

static inline int info_has_shape(const npk_array_info *in, uint32_t ndim, const uint64_t *shape)
{
    if (in->ndim != ndim)
        return 0;
    for (uint32_t d = 0; d < ndim; d++)
        if (in->shape[d] != shape[d])
            return 0;
    return 1;
}

/* ---- files and directories --------------------------------------------------------------- */

static inline int stat_in(const char *dir, const char *name, struct stat *st)
{
    return stat(path_in(dir, name), st);
}

static inline int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static inline int count_stage_files(const char *dir)
{
    return count_prefix(dir, ".npk-stage-");
}

/* ---- /proc ------------------------------------------------------------------------------- */

/* Finds the mapping of this process containing `p`: its permissions ("rw-s") and path.
 * Returns 1 if found. */
static inline int find_mapping(const void *p, char perms[8], char *path, size_t n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    char line[4096];
    int found = 0;
    uintptr_t addr = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pr[8] = {0};
        int off = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, pr, &off) < 3)
            continue;
        if (addr >= lo && addr < hi) {
            snprintf(perms, 8, "%s", pr);
            char *q = line + off;
            q[strcspn(q, "\n")] = '\0';
            snprintf(path, n, "%s", q);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* 1 if any mapping of this process is of a file whose path ends with `suffix`. */
static inline int mappings_of(const char *suffix)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    char line[4096];
    int found = 0;
    size_t sl = strlen(suffix);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        size_t ll = strlen(line);
        if (ll >= sl && strcmp(line + ll - sl, suffix) == 0)
            found++;
    }
    fclose(f);
    return found;
}

static inline int has_mapping_of(const char *suffix) { return mappings_of(suffix) > 0; }

/* Whether any mapping of this process is of the file with inode `ino` (its name may have
 * changed since: a replaced data file is renamed or unlinked). */
static inline int has_inode_mapped(unsigned long long ino)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long i = 0;
        if (sscanf(line, "%*s %*s %*s %*s %llu", &i) == 1 && i == ino)
            found = 1;
    }
    fclose(f);
    return found;
}

/* A "Field:  123 kB" line of /proc/self/status, in kB; -1 if absent. */
static inline long proc_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* A counter of /proc/self/io ("rchar", "wchar"); -1 if unavailable. */
static inline long long proc_io(const char *field)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtoll(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* ---- elements of every dtype ------------------------------------------------------------- */

static inline uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    if ((x & 0x7fffffffu) == 0)
        return sign;
    int32_t e = (int32_t)((x >> 23) & 0xffu) - 127 + 15;
    uint32_t m = x & 0x7fffffu;
    if (e <= 0)
        return sign; /* values used here are never subnormal */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    return (uint16_t)(sign | ((uint32_t)e << 10) | (m >> 13));
}

static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    uint32_t x;
    if (e == 0) {
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    if (e == 31)
        x = sign | 0x7f800000u | (m << 13);
    else
        x = sign | ((e - 15 + 127) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* NumPack dtype codes run 0 (bool) .. 13 (complex128). */
#define N_DTYPES 14

static inline const char *dtype_name(npk_dtype dt)
{
    static const char *names[] = {"bool",  "uint8",   "uint16",  "uint32",    "uint64",
                                  "int8",  "int16",   "int32",   "int64",     "float16",
                                  "float32", "float64", "complex64", "complex128"};
    return dt >= 0 && dt < 14 ? names[dt] : "?";
}

/* Element i of `base` (of dtype dt) as (re, im); im is 0 for real dtypes. */
static inline void get_elem(npk_dtype dt, const void *base, size_t i, double *re, double *im)
{
    const unsigned char *p = (const unsigned char *)base + i * npk_dtype_size(dt);
    *im = 0;
    switch (dt) {
    case NPK_BOOL: *re = *(const uint8_t *)p ? 1 : 0; break;
    case NPK_UINT8: *re = *(const uint8_t *)p; break;
    case NPK_UINT16: { uint16_t v; memcpy(&v, p, 2); *re = v; } break;
    case NPK_UINT32: { uint32_t v; memcpy(&v, p, 4); *re = v; } break;
    case NPK_UINT64: { uint64_t v; memcpy(&v, p, 8); *re = (double)v; } break;
    case NPK_INT8: *re = *(const int8_t *)p; break;
    case NPK_INT16: { int16_t v; memcpy(&v, p, 2); *re = v; } break;
    case NPK_INT32: { int32_t v; memcpy(&v, p, 4); *re = v; } break;
    case NPK_INT64: { int64_t v; memcpy(&v, p, 8); *re = (double)v; } break;
    case NPK_FLOAT16: { uint16_t v; memcpy(&v, p, 2); *re = f16_to_f32(v); } break;
    case NPK_FLOAT32: { float v; memcpy(&v, p, 4); *re = v; } break;
    case NPK_FLOAT64: memcpy(re, p, 8); break;
    case NPK_COMPLEX64: { float v[2]; memcpy(v, p, 8); *re = v[0]; *im = v[1]; } break;
    case NPK_COMPLEX128: { double v[2]; memcpy(v, p, 16); *re = v[0]; *im = v[1]; } break;
    default: *re = NAN; break;
    }
}

/* Writes (re, im) as element i of `base` (of dtype dt); bool stores re != 0. */
static inline void put_elem(npk_dtype dt, void *base, size_t i, double re, double im)
{
    unsigned char *p = (unsigned char *)base + i * npk_dtype_size(dt);
    switch (dt) {
    case NPK_BOOL: *(uint8_t *)p = re != 0; break;
    case NPK_UINT8: *(uint8_t *)p = (uint8_t)re; break;
    case NPK_UINT16: { uint16_t v = (uint16_t)re; memcpy(p, &v, 2); } break;
    case NPK_UINT32: { uint32_t v = (uint32_t)re; memcpy(p, &v, 4); } break;
    case NPK_UINT64: { uint64_t v = (uint64_t)re; memcpy(p, &v, 8); } break;
    case NPK_INT8: *(int8_t *)p = (int8_t)re; break;
    case NPK_INT16: { int16_t v = (int16_t)re; memcpy(p, &v, 2); } break;
    case NPK_INT32: { int32_t v = (int32_t)re; memcpy(p, &v, 4); } break;
    case NPK_INT64: { int64_t v = (int64_t)re; memcpy(p, &v, 8); } break;
    case NPK_FLOAT16: { uint16_t v = f32_to_f16((float)re); memcpy(p, &v, 2); } break;
    case NPK_FLOAT32: { float v = (float)re; memcpy(p, &v, 4); } break;
    case NPK_FLOAT64: memcpy(p, &re, 8); break;
    case NPK_COMPLEX64: { float v[2] = {(float)re, (float)im}; memcpy(p, v, 8); } break;
    case NPK_COMPLEX128: { double v[2] = {re, im}; memcpy(p, v, 16); } break;
    default: break;
    }
}

static inline int dtype_is_complex(npk_dtype dt)
{
    return dt == NPK_COMPLEX64 || dt == NPK_COMPLEX128;
}

static inline int dtype_is_float(npk_dtype dt)
{
    return dt == NPK_FLOAT16 || dt == NPK_FLOAT32 || dt == NPK_FLOAT64;
}

#endif /* NPK_BATCH_UTIL_H */
