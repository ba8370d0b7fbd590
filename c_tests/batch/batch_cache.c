/*
 * The cache batch (NumPack's `batch_mode()`): npk_batch_begin / npk_batch_load / npk_batch_save /
 * npk_batch_end / npk_batch_abort. Cases 1-21 and 36-38 of shared/batch-cases.md, then the
 * seed's examples (iterative updates with one write, appending in batches), abort leaving the
 * directory byte-identical, staging under a memory limit, and a failing end retried.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "batch_util.h"

/* load -> *k -> save (the view's own pointer) for one float64 array in a batch. */
static int load_scale_save(npk_batch *b, const char *name, double k)
{
    npk_view v = NPK_VIEW_INIT;
    if (!CHECK_OK(npk_batch_load(b, name, &v)))
        return 0;
    scale_view(&v, k);
    return CHECK_OK(npk_batch_save(b, name, v.dtype, v.ndim, v.shape, v.data, NULL));
}

/* ---- NumPack case 1: load -> x2 -> save; a second load returns the x2 values ---------------- */
static void second_load_returns_saved_values(void)
{
    fixture f;
    fx_open(&f, "c01");
    double *a = f64_seq(10, 5, 1, 1);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT, v2 = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "array", 10, 5, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (!CHECK_OK(npk_batch_load(b, "array", &v)))
        goto out;
    CHECK(v.dtype == NPK_FLOAT64 && v.ndim == 2 && v.shape[0] == 10 && v.shape[1] == 5);
    CHECK(v.itemsize == 8 && v.nbytes == 400 && v.strides[0] == 40 && v.strides[1] == 8);
    CHECK(v.writable == 1 && v.data != NULL);
    CHECK(f64_is_seq((double *)v.data, 50, 1, 1));
    scale_view(&v, 2);
    CHECK_OK(npk_batch_save(b, "array", NPK_FLOAT64, 2, v.shape, v.data, NULL));
    if (CHECK_OK(npk_batch_load(b, "array", &v2)))
        CHECK(f64_is_seq((double *)v2.data, 50, 2, 2));
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "array", 10, 5, 2, 2));
out:
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 2: a second load returns the same cached buffer, with no disk read -------- */
static void second_load_is_same_buffer_without_disk_read(void)
{
    fixture f;
    fx_open(&f, "c02");
    const uint64_t rows = 1024, cols = 128; /* 1 MiB */
    double *a = f64_seq(rows, cols, 1, 0);
    npk_batch *b = NULL;
    npk_view v1 = NPK_VIEW_INIT, v2 = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "array", rows, cols, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    long long r0 = proc_io("rchar");
    if (!CHECK_OK(npk_batch_load(b, "array", &v1)))
        goto out;
    long long r1 = proc_io("rchar");
    ((double *)v1.data)[7] = -1.0; /* changed in the cache only */
    if (!CHECK_OK(npk_batch_load(b, "array", &v2)))
        goto out;
    long long r2 = proc_io("rchar");
    CHECK(v2.data == v1.data);
    CHECK(((double *)v2.data)[7] == -1.0);
    /* rchar counts read()/pread() bytes: the first load reads the array (unless a future
     * library maps it instead), the second reads nothing of it. */
    if (r1 - r0 < (long long)(rows * cols * 8))
        printf("  second load: first load read only %lld bytes (mapped?)\n", r1 - r0);
    CHECK_MSG(r0 >= 0 && r2 - r1 < 64 * 1024, "second load read %lld bytes", r2 - r1);
    CHECK_OK(npk_batch_abort(b));
out:
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 3: three arrays changed and saved are all on disk after end --------------- */
static void three_saved_arrays_all_committed(void)
{
    fixture f;
    fx_open(&f, "c03");
    double *a = f64_seq(20, 3, 1, 0), *c = f64_seq(7, 7, 0.5, 1);
    int32_t bb[12];
    for (int i = 0; i < 12; i++)
        bb[i] = i;
    uint64_t bshape[1] = {12};
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "a", 20, 3, a));
    CHECK_OK(npk_save(f.s, "b", NPK_INT32, 1, bshape, bb, NULL));
    CHECK_OK(save_f64_2d(f.s, "c", 7, 7, c));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    load_scale_save(b, "a", 2);
    if (CHECK_OK(npk_batch_load(b, "b", &v))) {
        for (int i = 0; i < 12; i++)
            ((int32_t *)v.data)[i] += 100;
        CHECK_OK(npk_batch_save(b, "b", NPK_INT32, 1, v.shape, v.data, NULL));
    }
    load_scale_save(b, "c", -1);
    /* Nothing on disk yet. */
    CHECK(stored_f64_is_seq(f.s, "a", 20, 3, 1, 0));
    CHECK(stored_f64_is_seq(f.s, "c", 7, 7, 0.5, 1));
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "a", 20, 3, 2, 0));
    CHECK(stored_f64_is_seq(f.s, "c", 7, 7, -0.5, -1));
    int32_t got[12];
    if (CHECK_OK(npk_load(f.s, "b", NPK_INT32, 1, bshape, got, NULL))) {
        int ok = 1;
        for (int i = 0; i < 12; i++)
            ok &= got[i] == i + 100;
        CHECK(ok);
    }
out:
    free(a);
    free(c);
    fx_close(&f);
}

/* ---- NumPack case 4: in place *=2; +=1 through the view, saved with the view's own pointer -- */
static void in_place_change_saved_from_own_view(void)
{
    fixture f;
    fx_open(&f, "c04");
    double *a = f64_seq(50, 4, 1, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT, v2 = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "array", 50, 4, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (!CHECK_OK(npk_batch_load(b, "array", &v)))
        goto out;
    double *x = (double *)v.data;
    for (int i = 0; i < 200; i++)
        x[i] *= 2;
    for (int i = 0; i < 200; i++)
        x[i] += 1;
    CHECK_OK(npk_batch_save(b, "array", v.dtype, v.ndim, v.shape, v.data, v.strides));
    /* Saving the view's own pointer does not copy: the view stays the cached buffer. */
    if (CHECK_OK(npk_batch_load(b, "array", &v2)))
        CHECK(v2.data == v.data);
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "array", 50, 4, 2, 1));
out:
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 5 (and 27, for the cache): a (0,3) array loads as (0,3) and saves back ---- */
static void empty_array_loads_and_saves_back(void)
{
    fixture f;
    fx_open(&f, "c05");
    uint64_t shape[2] = {0, 3};
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    CHECK_OK(npk_save(f.s, "empty", NPK_FLOAT64, 2, shape, NULL, NULL));
    CHECK_OK(npk_save(f.s, "grows", NPK_FLOAT64, 2, shape, NULL, NULL));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "empty", &v))) {
        CHECK(v.data == NULL);
        CHECK(view_has_shape(&v, 2, shape));
        CHECK(v.nbytes == 0 && v.dtype == NPK_FLOAT64 && v.itemsize == 8);
        CHECK_OK(npk_batch_save(b, "empty", v.dtype, v.ndim, v.shape, v.data, NULL));
    }
    /* An empty array may grow inside the batch. */
    double rows[6] = {1, 2, 3, 4, 5, 6};
    uint64_t two[2] = {2, 3};
    if (CHECK_OK(npk_batch_load(b, "grows", &v)))
        CHECK(v.data == NULL && view_has_shape(&v, 2, shape));
    CHECK_OK(npk_batch_save(b, "grows", NPK_FLOAT64, 2, two, rows, NULL));
    CHECK_OK(npk_batch_end(b));
    if (CHECK_OK(npk_info(f.s, "empty", &info)))
        CHECK(info_has_shape(&info, 2, shape) && info.nbytes == 0);
    double got[6];
    if (CHECK_OK(npk_load(f.s, "grows", NPK_FLOAT64, 2, two, got, NULL)))
        CHECK(memcmp(got, rows, sizeof rows) == 0);
out:
    fx_close(&f);
}

/* ---- NumPack case 6: one element, 42 -> 84 -------------------------------------------------- */
static void single_element_change_persists(void)
{
    fixture f;
    fx_open(&f, "c06");
    int64_t x = 42;
    uint64_t shape[1] = {1};
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(npk_save(f.s, "one", NPK_INT64, 1, shape, &x, NULL));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "one", &v))) {
        CHECK(*(int64_t *)v.data == 42);
        *(int64_t *)v.data *= 2;
        CHECK_OK(npk_batch_save(b, "one", NPK_INT64, 1, shape, v.data, NULL));
    }
    CHECK_OK(npk_batch_end(b));
    x = 0;
    CHECK_OK(npk_load(f.s, "one", NPK_INT64, 1, shape, &x, NULL));
    CHECK(x == 84);
out:
    fx_close(&f);
}

