/*
 * store_basic: the plain store API as a simulator author uses it. Save and load every dtype and
 * rank (0-d, rank 32, zero-length), Fortran-order and negative-stride buffers, info, has, list,
 * append, replace/get rows, drop, drop rows, compact, clone, read-only views, refresh, reopen.
 *
 * The test keeps a model of what the store must hold (name, dtype, logical shape, C-order bytes);
 * every operation updates the model and the store is compared against it, once more after the
 * handle is closed and the store reopened (writer and read-only).
 */
#include "check.h"

#include <limits.h>

/* ---- the model --------------------------------------------------------------------------------*/

typedef struct {
    char name[256];
    npk_dtype dtype;
    uint32_t ndim;
    uint64_t shape[NPK_MAX_DIMS];
    unsigned char *bytes; /* logical content, C order */
    size_t nbytes;
} model_array;

static model_array g_model[128];
static int g_nmodel;
static char *g_tmp;     /* this test's temporary directory */
static char g_dir[4096]; /* the main store */

static const uint64_t ITEMSIZE[14] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 8, 16};

static uint64_t elements(uint32_t ndim, const uint64_t *shape)
{
    uint64_t n = 1;
    uint32_t i;
    for (i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

static model_array *model_find(const char *name)
{
    int i;
    for (i = 0; i < g_nmodel; i++)
        if (strcmp(g_model[i].name, name) == 0)
            return &g_model[i];
    return NULL;
}

static void model_drop(const char *name)
{
    model_array *m = model_find(name);
    if (m == NULL)
        return;
    free(m->bytes);
    *m = g_model[--g_nmodel];
}

/* Compares one array of the store with the model: info, contiguous load, read-only view. */
static void verify_array(npk_store *s, const model_array *m)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    unsigned char *buf = (unsigned char *)malloc(m->nbytes + 1);
    uint32_t d;
    int shape_ok = 1;

    if (!CHECK_OK(npk_info(s, m->name, &info))) {
        fprintf(stderr, "    (array %s)\n", m->name);
        free(buf);
        return;
    }
    CHECK_MSG(info.dtype == m->dtype, "%s: dtype %d, expected %d", m->name, info.dtype, m->dtype);
    CHECK_MSG(info.ndim == m->ndim, "%s: ndim %u, expected %u", m->name, info.ndim, m->ndim);
    for (d = 0; d < m->ndim && d < NPK_MAX_DIMS; d++)
        shape_ok &= info.shape[d] == m->shape[d];
    CHECK_MSG(shape_ok, "%s: shape differs from the model", m->name);
    CHECK_MSG(info.nbytes == m->nbytes, "%s: nbytes %llu, expected %llu", m->name,
              (unsigned long long)info.nbytes, (unsigned long long)m->nbytes);
    CHECK_MSG(info.segmented == 0, "%s: segmented", m->name);

    memset(buf, 0xA5, m->nbytes + 1);
    if (CHECK_OK(npk_load(s, m->name, m->dtype, m->ndim, m->shape, buf, NULL)))
        CHECK_MSG(memcmp(buf, m->bytes, m->nbytes) == 0, "%s: loaded bytes differ", m->name);
    CHECK_MSG(buf[m->nbytes] == 0xA5, "%s: load wrote past the end of the buffer", m->name);

    if (CHECK_OK(npk_view_open(s, m->name, &view))) {
        CHECK(view.dtype == m->dtype && view.ndim == m->ndim && view.nbytes == m->nbytes);
        CHECK(view.itemsize == ITEMSIZE[m->dtype] && view.writable == 0);
        if (m->nbytes == 0)
            CHECK_MSG(view.data == NULL, "%s: a view of an empty array has data", m->name);
        else
            CHECK_MSG(view.data != NULL && memcmp(view.data, m->bytes, m->nbytes) == 0,
                      "%s: view bytes differ", m->name);
        CHECK_OK(npk_view_release(&view));
    }
    free(buf);
}

/* Records what array `name` must hold now, and checks the store agrees. */
static void model_set(npk_store *s, const char *name, npk_dtype dtype, uint32_t ndim,
                      const uint64_t *shape, const void *bytes)
{
    model_array *m = model_find(name);
    if (m == NULL) {
        if (g_nmodel == (int)(sizeof g_model / sizeof g_model[0])) {
            fprintf(stderr, "model full\n");
            exit(2);
        }
        m = &g_model[g_nmodel++];
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%s", name);
    }
    free(m->bytes);
    m->dtype = dtype;
    m->ndim = ndim;
    if (ndim)
        memcpy(m->shape, shape, ndim * sizeof shape[0]);
    m->nbytes = (size_t)(elements(ndim, shape) * ITEMSIZE[dtype]);
    m->bytes = (unsigned char *)malloc(m->nbytes + 1);
    if (m->nbytes)
        memcpy(m->bytes, bytes, m->nbytes);
    verify_array(s, m);
}

static int cmp_name_(const void *a, const void *b)
{
    return strcmp(((const model_array *)a)->name, ((const model_array *)b)->name);
}

/* The whole store against the whole model: npk_list gives exactly the model's names, sorted,
 * and every array matches. */
static void verify_all(npk_store *s, const char *when)
{
    uint64_t needed = 0, count = 0, expect_needed = 0;
    char *buf, *p;
    int i;
    const char *saved = check_section_;
    SECTION(when);
    qsort(g_model, (size_t)g_nmodel, sizeof g_model[0], cmp_name_);
    for (i = 0; i < g_nmodel; i++)
        expect_needed += strlen(g_model[i].name) + 1;
    CHECK_OK(npk_list(s, NULL, 0, &needed, &count));
    CHECK_EQ_U64(count, g_nmodel);
    CHECK_EQ_U64(needed, expect_needed);
    buf = (char *)malloc(needed + 1);
    if (CHECK_OK(npk_list(s, buf, needed, &needed, &count))) {
        p = buf;
        for (i = 0; i < g_nmodel && (uint64_t)(p - buf) < needed; i++) {
            CHECK_MSG(strcmp(p, g_model[i].name) == 0, "list entry %d is \"%s\", expected \"%s\"",
                      i, p, g_model[i].name);
            p += strlen(p) + 1;
        }
    }
    free(buf);
    for (i = 0; i < g_nmodel; i++)
        verify_array(s, &g_model[i]);
    SECTION(saved);
}

/* The raw data file of an array (no dropped rows) must hold exactly these C-order bytes. */
static void check_data_file(const char *name, const void *bytes, size_t n)
{
    char file[512];
    size_t len = 0;
    unsigned char *got;
    snprintf(file, sizeof file, "data_%s.npkd", name);
    got = read_file(path_in(g_dir, file), &len);
    CHECK_MSG(got != NULL && len == n && (n == 0 || memcmp(got, bytes, n) == 0),
              "%s: %zu bytes, expected %zu in C order", file, len, n);
    free(got);
}

static uint64_t mtime_of(npk_store *s, const char *name)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    CHECK_OK(npk_info(s, name, &info));
    return info.modify_time_us;
}

/* ---- version, status names, dtype sizes --------------------------------------------------------*/

static void test_version(void)
{
    char want[64];
    SECTION("version");
    snprintf(want, sizeof want, "%d.%d.%d", NPK_VERSION_MAJOR, NPK_VERSION_MINOR,
             NPK_VERSION_PATCH);
    CHECK(npk_version() != NULL);
    CHECK_STR(npk_version(), want);
    CHECK_EQ_U64(npk_version_number(),
                 NPK_VERSION_MAJOR * 10000u + NPK_VERSION_MINOR * 100u + NPK_VERSION_PATCH);
    CHECK(npk_version() == npk_version()); /* static storage */
}

static void test_status_str(void)
{
    static const char *const names[] = {
        "NPK_OK",          "NPK_INVALID_ARGUMENT", "NPK_NOT_FOUND",     "NPK_ALREADY_EXISTS",
        "NPK_DTYPE_MISMATCH", "NPK_SHAPE_MISMATCH", "NPK_IO",          "NPK_CORRUPT",
        "NPK_LOCKED",      "NPK_READ_ONLY",        "NPK_BUSY",          "NPK_OUT_OF_MEMORY",
        "NPK_BUFFER_TOO_SMALL", "NPK_INTERNAL", "NPK_NOT_DURABLE", "NPK_WRONG_MODE"};
    static const npk_status codes[] = {
        NPK_OK,          NPK_INVALID_ARGUMENT, NPK_NOT_FOUND,     NPK_ALREADY_EXISTS,
        NPK_DTYPE_MISMATCH, NPK_SHAPE_MISMATCH, NPK_IO,          NPK_CORRUPT,
        NPK_LOCKED,      NPK_READ_ONLY,        NPK_BUSY,          NPK_OUT_OF_MEMORY,
        NPK_BUFFER_TOO_SMALL, NPK_INTERNAL, NPK_NOT_DURABLE, NPK_WRONG_MODE};
    int i;
    SECTION("status_str");
    for (i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
        CHECK_EQ_U64(codes[i], i);
        CHECK_STR(npk_status_str(codes[i]), names[i]);
    }
    CHECK_STR(npk_status_str((npk_status)(sizeof codes / sizeof codes[0])), "NPK_UNKNOWN");
    CHECK_STR(npk_status_str(-1), "NPK_UNKNOWN");
    CHECK_STR(npk_status_str(INT32_MAX), "NPK_UNKNOWN");
    CHECK_STR(npk_status_str(INT32_MIN), "NPK_UNKNOWN");
}

static void test_dtype_size(void)
{
    npk_dtype d;
    SECTION("dtype_size");
    for (d = 0; d < 14; d++)
        CHECK_MSG(npk_dtype_size(d) == ITEMSIZE[d], "dtype %d: size %llu", d,
                  (unsigned long long)npk_dtype_size(d));
    CHECK_EQ_U64(npk_dtype_size(NPK_BOOL), 1);
    CHECK_EQ_U64(npk_dtype_size(NPK_FLOAT16), 2);
    CHECK_EQ_U64(npk_dtype_size(NPK_COMPLEX64), 8);
    CHECK_EQ_U64(npk_dtype_size(NPK_COMPLEX128), 16);
    CHECK_EQ_U64(npk_dtype_size(14), 0);
    CHECK_EQ_U64(npk_dtype_size(-1), 0);
    CHECK_EQ_U64(npk_dtype_size(99), 0);
    CHECK_EQ_U64(npk_dtype_size(INT32_MIN), 0);
}

/* ---- open -------------------------------------------------------------------------------------*/

static npk_store *test_open_create(void)
{
    npk_store *s = (npk_store *)0x1; /* written only on success */
    npk_store *again = NULL;
    uint64_t needed = 99, count = 99;
    char buf[4];
    SECTION("open_create");
    /* A nested path: NPK_OPEN_CREATE makes the missing parents too. */
    snprintf(g_dir, sizeof g_dir, "%s/sim/run-1/store.npk", g_tmp);
    CHECK(!path_exists(g_dir));
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &s)))
        exit(check_end() | 1);
    CHECK(s != NULL && s != (npk_store *)0x1);
    CHECK(path_exists(g_dir));
    /* An empty catalogue: just the 20-byte header. */
    CHECK_EQ_U64(file_size(path_in(g_dir, "metadata.npkm")), 20);
    CHECK_OK(npk_list(s, NULL, 0, &needed, &count));
    CHECK(needed == 0 && count == 0);
    CHECK_OK(npk_list(s, buf, 0, &needed, &count));
    CHECK(needed == 0 && count == 0);
    CHECK_OK(npk_refresh(s)); /* a writer: nothing to do */
    CHECK_OK(npk_close(s));

    /* CREATE on an existing store opens it as it is. */
    s = NULL;
    CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &s));
    CHECK_OK(npk_list(s, NULL, 0, &needed, &count));
    CHECK(count == 0);
    /* ... and a second writer is refused while this one is open (errors.c does more). */
    CHECK_ERR(npk_open(g_dir, NPK_OPEN_CREATE, &again), NPK_LOCKED, g_dir);
    CHECK(again == NULL);
    return s;
}

/* ---- dtypes -----------------------------------------------------------------------------------*/

static void test_all_dtypes(npk_store *s)
{
    npk_dtype d;
    const uint64_t shape[2] = {3, 5};
    unsigned char src[15 * 16], back[15 * 16];
    char name[32];
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    size_t i;
    SECTION("all_dtypes");
    for (d = 0; d < 14; d++) {
        size_t n = (size_t)(15 * ITEMSIZE[d]);
        snprintf(name, sizeof name, "dtype_%02d", (int)d);
        fill_bytes(src, n, (uint32_t)d);
        if (d == NPK_BOOL)
            for (i = 0; i < n; i++)
                src[i] = (unsigned char)(i % 3 == 0);
        if (!CHECK_OK(npk_save(s, name, d, 2, shape, src, NULL)))
            continue;
        model_set(s, name, d, 2, shape, src);
        check_data_file(name, src, n);
        CHECK_OK(npk_info(s, name, &info));
        CHECK(info.dtype == d && info.ndim == 2 && info.shape[0] == 3 && info.shape[1] == 5);
        CHECK_EQ_U64(info.nbytes, n);
        CHECK_EQ_U64(info.physical_rows, 3);
        /* Another dtype of the same item size is still a mismatch, and nothing is written. */
        memset(back, 0x5A, sizeof back);
        CHECK_ERR(npk_load(s, name, d == NPK_INT32 ? NPK_FLOAT32 : NPK_INT32, 2, shape, back,
                           NULL),
                  NPK_DTYPE_MISMATCH, name);
        CHECK(back[0] == 0x5A && back[n - 1] == 0x5A);
    }

    /* Typed values survive: doubles, complex pairs, float16 bit patterns, int64 extremes. */
    {
        const double dv[4] = {-0.0, 1e308, -3.5, 0.1};
        const double zc[4] = {1.0, -2.0, 3.25, 4.5}; /* two complex128 */
        const float fc[4] = {0.5f, -0.25f, 8.0f, 1e-3f}; /* two complex64 */
        const uint16_t h[3] = {0x3C00, 0xFC00, 0x7E00}; /* 1.0, -inf, NaN */
        const int64_t big[3] = {INT64_MIN, -1, INT64_MAX};
        const uint64_t ubig[2] = {0, UINT64_MAX};
        double dback[4];
        double zback[4];
        float fback[4];
        uint16_t hback[3];
        int64_t bback[3];
        uint64_t uback[2];
        const uint64_t s4 = 4, s2 = 2, s3 = 3;
        CHECK_OK(npk_save(s, "typed_f64", NPK_FLOAT64, 1, &s4, dv, NULL));
        CHECK_OK(npk_load(s, "typed_f64", NPK_FLOAT64, 1, &s4, dback, NULL));
        CHECK(memcmp(dv, dback, sizeof dv) == 0 && dback[2] == -3.5);
        model_set(s, "typed_f64", NPK_FLOAT64, 1, &s4, dv);
        CHECK_OK(npk_save(s, "typed_c128", NPK_COMPLEX128, 1, &s2, zc, NULL));
        CHECK_OK(npk_load(s, "typed_c128", NPK_COMPLEX128, 1, &s2, zback, NULL));
        CHECK(zback[0] == 1.0 && zback[1] == -2.0 && zback[2] == 3.25 && zback[3] == 4.5);
        model_set(s, "typed_c128", NPK_COMPLEX128, 1, &s2, zc);
        CHECK_OK(npk_save(s, "typed_c64", NPK_COMPLEX64, 1, &s2, fc, NULL));
        CHECK_OK(npk_load(s, "typed_c64", NPK_COMPLEX64, 1, &s2, fback, NULL));
        CHECK(fback[0] == 0.5f && fback[1] == -0.25f && fback[2] == 8.0f && fback[3] == 1e-3f);
        model_set(s, "typed_c64", NPK_COMPLEX64, 1, &s2, fc);
        CHECK_OK(npk_save(s, "typed_f16", NPK_FLOAT16, 1, &s3, h, NULL));
        CHECK_OK(npk_load(s, "typed_f16", NPK_FLOAT16, 1, &s3, hback, NULL));
        CHECK(hback[0] == 0x3C00 && hback[1] == 0xFC00 && hback[2] == 0x7E00);
        model_set(s, "typed_f16", NPK_FLOAT16, 1, &s3, h);
        CHECK_OK(npk_save(s, "typed_i64", NPK_INT64, 1, &s3, big, NULL));
        CHECK_OK(npk_load(s, "typed_i64", NPK_INT64, 1, &s3, bback, NULL));
        CHECK(bback[0] == INT64_MIN && bback[1] == -1 && bback[2] == INT64_MAX);
        model_set(s, "typed_i64", NPK_INT64, 1, &s3, big);
        CHECK_OK(npk_save(s, "typed_u64", NPK_UINT64, 1, &s2, ubig, NULL));
        CHECK_OK(npk_load(s, "typed_u64", NPK_UINT64, 1, &s2, uback, NULL));
        CHECK(uback[0] == 0 && uback[1] == UINT64_MAX);
        model_set(s, "typed_u64", NPK_UINT64, 1, &s2, ubig);
    }

    /* Saving over an array replaces it: another dtype and shape are fine. */
    {
        const uint64_t shape1 = 4;
        const int8_t v[4] = {-1, 2, -3, 4};
        CHECK_OK(npk_save(s, "dtype_11", NPK_INT8, 1, &shape1, v, NULL));
        CHECK_OK(npk_info(s, "dtype_11", &info));
        CHECK(info.dtype == NPK_INT8 && info.ndim == 1 && info.shape[0] == 4 && info.nbytes == 4);
        model_set(s, "dtype_11", NPK_INT8, 1, &shape1, v);
        check_data_file("dtype_11", v, 4);
    }
}

/* ---- ranks ------------------------------------------------------------------------------------*/

static void test_ranks(npk_store *s)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    int32_t vals[60], back[60];
    int i;
    SECTION("ranks");
    for (i = 0; i < 60; i++)
        vals[i] = i * 3 + 1;

    /* 0-d: a scalar. shape may be NULL when ndim is 0. */
    {
        const double pi = 3.25;
        double got = 0;
        const uint64_t unused_shape[1] = {7};
        int16_t h = -7, hback = 0;
        CHECK_OK(npk_save(s, "scalar", NPK_FLOAT64, 0, NULL, &pi, NULL));
        CHECK_OK(npk_load(s, "scalar", NPK_FLOAT64, 0, NULL, &got, NULL));
        CHECK(got == 3.25);
        CHECK_OK(npk_info(s, "scalar", &info));
        CHECK(info.ndim == 0 && info.nbytes == 8 && info.dtype == NPK_FLOAT64);
        CHECK_EQ_U64(info.physical_rows, 1);
        CHECK_EQ_U64(file_size(path_in(g_dir, "data_scalar.npkd")), 8);
        model_set(s, "scalar", NPK_FLOAT64, 0, NULL, &pi);
        /* A shape pointer with ndim 0 is ignored. */
        CHECK_OK(npk_save(s, "scalar_i16", NPK_INT16, 0, unused_shape, &h, NULL));
        CHECK_OK(npk_load(s, "scalar_i16", NPK_INT16, 0, unused_shape, &hback, NULL));
        CHECK(hback == -7);
        model_set(s, "scalar_i16", NPK_INT16, 0, NULL, &h);
        /* A 0-d array is not a 1-element 1-d array. */
        CHECK_ERR(npk_load(s, "scalar", NPK_FLOAT64, 1, unused_shape, &got, NULL),
                  NPK_SHAPE_MISMATCH, "scalar");
    }

    /* Ranks 1 to 4. */
    {
        static const uint64_t shapes[4][4] = {{7}, {3, 4}, {2, 3, 4}, {2, 3, 2, 5}};
        static const char *const names[4] = {"rank1", "rank2", "rank3", "rank4"};
        uint32_t r;
        for (r = 1; r <= 4; r++) {
            uint64_t n = elements(r, shapes[r - 1]);
            uint64_t wrong[4];
            memcpy(wrong, shapes[r - 1], sizeof wrong);
            wrong[r - 1] += 1;
            CHECK_OK(npk_save(s, names[r - 1], NPK_INT32, r, shapes[r - 1], vals, NULL));
            memset(back, 0, sizeof back);
            CHECK_OK(npk_load(s, names[r - 1], NPK_INT32, r, shapes[r - 1], back, NULL));
            CHECK(memcmp(back, vals, (size_t)n * 4) == 0);
            CHECK_OK(npk_info(s, names[r - 1], &info));
            CHECK(info.ndim == r && info.shape[r - 1] == shapes[r - 1][r - 1]);
            CHECK_EQ_U64(info.nbytes, n * 4);
            CHECK_EQ_U64(info.physical_rows, shapes[r - 1][0]);
            CHECK_ERR(npk_load(s, names[r - 1], NPK_INT32, r, wrong, back, NULL),
                      NPK_SHAPE_MISMATCH, names[r - 1]);
            CHECK_ERR(npk_load(s, names[r - 1], NPK_INT32, r - 1, shapes[r - 1], back, NULL),
                      NPK_SHAPE_MISMATCH, names[r - 1]);
            model_set(s, names[r - 1], NPK_INT32, r, shapes[r - 1], vals);
        }
    }

    /* Rank 32 (NPK_MAX_DIMS), eight ones. */
    {
        uint64_t shape[NPK_MAX_DIMS];
        float ones[8], fback[8];
        for (i = 0; i < NPK_MAX_DIMS; i++)
            shape[i] = 1;
        shape[0] = shape[15] = shape[31] = 2;
        for (i = 0; i < 8; i++)
            ones[i] = 1.0f;
        CHECK_OK(npk_save(s, "rank32_ones", NPK_FLOAT32, NPK_MAX_DIMS, shape, ones, NULL));
        memset(fback, 0, sizeof fback);
        CHECK_OK(npk_load(s, "rank32_ones", NPK_FLOAT32, NPK_MAX_DIMS, shape, fback, NULL));
        for (i = 0; i < 8; i++)
            CHECK(fback[i] == 1.0f);
        CHECK_OK(npk_info(s, "rank32_ones", &info));
        CHECK(info.ndim == 32 && info.shape[0] == 2 && info.shape[15] == 2 &&
              info.shape[31] == 2 && info.shape[30] == 1);
        CHECK_EQ_U64(info.nbytes, 32);
        model_set(s, "rank32_ones", NPK_FLOAT32, NPK_MAX_DIMS, shape, ones);
        /* Appending along the first axis keeps the other 31. */
        CHECK_OK(npk_append(s, "rank32_ones", NPK_FLOAT32, NPK_MAX_DIMS, shape, ones, NULL));
        shape[0] = 4;
        {
            float sixteen[16];
            for (i = 0; i < 16; i++)
                sixteen[i] = 1.0f;
            model_set(s, "rank32_ones", NPK_FLOAT32, NPK_MAX_DIMS, shape, sixteen);
        }
    }
}