/* ---- NumPack case 7: a ~100 MB float64 array x1.5 ------------------------------------------- */
static void hundred_mb_array_change_persists(void)
{
    fixture f;
    fx_open(&f, "c07");
    const uint64_t rows = 1638400, cols = 8; /* 104,857,600 bytes */
    double *a = f64_seq(rows, cols, 1, 0);
    npk_batch *b = NULL;
    CHECK_OK(save_f64_2d(f.s, "big", rows, cols, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    load_scale_save(b, "big", 1.5);
    CHECK_OK(npk_batch_end(b));
    CHECK(load_f64_2d(f.s, "big", rows, cols, a) == NPK_OK && f64_is_seq(a, rows * cols, 1.5, 0));
out:
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 8: 100 and 1000 small arrays each x2 in one batch ------------------------- */
static void many_arrays(int n, int create_in_batch)
{
    fixture f;
    fx_open(&f, create_in_batch ? "c08b" : "c08a");
    char name[32];
    double *a = f64_seq(4, 3, 1, 0);
    npk_batch *b = NULL;
    if (create_in_batch) {
        /* Creating 1000 arrays is itself one batch: brand-new names, one commit. */
        if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
            goto out;
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "arr_%d", i);
            for (int k = 0; k < 12; k++)
                a[k] = k + i;
            CHECK_OK(npk_batch_save(b, name, NPK_FLOAT64, 2, (uint64_t[]){4, 3}, a, NULL));
        }
        CHECK_OK(npk_batch_end(b));
    } else {
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "arr_%d", i);
            for (int k = 0; k < 12; k++)
                a[k] = k + i;
            CHECK_OK(save_f64_2d(f.s, name, 4, 3, a));
        }
    }
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    int ok = 1;
    for (int i = 0; i < n; i++) {
        npk_view v = NPK_VIEW_INIT;
        snprintf(name, sizeof name, "arr_%d", i);
        if (npk_batch_load(b, name, &v) != NPK_OK) {
            ok = 0;
            continue;
        }
        scale_view(&v, 2);
        ok &= npk_batch_save(b, name, v.dtype, v.ndim, v.shape, v.data, NULL) == NPK_OK;
    }
    CHECK(ok);
    CHECK_OK(npk_batch_end(b));
    ok = 1;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "arr_%d", i);
        ok &= stored_f64_is_seq(f.s, name, 4, 3, 2, 2.0 * i);
    }
    CHECK_MSG(ok, "%d arrays", n);
    uint64_t needed = 0, count = 0;
    CHECK_OK(npk_list(f.s, NULL, 0, &needed, &count));
    CHECK(count == (uint64_t)n);
out:
    free(a);
    fx_close(&f);
}

static void hundreds_of_arrays_in_one_batch(void)
{
    many_arrays(100, 0);
    many_arrays(1000, 1);
}

/* ---- NumPack case 9: every dtype, (10,5) and (10,20,30): a new buffer saved persists exactly */

/* Value number i of generation g for a dtype, as (re, im). */
static void gen_value(npk_dtype dt, size_t i, int g, double *re, double *im)
{
    long v = (long)(i % 100) + g;
    if (dt == NPK_BOOL) {
        *re = (double)((v & 1) != 0);
        *im = 0;
    } else if (dtype_is_float(dt)) {
        *re = (double)v * 0.5 - 20;
        *im = 0;
    } else if (dtype_is_complex(dt)) {
        *re = (double)v * 0.25;
        *im = -(double)v;
    } else {
        *re = (double)v;
        *im = 0;
    }
}

static void *gen_buffer(npk_dtype dt, size_t n, int g)
{
    void *p = xmalloc(n * npk_dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        double re, im;
        gen_value(dt, i, g, &re, &im);
        put_elem(dt, p, i, re, im);
    }
    return p;
}

static void every_dtype(uint32_t ndim, const uint64_t *shape)
{
    fixture f;
    fx_open(&f, "c09");
    size_t n = 1;
    for (uint32_t d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    char name[32];
    for (npk_dtype dt = 0; dt < N_DTYPES; dt++) {
        void *g0 = gen_buffer(dt, n, 0);
        snprintf(name, sizeof name, "a_%s", dtype_name(dt));
        CHECK_OK(npk_save(f.s, name, dt, ndim, shape, g0, NULL));
        free(g0);
    }
    npk_batch *b = NULL;
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    for (npk_dtype dt = 0; dt < N_DTYPES; dt++) {
        npk_view v = NPK_VIEW_INIT;
        snprintf(name, sizeof name, "a_%s", dtype_name(dt));
        if (!CHECK_OK(npk_batch_load(b, name, &v)))
            continue;
        void *g0 = gen_buffer(dt, n, 0), *g1 = gen_buffer(dt, n, 1);
        CHECK_MSG(v.dtype == dt && view_has_shape(&v, ndim, shape), "%s", dtype_name(dt));
        CHECK_MSG(v.itemsize == npk_dtype_size(dt) && v.nbytes == n * v.itemsize, "%s",
                  dtype_name(dt));
        CHECK_MSG(memcmp(v.data, g0, n * v.itemsize) == 0, "%s view content", dtype_name(dt));
        CHECK_OK(npk_batch_save(b, name, dt, ndim, shape, g1, NULL));
        free(g0);
        free(g1);
    }
    CHECK_OK(npk_batch_end(b));
    for (npk_dtype dt = 0; dt < N_DTYPES; dt++) {
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        npk_status st;
        snprintf(name, sizeof name, "a_%s", dtype_name(dt));
        void *got = load_all(f.s, name, &info, &st);
        void *g1 = gen_buffer(dt, n, 1);
        if (CHECK_OK(st)) {
            CHECK_MSG(info.dtype == dt && info_has_shape(&info, ndim, shape), "%s", dtype_name(dt));
            CHECK_MSG(memcmp(got, g1, n * npk_dtype_size(dt)) == 0, "%s persisted exactly",
                      dtype_name(dt));
        }
        free(got);
        free(g1);
    }
out:
    fx_close(&f);
}

static void new_buffer_of_every_dtype_persists(void)
{
    every_dtype(2, (const uint64_t[]){10, 5});
    every_dtype(3, (const uint64_t[]){10, 20, 30});
}

/* ---- NumPack case 10: shape change inside the batch (rows appended by saving a longer array)  */
static void longer_save_changes_shape(void)
{
    fixture f;
    fx_open(&f, "c10");
    double *a = f64_seq(10, 5, 1, 0), *longer = f64_seq(15, 5, 1, 0);
    double *shorter = f64_seq(4, 5, 1, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    CHECK_OK(save_f64_2d(f.s, "grow", 10, 5, a));
    CHECK_OK(save_f64_2d(f.s, "shrink", 10, 5, a));
    CHECK_OK(save_f64_2d(f.s, "retype", 10, 5, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "grow", &v))) {
        memcpy(longer, v.data, v.nbytes); /* old 10 rows, then 5 new ones */
        CHECK_OK(npk_batch_save(b, "grow", NPK_FLOAT64, 2, (uint64_t[]){15, 5}, longer, NULL));
    }
    if (CHECK_OK(npk_batch_load(b, "grow", &v)))
        CHECK(view_has_shape(&v, 2, (uint64_t[]){15, 5}) && f64_is_seq(v.data, 75, 1, 0));
    CHECK_OK(npk_batch_save(b, "shrink", NPK_FLOAT64, 2, (uint64_t[]){4, 5}, shorter, NULL));
    int32_t ints[3] = {7, 8, 9};
    CHECK_OK(npk_batch_save(b, "retype", NPK_INT32, 1, (uint64_t[]){3}, ints, NULL));
    if (CHECK_OK(npk_batch_load(b, "retype", &v)))
        CHECK(v.dtype == NPK_INT32 && v.ndim == 1 && v.shape[0] == 3);
    /* Committed state still has the old shape. */
    if (CHECK_OK(npk_info(f.s, "grow", &info)))
        CHECK(info.shape[0] == 10);
    CHECK_OK(npk_batch_end(b));
    if (CHECK_OK(npk_info(f.s, "grow", &info)))
        CHECK(info_has_shape(&info, 2, (uint64_t[]){15, 5}));
    CHECK(stored_f64_is_seq(f.s, "grow", 15, 5, 1, 0));
    CHECK(stored_f64_is_seq(f.s, "shrink", 4, 5, 1, 0));
    int32_t got[3] = {0};
    CHECK_OK(npk_load(f.s, "retype", NPK_INT32, 1, (uint64_t[]){3}, got, NULL));
    CHECK(memcmp(got, ints, sizeof ints) == 0);
out:
    free(a);
    free(longer);
    free(shorter);
    fx_close(&f);
}

/* ---- NumPack case 11: a new name, never loaded: saving it and loading it in the same batch */
static void new_name_saved_then_loaded_in_same_batch(void)
{
    fixture f;
    fx_open(&f, "c11");
    int32_t x[12];
    for (int i = 0; i < 12; i++)
        x[i] = i * i;
    uint64_t shape[2] = {3, 4};
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    int32_t exists = -1;
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    CHECK_OK(npk_batch_save(b, "fresh", NPK_INT32, 2, shape, x, NULL));
    x[0] = -5; /* the batch copied the buffer at the call */
    if (CHECK_OK(npk_batch_load(b, "fresh", &v))) {
        CHECK(v.data != (void *)x && v.dtype == NPK_INT32 && view_has_shape(&v, 2, shape));
        CHECK(((int32_t *)v.data)[0] == 0 && ((int32_t *)v.data)[11] == 121);
    }
    CHECK_OK(npk_has(f.s, "fresh", &exists));
    CHECK(exists == 0);
    CHECK_OK(npk_batch_end(b));
    CHECK_OK(npk_has(f.s, "fresh", &exists));
    CHECK(exists == 1);
    int32_t got[12];
    if (CHECK_OK(npk_load(f.s, "fresh", NPK_INT32, 2, shape, got, NULL)))
        CHECK(got[0] == 0 && got[5] == 25 && got[11] == 121);
out:
    fx_close(&f);
}

/* ---- NumPack case 12: a new buffer saved for a cached name: the next load returns it ------- */
static void new_buffer_for_cached_name_replaces_it(void)
{
    fixture f;
    fx_open(&f, "c12");
    double *a = f64_seq(8, 8, 1, 0), *n1 = f64_seq(8, 8, -1, 100), *n2 = f64_seq(3, 2, 10, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "w", 8, 8, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "w", &v)))
        CHECK(f64_is_seq(v.data, 64, 1, 0));
    CHECK_OK(npk_batch_save(b, "w", NPK_FLOAT64, 2, (uint64_t[]){8, 8}, n1, NULL));
    if (CHECK_OK(npk_batch_load(b, "w", &v)))
        CHECK(v.data != (void *)n1 && f64_is_seq(v.data, 64, -1, 100));
    CHECK_OK(npk_batch_save(b, "w", NPK_FLOAT64, 2, (uint64_t[]){3, 2}, n2, NULL));
    if (CHECK_OK(npk_batch_load(b, "w", &v)))
        CHECK(view_has_shape(&v, 2, (uint64_t[]){3, 2}) && f64_is_seq(v.data, 6, 10, 0));
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "w", 3, 2, 10, 0));
out:
    free(a);
    free(n1);
    free(n2);
    fx_close(&f);
}