/* ---- zero-length arrays -----------------------------------------------------------------------*/

static void test_empty(npk_store *s)
{
    const uint64_t shape03[2] = {0, 3}, shape04[2] = {0, 4}, shape23[2] = {2, 3};
    const uint64_t shape0 = 0, shape30[2] = {3, 0}, shape20[2] = {2, 0};
    const float rows[6] = {1, 2, 3, 4, 5, 6};
    float dummy[4] = {9, 9, 9, 9};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    const int64_t idx[2] = {0, -1};
    SECTION("empty");

    /* (0, 3): no elements, so data may be NULL. */
    CHECK_OK(npk_save(s, "empty03", NPK_FLOAT32, 2, shape03, NULL, NULL));
    CHECK_OK(npk_info(s, "empty03", &info));
    CHECK(info.ndim == 2 && info.shape[0] == 0 && info.shape[1] == 3 && info.nbytes == 0);
    CHECK_EQ_U64(info.physical_rows, 0);
    CHECK_EQ_U64(file_size(path_in(g_dir, "data_empty03.npkd")), 0);
    CHECK_OK(npk_load(s, "empty03", NPK_FLOAT32, 2, shape03, NULL, NULL));
    CHECK_OK(npk_load(s, "empty03", NPK_FLOAT32, 2, shape03, dummy, NULL));
    CHECK(dummy[0] == 9); /* nothing written */
    CHECK_ERR(npk_load(s, "empty03", NPK_FLOAT32, 2, shape04, NULL, NULL), NPK_SHAPE_MISMATCH,
              "empty03");
    CHECK_OK(npk_get_rows(s, "empty03", NULL, 0, NPK_FLOAT32, 2, shape03, NULL, NULL));
    CHECK_ERR(npk_get_rows(s, "empty03", idx, 1, NPK_FLOAT32, 2, shape03, NULL, NULL),
              NPK_SHAPE_MISMATCH, "empty03");
    {
        const uint64_t shape13[2] = {1, 3};
        CHECK_ERR(npk_get_rows(s, "empty03", idx, 1, NPK_FLOAT32, 2, shape13, dummy, NULL),
                  NPK_INVALID_ARGUMENT, "empty03");
    }
    model_set(s, "empty03", NPK_FLOAT32, 2, shape03, NULL);
    if (CHECK_OK(npk_view_open(s, "empty03", &view))) {
        CHECK(view.data == NULL && view.nbytes == 0 && view.ndim == 2);
        CHECK(view.shape[0] == 0 && view.shape[1] == 3 && view.itemsize == 4);
        CHECK_OK(npk_view_release(&view));
    }
    /* Appending to an empty array gives it rows. */
    CHECK_OK(npk_append(s, "empty03", NPK_FLOAT32, 2, shape23, rows, NULL));
    model_set(s, "empty03", NPK_FLOAT32, 2, shape23, rows);
    /* Appending zero rows changes nothing. */
    CHECK_OK(npk_append(s, "empty03", NPK_FLOAT32, 2, shape03, NULL, NULL));
    model_set(s, "empty03", NPK_FLOAT32, 2, shape23, rows);
    /* ... and a zero-length array saved from a real buffer is still empty. */
    CHECK_OK(npk_save(s, "empty0", NPK_INT64, 1, &shape0, dummy, NULL));
    model_set(s, "empty0", NPK_INT64, 1, &shape0, NULL);

    /* (3, 0): three rows of nothing. */
    CHECK_OK(npk_save(s, "empty30", NPK_UINT8, 2, shape30, NULL, NULL));
    CHECK_OK(npk_info(s, "empty30", &info));
    CHECK(info.shape[0] == 3 && info.shape[1] == 0 && info.physical_rows == 3);
    CHECK_OK(npk_get_rows(s, "empty30", idx, 2, NPK_UINT8, 2, shape20, NULL, NULL));
    model_set(s, "empty30", NPK_UINT8, 2, shape30, NULL);
    CHECK_OK(npk_drop_rows(s, "empty30", idx, 1));
    CHECK_OK(npk_info(s, "empty30", &info));
    CHECK(info.shape[0] == 2 && info.physical_rows == 3);
    model_set(s, "empty30", NPK_UINT8, 2, shape20, NULL);
    CHECK_OK(npk_compact(s, "empty30"));
    CHECK_OK(npk_info(s, "empty30", &info));
    CHECK(info.shape[0] == 2 && info.physical_rows == 2);
    CHECK(!path_exists(path_in(g_dir, "deleted_empty30.npkb")));
    model_set(s, "empty30", NPK_UINT8, 2, shape20, NULL);
}

/* ---- Fortran order, negative and other strides ------------------------------------------------*/

static void test_strides(npk_store *s)
{
    SECTION("strides");
    /* A 3x4 float64 matrix as Fortran keeps it: element (i, j) at F[i + 3 j]. */
    {
        const uint64_t shape[2] = {3, 4};
        const int64_t fstrides[2] = {8, 24};
        double F[12], C[12], back[12];
        int i, j;
        for (i = 0; i < 3; i++)
            for (j = 0; j < 4; j++) {
                F[i + 3 * j] = i * 10 + j;
                C[i * 4 + j] = i * 10 + j;
            }
        CHECK_OK(npk_save(s, "fortran2d", NPK_FLOAT64, 2, shape, F, fstrides));
        /* The file is C order, as NumPack writes it. */
        check_data_file("fortran2d", C, sizeof C);
        CHECK_OK(npk_load(s, "fortran2d", NPK_FLOAT64, 2, shape, back, NULL));
        CHECK(memcmp(back, C, sizeof C) == 0);
        memset(back, 0, sizeof back);
        CHECK_OK(npk_load(s, "fortran2d", NPK_FLOAT64, 2, shape, back, fstrides));
        CHECK(memcmp(back, F, sizeof F) == 0);
        model_set(s, "fortran2d", NPK_FLOAT64, 2, shape, C);
    }
    /* A 2x3x4 int16 array in Fortran order (a Julia array, say). */
    {
        const uint64_t shape[3] = {2, 3, 4};
        const int64_t fstrides[3] = {2, 4, 12};
        int16_t F[24], C[24], back[24];
        int i, j, k;
        for (i = 0; i < 2; i++)
            for (j = 0; j < 3; j++)
                for (k = 0; k < 4; k++) {
                    F[i + 2 * j + 6 * k] = (int16_t)(100 * i + 10 * j + k);
                    C[(i * 3 + j) * 4 + k] = (int16_t)(100 * i + 10 * j + k);
                }
        CHECK_OK(npk_save(s, "fortran3d", NPK_INT16, 3, shape, F, fstrides));
        check_data_file("fortran3d", C, sizeof C);
        memset(back, 0, sizeof back);
        CHECK_OK(npk_load(s, "fortran3d", NPK_INT16, 3, shape, back, fstrides));
        CHECK(memcmp(back, F, sizeof F) == 0);
        model_set(s, "fortran3d", NPK_INT16, 3, shape, C);
    }
    /* Negative strides: a 4x3 int32 matrix saved with its rows reversed, then its columns. */
    {
        const uint64_t shape[2] = {4, 3};
        const int64_t rev_rows[2] = {-12, 4}, rev_cols[2] = {12, -4};
        int32_t M[12], R[12], Cr[12], back[12];
        int r, c;
        for (r = 0; r < 4; r++)
            for (c = 0; c < 3; c++) {
                M[r * 3 + c] = r * 10 + c;
                R[r * 3 + c] = (3 - r) * 10 + c;
                Cr[r * 3 + c] = r * 10 + (2 - c);
            }
        CHECK_OK(npk_save(s, "reversed_rows", NPK_INT32, 2, shape, &M[9], rev_rows));
        check_data_file("reversed_rows", R, sizeof R);
        model_set(s, "reversed_rows", NPK_INT32, 2, shape, R);
        CHECK_OK(npk_save(s, "reversed_cols", NPK_INT32, 2, shape, &M[2], rev_cols));
        check_data_file("reversed_cols", Cr, sizeof Cr);
        model_set(s, "reversed_cols", NPK_INT32, 2, shape, Cr);
        /* Loading through negative strides: row r of the array lands in buffer row 3 - r. */
        CHECK_OK(npk_save(s, "plain43", NPK_INT32, 2, shape, M, NULL));
        model_set(s, "plain43", NPK_INT32, 2, shape, M);
        memset(back, 0, sizeof back);
        CHECK_OK(npk_load(s, "plain43", NPK_INT32, 2, shape, &back[9], rev_rows));
        CHECK(memcmp(back, R, sizeof R) == 0);
        /* get_rows through negative strides too. */
        {
            const int64_t idx[2] = {0, -1};
            const uint64_t shape23[2] = {2, 3};
            const int64_t rev[2] = {-12, 4};
            int32_t two[6];
            CHECK_OK(npk_get_rows(s, "plain43", idx, 2, NPK_INT32, 2, shape23, &two[3], rev));
            CHECK(two[0] == 30 && two[2] == 32 && two[3] == 0 && two[5] == 2);
        }
    }
    /* Every other column of a wider matrix, and a broadcast row (stride 0). */
    {
        const uint64_t shape[2] = {3, 4};
        const int64_t skip[2] = {32, 8};
        const int64_t bcast[2] = {0, 4};
        int32_t wide[24], C[12], row[4] = {7, 8, 9, 10}, B[12];
        int r, c;
        for (r = 0; r < 3; r++)
            for (c = 0; c < 8; c++)
                wide[r * 8 + c] = r * 100 + c;
        for (r = 0; r < 3; r++)
            for (c = 0; c < 4; c++) {
                C[r * 4 + c] = r * 100 + 2 * c;
                B[r * 4 + c] = row[c];
            }
        CHECK_OK(npk_save(s, "strided_cols", NPK_INT32, 2, shape, wide, skip));
        model_set(s, "strided_cols", NPK_INT32, 2, shape, C);
        CHECK_OK(npk_save(s, "broadcast", NPK_INT32, 2, shape, row, bcast));
        model_set(s, "broadcast", NPK_INT32, 2, shape, B);
        /* Loading into every other column leaves the others alone. */
        for (r = 0; r < 24; r++)
            wide[r] = -1;
        CHECK_OK(npk_load(s, "strided_cols", NPK_INT32, 2, shape, wide, skip));
        CHECK(wide[0] == 0 && wide[1] == -1 && wide[2] == 2 && wide[23] == -1 &&
              wide[22] == 206);
    }
    /* Fortran-order append and replace. */
    {
        const uint64_t shape[2] = {2, 3};
        const int64_t fstrides[2] = {8, 16};
        const int64_t F[6] = {1, 4, 2, 5, 3, 6}; /* [[1,2,3],[4,5,6]] */
        const int64_t C[12] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6};
        const int64_t C2[12] = {1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3};
        const uint64_t shape43[2] = {4, 3};
        const int64_t idx[2] = {-1, 2};
        CHECK_OK(npk_save(s, "fortran_rows", NPK_INT64, 2, shape, F, fstrides));
        CHECK_OK(npk_append(s, "fortran_rows", NPK_INT64, 2, shape, F, fstrides));
        model_set(s, "fortran_rows", NPK_INT64, 2, shape43, C);
        CHECK_OK(npk_replace_rows(s, "fortran_rows", idx, 2, NPK_INT64, 2, shape, F, fstrides));
        model_set(s, "fortran_rows", NPK_INT64, 2, shape43, C2);
    }
}

/* ---- info and modify times --------------------------------------------------------------------*/

static void test_info_mtime(npk_store *s)
{
    const uint64_t shape[2] = {4, 2};
    int32_t v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const uint64_t shape12[2] = {1, 2};
    const int64_t idx0 = 0;
    uint64_t t0, t1, m1, m2, m3, m4, m5;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    SECTION("info_mtime");
    t0 = now_us();
    CHECK_OK(npk_save(s, "clock", NPK_INT32, 2, shape, v, NULL));
    t1 = now_us();
    m1 = mtime_of(s, "clock");
    CHECK_MSG(m1 >= t0 && m1 <= t1, "modify time %llu not within [%llu, %llu]",
              (unsigned long long)m1, (unsigned long long)t0, (unsigned long long)t1);
    CHECK(m1 > 1600000000000000ull); /* after 2020: microseconds, not seconds or ms */
    CHECK_OK(npk_info(s, "clock", &info));
    CHECK(info.dtype == NPK_INT32 && info.ndim == 2 && info.shape[0] == 4 && info.shape[1] == 2);
    CHECK_EQ_U64(info.nbytes, 32);
    CHECK_EQ_U64(info.physical_rows, 4);
    CHECK(info.segmented == 0);

    wait_clock_after(m1);
    v[0] = 100;
    CHECK_OK(npk_save(s, "clock", NPK_INT32, 2, shape, v, NULL));
    m2 = mtime_of(s, "clock");
    CHECK_MSG(m2 > m1, "a later save must have a later modify time (%llu, %llu)",
              (unsigned long long)m1, (unsigned long long)m2);
    wait_clock_after(m2);
    CHECK_OK(npk_append(s, "clock", NPK_INT32, 2, shape12, v, NULL));
    m3 = mtime_of(s, "clock");
    CHECK(m3 > m2);
    wait_clock_after(m3);
    CHECK_OK(npk_replace_rows(s, "clock", &idx0, 1, NPK_INT32, 2, shape12, v, NULL));
    m4 = mtime_of(s, "clock");
    CHECK(m4 > m3);
    wait_clock_after(m4);
    CHECK_OK(npk_drop_rows(s, "clock", &idx0, 1));
    m5 = mtime_of(s, "clock");
    CHECK(m5 > m4);
    CHECK(m5 <= now_us());
    /* Reads do not change it. */
    CHECK_OK(npk_info(s, "clock", &info));
    CHECK_EQ_U64(info.modify_time_us, m5);
    {
        /* Logical: 4 rows left (rows 1..3 and the appended one); physical: 5. */
        const int32_t want[8] = {2, 3, 4, 5, 6, 7, 100, 1};
        const uint64_t shape42[2] = {4, 2};
        CHECK(info.shape[0] == 4 && info.physical_rows == 5 && info.nbytes == 32);
        model_set(s, "clock", NPK_INT32, 2, shape42, want);
    }
}

/* ---- has and list -----------------------------------------------------------------------------*/

static void test_has_list(void)
{
    /* A store of its own, so the expected listing is short. */
    static const char *const names[] = {"b", "a", "c10", "c2", "Z", "\xc3\xa9t\xc3\xa9",
                                        "a.b"};
    static const char *const sorted[] = {"Z", "a", "a.b", "b", "c10", "c2", "\xc3\xa9t\xc3\xa9"};
    char dir[4096];
    npk_store *s = NULL;
    uint64_t needed = 0, count = 0, want_needed = 0;
    char buf[256], msg_needed[32];
    int32_t exists = -1;
    size_t i;
    const uint8_t one = 1;
    const uint64_t shape1 = 1;
    char *p;
    SECTION("has_list");
    snprintf(dir, sizeof dir, "%s/list_store", g_tmp);
    if (!CHECK_OK(npk_open(dir, NPK_OPEN_CREATE, &s)))
        return;
    for (i = 0; i < 7; i++) {
        CHECK_OK(npk_has(s, names[i], &exists));
        CHECK(exists == 0);
        CHECK_OK(npk_save(s, names[i], NPK_UINT8, 1, &shape1, &one, NULL));
        exists = -1;
        CHECK_OK(npk_has(s, names[i], &exists));
        CHECK(exists == 1);
        want_needed += strlen(names[i]) + 1;
    }
    CHECK_OK(npk_has(s, "c", &exists)); /* a prefix of c10 / c2 is not an array */
    CHECK(exists == 0);
    CHECK_OK(npk_has(s, "A", &exists)); /* names are case-sensitive */
    CHECK(exists == 0);

    /* Sizes only. */
    CHECK_OK(npk_list(s, NULL, 0, &needed, &count));
    CHECK_EQ_U64(needed, want_needed);
    CHECK_EQ_U64(count, 7);
    CHECK_OK(npk_list(s, NULL, 12345, &needed, &count));
    CHECK_EQ_U64(needed, want_needed);

    /* One byte short: refused, and both sizes still reported. */
    needed = count = 0;
    memset(buf, 0x7F, sizeof buf);
    snprintf(msg_needed, sizeof msg_needed, "%llu", (unsigned long long)want_needed);
    CHECK_ERR(npk_list(s, buf, want_needed - 1, &needed, &count), NPK_BUFFER_TOO_SMALL,
              msg_needed);
    CHECK_EQ_U64(needed, want_needed);
    CHECK_EQ_U64(count, 7);
    CHECK(buf[want_needed - 1] == 0x7F && buf[want_needed] == 0x7F); /* not overrun */
    needed = count = 0;
    CHECK_STATUS(npk_list(s, buf, 0, &needed, &count), NPK_BUFFER_TOO_SMALL);
    CHECK(needed == want_needed && count == 7);

    /* Exactly enough: sorted, NUL-separated, nothing written past `needed`. */
    memset(buf, 0x7F, sizeof buf);
    if (CHECK_OK(npk_list(s, buf, want_needed, &needed, &count))) {
        p = buf;
        for (i = 0; i < 7; i++) {
            CHECK_MSG(strcmp(p, sorted[i]) == 0, "entry %zu is \"%s\", expected \"%s\"", i, p,
                      sorted[i]);
            p += strlen(p) + 1;
        }
        CHECK((uint64_t)(p - buf) == want_needed);
        CHECK(buf[want_needed] == 0x7F);
    }
    /* More than enough is fine too. */
    CHECK_OK(npk_list(s, buf, sizeof buf, &needed, &count));
    CHECK(strcmp(buf, "Z") == 0);

    /* After dropping, the listing shrinks. */
    {
        const char *gone[2] = {"Z", "c10"};
        CHECK_OK(npk_drop(s, gone, 2));
        CHECK_OK(npk_list(s, buf, sizeof buf, &needed, &count));
        CHECK_EQ_U64(count, 5);
        CHECK_EQ_U64(needed, want_needed - 2 - 4);
        CHECK(strcmp(buf, "a") == 0);
        CHECK_OK(npk_has(s, "Z", &exists));
        CHECK(exists == 0);
    }
    CHECK_OK(npk_close(s));
}

/* ---- append -----------------------------------------------------------------------------------*/

static void test_append(npk_store *s)
{
    const uint64_t shape23[2] = {2, 3}, shape33[2] = {3, 3}, shape24[2] = {2, 4};
    const uint64_t shape3 = 3, shape53[2] = {5, 3};
    int64_t v[15];
    double dv[6] = {0};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    long long size_before;
    int i;
    SECTION("append");
    for (i = 0; i < 15; i++)
        v[i] = 1000 + i;
    CHECK_OK(npk_save(s, "series", NPK_INT64, 2, shape23, v, NULL));
    CHECK_OK(npk_append(s, "series", NPK_INT64, 2, shape33, v + 6, NULL));
    CHECK_OK(npk_info(s, "series", &info));
    CHECK(info.shape[0] == 5 && info.shape[1] == 3 && info.physical_rows == 5);
    CHECK_EQ_U64(info.nbytes, 120);
    CHECK_EQ_U64(file_size(path_in(g_dir, "data_series.npkd")), 120);
    model_set(s, "series", NPK_INT64, 2, shape53, v);
    check_data_file("series", v, sizeof v);

    size_before = file_size(path_in(g_dir, "data_series.npkd"));
    /* Wrong trailing shape, wrong rank, a 0-d value. */
    CHECK_ERR(npk_append(s, "series", NPK_INT64, 2, shape24, v, NULL), NPK_SHAPE_MISMATCH,
              "series");
    CHECK_ERR(npk_append(s, "series", NPK_INT64, 1, &shape3, v, NULL), NPK_SHAPE_MISMATCH,
              "series");
    CHECK_ERR(npk_append(s, "series", NPK_INT64, 0, NULL, v, NULL), NPK_SHAPE_MISMATCH,
              "series");
    /* Wrong dtype (same item size). */
    CHECK_ERR(npk_append(s, "series", NPK_FLOAT64, 2, shape23, dv, NULL), NPK_DTYPE_MISMATCH,
              "series");
    CHECK_ERR(npk_append(s, "series", NPK_UINT64, 2, shape23, v, NULL), NPK_DTYPE_MISMATCH,
              "series");
    /* An array that does not exist: save it first. */
    CHECK_ERR(npk_append(s, "no_such_series", NPK_INT64, 2, shape23, v, NULL), NPK_NOT_FOUND,
              "no_such_series");
    /* A 0-d array has no rows to append to. */
    CHECK_ERR(npk_append(s, "scalar", NPK_FLOAT64, 1, &shape3, dv, NULL), NPK_SHAPE_MISMATCH,
              "scalar");
    CHECK_ERR(npk_append(s, "scalar", NPK_FLOAT64, 0, NULL, dv, NULL), NPK_SHAPE_MISMATCH,
              "scalar");
    /* None of that changed anything. */
    CHECK_EQ_U64(file_size(path_in(g_dir, "data_series.npkd")), size_before);
    model_set(s, "series", NPK_INT64, 2, shape53, v);
    {
        int32_t e = 0;
        CHECK_OK(npk_has(s, "no_such_series", &e));
        CHECK(e == 0);
    }
    /* 1-d arrays grow one element per row. */
    {
        const uint64_t two = 2, five = 5;
        const uint16_t a[5] = {1, 2, 3, 4, 5};
        CHECK_OK(npk_save(s, "series1d", NPK_UINT16, 1, &shape3, a, NULL));
        CHECK_OK(npk_append(s, "series1d", NPK_UINT16, 1, &two, a + 3, NULL));
        model_set(s, "series1d", NPK_UINT16, 1, &five, a);
    }
    /* Many small appends, as a simulation writes one time step at a time. */
    {
        const uint64_t step_shape[2] = {1, 3};
        float steps[50 * 3];
        const uint64_t all[2] = {50, 3};
        for (i = 0; i < 150; i++)
            steps[i] = (float)i * 0.5f;
        CHECK_OK(npk_save(s, "trajectory", NPK_FLOAT32, 2, step_shape, steps, NULL));
        for (i = 1; i < 50; i++)
            if (!CHECK_OK(npk_append(s, "trajectory", NPK_FLOAT32, 2, step_shape, steps + 3 * i,
                                     NULL)))
                break;
        model_set(s, "trajectory", NPK_FLOAT32, 2, all, steps);
    }
}