/* ---- NumPack case 13: 1000 rounds of load, x1.001, save; 10,000 rounds run ------------------ */
static void rounds(int n)
{
    fixture f;
    fx_open(&f, "c13");
    double *a = f64_seq(100, 10, 1, 1);
    npk_batch *b = NULL;
    CHECK_OK(save_f64_2d(f.s, "w", 100, 10, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    int ok = 1;
    for (int r = 0; r < n; r++) {
        npk_view v = NPK_VIEW_INIT;
        ok &= npk_batch_load(b, "w", &v) == NPK_OK;
        if (!ok)
            break;
        scale_view(&v, 1.001);
        ok &= npk_batch_save(b, "w", v.dtype, v.ndim, v.shape, v.data, NULL) == NPK_OK;
    }
    CHECK_MSG(ok, "%d rounds", n);
    CHECK_OK(npk_batch_end(b));
    if (CHECK_OK(load_f64_2d(f.s, "w", 100, 10, a))) {
        double factor = pow(1.001, n), worst = 0;
        for (int k = 0; k < 1000; k++) {
            double want = (k + 1) * factor, err = fabs(a[k] - want) / want;
            if (err > worst)
                worst = err;
        }
        CHECK_MSG(worst < 1e-3, "%d rounds: relative error %g", n, worst);
    }
out:
    free(a);
    fx_close(&f);
}

static void thousands_of_rounds_accumulate(void)
{
    rounds(1000);
    rounds(10000);
}

/* ---- NumPack case 14: memory limits: NumPack ignores them, we stage past them --------------- */
static void limit_run(int n, uint64_t rows, const char *tag)
{
    /* n float64 arrays of rows x 8 each; limit 1 MB (0.1 MB is not expressible: the limit is
     * whole MB, so "0.1 MB" is run as arrays ten times smaller than the limit allows). */
    fixture f;
    fx_open(&f, tag);
    char name[32];
    double *a = f64_seq(rows, 8, 1, 0);
    npk_batch *b = NULL;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "m%d", i);
        CHECK_OK(save_f64_2d(f.s, name, rows, 8, a));
    }
    if (!CHECK_OK(npk_batch_begin(f.s, 1, &b)))
        goto out;
    int ok = 1;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "m%d", i);
        ok &= load_scale_save(b, name, 2);
    }
    CHECK(ok);
    uint64_t total = (uint64_t)n * rows * 64;
    if (total > (1u << 20) + rows * 64)
        CHECK_MSG(count_stage_files(f.dir) > 0, "%d x %llu bytes over a 1 MB limit staged nothing",
                  n, (unsigned long long)(rows * 64));
    /* Every array, staged or not, reads back doubled inside the batch. */
    ok = 1;
    for (int i = 0; i < n; i++) {
        npk_view v = NPK_VIEW_INIT;
        snprintf(name, sizeof name, "m%d", i);
        ok &= npk_batch_load(b, name, &v) == NPK_OK && f64_is_seq(v.data, rows * 8, 2, 0);
    }
    CHECK(ok);
    CHECK_OK(npk_batch_end(b));
    ok = 1;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "m%d", i);
        ok &= stored_f64_is_seq(f.s, name, rows, 8, 2, 0);
    }
    CHECK(ok);
    CHECK(count_stage_files(f.dir) == 0);
out:
    free(a);
    fx_close(&f);
}

static void memory_limit_stages_arrays_to_disk(void)
{
    limit_run(4, 8192, "c14a");  /* 4 x 512 KiB under 1 MB */
    limit_run(20, 1600, "c14b"); /* 20 x 100 KiB ("0.1 MB" arrays) under 1 MB */
    limit_run(2, 1000, "c14c");  /* fits: nothing staged */
}

/* ---- NumPack case 15: two consecutive batches, x2 then x3, give x6 -------------------------- */
static void consecutive_batches_compose(void)
{
    fixture f;
    fx_open(&f, "c15");
    double *a = f64_seq(30, 3, 1, 1);
    npk_batch *b = NULL;
    CHECK_OK(save_f64_2d(f.s, "w", 30, 3, a));
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
        load_scale_save(b, "w", 2);
        CHECK_OK(npk_batch_end(b));
    }
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
        load_scale_save(b, "w", 3);
        CHECK_OK(npk_batch_end(b));
    }
    CHECK(stored_f64_is_seq(f.s, "w", 30, 3, 6, 6));
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 16: loading a missing name: NPK_NOT_FOUND naming it ----------------------- */
static void load_of_missing_name_is_not_found(void)
{
    fixture f;
    fx_open(&f, "c16");
    double *a = f64_seq(2, 2, 1, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "present", 2, 2, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    memset(&v, 0x5a, sizeof v);
    v.struct_size = sizeof v;
    CHECK_STATUS(npk_batch_load(b, "no_such_array", &v), NPK_NOT_FOUND);
    CHECK_MSG(strstr(npk_last_error(), "no_such_array") != NULL, "message: %s", npk_last_error());
    CHECK(v.ndim == 0x5a5a5a5au); /* out-parameter untouched on failure */
    /* The batch is still usable. */
    CHECK(load_scale_save(b, "present", 2));
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "present", 2, 2, 2, 0));
out:
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 17: an error inside the block: the caller chooses end (flush) or abort ---- */
static void after_an_error_caller_chooses_end_or_abort(void)
{
    for (int use_end = 1; use_end >= 0; use_end--) {
        fixture f;
        fx_open(&f, "c17");
        double *a = f64_seq(5, 5, 1, 0);
        npk_batch *b = NULL;
        npk_view v = NPK_VIEW_INIT;
        CHECK_OK(save_f64_2d(f.s, "a", 5, 5, a));
        CHECK_OK(save_f64_2d(f.s, "b", 5, 5, a));
        if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
            load_scale_save(b, "a", 2);
            CHECK_OK(npk_batch_save(b, "new", NPK_FLOAT64, 2, (uint64_t[]){5, 5}, a, NULL));
            /* the "exception": a failing call in the middle of the work */
            CHECK_STATUS(npk_batch_load(b, "missing", &v), NPK_NOT_FOUND);
            CHECK_STATUS(npk_batch_save(b, "bad/name", NPK_FLOAT64, 2, (uint64_t[]){5, 5}, a, NULL),
                         NPK_INVALID_ARGUMENT);
            if (use_end)
                CHECK_OK(npk_batch_end(b));
            else
                CHECK_OK(npk_batch_abort(b));
        }
        int32_t has = -1;
        CHECK_OK(npk_has(f.s, "new", &has));
        CHECK(has == use_end);
        CHECK(stored_f64_is_seq(f.s, "a", 5, 5, use_end ? 2 : 1, 0));
        CHECK(stored_f64_is_seq(f.s, "b", 5, 5, 1, 0));
        free(a);
        fx_close(&f);
    }
}

/* ---- NumPack case 18: load-modify without save is not persisted (our rule: only saved arrays)  */
static void unsaved_view_changes_not_written(void)
{
    for (int save_other = 0; save_other <= 1; save_other++) {
        fixture f;
        fx_open(&f, "c18");
        double *a = f64_seq(6, 6, 1, 0);
        npk_batch *b = NULL;
        npk_view v = NPK_VIEW_INIT;
        npk_array_info before = NPK_ARRAY_INFO_INIT, after = NPK_ARRAY_INFO_INIT;
        CHECK_OK(save_f64_2d(f.s, "touched", 6, 6, a));
        CHECK_OK(save_f64_2d(f.s, "saved", 6, 6, a));
        CHECK_OK(npk_info(f.s, "touched", &before));
        if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
            if (CHECK_OK(npk_batch_load(b, "touched", &v)))
                scale_view(&v, 10); /* changed, never saved */
            if (save_other)
                load_scale_save(b, "saved", 2);
            CHECK_OK(npk_batch_end(b));
        }
        CHECK_MSG(stored_f64_is_seq(f.s, "touched", 6, 6, 1, 0), "save_other=%d", save_other);
        CHECK(stored_f64_is_seq(f.s, "saved", 6, 6, save_other ? 2 : 1, 0));
        CHECK_OK(npk_info(f.s, "touched", &after));
        CHECK(after.modify_time_us == before.modify_time_us);
        free(a);
        fx_close(&f);
    }
}

/* ---- NumPack case 19: a failing end returns the error and keeps the batch open (forked child)  */
#define END_ROWS 4096 /* 4096 x 32 float64 = 1 MiB per array */
#define END_COLS 32

/* In the child: a store of three arrays; x2 each in a cache batch; end under a file-size limit
 * of 64 KiB fails with NPK_IO and changes nothing; then either the limit is lifted and the retry
 * persists everything, or the batch is aborted. With a 1 MB memory limit, some of the arrays
 * are already staged when the end fails. Exit code: 0 if every check passed. */
static int failing_end_child(const char *dir, int retry, uint64_t limit_mb)
{
    int failed0 = check_failed_; /* counters are inherited from the parent */
    npk_store *s = NULL, *ro = NULL;
    npk_batch *b = NULL;
    char name[16];
    const char *names[3] = {"w0", "w1", "w2"};
    if (!CHECK_OK(npk_open(dir, 0, &s)))
        return 1;
    if (!CHECK_OK(npk_batch_begin(s, limit_mb, &b)))
        return 1;
    CHECK_OK(npk_batch_save(b, "added", NPK_FLOAT64, 2, (uint64_t[]){2, 2},
                            (double[]){1, 2, 3, 4}, NULL));
    for (int i = 0; i < 3; i++)
        load_scale_save(b, names[i], 2);
    /* Under the limit, w0 and w1 are staged by now and w2 (1 MiB) is left for the end. */
    if (limit_mb > 0)
        CHECK_MSG(count_stage_files(dir) >= 2, "nothing staged under a %llu MB limit",
                  (unsigned long long)limit_mb);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_STATUS(npk_batch_end(b), NPK_IO);
    const char *msg = npk_last_error();
    CHECK_MSG(strstr(msg, strerror(EFBIG)) != NULL || strstr(msg, "os error 27") != NULL,
              "message should give the errno: %s", msg);
    CHECK_STATUS(npk_batch_end(b), NPK_IO); /* still failing, still open */

    /* The store still holds its old state, for this handle and for a fresh reader. */
    for (int i = 0; i < 3; i++)
        CHECK(stored_f64_is_seq(s, names[i], END_ROWS, END_COLS, 1, 0));
    if (CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &ro))) {
        int32_t has = -1;
        for (int i = 0; i < 3; i++)
            CHECK(stored_f64_is_seq(ro, names[i], END_ROWS, END_COLS, 1, 0));
        CHECK_OK(npk_has(ro, "added", &has));
        CHECK(has == 0);
        npk_close(ro);
    }
    /* The batch still holds its contents (w2: in memory, so no staging is needed here). */
    npk_view v = NPK_VIEW_INIT;
    if (CHECK_OK(npk_batch_load(b, "w2", &v)))
        CHECK(f64_is_seq(v.data, END_ROWS * END_COLS, 2, 0));
    /* Plain writes are still refused: the batch is open. */
    CHECK_STATUS(npk_save(s, "other", NPK_FLOAT64, 2, (uint64_t[]){2, 2}, (double[]){0, 0, 0, 0},
                          NULL),
                 NPK_BUSY);

    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    if (retry) {
        CHECK_OK(npk_batch_end(b));
        CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &ro));
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "%s", names[i]);
            CHECK(stored_f64_is_seq(ro, name, END_ROWS, END_COLS, 2, 0));
        }
        double got[4];
        CHECK_OK(npk_load(ro, "added", NPK_FLOAT64, 2, (uint64_t[]){2, 2}, got, NULL));
        CHECK(got[0] == 1 && got[3] == 4);
        npk_close(ro);
    } else {
        CHECK_OK(npk_batch_abort(b));
        for (int i = 0; i < 3; i++)
            CHECK(stored_f64_is_seq(s, names[i], END_ROWS, END_COLS, 1, 0));
    }
    CHECK(count_stage_files(dir) == 0);
    /* The store is writable again. */
    CHECK_OK(npk_save(s, "other", NPK_FLOAT64, 2, (uint64_t[]){2, 2}, (double[]){0, 0, 0, 0},
                      NULL));
    npk_close(s);
    return check_failed_ > failed0;
}

/* In the child: under a 1 MB limit, staging an evicted array fails (file-size limit): the
 * save reports NPK_IO, and once the limit is lifted the batch still commits everything. */
static int failing_spill_child(const char *dir)
{
    int failed0 = check_failed_;
    npk_store *s = NULL;
    npk_batch *b = NULL;
    const char *names[3] = {"w0", "w1", "w2"};
    if (!CHECK_OK(npk_open(dir, 0, &s)) || !CHECK_OK(npk_batch_begin(s, 1, &b)))
        return 1;
    load_scale_save(b, "w0", 2);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    npk_view v = NPK_VIEW_INIT;
    npk_status st = npk_batch_load(b, "w1", &v); /* evicts w0: staging it fails */
    CHECK_STATUS(st, NPK_IO);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    for (int i = 1; i < 3; i++)
        load_scale_save(b, names[i], 2);
    if (CHECK_OK(npk_batch_load(b, "w0", &v)))
        CHECK(f64_is_seq(v.data, END_ROWS * END_COLS, 2, 0));
    CHECK_OK(npk_batch_end(b));
    for (int i = 0; i < 3; i++)
        CHECK_MSG(stored_f64_is_seq(s, names[i], END_ROWS, END_COLS, 2, 0), "%s", names[i]);
    CHECK(count_stage_files(dir) == 0);
    npk_close(s);
    return check_failed_ > failed0;
}

/* In the child: every data file stages fine but the new catalogue (metadata.npkm, larger than
 * the file-size limit: the store holds 300 arrays) cannot be written. */
static int failing_catalogue_child(const char *dir)
{
    int failed0 = check_failed_;
    npk_store *s = NULL;
    npk_batch *b = NULL;
    struct stat st;
    if (!CHECK_OK(npk_open(dir, 0, &s)) || !CHECK_OK(npk_batch_begin(s, 0, &b)))
        return 1;
    CHECK(stat_in(dir, "metadata.npkm", &st) == 0 && st.st_size > 8192);
    CHECK_OK(npk_batch_save(b, "t0", NPK_FLOAT64, 1, (uint64_t[]){2}, (double[]){5, 6}, NULL));
    CHECK_OK(npk_batch_save(b, "t1", NPK_FLOAT64, 1, (uint64_t[]){1}, (double[]){7}, NULL));
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_STATUS(npk_batch_end(b), NPK_IO);
    CHECK_MSG(strstr(npk_last_error(), "metadata") != NULL || strstr(npk_last_error(), "stage") != NULL,
              "%s", npk_last_error());
    double x[2] = {0, 0};
    CHECK_OK(npk_load(s, "t0", NPK_FLOAT64, 1, (uint64_t[]){1}, x, NULL));
    CHECK(x[0] == 0.5);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CHECK_OK(npk_batch_end(b));
    CHECK_OK(npk_load(s, "t0", NPK_FLOAT64, 1, (uint64_t[]){2}, x, NULL));
    CHECK(x[0] == 5 && x[1] == 6);
    CHECK_OK(npk_load(s, "t1", NPK_FLOAT64, 1, (uint64_t[]){1}, x, NULL));
    CHECK(x[0] == 7);
    CHECK(count_stage_files(dir) == 0);
    npk_close(s);
    return check_failed_ > failed0;
}

static void failing_catalogue_write_keeps_batch_open(void)
{
    fixture f;
    fx_open(&f, "c19m");
    npk_batch *b = NULL;
    char name[32];
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
        for (int i = 0; i < 300; i++) {
            double x = i + 0.5;
            snprintf(name, sizeof name, "t%d_with_a_longer_name", i);
            CHECK_OK(npk_batch_save(b, i < 2 ? (i ? "t1" : "t0") : name, NPK_FLOAT64, 1,
                                    (uint64_t[]){1}, &x, NULL));
        }
        CHECK_OK(npk_batch_end(b));
    }
    npk_close(f.s);
    f.s = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        _exit(failing_catalogue_child(f.dir));
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status 0x%x", status);
    fx_close(&f);
}

static void failing_end_keeps_batch_open_for_retry_or_abort(void)
{
    /* mode: 0-3 = failing end (retry or abort) without / with a memory limit; 4 = failing spill */
    for (int mode = 0; mode < 5; mode++) {
        int retry = mode % 2 == 0 || mode == 4;
        uint64_t limit_mb = mode >= 2 && mode < 4 ? 1 : 0;
        fixture f;
        fx_open(&f, "c19");
        double *a = f64_seq(END_ROWS, END_COLS, 1, 0);
        const char *names[3] = {"w0", "w1", "w2"};
        for (int i = 0; i < 3; i++)
            CHECK_OK(save_f64_2d(f.s, names[i], END_ROWS, END_COLS, a));
        npk_close(f.s); /* the child takes the writer lock */
        f.s = NULL;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0)
            _exit(mode == 4 ? failing_spill_child(f.dir)
                            : failing_end_child(f.dir, retry, limit_mb));
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child (mode %d) failed: status 0x%x", mode, status);
        /* Seen from the parent, afterwards. */
        npk_store *ro = fx_reopen(&f, NPK_OPEN_READ_ONLY);
        if (CHECK(ro != NULL)) {
            int ok = 1;
            for (int i = 0; i < 3; i++)
                ok &= stored_f64_is_seq(ro, names[i], END_ROWS, END_COLS, retry ? 2 : 1, 0);
            CHECK_MSG(ok, "mode %d", mode);
            npk_close(ro);
        }
        CHECK(count_stage_files(f.dir) == 0);
        free(a);
        fx_close(&f);
    }
}