/* ---- replace_rows and get_rows ----------------------------------------------------------------*/

static void test_rows(npk_store *s)
{
    const uint64_t shape53[2] = {5, 3}, shape23[2] = {2, 3}, shape33[2] = {3, 3};
    const uint64_t shape43[2] = {4, 3}, shape24[2] = {2, 4}, shape03[2] = {0, 3};
    float g[15], repl[6], back[15];
    int32_t wrongtype[6] = {0};
    const int64_t first_last[2] = {0, -1};
    int r, c;
    SECTION("rows");
    for (r = 0; r < 5; r++)
        for (c = 0; c < 3; c++)
            g[r * 3 + c] = (float)(r * 10 + c);
    for (r = 0; r < 6; r++)
        repl[r] = 100.0f + (float)r;
    CHECK_OK(npk_save(s, "grid", NPK_FLOAT32, 2, shape53, g, NULL));
    model_set(s, "grid", NPK_FLOAT32, 2, shape53, g);

    /* Replace the first and the last row (negative index). */
    CHECK_OK(npk_replace_rows(s, "grid", first_last, 2, NPK_FLOAT32, 2, shape23, repl, NULL));
    memcpy(&g[0], &repl[0], 12);
    memcpy(&g[12], &repl[3], 12);
    model_set(s, "grid", NPK_FLOAT32, 2, shape53, g);
    check_data_file("grid", g, sizeof g);
    /* -5 is row 0 of five. */
    {
        const int64_t minus5 = -5;
        const uint64_t shape13[2] = {1, 3};
        const float z[3] = {-1, -2, -3};
        CHECK_OK(npk_replace_rows(s, "grid", &minus5, 1, NPK_FLOAT32, 2, shape13, z, NULL));
        memcpy(&g[0], z, 12);
        model_set(s, "grid", NPK_FLOAT32, 2, shape53, g);
    }

    /* Out of range, both ways: invalid argument, nothing written. */
    {
        const int64_t five = 5, minus6 = -6, huge[2] = {INT64_MAX, INT64_MIN};
        const uint64_t shape13[2] = {1, 3};
        CHECK_ERR2(npk_replace_rows(s, "grid", &five, 1, NPK_FLOAT32, 2, shape13, repl, NULL),
                   NPK_INVALID_ARGUMENT, "grid", "5");
        CHECK_ERR2(npk_replace_rows(s, "grid", &minus6, 1, NPK_FLOAT32, 2, shape13, repl, NULL),
                   NPK_INVALID_ARGUMENT, "grid", "-6");
        CHECK_ERR(npk_replace_rows(s, "grid", huge, 2, NPK_FLOAT32, 2, shape23, repl, NULL),
                  NPK_INVALID_ARGUMENT, "grid");
        CHECK_ERR2(npk_get_rows(s, "grid", &five, 1, NPK_FLOAT32, 2, shape13, back, NULL),
                   NPK_INVALID_ARGUMENT, "grid", "out of range");
        CHECK_ERR(npk_get_rows(s, "grid", &minus6, 1, NPK_FLOAT32, 2, shape13, back, NULL),
                  NPK_INVALID_ARGUMENT, "grid");
        CHECK_ERR(npk_get_rows(s, "grid", &huge[1], 1, NPK_FLOAT32, 2, shape13, back, NULL),
                  NPK_INVALID_ARGUMENT, "grid");
        /* One bad index among good ones: nothing replaced. */
        {
            const int64_t mixed[2] = {1, 7};
            CHECK_ERR(npk_replace_rows(s, "grid", mixed, 2, NPK_FLOAT32, 2, shape23, repl, NULL),
                      NPK_INVALID_ARGUMENT, "grid");
        }
        model_set(s, "grid", NPK_FLOAT32, 2, shape53, g);
    }
    /* Values of the wrong shape or dtype. */
    CHECK_ERR(npk_replace_rows(s, "grid", first_last, 2, NPK_FLOAT32, 2, shape24, repl, NULL),
              NPK_SHAPE_MISMATCH, "grid");
    CHECK_ERR(npk_replace_rows(s, "grid", first_last, 2, NPK_FLOAT32, 2, shape33, repl, NULL),
              NPK_SHAPE_MISMATCH, "grid");
    CHECK_ERR(npk_replace_rows(s, "grid", first_last, 2, NPK_INT32, 2, shape23, wrongtype, NULL),
              NPK_DTYPE_MISMATCH, "grid");
    CHECK_ERR(npk_get_rows(s, "grid", first_last, 2, NPK_FLOAT32, 2, shape33, back, NULL),
              NPK_SHAPE_MISMATCH, "grid");
    CHECK_ERR(npk_get_rows(s, "grid", first_last, 2, NPK_INT32, 2, shape23, wrongtype, NULL),
              NPK_DTYPE_MISMATCH, "grid");
    /* 0-d arrays have no rows. */
    {
        const int64_t zero = 0;
        double d = 0;
        CHECK_ERR(npk_replace_rows(s, "scalar", &zero, 1, NPK_FLOAT64, 0, NULL, &d, NULL),
                  NPK_SHAPE_MISMATCH, "scalar");
        CHECK_ERR(npk_get_rows(s, "scalar", &zero, 1, NPK_FLOAT64, 0, NULL, &d, NULL),
                  NPK_SHAPE_MISMATCH, "scalar");
    }
    model_set(s, "grid", NPK_FLOAT32, 2, shape53, g);

    /* get_rows: any order, repeats, negative indices. */
    {
        const int64_t idx[4] = {-1, 0, 2, 2};
        const int64_t fstrides[2] = {4, 16};
        float F[12];
        memset(back, 0, sizeof back);
        CHECK_OK(npk_get_rows(s, "grid", idx, 4, NPK_FLOAT32, 2, shape43, back, NULL));
        CHECK(memcmp(&back[0], &g[12], 12) == 0 && memcmp(&back[3], &g[0], 12) == 0 &&
              memcmp(&back[6], &g[6], 12) == 0 && memcmp(&back[9], &g[6], 12) == 0);
        /* Into a Fortran-order buffer. */
        CHECK_OK(npk_get_rows(s, "grid", idx, 4, NPK_FLOAT32, 2, shape43, F, fstrides));
        for (r = 0; r < 4; r++)
            for (c = 0; c < 3; c++)
                CHECK(F[r + 4 * c] == back[r * 3 + c]);
        /* No indices: an empty result. */
        CHECK_OK(npk_get_rows(s, "grid", NULL, 0, NPK_FLOAT32, 2, shape03, NULL, NULL));
    }
}

/* ---- drop -------------------------------------------------------------------------------------*/

static void test_drop(npk_store *s)
{
    static const char *const names[4] = {"drop_a", "drop_b", "drop_c", "drop_d"};
    const uint64_t shape = 3;
    const int8_t v[3] = {1, 2, 3};
    int32_t exists = -1;
    int i;
    SECTION("drop");
    for (i = 0; i < 4; i++) {
        CHECK_OK(npk_save(s, names[i], NPK_INT8, 1, &shape, v, NULL));
        model_set(s, names[i], NPK_INT8, 1, &shape, v);
    }
    /* One. */
    CHECK_OK(npk_drop(s, &names[0], 1));
    model_drop("drop_a");
    CHECK_OK(npk_has(s, "drop_a", &exists));
    CHECK(exists == 0);
    CHECK(!path_exists(path_in(g_dir, "data_drop_a.npkd")));
    /* Several at once. */
    CHECK_OK(npk_drop(s, &names[1], 2));
    model_drop("drop_b");
    model_drop("drop_c");
    CHECK(!path_exists(path_in(g_dir, "data_drop_b.npkd")));
    CHECK(!path_exists(path_in(g_dir, "data_drop_c.npkd")));
    /* One missing: nothing dropped. */
    {
        const char *some[3] = {"drop_d", "drop_missing", "grid"};
        CHECK_ERR(npk_drop(s, some, 3), NPK_NOT_FOUND, "drop_missing");
        CHECK_OK(npk_has(s, "drop_d", &exists));
        CHECK(exists == 1);
        CHECK(path_exists(path_in(g_dir, "data_drop_d.npkd")));
        CHECK_OK(npk_has(s, "grid", &exists));
        CHECK(exists == 1);
        /* Already dropped counts as missing too. */
        some[1] = "drop_a";
        CHECK_ERR(npk_drop(s, some, 2), NPK_NOT_FOUND, "drop_a");
        CHECK_OK(npk_has(s, "drop_d", &exists));
        CHECK(exists == 1);
    }
    /* Dropping an array with dropped rows removes its bitmap too. */
    {
        const int64_t first = 0;
        CHECK_OK(npk_drop_rows(s, "drop_d", &first, 1));
        CHECK(path_exists(path_in(g_dir, "deleted_drop_d.npkb")));
        CHECK_OK(npk_drop(s, &names[3], 1));
        model_drop("drop_d");
        CHECK(!path_exists(path_in(g_dir, "data_drop_d.npkd")));
        CHECK(!path_exists(path_in(g_dir, "deleted_drop_d.npkb")));
    }
    /* A dropped name can be saved again, fresh. */
    CHECK_OK(npk_save(s, "drop_a", NPK_INT8, 1, &shape, v, NULL));
    model_set(s, "drop_a", NPK_INT8, 1, &shape, v);
}