/* ---- NumPack case 20: a second begin on the same store is refused with NPK_BUSY ------------- */
static void second_begin_on_store_is_busy(void)
{
    fixture f;
    fx_open(&f, "c20");
    double *a = f64_seq(4, 4, 1, 0);
    npk_batch *outer = NULL, *inner = (npk_batch *)&f; /* must stay untouched */
    CHECK_OK(save_f64_2d(f.s, "w", 4, 4, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &outer)))
        goto out;
    load_scale_save(outer, "w", 2);
    CHECK_STATUS(npk_batch_begin(f.s, 0, &inner), NPK_BUSY);
    CHECK(inner == (npk_batch *)&f);
    CHECK_STATUS(npk_writable_batch_begin(f.s, &inner), NPK_BUSY);
    CHECK(strstr(npk_last_error(), "batch") != NULL);
    /* The outer batch lost nothing. */
    load_scale_save(outer, "w", 5);
    CHECK_OK(npk_batch_end(outer));
    CHECK(stored_f64_is_seq(f.s, "w", 4, 4, 10, 0));
    /* Free again once it ended (also after an abort), and for either kind. */
    if (CHECK_OK(npk_writable_batch_begin(f.s, &outer))) {
        CHECK_STATUS(npk_batch_begin(f.s, 0, &inner), NPK_BUSY);
        CHECK_OK(npk_batch_abort(outer));
    }
    if (CHECK_OK(npk_batch_begin(f.s, 3, &outer)))
        CHECK_OK(npk_batch_end(outer));
    /* A read-only handle cannot begin a batch. */
    npk_store *ro = fx_reopen(&f, NPK_OPEN_READ_ONLY);
    if (CHECK(ro != NULL)) {
        CHECK_STATUS(npk_batch_begin(ro, 0, &inner), NPK_READ_ONLY);
        CHECK_STATUS(npk_writable_batch_begin(ro, &inner), NPK_READ_ONLY);
        npk_close(ro);
    }
out:
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 21: plain writes during a batch: NPK_BUSY; reads: the last committed state */
static void plain_writes_busy_reads_committed_during_batch(void)
{
    fixture f;
    fx_open(&f, "c21");
    double *a = f64_seq(10, 4, 1, 0), *row = f64_seq(1, 4, 0, -7);
    double *bigger = f64_seq(12, 4, 3, 0);
    npk_batch *b = NULL;
    const char *drop_names[1] = {"w"};
    int64_t idx[1] = {0};
    uint64_t one_row[2] = {1, 4};
    CHECK_OK(save_f64_2d(f.s, "w", 10, 4, a));
    CHECK_OK(save_f64_2d(f.s, "other", 10, 4, a));
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0) {
            if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
                goto out;
            CHECK_OK(npk_batch_save(b, "w", NPK_FLOAT64, 2, (uint64_t[]){12, 4}, bigger, NULL));
            CHECK_OK(npk_batch_save(b, "batch_only", NPK_FLOAT64, 2, one_row, row, NULL));
        } else {
            if (!CHECK_OK(npk_writable_batch_begin(f.s, &b)))
                goto out;
        }
        CHECK_STATUS(save_f64_2d(f.s, "w", 10, 4, a), NPK_BUSY);
        CHECK_STATUS(save_f64_2d(f.s, "brand_new", 10, 4, a), NPK_BUSY);
        CHECK_STATUS(npk_append(f.s, "w", NPK_FLOAT64, 2, one_row, row, NULL), NPK_BUSY);
        CHECK_STATUS(npk_drop(f.s, drop_names, 1), NPK_BUSY);
        CHECK_STATUS(npk_replace_rows(f.s, "w", idx, 1, NPK_FLOAT64, 2, one_row, row, NULL),
                     NPK_BUSY);
        CHECK_STATUS(npk_drop_rows(f.s, "w", idx, 1), NPK_BUSY);
        CHECK_STATUS(npk_compact(f.s, "w"), NPK_BUSY);
        CHECK_STATUS(npk_compact(f.s, NULL), NPK_BUSY);
        CHECK_STATUS(npk_clone(f.s, "w", "w_copy"), NPK_BUSY);
        /* Reads see the last committed state: the original arrays during the cache batch,
         * and what that batch committed during the writable one. */
        uint64_t rows_now = kind == 0 ? 10 : 12;
        double k_now = kind == 0 ? 1 : 3;
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        if (CHECK_OK(npk_info(f.s, "w", &info)))
            CHECK(info_has_shape(&info, 2, (uint64_t[]){rows_now, 4}));
        CHECK(stored_f64_is_seq(f.s, "w", rows_now, 4, k_now, 0));
        double r[4];
        if (CHECK_OK(npk_get_rows(f.s, "w", (int64_t[]){-1}, 1, NPK_FLOAT64, 2, one_row, r, NULL)))
            CHECK(r[0] == k_now * (double)(4 * rows_now - 4) && r[3] == k_now * (double)(4 * rows_now - 1));
        npk_view rv = NPK_VIEW_INIT;
        if (CHECK_OK(npk_view_open(f.s, "w", &rv))) {
            CHECK(rv.shape[0] == rows_now && f64_is_seq(rv.data, rows_now * 4, k_now, 0));
            CHECK_OK(npk_view_release(&rv));
        }
        int32_t has = -1;
        CHECK_OK(npk_has(f.s, "batch_only", &has));
        CHECK(has == kind);
        uint64_t needed = 0, count = 0;
        CHECK_OK(npk_list(f.s, NULL, 0, &needed, &count));
        CHECK(count == (uint64_t)(2 + kind));
        if (kind == 0)
            CHECK_OK(npk_batch_end(b));
        else
            CHECK_OK(npk_batch_abort(b));
    }
    /* After the batch: its saves are there, and plain writes work on top of them (the stale
     * cached copy never overwrites them later). */
    CHECK(stored_f64_is_seq(f.s, "w", 12, 4, 3, 0));
    CHECK_OK(npk_append(f.s, "w", NPK_FLOAT64, 2, one_row, row, NULL));
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    if (CHECK_OK(npk_info(f.s, "w", &info)))
        CHECK(info.shape[0] == 13);
    CHECK_OK(npk_clone(f.s, "w", "w_copy"));
    CHECK_OK(npk_drop(f.s, drop_names, 1));
    double *c = (double *)xmalloc(13 * 4 * sizeof(double));
    if (CHECK_OK(load_f64_2d(f.s, "w_copy", 13, 4, c)))
        CHECK(f64_is_seq(c, 48, 3, 0) && c[48] == -7 && c[51] == -7);
    free(c);
out:
    free(a);
    free(row);
    free(bigger);
    fx_close(&f);
}

/* ---- NumPack case 36: cache x2+1 and writable x2+1 give the same result --------------------- */
static void cache_and_writable_batches_agree(void)
{
    fixture f;
    fx_open(&f, "c36");
    double *a = f64_seq(40, 6, 0.25, -3);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "via_cache", 40, 6, a));
    CHECK_OK(save_f64_2d(f.s, "via_writable", 40, 6, a));
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
        if (CHECK_OK(npk_batch_load(b, "via_cache", &v))) {
            double *x = (double *)v.data;
            for (int k = 0; k < 240; k++)
                x[k] = x[k] * 2 + 1;
            CHECK_OK(npk_batch_save(b, "via_cache", NPK_FLOAT64, 2, v.shape, v.data, NULL));
        }
        CHECK_OK(npk_batch_end(b));
    }
    if (CHECK_OK(npk_writable_batch_begin(f.s, &b))) {
        if (CHECK_OK(npk_batch_load(b, "via_writable", &v))) {
            double *x = (double *)v.data;
            for (int k = 0; k < 240; k++)
                x[k] = x[k] * 2 + 1;
        }
        CHECK_OK(npk_batch_end(b));
    }
    double *c = (double *)xmalloc(240 * 8), *w = (double *)xmalloc(240 * 8);
    CHECK_OK(load_f64_2d(f.s, "via_cache", 40, 6, c));
    CHECK_OK(load_f64_2d(f.s, "via_writable", 40, 6, w));
    CHECK(memcmp(c, w, 240 * 8) == 0);
    CHECK(f64_is_seq(c, 240, 0.5, -5));
    free(c);
    free(w);
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 37: interleaved: cache x2, writable +1, cache x3 give (x*2+1)*3 ----------- */
static void cache_and_writable_batches_interleave(void)
{
    fixture f;
    fx_open(&f, "c37");
    double *a = f64_seq(25, 4, 1, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "x", 25, 4, a));
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
        load_scale_save(b, "x", 2);
        CHECK_OK(npk_batch_end(b));
    }
    if (CHECK_OK(npk_writable_batch_begin(f.s, &b))) {
        if (CHECK_OK(npk_batch_load(b, "x", &v)))
            for (int k = 0; k < 100; k++)
                ((double *)v.data)[k] += 1;
        CHECK_OK(npk_batch_end(b));
    }
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
        load_scale_save(b, "x", 3);
        CHECK_OK(npk_batch_end(b));
    }
    CHECK(stored_f64_is_seq(f.s, "x", 25, 4, 6, 3));
    free(a);
    fx_close(&f);
}

/* ---- NumPack case 38: cache x2, append 5 rows, writable [0,0] = -1: shape (15,10), -1 at [0,0] */
static void writable_batch_sees_rows_appended_after_cache_batch(void)
{
    for (int append_in_batch = 0; append_in_batch <= 1; append_in_batch++) {
        fixture f;
        fx_open(&f, "c38");
        double *a = f64_seq(10, 10, 1, 0), *more = f64_seq(5, 10, 0, 9);
        npk_batch *b = NULL;
        npk_view v = NPK_VIEW_INIT;
        CHECK_OK(save_f64_2d(f.s, "x", 10, 10, a));
        if (CHECK_OK(npk_batch_begin(f.s, 0, &b))) {
            if (CHECK_OK(npk_batch_load(b, "x", &v))) {
                scale_view(&v, 2);
                if (append_in_batch) {
                    double *l = (double *)xmalloc(150 * 8);
                    memcpy(l, v.data, 800);
                    memcpy(l + 100, more, 400);
                    CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 2, (uint64_t[]){15, 10}, l, NULL));
                    free(l);
                } else {
                    CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 2, v.shape, v.data, NULL));
                }
            }
            CHECK_OK(npk_batch_end(b));
        }
        if (!append_in_batch)
            CHECK_OK(npk_append(f.s, "x", NPK_FLOAT64, 2, (uint64_t[]){5, 10}, more, NULL));
        if (CHECK_OK(npk_writable_batch_begin(f.s, &b))) {
            if (CHECK_OK(npk_batch_load(b, "x", &v))) {
                CHECK(view_has_shape(&v, 2, (uint64_t[]){15, 10}));
                ((double *)v.data)[0] = -1;
            }
            CHECK_OK(npk_batch_end(b));
        }
        double *got = (double *)xmalloc(150 * 8);
        if (CHECK_OK(load_f64_2d(f.s, "x", 15, 10, got))) {
            int ok = got[0] == -1;
            for (int k = 1; k < 100; k++)
                ok &= got[k] == 2.0 * k;
            for (int k = 100; k < 150; k++)
                ok &= got[k] == 9;
            CHECK_MSG(ok, "append_in_batch=%d", append_in_batch);
        }
        free(got);
        free(a);
        free(more);
        fx_close(&f);
    }
}

/* ---- the seed's iterative example: 100 rounds, one write at the end ---------------------- */
static void seed_iterative_one_write(void)
{
    fixture f;
    fx_open(&f, "iter");
    const uint64_t rows = 1000, cols = 10;
    double *a = f64_seq(rows, cols, 1, 1), *now = f64_seq(rows, cols, 0, 0);
    npk_batch *b = NULL;
    struct stat st0, st;
    CHECK_OK(save_f64_2d(f.s, "array", rows, cols, a));
    CHECK(stat_in(f.dir, "data_array.npkd", &st0) == 0);
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    long long w0 = proc_io("wchar");
    int same_file = 1, old_values = 1, no_stage = 1, ok = 1;
    for (int i = 0; i < 100; i++) {
        npk_view v = NPK_VIEW_INIT;
        ok &= npk_batch_load(b, "array", &v) == NPK_OK;
        if (!ok)
            break;
        scale_view(&v, 2);
        ok &= npk_batch_save(b, "array", NPK_FLOAT64, 2, v.shape, v.data, NULL) == NPK_OK;
        same_file &= stat_in(f.dir, "data_array.npkd", &st) == 0 && st.st_ino == st0.st_ino &&
                     st.st_mtim.tv_sec == st0.st_mtim.tv_sec &&
                     st.st_mtim.tv_nsec == st0.st_mtim.tv_nsec && st.st_size == st0.st_size;
        no_stage &= count_stage_files(f.dir) == 0;
        if (i % 10 == 9)
            old_values &= load_f64_2d(f.s, "array", rows, cols, now) == NPK_OK &&
                          f64_is_seq(now, rows * cols, 1, 1);
    }
    long long w1 = proc_io("wchar");
    CHECK(ok);
    CHECK_MSG(same_file, "data file changed during the batch");
    CHECK(no_stage);
    CHECK_MSG(old_values, "npk_load during the batch must return the committed values");
    CHECK_MSG(w1 - w0 < 4096, "the loop wrote %lld bytes", w1 - w0);
    CHECK_OK(npk_batch_end(b));
    long long w2 = proc_io("wchar");
    CHECK_MSG(w2 - w1 >= (long long)(rows * cols * 8) && w2 - w1 < (long long)(2 * rows * cols * 8),
              "end wrote %lld bytes for a %llu-byte array", w2 - w1,
              (unsigned long long)(rows * cols * 8));
    CHECK(stat_in(f.dir, "data_array.npkd", &st) == 0 && st.st_ino != st0.st_ino);
    double p = ldexp(1.0, 100);
    CHECK(stored_f64_is_seq(f.s, "array", rows, cols, p, p));
out:
    free(a);
    free(now);
    fx_close(&f);
}