/* ---- drop_rows, append after it, compact ------------------------------------------------------*/

static void test_drop_rows(npk_store *s)
{
    const uint64_t shape102[2] = {10, 2}, shape22[2] = {2, 2};
    int64_t v[24], live[24], back[24];
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    int r, n;
    SECTION("drop_rows");
    for (r = 0; r < 12; r++) {
        v[2 * r] = r * 100;
        v[2 * r + 1] = r * 100 + 1;
    }
    CHECK_OK(npk_save(s, "rows", NPK_INT64, 2, shape102, v, NULL));

    /* Drop physical rows 1, 9 (-1) and 3. */
    {
        const int64_t idx[3] = {1, -1, 3};
        static const int keep[7] = {0, 2, 4, 5, 6, 7, 8};
        const uint64_t shape72[2] = {7, 2};
        CHECK_OK(npk_drop_rows(s, "rows", idx, 3));
        for (n = 0; n < 7; n++)
            memcpy(&live[2 * n], &v[2 * keep[n]], 16);
        CHECK_OK(npk_info(s, "rows", &info));
        CHECK(info.ndim == 2 && info.shape[0] == 7 && info.shape[1] == 2);
        CHECK_EQ_U64(info.physical_rows, 10);
        CHECK_EQ_U64(info.nbytes, 7 * 16);
        model_set(s, "rows", NPK_INT64, 2, shape72, live);
        /* The data file keeps every row; the bitmap marks the live ones. */
        CHECK_EQ_U64(file_size(path_in(g_dir, "data_rows.npkd")), 160);
        {
            size_t len = 0;
            unsigned char *b = read_file(path_in(g_dir, "deleted_rows.npkb"), &len);
            uint64_t words[3] = {0, 0, 0};
            if (CHECK(b != NULL && len == 24)) {
                memcpy(words, b, 24);
                CHECK_EQ_U64(words[0], 10);  /* total rows */
                CHECK_EQ_U64(words[1], 3);   /* deleted */
                CHECK_EQ_U64(words[2], 501); /* rows 0,2,4,5,6,7,8 alive */
            }
            free(b);
        }
        /* The physical shape is no longer loadable. */
        CHECK_ERR(npk_load(s, "rows", NPK_INT64, 2, shape102, back, NULL), NPK_SHAPE_MISMATCH,
                  "rows");
        /* get_rows counts live rows only. */
        {
            const int64_t gi[3] = {0, 1, -1};
            const uint64_t shape32[2] = {3, 2};
            CHECK_OK(npk_get_rows(s, "rows", gi, 3, NPK_INT64, 2, shape32, back, NULL));
            CHECK(back[0] == 0 && back[2] == 200 && back[4] == 800 && back[5] == 801);
        }
        /* Out of range against the logical row count (7). */
        {
            const int64_t seven = 7, minus8 = -8, minus7 = -7;
            const uint64_t shape12[2] = {1, 2};
            CHECK_ERR(npk_get_rows(s, "rows", &seven, 1, NPK_INT64, 2, shape12, back, NULL),
                      NPK_INVALID_ARGUMENT, "rows");
            CHECK_ERR(npk_drop_rows(s, "rows", &seven, 1), NPK_INVALID_ARGUMENT, "rows");
            CHECK_ERR(npk_drop_rows(s, "rows", &minus8, 1), NPK_INVALID_ARGUMENT, "rows");
            CHECK_OK(npk_get_rows(s, "rows", &minus7, 1, NPK_INT64, 2, shape12, back, NULL));
            CHECK(back[0] == 0);
        }
        /* A view of an array with dropped rows is a copy of the live rows. */
        if (CHECK_OK(npk_view_open(s, "rows", &view))) {
            const int64_t one = 1;
            const int64_t nine[2] = {999, 998};
            const uint64_t shape12[2] = {1, 2};
            CHECK(view.shape[0] == 7 && view.shape[1] == 2 && view.nbytes == 112);
            CHECK(view.strides[0] == 16 && view.strides[1] == 8);
            CHECK(view.data != NULL && memcmp(view.data, live, 112) == 0);
            /* replace_rows uses logical indices: logical 1 is physical row 2. */
            CHECK_OK(npk_replace_rows(s, "rows", &one, 1, NPK_INT64, 2, shape12, nine, NULL));
            CHECK(((const int64_t *)view.data)[2] == 200); /* the copy did not change */
            CHECK_OK(npk_view_release(&view));
            live[2] = 999;
            live[3] = 998;
            v[4] = 999;
            v[5] = 998;
            model_set(s, "rows", NPK_INT64, 2, shape72, live);
            {
                size_t len = 0;
                unsigned char *b = read_file(path_in(g_dir, "data_rows.npkd"), &len);
                CHECK(b != NULL && len == 160 && memcmp(b + 2 * 16, nine, 16) == 0);
                free(b);
            }
        }
    }
    /* Dropping again uses the current logical numbering: logical 0 is physical 0. */
    {
        const int64_t zero = 0;
        static const int keep[6] = {2, 4, 5, 6, 7, 8};
        const uint64_t shape62[2] = {6, 2};
        CHECK_OK(npk_drop_rows(s, "rows", &zero, 1));
        for (n = 0; n < 6; n++)
            memcpy(&live[2 * n], &v[2 * keep[n]], 16);
        model_set(s, "rows", NPK_INT64, 2, shape62, live);
    }
    /* Append after dropping: the new rows are alive, the dropped ones stay dropped. */
    {
        static const int keep[8] = {2, 4, 5, 6, 7, 8, 10, 11};
        const uint64_t shape82[2] = {8, 2};
        CHECK_OK(npk_append(s, "rows", NPK_INT64, 2, shape22, &v[20], NULL));
        for (n = 0; n < 8; n++)
            memcpy(&live[2 * n], &v[2 * keep[n]], 16);
        CHECK_OK(npk_info(s, "rows", &info));
        CHECK(info.shape[0] == 8 && info.physical_rows == 12);
        model_set(s, "rows", NPK_INT64, 2, shape82, live);
    }
    /* NumPack's bug: a drop in the last partial 64-bit word, then an append, must not bring the
     * dropped row back. */
    {
        int16_t t[72], want[72];
        const uint64_t shape70 = 70, shape1 = 1, shape69 = 69;
        const int64_t last = 69, r65 = 65;
        for (r = 0; r < 72; r++)
            t[r] = (int16_t)r;
        CHECK_OK(npk_save(s, "tail", NPK_INT16, 1, &shape70, t, NULL));
        CHECK_OK(npk_drop_rows(s, "tail", &last, 1));
        CHECK_OK(npk_drop_rows(s, "tail", &r65, 1));
        CHECK_OK(npk_append(s, "tail", NPK_INT16, 1, &shape1, &t[70], NULL));
        for (r = 0, n = 0; r <= 70; r++)
            if (r != 65 && r != 69)
                want[n++] = (int16_t)r;
        CHECK(n == 69);
        model_set(s, "tail", NPK_INT16, 1, &shape69, want);
        CHECK_OK(npk_info(s, "tail", &info));
        CHECK_EQ_U64(info.physical_rows, 71);
    }

    /* Compact one array: bitmap gone, physical rows == logical rows, same content. */
    {
        const uint64_t shape82[2] = {8, 2};
        CHECK_OK(npk_compact(s, "rows"));
        CHECK(!path_exists(path_in(g_dir, "deleted_rows.npkb")));
        CHECK_OK(npk_info(s, "rows", &info));
        CHECK_EQ_U64(info.physical_rows, info.shape[0]);
        CHECK_EQ_U64(info.shape[0], 8);
        CHECK_EQ_U64(file_size(path_in(g_dir, "data_rows.npkd")), 8 * 16);
        model_set(s, "rows", NPK_INT64, 2, shape82, live);
        check_data_file("rows", live, 8 * 16);
        /* Compacting an array without dropped rows is a no-op. */
        CHECK_OK(npk_compact(s, "rows"));
        model_set(s, "rows", NPK_INT64, 2, shape82, live);
        CHECK_ERR(npk_compact(s, "compact_missing"), NPK_NOT_FOUND, "compact_missing");
    }
    /* Compact every array that needs it (NULL): "tail" and two more; others untouched. */
    {
        const uint64_t shape4 = 4, shape3 = 3;
        const uint32_t a[4] = {10, 11, 12, 13}, a_live[3] = {10, 12, 13};
        uint64_t untouched_mtime;
        const int64_t one = 1;
        CHECK_OK(npk_save(s, "cmp_a", NPK_UINT32, 1, &shape4, a, NULL));
        CHECK_OK(npk_save(s, "cmp_b", NPK_UINT32, 1, &shape4, a, NULL));
        CHECK_OK(npk_save(s, "cmp_c", NPK_UINT32, 1, &shape4, a, NULL));
        CHECK_OK(npk_drop_rows(s, "cmp_a", &one, 1));
        CHECK_OK(npk_drop_rows(s, "cmp_b", &one, 1));
        untouched_mtime = mtime_of(s, "cmp_c");
        wait_clock_after(untouched_mtime); /* a rewrite of cmp_c would show */
        CHECK_OK(npk_compact(s, NULL));
        CHECK(!path_exists(path_in(g_dir, "deleted_cmp_a.npkb")));
        CHECK(!path_exists(path_in(g_dir, "deleted_cmp_b.npkb")));
        CHECK(!path_exists(path_in(g_dir, "deleted_tail.npkb")));
        CHECK_OK(npk_info(s, "tail", &info));
        CHECK(info.physical_rows == 69 && info.shape[0] == 69);
        CHECK_OK(npk_info(s, "cmp_a", &info));
        CHECK(info.physical_rows == 3 && info.shape[0] == 3);
        CHECK_EQ_U64(mtime_of(s, "cmp_c"), untouched_mtime);
        model_set(s, "cmp_a", NPK_UINT32, 1, &shape3, a_live);
        model_set(s, "cmp_b", NPK_UINT32, 1, &shape3, a_live);
        model_set(s, "cmp_c", NPK_UINT32, 1, &shape4, a);
        check_data_file("cmp_a", a_live, 12);
        /* Nothing left to compact. */
        CHECK_OK(npk_compact(s, NULL));
    }
}

/* ---- clone ------------------------------------------------------------------------------------*/