/* ---- the seed's "appending data in batches" ---------------------------------------------- */
static void seed_append_in_batches(void)
{
    fixture f;
    fx_open(&f, "append");
    double *a = f64_seq(100, 4, 1, 0);
    npk_batch *b = NULL;
    CHECK_OK(save_f64_2d(f.s, "log", 100, 4, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    int ok = 1;
    for (uint64_t i = 0; i < 10 && ok; i++) {
        npk_view v = NPK_VIEW_INIT;
        ok &= npk_batch_load(b, "log", &v) == NPK_OK;
        if (!ok)
            break;
        uint64_t rows = v.shape[0];
        ok &= rows == 100 + 50 * i;
        double *l = (double *)xmalloc((rows + 50) * 4 * 8); /* np.concatenate([arr, new_rows]) */
        memcpy(l, v.data, v.nbytes);
        for (uint64_t k = rows * 4; k < (rows + 50) * 4; k++)
            l[k] = (double)k;
        ok &= npk_batch_save(b, "log", NPK_FLOAT64, 2, (uint64_t[]){rows + 50, 4}, l, NULL) ==
              NPK_OK;
        free(l);
    }
    CHECK(ok);
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    if (CHECK_OK(npk_info(f.s, "log", &info)))
        CHECK(info.shape[0] == 100);
    CHECK_OK(npk_batch_end(b));
    if (CHECK_OK(npk_info(f.s, "log", &info)))
        CHECK(info_has_shape(&info, 2, (uint64_t[]){600, 4}));
    CHECK(stored_f64_is_seq(f.s, "log", 600, 4, 1, 0));
out:
    free(a);
    fx_close(&f);
}

/* ---- abort leaves every file of the store byte-identical --------------------------------- */
static void abort_leaves_files_identical(void)
{
    fixture f;
    fx_open(&f, "abort");
    double *a = f64_seq(100, 10, 1, 0), *big = f64_seq(8192, 64, 1, 0); /* big: 4 MiB */
    int32_t ints[50];
    for (int i = 0; i < 50; i++)
        ints[i] = i;
    npk_batch *b = NULL;
    CHECK_OK(save_f64_2d(f.s, "a", 100, 10, a));
    CHECK_OK(npk_save(f.s, "b", NPK_INT32, 1, (uint64_t[]){50}, ints, NULL));
    CHECK_OK(save_f64_2d(f.s, "c", 100, 10, a));
    CHECK_OK(npk_drop_rows(f.s, "c", (int64_t[]){3, 5}, 2)); /* a bitmap file too */
    snapshot *before = (snapshot *)malloc(sizeof *before);
    take_snapshot(f.dir, before);
    CHECK(before->n >= 5);
    if (!CHECK_OK(npk_batch_begin(f.s, 1, &b)))
        goto out;
    load_scale_save(b, "a", 2);
    CHECK_OK(npk_batch_save(b, "b", NPK_INT32, 1, (uint64_t[]){25}, ints, NULL));
    load_scale_save(b, "c", 3);
    CHECK_OK(npk_batch_save(b, "d", NPK_FLOAT64, 2, (uint64_t[]){100, 10}, a, NULL));
    CHECK_OK(npk_batch_save(b, "big1", NPK_FLOAT64, 2, (uint64_t[]){8192, 64}, big, NULL));
    CHECK_OK(npk_batch_save(b, "big2", NPK_FLOAT64, 2, (uint64_t[]){8192, 64}, big, NULL));
    CHECK_MSG(count_stage_files(f.dir) > 0, "the 1 MB limit should have staged arrays");
    CHECK_OK(npk_batch_abort(b));
    check_unchanged(before, f.dir);
    CHECK(stored_f64_is_seq(f.s, "a", 100, 10, 1, 0));
    /* The store is writable and batchable again. */
    CHECK_OK(save_f64_2d(f.s, "e", 100, 10, a));
    if (CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        CHECK_OK(npk_batch_abort(b));
out:
    free_snapshot(before);
    free(before);
    free(a);
    free(big);
    fx_close(&f);
}

/* ---- memory_limit_mb = 1 with several 4 MB arrays: staged files, reloads, commit ----------- */
#define STG_N 5
#define STG_ROWS 8192 /* x 64 float64 = 4 MiB */
static void staging_under_memory_limit(void)
{
    for (int finish = 0; finish < 2; finish++) { /* 0: end, 1: abort */
        fixture f;
        fx_open(&f, "stage");
        char name[16];
        double *a = f64_seq(STG_ROWS, 64, 1, 0);
        npk_batch *b = NULL;
        npk_view v = NPK_VIEW_INIT;
        for (int i = 0; i < STG_N; i++) {
            snprintf(name, sizeof name, "big%d", i);
            CHECK_OK(save_f64_2d(f.s, name, STG_ROWS, 64, a));
        }
        CHECK_OK(save_f64_2d(f.s, "readonly", STG_ROWS, 64, a));
        if (!CHECK_OK(npk_batch_begin(f.s, 1, &b))) {
            free(a);
            fx_close(&f);
            continue;
        }
        for (int i = 0; i < STG_N; i++) {
            snprintf(name, sizeof name, "big%d", i);
            load_scale_save(b, name, 2);
        }
        int staged = count_stage_files(f.dir);
        CHECK_MSG(staged >= STG_N - 1 && staged <= STG_N, "%d stage files", staged);
        /* Staged files are invisible: the committed state is unchanged. */
        CHECK(stored_f64_is_seq(f.s, "big0", STG_ROWS, 64, 1, 0));
        /* A staged array is re-read on its next load (earlier views are invalid). */
        if (CHECK_OK(npk_batch_load(b, "big0", &v))) {
            CHECK(f64_is_seq(v.data, STG_ROWS * 64, 2, 0));
            scale_view(&v, 2); /* big0 is now x4 */
            CHECK_OK(npk_batch_save(b, "big0", NPK_FLOAT64, 2, v.shape, v.data, NULL));
        }
        /* An unchanged array is just dropped from memory and read again from the store. */
        if (CHECK_OK(npk_batch_load(b, "readonly", &v)))
            CHECK(f64_is_seq(v.data, STG_ROWS * 64, 1, 0));
        int before_ro = count_stage_files(f.dir);
        if (CHECK_OK(npk_batch_load(b, "big3", &v)))
            CHECK(f64_is_seq(v.data, STG_ROWS * 64, 2, 0));
        CHECK(count_stage_files(f.dir) == before_ro); /* "readonly" evicted, never staged */
        if (CHECK_OK(npk_batch_load(b, "readonly", &v)))
            CHECK(f64_is_seq(v.data, STG_ROWS * 64, 1, 0));
        CHECK(count_stage_files(f.dir) > 0);
        if (finish == 0)
            CHECK_OK(npk_batch_end(b));
        else
            CHECK_OK(npk_batch_abort(b));
        CHECK_MSG(count_stage_files(f.dir) == 0, "%s left stage files", finish ? "abort" : "end");
        int ok = 1;
        for (int i = 0; i < STG_N; i++) {
            snprintf(name, sizeof name, "big%d", i);
            double k = finish ? 1 : (i == 0 ? 4 : 2);
            ok &= stored_f64_is_seq(f.s, name, STG_ROWS, 64, k, 0);
        }
        CHECK_MSG(ok, "%s", finish ? "after abort" : "after end");
        /* And after a reopen. */
        npk_close(f.s);
        f.s = fx_reopen(&f, 0);
        if (CHECK(f.s != NULL)) {
            ok = 1;
            for (int i = 0; i < STG_N; i++) {
                snprintf(name, sizeof name, "big%d", i);
                double k = finish ? 1 : (i == 0 ? 4 : 2);
                ok &= stored_f64_is_seq(f.s, name, STG_ROWS, 64, k, 0);
            }
            CHECK(ok);
        }
        free(a);
        fx_close(&f);
    }
}

/* ---- more edges of the cache batch ------------------------------------------------------- */

/* The store handle closed while the batch is open: the batch keeps the store (and its writer
 * lock) until it ends. */
static void store_closed_before_end(void)
{
    fixture f;
    fx_open(&f, "closed");
    double *a = f64_seq(8, 2, 1, 0);
    npk_batch *b = NULL;
    npk_store *other = NULL;
    CHECK_OK(save_f64_2d(f.s, "x", 8, 2, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    load_scale_save(b, "x", 2);
    CHECK_OK(npk_close(f.s));
    f.s = NULL;
    CHECK_STATUS(npk_open(f.dir, 0, &other), NPK_LOCKED);
    load_scale_save(b, "x", 2);
    CHECK_OK(npk_batch_save(b, "y", NPK_FLOAT64, 2, (uint64_t[]){8, 2}, a, NULL));
    CHECK_OK(npk_batch_end(b));
    f.s = fx_reopen(&f, 0);
    if (CHECK(f.s != NULL)) {
        CHECK(stored_f64_is_seq(f.s, "x", 8, 2, 4, 0));
        CHECK(stored_f64_is_seq(f.s, "y", 8, 2, 1, 0));
    }
out:
    free(a);
    fx_close(&f);
}

/* A 0-d array (a scalar): ndim 0, one element. */
static void zero_d_scalar(void)
{
    fixture f;
    fx_open(&f, "scalar");
    double x = 3.5;
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(npk_save(f.s, "s", NPK_FLOAT64, 0, NULL, &x, NULL));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "s", &v))) {
        CHECK(v.ndim == 0 && v.nbytes == 8 && v.data != NULL && *(double *)v.data == 3.5);
        *(double *)v.data *= 2;
        CHECK_OK(npk_batch_save(b, "s", NPK_FLOAT64, 0, NULL, v.data, NULL));
    }
    CHECK_OK(npk_batch_end(b));
    x = 0;
    CHECK_OK(npk_load(f.s, "s", NPK_FLOAT64, 0, NULL, &x, NULL));
    CHECK(x == 7.0);
out:
    fx_close(&f);
}

/* A Fortran-ordered buffer saved into a cache batch lands in C order. */
static void fortran_source_buffer(void)
{
    fixture f;
    fx_open(&f, "fsrc");
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    double fort[12]; /* (3,4) column-major: (i,j) at fort[i + 3*j] */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            fort[i + 3 * j] = i * 4 + j;
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    CHECK_OK(npk_batch_save(b, "f", NPK_FLOAT64, 2, (uint64_t[]){3, 4}, fort, (int64_t[]){8, 24}));
    if (CHECK_OK(npk_batch_load(b, "f", &v)))
        CHECK(f64_is_seq(v.data, 12, 1, 0) && v.strides[0] == 32 && v.strides[1] == 8);
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "f", 3, 4, 1, 0));
out:
    fx_close(&f);
}

/* An array with dropped rows: the cache shows the live rows; saving writes them compacted. */
static void dropped_rows_in_cache_batch(void)
{
    fixture f;
    fx_open(&f, "cdrop");
    double *a = f64_seq(10, 3, 1, 0);
    const int live[7] = {0, 2, 4, 5, 6, 7, 8};
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    struct stat st;
    CHECK_OK(save_f64_2d(f.s, "x", 10, 3, a));
    CHECK_OK(npk_drop_rows(f.s, "x", (int64_t[]){1, 3, -1}, 3));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "x", &v))) {
        CHECK(view_has_shape(&v, 2, (uint64_t[]){7, 3}));
        int ok = 1;
        for (int r = 0; r < 7; r++)
            for (int j = 0; j < 3; j++)
                ok &= ((double *)v.data)[r * 3 + j] == live[r] * 3 + j;
        CHECK(ok);
        scale_view(&v, -1);
        CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 2, v.shape, v.data, NULL));
    }
    CHECK_OK(npk_batch_end(b));
    if (CHECK_OK(npk_info(f.s, "x", &info)))
        CHECK(info.shape[0] == 7 && info.physical_rows == 7);
    CHECK(stat_in(f.dir, "deleted_x.npkb", &st) != 0);
    double got[21];
    if (CHECK_OK(load_f64_2d(f.s, "x", 7, 3, got))) {
        int ok = 1;
        for (int r = 0; r < 7; r++)
            for (int j = 0; j < 3; j++)
                ok &= got[r * 3 + j] == -(live[r] * 3 + j);
        CHECK(ok);
    }
out:
    free(a);
    fx_close(&f);
}

/* Saving the first rows of the view itself (its own pointer, a shorter shape) truncates. */
static void save_prefix_of_own_view(void)
{
    fixture f;
    fx_open(&f, "prefix");
    double *a = f64_seq(10, 4, 1, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    CHECK_OK(save_f64_2d(f.s, "x", 10, 4, a));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    if (CHECK_OK(npk_batch_load(b, "x", &v))) {
        CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 2, (uint64_t[]){6, 4}, v.data, NULL));
        if (CHECK_OK(npk_batch_load(b, "x", &v)))
            CHECK(view_has_shape(&v, 2, (uint64_t[]){6, 4}) && f64_is_seq(v.data, 24, 1, 0));
        /* and its last rows, reversed, from inside the (new) cached buffer */
        CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 2, (uint64_t[]){3, 4},
                                (char *)v.data + 5 * v.strides[0], (int64_t[]){-32, 8}));
    }
    CHECK_OK(npk_batch_end(b));
    double got[12];
    if (CHECK_OK(load_f64_2d(f.s, "x", 3, 4, got))) {
        int ok = 1;
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 4; j++)
                ok &= got[r * 4 + j] == (5 - r) * 4 + j;
        CHECK(ok);
    }
out:
    free(a);
    fx_close(&f);
}

/* Holding two views under a memory limit, then saving the first after it was evicted: the
 * save is refused (never commits recycled memory), and a fresh load gives a valid view. */
static void stale_view_refused_after_eviction(void)
{
    fixture f;
    fx_open(&f, "stale");
    double *a = f64_seq(STG_ROWS, 64, 1, 0);
    CHECK_OK(save_f64_2d(f.s, "A", STG_ROWS, 64, a));
    CHECK_OK(save_f64_2d(f.s, "B", STG_ROWS, 64, a));
    npk_batch *b = NULL;
    npk_view va = NPK_VIEW_INIT, vb = NPK_VIEW_INIT;
    if (CHECK_OK(npk_batch_begin(f.s, 1, &b))) {
        CHECK_OK(npk_batch_load(b, "A", &va));
        CHECK_OK(npk_batch_load(b, "B", &vb)); /* 8 MiB over a 1 MB limit: A (unchanged) evicted */
        CHECK_STATUS(npk_batch_save(b, "A", NPK_FLOAT64, 2, va.shape, va.data, NULL),
                     NPK_INVALID_ARGUMENT);
        CHECK(strstr(npk_last_error(), "invalidated") != NULL);
        CHECK(strstr(npk_last_error(), "\"A\"") != NULL);
        /* Saving B's own, still valid view is fine; so is reloading A. */
        CHECK_OK(npk_batch_save(b, "B", NPK_FLOAT64, 2, vb.shape, vb.data, NULL));
        if (CHECK_OK(npk_batch_load(b, "A", &va)))
            CHECK(f64_is_seq(va.data, STG_ROWS * 64, 1, 0));
        CHECK_OK(npk_batch_end(b));
    }
    CHECK(stored_f64_is_seq(f.s, "A", STG_ROWS, 64, 1, 0));
    free(a);
    fx_close(&f);
}

/* A brand-new array spilled under the memory limit is read back from its file, which it writes
 * under its own name (no committed state names it before the batch ends, so it needs no staged
 * name and the commit no record). */
static void spilled_new_name_reload(void)
{
    fixture f;
    fx_open(&f, "spillnew");
    double *a = f64_seq(8192, 64, 1, 0), *c = f64_seq(8192, 64, -1, 0);
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    if (!CHECK_OK(npk_batch_begin(f.s, 1, &b)))
        goto out;
    CHECK_OK(npk_batch_save(b, "n1", NPK_FLOAT64, 2, (uint64_t[]){8192, 64}, a, NULL));
    CHECK_OK(npk_batch_save(b, "n2", NPK_FLOAT64, 2, (uint64_t[]){8192, 64}, c, NULL));
    CHECK(count_stage_files(f.dir) == 0);
    CHECK(count_prefix(f.dir, "data_n1.npkd") == 1);
    if (CHECK_OK(npk_batch_load(b, "n1", &v)))
        CHECK(f64_is_seq(v.data, 8192 * 64, 1, 0));
    if (CHECK_OK(npk_batch_load(b, "n2", &v)))
        CHECK(f64_is_seq(v.data, 8192 * 64, -1, 0));
    int32_t has = -1;
    CHECK_OK(npk_has(f.s, "n1", &has));
    CHECK(has == 0);
    CHECK_OK(npk_batch_end(b));
    CHECK(stored_f64_is_seq(f.s, "n1", 8192, 64, 1, 0));
    CHECK(stored_f64_is_seq(f.s, "n2", 8192, 64, -1, 0));
    CHECK(count_stage_files(f.dir) == 0);
out:
    free(a);
    free(c);
    fx_close(&f);
}

/* NULL and bad arguments are refused with NPK_INVALID_ARGUMENT, never a crash. */
static void bad_arguments(void)
{
    fixture f;
    fx_open(&f, "args");
    npk_batch *b = NULL;
    npk_view v = NPK_VIEW_INIT;
    double x = 1;
    CHECK_OK(npk_save(f.s, "x", NPK_FLOAT64, 1, (uint64_t[]){1}, &x, NULL));
    CHECK_STATUS(npk_batch_begin(NULL, 0, &b), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_begin(f.s, 0, NULL), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_writable_batch_begin(f.s, NULL), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_load(NULL, "x", &v), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_end(NULL), NPK_INVALID_ARGUMENT);
    CHECK_OK(npk_batch_abort(NULL));
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    CHECK_STATUS(npk_batch_load(b, NULL, &v), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_load(b, "x", NULL), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_save(b, "x", 99, 1, (uint64_t[]){1}, &x, NULL), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_save(b, "x", NPK_FLOAT64, 1, (uint64_t[]){1}, NULL, NULL),
                 NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_save(b, "x", NPK_FLOAT64, 1, NULL, &x, NULL), NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_save(b, "x", NPK_FLOAT64, NPK_MAX_DIMS + 1, (uint64_t[NPK_MAX_DIMS + 1]){1},
                                &x, NULL),
                 NPK_INVALID_ARGUMENT);
    CHECK_STATUS(npk_batch_save(b, "", NPK_FLOAT64, 1, (uint64_t[]){1}, &x, NULL),
                 NPK_INVALID_ARGUMENT);
    /* The batch survived all of that. */
    CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 1, (uint64_t[]){1}, (double[]){5}, NULL));
    CHECK_OK(npk_batch_end(b));
    CHECK_OK(npk_load(f.s, "x", NPK_FLOAT64, 1, (uint64_t[]){1}, &x, NULL));
    CHECK(x == 5);
out:
    fx_close(&f);
}

/* A new buffer saved, without loading, over an array that has dropped rows: the old bitmap
 * goes with the old data. */
static void save_over_dropped_rows_unloaded(void)
{
    fixture f;
    fx_open(&f, "cdrop2");
    double *a = f64_seq(10, 3, 1, 0), *n = f64_seq(4, 3, 2, 0);
    npk_batch *b = NULL;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    struct stat st;
    CHECK_OK(save_f64_2d(f.s, "x", 10, 3, a));
    CHECK_OK(npk_drop_rows(f.s, "x", (int64_t[]){0, 2}, 2));
    CHECK(stat_in(f.dir, "deleted_x.npkb", &st) == 0);
    if (!CHECK_OK(npk_batch_begin(f.s, 0, &b)))
        goto out;
    CHECK_OK(npk_batch_save(b, "x", NPK_FLOAT64, 2, (uint64_t[]){4, 3}, n, NULL));
    CHECK_OK(npk_batch_end(b));
    if (CHECK_OK(npk_info(f.s, "x", &info)))
        CHECK(info.shape[0] == 4 && info.physical_rows == 4);
    CHECK(stat_in(f.dir, "deleted_x.npkb", &st) != 0);
    CHECK(stored_f64_is_seq(f.s, "x", 4, 3, 2, 0));
    npk_close(f.s);
    f.s = fx_reopen(&f, NPK_OPEN_READ_ONLY);
    if (CHECK(f.s != NULL))
        CHECK(stored_f64_is_seq(f.s, "x", 4, 3, 2, 0));
out:
    free(a);
    free(n);
    fx_close(&f);
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    RUN_TEST(second_load_returns_saved_values);
    RUN_TEST(stale_view_refused_after_eviction);
    RUN_TEST(second_load_is_same_buffer_without_disk_read);
    RUN_TEST(three_saved_arrays_all_committed);
    RUN_TEST(in_place_change_saved_from_own_view);
    RUN_TEST(empty_array_loads_and_saves_back);
    RUN_TEST(single_element_change_persists);
    RUN_TEST(hundred_mb_array_change_persists);
    RUN_TEST(hundreds_of_arrays_in_one_batch);
    RUN_TEST(new_buffer_of_every_dtype_persists);
    RUN_TEST(longer_save_changes_shape);
    RUN_TEST(new_name_saved_then_loaded_in_same_batch);
    RUN_TEST(new_buffer_for_cached_name_replaces_it);
    RUN_TEST(thousands_of_rounds_accumulate);
    RUN_TEST(memory_limit_stages_arrays_to_disk);
    RUN_TEST(consecutive_batches_compose);
    RUN_TEST(load_of_missing_name_is_not_found);
    RUN_TEST(after_an_error_caller_chooses_end_or_abort);
    RUN_TEST(unsaved_view_changes_not_written);
    RUN_TEST(failing_end_keeps_batch_open_for_retry_or_abort);
    RUN_TEST(failing_catalogue_write_keeps_batch_open);
    RUN_TEST(second_begin_on_store_is_busy);
    RUN_TEST(plain_writes_busy_reads_committed_during_batch);
    RUN_TEST(cache_and_writable_batches_agree);
    RUN_TEST(cache_and_writable_batches_interleave);
    RUN_TEST(writable_batch_sees_rows_appended_after_cache_batch);
    RUN_TEST(seed_iterative_one_write);
    RUN_TEST(seed_append_in_batches);
    RUN_TEST(abort_leaves_files_identical);
    RUN_TEST(staging_under_memory_limit);
    RUN_TEST(store_closed_before_end);
    RUN_TEST(zero_d_scalar);
    RUN_TEST(fortran_source_buffer);
    RUN_TEST(dropped_rows_in_cache_batch);
    RUN_TEST(save_prefix_of_own_view);
    RUN_TEST(spilled_new_name_reload);
    RUN_TEST(bad_arguments);
    RUN_TEST(save_over_dropped_rows_unloaded);
    return check_end();
}