static void test_clone(npk_store *s)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    const model_array *grid;
    SECTION("clone");
    grid = model_find("grid");
    if (!CHECK(grid != NULL))
        return;
    CHECK_OK(npk_clone(s, "grid", "grid_copy"));
    model_set(s, "grid_copy", grid->dtype, grid->ndim, grid->shape, grid->bytes);
    check_data_file("grid_copy", grid->bytes, grid->nbytes);
    /* The copy is independent of its source. */
    {
        const int64_t zero = 0;
        const uint64_t shape13[2] = {1, 3};
        const float z[3] = {42, 43, 44};
        float g[15];
        memcpy(g, grid->bytes, sizeof g);
        CHECK_OK(npk_replace_rows(s, "grid", &zero, 1, NPK_FLOAT32, 2, shape13, z, NULL));
        memcpy(g, z, sizeof z);
        model_set(s, "grid", NPK_FLOAT32, 2, grid->shape, g);
        grid = model_find("grid_copy");
        verify_array(s, grid);
    }
    /* The target exists (another array, or the source itself). */
    CHECK_ERR(npk_clone(s, "series", "grid_copy"), NPK_ALREADY_EXISTS, "grid_copy");
    CHECK_ERR(npk_clone(s, "grid", "grid"), NPK_ALREADY_EXISTS, "grid");
    verify_array(s, model_find("grid_copy"));
    /* The source is missing. */
    CHECK_ERR(npk_clone(s, "clone_missing", "clone_target"), NPK_NOT_FOUND, "clone_missing");
    {
        int32_t e = -1;
        CHECK_OK(npk_has(s, "clone_target", &e));
        CHECK(e == 0);
    }
    /* A clone of an array with dropped rows holds only its live rows. */
    {
        const int32_t v[6] = {0, 1, 2, 3, 4, 5}, live[4] = {1, 2, 4, 5};
        const uint64_t shape6 = 6, shape4 = 4;
        const int64_t idx[2] = {0, 3};
        CHECK_OK(npk_save(s, "holes", NPK_INT32, 1, &shape6, v, NULL));
        CHECK_OK(npk_drop_rows(s, "holes", idx, 2));
        model_set(s, "holes", NPK_INT32, 1, &shape4, live);
        CHECK_OK(npk_clone(s, "holes", "holes_copy"));
        CHECK_OK(npk_info(s, "holes_copy", &info));
        CHECK(info.shape[0] == 4 && info.physical_rows == 4);
        CHECK(!path_exists(path_in(g_dir, "deleted_holes_copy.npkb")));
        CHECK(path_exists(path_in(g_dir, "deleted_holes.npkb")));
        model_set(s, "holes_copy", NPK_INT32, 1, &shape4, live);
        check_data_file("holes_copy", live, sizeof live);
    }
    /* 0-d and empty arrays clone too. */
    {
        const model_array *m;
        CHECK_OK(npk_clone(s, "scalar", "scalar_copy"));
        m = model_find("scalar");
        model_set(s, "scalar_copy", m->dtype, m->ndim, m->shape, m->bytes);
        CHECK_OK(npk_clone(s, "empty0", "empty0_copy"));
        m = model_find("empty0");
        model_set(s, "empty0_copy", m->dtype, m->ndim, m->shape, m->bytes);
    }
}

/* ---- read-only views --------------------------------------------------------------------------*/

static void test_views(npk_store *s)
{
    const uint64_t shape43[2] = {4, 3}, shape13[2] = {1, 3};
    double v[12], v2[12];
    npk_view view = NPK_VIEW_INIT, view2 = NPK_VIEW_INIT, zero_view = NPK_VIEW_INIT;
    int i;
    SECTION("views");
    for (i = 0; i < 12; i++) {
        v[i] = i * 1.5;
        v2[i] = -i;
    }
    CHECK_OK(npk_save(s, "viewme", NPK_FLOAT64, 2, shape43, v, NULL));
    memset(&view, 0xCC, sizeof view);
    view.struct_size = sizeof view;
    if (!CHECK_OK(npk_view_open(s, "viewme", &view)))
        return;
    CHECK(view.data != NULL && view.dtype == NPK_FLOAT64 && view.ndim == 2);
    CHECK(view.shape[0] == 4 && view.shape[1] == 3);
    CHECK(view.strides[0] == 24 && view.strides[1] == 8);
    CHECK(view.itemsize == 8 && view.nbytes == 96 && view.writable == 0);
    CHECK(view.owner != NULL);
    CHECK(memcmp(view.data, v, 96) == 0);
    /* Zero copy: the view maps the data file (page aligned), so an in-place replace_rows is
     * visible through it at once. */
    CHECK(((uintptr_t)view.data % 4096) == 0);
    {
        const int64_t one = 1;
        const double r[3] = {7, 8, 9};
        CHECK_OK(npk_replace_rows(s, "viewme", &one, 1, NPK_FLOAT64, 2, shape13, r, NULL));
        CHECK(((const double *)view.data)[3] == 7 && ((const double *)view.data)[5] == 9);
        memcpy(&v[3], r, sizeof r);
    }
    /* A snapshot: saving the array again (a new file) does not change the view. */
    CHECK_OK(npk_save(s, "viewme", NPK_FLOAT64, 2, shape43, v2, NULL));
    CHECK(memcmp(view.data, v, 96) == 0);
    model_set(s, "viewme", NPK_FLOAT64, 2, shape43, v2);
    /* Dropping the array does not take the view's memory away either. */
    CHECK_OK(npk_view_open(s, "viewme", &view2));
    CHECK_OK(npk_drop(s, (const char *const[]){"viewme"}, 1));
    model_drop("viewme");
    CHECK(memcmp(view2.data, v2, 96) == 0);
    CHECK_OK(npk_view_release(&view2));

    /* Release zeroes it; twice, NULL and an all-zero view are fine. */
    CHECK_OK(npk_view_release(&view));
    CHECK(view.data == NULL && view.owner == NULL && view.ndim == 0 && view.nbytes == 0);
    CHECK_OK(npk_view_release(&view));
    CHECK_OK(npk_view_release(NULL));
    memset(&zero_view, 0, sizeof zero_view);
    CHECK_OK(npk_view_release(&zero_view));

    /* A 0-d view. */
    if (CHECK_OK(npk_view_open(s, "scalar", &view))) {
        CHECK(view.ndim == 0 && view.nbytes == 8 && view.itemsize == 8 && view.data != NULL);
        CHECK(view.data && *(const double *)view.data == 3.25);
        CHECK_OK(npk_view_release(&view));
    }
    /* Several views of one array at once. */
    if (CHECK_OK(npk_view_open(s, "grid", &view)) && CHECK_OK(npk_view_open(s, "grid", &view2))) {
        CHECK(memcmp(view.data, view2.data, view.nbytes) == 0);
        CHECK_OK(npk_view_release(&view));
        CHECK_OK(npk_view_release(&view2));
    }
    /* A view outlives its store handle. */
    {
        npk_store *r = NULL;
        const model_array *m = model_find("series");
        if (CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r))) {
            CHECK_OK(npk_view_open(r, "series", &view));
            CHECK_OK(npk_close(r));
            CHECK(m != NULL && view.data != NULL && memcmp(view.data, m->bytes, m->nbytes) == 0);
            CHECK_OK(npk_view_release(&view));
        }
    }
    CHECK_ERR(npk_view_open(s, "view_missing", &view), NPK_NOT_FOUND, "view_missing");
}

/* ---- refresh ----------------------------------------------------------------------------------*/

static void test_refresh(npk_store *s)
{
    npk_store *r = NULL;
    int32_t exists = -1;
    const uint64_t shape = 2;
    const int32_t v[2] = {5, 6};
    int32_t back[2] = {0, 0};
    SECTION("refresh");
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r)))
        return;
    CHECK_OK(npk_has(r, "fresh", &exists));
    CHECK(exists == 0);
    CHECK_OK(npk_save(s, "fresh", NPK_INT32, 1, &shape, v, NULL));
    model_set(s, "fresh", NPK_INT32, 1, &shape, v);
    /* A reader keeps the state it opened until it refreshes. */
    CHECK_OK(npk_has(r, "fresh", &exists));
    CHECK(exists == 0);
    CHECK_ERR(npk_load(r, "fresh", NPK_INT32, 1, &shape, back, NULL), NPK_NOT_FOUND, "fresh");
    CHECK_OK(npk_refresh(r));
    CHECK_OK(npk_has(r, "fresh", &exists));
    CHECK(exists == 1);
    CHECK_OK(npk_load(r, "fresh", NPK_INT32, 1, &shape, back, NULL));
    CHECK(back[0] == 5 && back[1] == 6);
    verify_all(r, "refresh: reader after refresh");
    /* A writer sees its own commits; refresh does nothing for it. */
    CHECK_OK(npk_refresh(s));
    CHECK_OK(npk_refresh(r));
    /* The reader cannot write. */
    CHECK_ERR(npk_save(r, "fresh", NPK_INT32, 1, &shape, v, NULL), NPK_READ_ONLY, g_dir);
    CHECK_OK(npk_close(r));
}

/* ---- names at the limits ----------------------------------------------------------------------*/

static void test_names(npk_store *s)
{
    char long_name[240], long_name2[240];
    const uint64_t shape = 3;
    const uint8_t v[3] = {1, 2, 3};
    const int64_t one = 1;
    static const char *const unusual[] = {"\xc3\xa9t\xc3\xa9", "\xe6\x95\xb0\xe6\x8d\xae",
                                          "weights layer 1", "a.b", "...", ".hidden",
                                          "a-b_c+d=e"};
    size_t i;
    SECTION("names");
    memset(long_name, 'n', 239);
    long_name[239] = '\0';
    memset(long_name2, 'm', 239);
    long_name2[239] = '\0';
    CHECK_OK(npk_save(s, long_name, NPK_UINT8, 1, &shape, v, NULL));
    model_set(s, long_name, NPK_UINT8, 1, &shape, v);
    CHECK_OK(npk_drop_rows(s, long_name, &one, 1)); /* deleted_<239 bytes>.npkb fits */
    {
        const uint8_t live[2] = {1, 3};
        const uint64_t two = 2;
        model_set(s, long_name, NPK_UINT8, 1, &two, live);
        CHECK_OK(npk_clone(s, long_name, long_name2));
        model_set(s, long_name2, NPK_UINT8, 1, &two, live);
        CHECK_OK(npk_compact(s, long_name));
        model_set(s, long_name, NPK_UINT8, 1, &two, live);
    }
    for (i = 0; i < sizeof unusual / sizeof unusual[0]; i++) {
        CHECK_MSG(npk_save(s, unusual[i], NPK_UINT8, 1, &shape, v, NULL) == NPK_OK,
                  "saving \"%s\": %s", unusual[i], npk_last_error());
        model_set(s, unusual[i], NPK_UINT8, 1, &shape, v);
    }
}

/* ---- reopen -----------------------------------------------------------------------------------*/

static void test_reopen(npk_store *s)
{
    npk_store *w = NULL, *r = NULL;
    SECTION("reopen");
    verify_all(s, "before close");
    CHECK_OK(npk_close(s));
    CHECK_OK(npk_close(NULL));
    /* Read-only first: everything is there without any recovery by a writer. */
    if (CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r))) {
        verify_all(r, "reopened read-only");
        CHECK_OK(npk_close(r));
    }
    if (CHECK_OK(npk_open(g_dir, 0, &w))) {
        verify_all(w, "reopened as writer");
        /* And it is writable again. */
        {
            const uint64_t shape = 1;
            const int8_t v = 1;
            CHECK_OK(npk_save(w, "after_reopen", NPK_INT8, 1, &shape, &v, NULL));
            model_set(w, "after_reopen", NPK_INT8, 1, &shape, &v);
        }
        CHECK_OK(npk_close(w));
    }
    if (CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE | NPK_OPEN_DURABLE, &w))) {
        verify_all(w, "reopened with CREATE|DURABLE");
        CHECK_OK(npk_close(w));
    }
    /* No stray staging or commit files were left behind. */
    {
        char *listing = dir_listing(g_dir);
        CHECK_MSG(strstr(listing, ".npk-stage-") == NULL && strstr(listing, ".npk.commit") == NULL,
                  "leftover files in the store:\n%s", listing);
        free(listing);
    }
}

/* ---- forward-compatible structs --------------------------------------------------------------*/

/* The first published layouts, frozen here as a program compiled against that header has them.
 * When fields are appended to numpack.h's structs these stay as they are: the library must keep
 * serving them. */
typedef struct {
    uint32_t struct_size;
    npk_dtype dtype;
    void *data;
    uint32_t ndim;
    int32_t writable;
    uint64_t shape[NPK_MAX_DIMS];
    int64_t strides[NPK_MAX_DIMS];
    uint64_t itemsize;
    uint64_t nbytes;
    void *owner;
} npk_view_v1;

typedef struct {
    uint32_t struct_size;
    npk_dtype dtype;
    uint32_t ndim;
    int32_t segmented;
    uint64_t shape[NPK_MAX_DIMS];
    uint64_t nbytes;
    uint64_t modify_time_us;
    uint64_t physical_rows;
} npk_array_info_v1;

#define GUARD 0xA5
#define SLACK 64

/* A caller's struct of `size` bytes followed by SLACK guard bytes, all 0xA5 but struct_size. */
typedef union {
    npk_view_v1 view;
    npk_array_info_v1 info;
    uint64_t align;
    unsigned char bytes[sizeof(npk_view_v1) + sizeof(npk_array_info_v1) + SLACK];
} guarded;

static void guard_fill(guarded *g, uint32_t struct_size)
{
    memset(g->bytes, GUARD, sizeof g->bytes);
    memcpy(g->bytes, &struct_size, sizeof struct_size);
}

/* 1 if every byte from `from` to the end of the buffer is still a guard byte. */
static int guard_intact(const guarded *g, size_t from)
{
    size_t i;
    for (i = from; i < sizeof g->bytes; i++)
        if (g->bytes[i] != GUARD)
            return 0;
    return 1;
}

static void test_struct_sizes(npk_store *s)
{
    const uint64_t shape[2] = {3, 4};
    const uint32_t bad_sizes[4] = {0, 1, 4, 0};
    float v[12];
    guarded g;
    npk_batch *b = NULL;
    int i;
    SECTION("struct_sizes");
    for (i = 0; i < 12; i++)
        v[i] = (float)i;
    CHECK_OK(npk_save(s, "sized", NPK_FLOAT32, 2, shape, v, NULL));
    model_set(s, "sized", NPK_FLOAT32, 2, shape, v);

    /* The frozen layouts are the header's today: same size, same offsets. */
    CHECK_EQ_U64(sizeof(npk_view_v1), sizeof(npk_view));
    CHECK_EQ_U64(offsetof(npk_view_v1, owner), offsetof(npk_view, owner));
    CHECK_EQ_U64(offsetof(npk_view_v1, writable), offsetof(npk_view, writable));
    CHECK_EQ_U64(sizeof(npk_array_info_v1), sizeof(npk_array_info));
    CHECK_EQ_U64(offsetof(npk_array_info_v1, physical_rows), offsetof(npk_array_info, physical_rows));
    {
        npk_view iv = NPK_VIEW_INIT;
        npk_array_info ii = NPK_ARRAY_INFO_INIT;
        CHECK(iv.struct_size == sizeof iv && iv.owner == NULL && iv.ndim == 0);
        CHECK(ii.struct_size == sizeof ii && ii.ndim == 0 && ii.nbytes == 0);
    }

    /* An old caller: exactly its fields are written, nothing past them. */
    guard_fill(&g, sizeof(npk_array_info_v1));
    if (CHECK_OK(npk_info(s, "sized", (npk_array_info *)(void *)&g.info))) {
        CHECK_EQ_U64(g.info.struct_size, sizeof(npk_array_info_v1));
        CHECK(g.info.dtype == NPK_FLOAT32 && g.info.ndim == 2 && g.info.segmented == 0);
        CHECK(g.info.shape[0] == 3 && g.info.shape[1] == 4 && g.info.shape[2] == 0);
        CHECK(g.info.nbytes == 48 && g.info.physical_rows == 3 && g.info.modify_time_us > 0);
        CHECK_MSG(guard_intact(&g, sizeof(npk_array_info_v1)), "npk_info wrote past the struct");
    }
    guard_fill(&g, sizeof(npk_view_v1));
    if (CHECK_OK(npk_view_open(s, "sized", (npk_view *)(void *)&g.view))) {
        CHECK_EQ_U64(g.view.struct_size, sizeof(npk_view_v1));
        CHECK(g.view.dtype == NPK_FLOAT32 && g.view.ndim == 2 && g.view.writable == 0);
        CHECK(g.view.shape[1] == 4 && g.view.strides[0] == 16 && g.view.strides[1] == 4);
        CHECK(g.view.itemsize == 4 && g.view.nbytes == 48 && g.view.owner != NULL);
        CHECK(g.view.data != NULL && memcmp(g.view.data, v, sizeof v) == 0);
        CHECK_MSG(guard_intact(&g, sizeof(npk_view_v1)), "npk_view_open wrote past the struct");
        /* Release zeroes the struct up to its size, keeps struct_size for the next call. */
        CHECK_OK(npk_view_release((npk_view *)(void *)&g.view));
        CHECK(g.view.struct_size == sizeof(npk_view_v1) && g.view.owner == NULL &&
              g.view.data == NULL && g.view.ndim == 0 && g.view.nbytes == 0);
        CHECK(guard_intact(&g, sizeof(npk_view_v1)));
        if (CHECK_OK(npk_view_open(s, "sized", (npk_view *)(void *)&g.view)))
            CHECK_OK(npk_view_release((npk_view *)(void *)&g.view));
    }
    if (CHECK_OK(npk_batch_begin(s, 0, &b))) {
        guard_fill(&g, sizeof(npk_view_v1));
        if (CHECK_OK(npk_batch_load(b, "sized", (npk_view *)(void *)&g.view))) {
            CHECK_EQ_U64(g.view.struct_size, sizeof(npk_view_v1));
            CHECK(g.view.writable == 1 && g.view.nbytes == 48 && g.view.shape[0] == 3);
            CHECK_MSG(guard_intact(&g, sizeof(npk_view_v1)), "npk_batch_load wrote past the struct");
        }
        CHECK_OK(npk_batch_abort(b));
    }

    /* A caller built against a newer header (fields appended): the library writes the fields it
     * knows, lowers struct_size to say so, and leaves the newer fields as they were. */
    guard_fill(&g, sizeof(npk_array_info_v1) + 24);
    if (CHECK_OK(npk_info(s, "sized", (npk_array_info *)(void *)&g.info))) {
        CHECK_EQ_U64(g.info.struct_size, sizeof(npk_array_info));
        CHECK(g.info.shape[1] == 4 && g.info.physical_rows == 3);
        CHECK(guard_intact(&g, sizeof(npk_array_info)));
    }
    guard_fill(&g, sizeof(npk_view_v1) + 24);
    if (CHECK_OK(npk_view_open(s, "sized", (npk_view *)(void *)&g.view))) {
        CHECK_EQ_U64(g.view.struct_size, sizeof(npk_view));
        CHECK(guard_intact(&g, sizeof(npk_view)));
        CHECK_OK(npk_view_release((npk_view *)(void *)&g.view));
    }

    /* Sizes below the first layout (0: not set) are refused, the struct untouched. */
    for (i = 0; i < 4; i++) {
        uint32_t bad = i < 3 ? bad_sizes[i] : (uint32_t)sizeof(npk_array_info_v1) - 1;
        guard_fill(&g, bad);
        CHECK_ERR(npk_info(s, "sized", (npk_array_info *)(void *)&g.info), NPK_INVALID_ARGUMENT,
                  "struct_size");
        CHECK_MSG(strstr(npk_last_error(), "NPK_ARRAY_INFO_INIT") != NULL, "message: %s",
                  npk_last_error());
        CHECK(guard_intact(&g, sizeof bad));
        bad = i < 3 ? bad_sizes[i] : (uint32_t)sizeof(npk_view_v1) - 1;
        guard_fill(&g, bad);
        CHECK_ERR(npk_view_open(s, "sized", (npk_view *)(void *)&g.view), NPK_INVALID_ARGUMENT,
                  "NPK_VIEW_INIT");
        CHECK(guard_intact(&g, sizeof bad));
        if (CHECK_OK(npk_batch_begin(s, 0, &b))) {
            CHECK_ERR(npk_batch_load(b, "sized", (npk_view *)(void *)&g.view),
                      NPK_INVALID_ARGUMENT, "struct_size");
            CHECK(guard_intact(&g, sizeof bad));
            CHECK_OK(npk_batch_abort(b));
        }
        /* Releasing: struct_size 0 is a struct the library never filled, nothing to do; any
         * other size below the first layout is refused. */
        if (bad == 0)
            CHECK_OK(npk_view_release((npk_view *)(void *)&g.view));
        else
            CHECK_ERR(npk_view_release((npk_view *)(void *)&g.view), NPK_INVALID_ARGUMENT,
                      "struct_size");
        CHECK(guard_intact(&g, sizeof bad));
    }
}

int main(int argc, char **argv)
{
    npk_store *s;
    (void)argc;
    check_begin(argv[0]);
    /* Nothing failed yet on this thread. */
    CHECK_STR(npk_last_error(), "");
    g_tmp = make_tmpdir(NULL);

    test_version();
    test_status_str();
    test_dtype_size();
    s = test_open_create();
    test_all_dtypes(s);
    test_ranks(s);
    test_empty(s);
    test_strides(s);
    test_info_mtime(s);
    test_has_list();
    test_append(s);
    test_rows(s);
    test_drop(s);
    test_drop_rows(s);
    test_clone(s);
    test_views(s);
    test_struct_sizes(s);
    test_refresh(s);
    test_names(s);
    test_reopen(s);

    remove_tree(g_tmp);
    CHECK(!path_exists(g_tmp));
    free(g_tmp);
    while (g_nmodel > 0)
        model_drop(g_model[0].name);
    return check_end();
}
