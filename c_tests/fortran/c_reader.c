/* Reads the store test.f90 wrote, in plain C (C order, NULL strides), and checks that every
 * Fortran array A(i,j,...) appears as arr[i-1][j-1]... Usage: c_reader STORE PHASE, where PHASE
 * 1 is after `test_fortran write` and 2 after `test_fortran update`. Prints
 * "c_reader_PHASE: N passed, M failed" and exits non-zero if anything failed. */
#include <complex.h>
#include <stdbool.h>

#include "../check.h"

/* The Fortran test's values, 0-based: v1(i) = i+1, v2(i,j) = 10(i+1)+(j+1), and so on. */
static double v1(int i) { return i + 1; }
static double v2(int i, int j) { return 10 * (i + 1) + (j + 1); }
static double v3(int i, int j, int k) { return 100 * (i + 1) + 10 * (j + 1) + (k + 1); }

/* Per-type offsets (test.f90): float32 +0.25, float64 +0.125, int32 +0, int64 +2^40. */
#define OFF_I8 ((int64_t)1 << 40)

/* Checks shape and dtype with npk_info. */
static int has_shape(npk_store *s, const char *name, npk_dtype dtype, uint32_t ndim,
                     const uint64_t *shape)
{
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    if (!CHECK_OK(npk_info(s, name, &info)))
        return 0;
    int ok = info.dtype == dtype && info.ndim == ndim;
    for (uint32_t d = 0; ok && d < ndim; d++)
        ok = info.shape[d] == shape[d];
    if (!CHECK(ok))
        fprintf(stderr, "  array %s: dtype %d ndim %u\n", name, info.dtype, info.ndim);
    return ok;
}

static int has_shape_quiet(npk_store *s, const char *name)
{
    int32_t exists = 0;
    return npk_has(s, name, &exists) == NPK_OK && exists;
}

static void check_phase1_common(npk_store *s, int phase)
{
    /* Rank 1 */
    {
        uint64_t sh[1] = {5};
        float f[5];
        double d[5];
        int32_t i4[5];
        int64_t i8[5];
        int ok = 1;
        if (phase == 1 && has_shape(s, "i4_1", NPK_INT32, 1, sh)) {
            CHECK_OK(npk_load(s, "i4_1", NPK_INT32, 1, sh, i4, NULL));
            for (int i = 0; i < 5; i++) ok &= i4[i] == (int32_t)v1(i);
            CHECK(ok);
        }
        ok = 1;
        if (has_shape(s, "r4_1", NPK_FLOAT32, 1, sh)) {
            CHECK_OK(npk_load(s, "r4_1", NPK_FLOAT32, 1, sh, f, NULL));
            for (int i = 0; i < 5; i++) ok &= f[i] == (float)(v1(i) + 0.25);
            CHECK(ok);
        }
        ok = 1;
        if (has_shape(s, "r8_1", NPK_FLOAT64, 1, sh)) {
            CHECK_OK(npk_load(s, "r8_1", NPK_FLOAT64, 1, sh, d, NULL));
            for (int i = 0; i < 5; i++) ok &= d[i] == v1(i) + 0.125;
            CHECK(ok);
        }
        ok = 1;
        /* i8_1 is changed through a cache-batch view in phase 2 but never saved: unchanged. */
        if (has_shape(s, "i8_1", NPK_INT64, 1, sh)) {
            CHECK_OK(npk_load(s, "i8_1", NPK_INT64, 1, sh, i8, NULL));
            for (int i = 0; i < 5; i++) ok &= i8[i] == (int64_t)v1(i) + OFF_I8;
            CHECK(ok);
        }
    }
    /* Rank 2, shape (3, 4) */
    {
        uint64_t sh[2] = {3, 4};
        float f[3][4];
        double d[3][4];
        int32_t i4[3][4];
        int64_t i8[3][4];
        int ok = 1;
        if (has_shape(s, "r4_2", NPK_FLOAT32, 2, sh)) {
            CHECK_OK(npk_load(s, "r4_2", NPK_FLOAT32, 2, sh, f, NULL));
            /* phase 2: negated in a cache batch and saved from its view */
            float sign = phase == 1 ? 1.0f : -1.0f;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) ok &= f[i][j] == sign * (float)(v2(i, j) + 0.25);
            CHECK(ok);
        }
        ok = 1;
        if (has_shape(s, "r8_2", NPK_FLOAT64, 2, sh)) {
            CHECK_OK(npk_load(s, "r8_2", NPK_FLOAT64, 2, sh, d, NULL));
            /* phase 2: doubled in a writable batch, then v(2,3) = -1, which is [2][1] */
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) {
                    double want = v2(i, j) + 0.125;
                    if (phase == 2) want = (i == 2 && j == 1) ? -1.0 : 2 * want;
                    ok &= d[i][j] == want;
                }
            CHECK(ok);
            if (phase == 2) CHECK(d[2][1] == -1.0);
        }
        ok = 1;
        if (has_shape(s, "i4_2", NPK_INT32, 2, sh)) {
            CHECK_OK(npk_load(s, "i4_2", NPK_INT32, 2, sh, i4, NULL));
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) ok &= i4[i][j] == (int32_t)v2(i, j);
            CHECK(ok);
            CHECK(i4[1][2] == 23); /* Fortran A(2,3) = 10*2 + 3 */
        }
        ok = 1;
        if (has_shape(s, "i8_2", NPK_INT64, 2, sh)) {
            CHECK_OK(npk_load(s, "i8_2", NPK_INT64, 2, sh, i8, NULL));
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++) ok &= i8[i][j] == (int64_t)v2(i, j) + OFF_I8;
            CHECK(ok);
        }
    }
    /* Rank 3, shape (2, 3, 4) */
    {
        uint64_t sh[3] = {2, 3, 4};
        float f[2][3][4];
        double d[2][3][4];
        int32_t i4[2][3][4];
        int64_t i8[2][3][4];
        int okf = 1, okd = 1, ok4 = 1, ok8 = 1;
        int have = has_shape(s, "r4_3", NPK_FLOAT32, 3, sh) & has_shape(s, "r8_3", NPK_FLOAT64, 3, sh) &
                   has_shape(s, "i4_3", NPK_INT32, 3, sh) & has_shape(s, "i8_3", NPK_INT64, 3, sh);
        if (have) {
            CHECK_OK(npk_load(s, "r4_3", NPK_FLOAT32, 3, sh, f, NULL));
            CHECK_OK(npk_load(s, "r8_3", NPK_FLOAT64, 3, sh, d, NULL));
            CHECK_OK(npk_load(s, "i4_3", NPK_INT32, 3, sh, i4, NULL));
            CHECK_OK(npk_load(s, "i8_3", NPK_INT64, 3, sh, i8, NULL));
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 4; k++) {
                        okf &= f[i][j][k] == (float)(v3(i, j, k) + 0.25);
                        okd &= d[i][j][k] == v3(i, j, k) + 0.125;
                        /* phase 2: v(4,1,2) = -5 through a writable view, which is [1][0][3] */
                        int32_t want = (phase == 2 && i == 1 && j == 0 && k == 3) ? -5 : (int32_t)v3(i, j, k);
                        ok4 &= i4[i][j][k] == want;
                        ok8 &= i8[i][j][k] == (int64_t)v3(i, j, k) + OFF_I8;
                    }
            CHECK(okf);
            CHECK(okd);
            CHECK(ok4);
            CHECK(ok8);
            CHECK(d[1][2][3] == 234.125); /* Fortran A(2,3,4) */
            if (phase == 2) CHECK(i4[1][0][3] == -5);
        }
    }
}

static void check_other_dtypes(npk_store *s)
{
    uint64_t sh[2] = {3, 4};
    int8_t a1[3][4];
    int16_t a2[3][4];
    double complex c[3][4];
    bool b[3][4];
    int ok1 = 1, ok2 = 1, okc = 1, okb = 1;
    if (has_shape(s, "i1_2", NPK_INT8, 2, sh) && CHECK_OK(npk_load(s, "i1_2", NPK_INT8, 2, sh, a1, NULL)))
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) ok1 &= a1[i][j] == (int8_t)v2(i, j);
    if (has_shape(s, "i2_2", NPK_INT16, 2, sh) && CHECK_OK(npk_load(s, "i2_2", NPK_INT16, 2, sh, a2, NULL)))
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) ok2 &= a2[i][j] == (int16_t)(100 * v2(i, j));
    if (has_shape(s, "c8_2", NPK_COMPLEX128, 2, sh) && CHECK_OK(npk_load(s, "c8_2", NPK_COMPLEX128, 2, sh, c, NULL)))
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) okc &= creal(c[i][j]) == v2(i, j) && cimag(c[i][j]) == -v2(i, j);
    if (has_shape(s, "lb_2", NPK_BOOL, 2, sh) && CHECK_OK(npk_load(s, "lb_2", NPK_BOOL, 2, sh, b, NULL)))
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) okb &= b[i][j] == ((i + j) % 2 == 0);
    CHECK(ok1);
    CHECK(ok2);
    CHECK(okc);
    CHECK(okb);

    /* complex64 rank 1: (i+1) + 0.5i */
    uint64_t sh1[1] = {5};
    float complex c4[5];
    int ok4 = 1;
    if (has_shape(s, "c4_1", NPK_COMPLEX64, 1, sh1) && CHECK_OK(npk_load(s, "c4_1", NPK_COMPLEX64, 1, sh1, c4, NULL)))
        for (int i = 0; i < 5; i++) ok4 &= crealf(c4[i]) == (float)v1(i) && cimagf(c4[i]) == 0.5f;
    CHECK(ok4);

    /* A Fortran scalar is a 0-d array. */
    double x = 0;
    if (has_shape(s, "r8_0", NPK_FLOAT64, 0, NULL) && CHECK_OK(npk_load(s, "r8_0", NPK_FLOAT64, 0, NULL, &x, NULL)))
        CHECK(x == 3.5);

    /* A zero-size Fortran array keeps its shape. */
    uint64_t she[2] = {0, 3};
    has_shape(s, "r8_empty", NPK_FLOAT64, 2, she);

    /* A strided section A(1:3:2, 2:4) of the (3, 4) array: arr[a][b] = A(2a+1, b+2). */
    uint64_t shs[2] = {2, 3};
    double sec[2][3];
    int oks = 1;
    if (has_shape(s, "r8_sec", NPK_FLOAT64, 2, shs) && CHECK_OK(npk_load(s, "r8_sec", NPK_FLOAT64, 2, shs, sec, NULL)))
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++) oks &= sec[a][b] == v2(2 * a, b + 1) + 0.125;
    CHECK(oks);

    /* Appended rows: app (2,3) then one more row, so (3,3) with app[i][j] = 10(i+1)+(j+1). */
    uint64_t sha[2] = {3, 3};
    int32_t app[3][3];
    int oka = 1;
    if (has_shape(s, "app", NPK_INT32, 2, sha) && CHECK_OK(npk_load(s, "app", NPK_INT32, 2, sha, app, NULL)))
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) oka &= app[i][j] == (int32_t)v2(i, j);
    CHECK(oka);
}

/* The library's read-only view of r8_3, indexed with its byte strides. */
static void check_view(npk_store *s)
{
    npk_view v = NPK_VIEW_INIT;
    if (!CHECK_OK(npk_view_open(s, "r8_3", &v)))
        return;
    CHECK(v.ndim == 3 && v.shape[0] == 2 && v.shape[1] == 3 && v.shape[2] == 4);
    int ok = 1;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) {
                const char *p = (const char *)v.data + i * v.strides[0] + j * v.strides[1] + k * v.strides[2];
                double x;
                memcpy(&x, p, sizeof x);
                ok &= x == v3(i, j, k) + 0.125;
            }
    CHECK(ok);
    CHECK_OK(npk_view_release(&v));
}

static void check_phase2(npk_store *s)
{
    /* Saved in a cache batch from a Fortran array new_r8(2,5) = 10i+j. */
    uint64_t sh[2] = {2, 5};
    double d[2][5];
    int ok = 1;
    if (has_shape(s, "new_r8", NPK_FLOAT64, 2, sh) && CHECK_OK(npk_load(s, "new_r8", NPK_FLOAT64, 2, sh, d, NULL)))
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 5; j++) ok &= d[i][j] == v2(i, j);
    CHECK(ok);
    /* i4_1 was saved longer (7) in the cache batch: 1..7. */
    uint64_t sh7[1] = {7};
    int32_t a[7];
    ok = 1;
    if (has_shape(s, "i4_1", NPK_INT32, 1, sh7) && CHECK_OK(npk_load(s, "i4_1", NPK_INT32, 1, sh7, a, NULL)))
        for (int i = 0; i < 7; i++) ok &= a[i] == i + 1;
    CHECK(ok);
    /* The aborted cache batch left nothing. */
    int32_t exists = 1;
    CHECK_OK(npk_has(s, "aborted", &exists));
    CHECK(exists == 0);
}

/* The arrays test.f90's `blocks` made with npk_create_array and wrote by blocks (1-based
 * istart..iend of the Fortran view): Fortran f(i,j) = 10i+j+0.5 is arr[i-1][j-1], and the box
 * written at rows 2-4, columns 4-5 is negated. Read here with npk_read_block in C order. */
static void check_blocks(npk_store *s)
{
    const uint64_t sh[2] = {7, 5}, zero[2] = {0, 0};
    double d[7][5];
    if (has_shape(s, "blk_r8", NPK_FLOAT64, 2, sh) &&
        CHECK_OK(npk_read_block(s, "blk_r8", NPK_FLOAT64, 2, zero, sh, d, NULL))) {
        int ok = 1;
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 5; j++) {
                double want = 10 * (i + 1) + (j + 1) + 0.5;
                if (i >= 1 && i <= 3 && j >= 3)
                    want = -want;
                ok &= d[i][j] == want;
            }
        CHECK_MSG(ok, "blk_r8: A(i,j) == arr[i-1][j-1], the box negated");
    }
    /* Fortran box(1:3, 1:2) at istart (2,4) is the C block offset {1, 3}, count {3, 2}. */
    const uint64_t off[2] = {1, 3}, cnt[2] = {3, 2};
    double box[3][2];
    if (CHECK_OK(npk_read_block(s, "blk_r8", NPK_FLOAT64, 2, off, cnt, box, NULL)))
        CHECK(box[0][0] == -24.5 && box[2][1] == -45.5 && box[1][0] == -34.5);

    const uint64_t sh3[3] = {5, 3, 2};
    float r4[5][3][2];
    if (has_shape(s, "blk_r4", NPK_FLOAT32, 3, sh3) &&
        CHECK_OK(npk_load(s, "blk_r4", NPK_FLOAT32, 3, sh3, r4, NULL))) {
        int ok = 1;
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++)
                    ok &= r4[i][j][k] == (i < 4 ? (float)(100 * (i + 1) + 10 * (j + 1) + k + 1) : 0.0f);
        CHECK_MSG(ok, "blk_r4: slabs of rows 1-4, row 5 never written reads zero");
    }

    const uint64_t sh1[1] = {6};
    int32_t i4[6];
    if (has_shape(s, "blk_i4", NPK_INT32, 1, sh1) &&
        CHECK_OK(npk_load(s, "blk_i4", NPK_INT32, 1, sh1, i4, NULL)))
        CHECK(i4[0] == -3 && i4[1] == 7 && i4[2] == 8 && i4[3] == -3 && i4[5] == -3);

    const uint64_t shb[2] = {2, 3};
    bool lb[2][3];
    if (has_shape(s, "blk_lb", NPK_BOOL, 2, shb) &&
        CHECK_OK(npk_load(s, "blk_lb", NPK_BOOL, 2, shb, lb, NULL)))
        CHECK(lb[0][0] && lb[0][1] && lb[0][2] && lb[1][0] && !lb[1][1] && !lb[1][2]);

    const uint64_t shc[2] = {2, 2};
    double complex c8[2][2];
    if (has_shape(s, "blk_c8", NPK_COMPLEX128, 2, shc) &&
        CHECK_OK(npk_load(s, "blk_c8", NPK_COMPLEX128, 2, shc, c8, NULL)))
        CHECK(c8[0][1] == 5.0 + 6.0 * I && c8[0][0] == 1.0 - 1.0 * I && c8[1][1] == 1.0 - 1.0 * I);

    /* written by two NPK_OPEN_SHARED handles (shared_writers): A(i,j) = 10i+j */
    const uint64_t shs[2] = {4, 3};
    int64_t shv[4][3];
    if (has_shape(s, "blk_sh", NPK_INT64, 2, shs) &&
        CHECK_OK(npk_load(s, "blk_sh", NPK_INT64, 2, shs, shv, NULL))) {
        int ok = 1;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                ok &= shv[i][j] == 10 * (i + 1) + (j + 1);
        CHECK_MSG(ok, "blk_sh: both in-place writers' rows");
    }
    CHECK(!has_shape_quiet(s, "blk_new"));

    double x = 0;
    if (has_shape(s, "blk_0d", NPK_FLOAT64, 0, NULL) &&
        CHECK_OK(npk_read_block(s, "blk_0d", NPK_FLOAT64, 0, NULL, NULL, &x, NULL)))
        CHECK(x == 4.5);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "1") != 0 && strcmp(argv[2], "2") != 0)) {
        fprintf(stderr, "usage: %s STORE 1|2\n", argv[0]);
        return 2;
    }
    int phase = atoi(argv[2]);
    check_begin(phase == 1 ? "c_reader_1" : "c_reader_2");
    npk_store *s = NULL;
    if (CHECK_OK(npk_open(argv[1], NPK_OPEN_READ_ONLY, &s))) {
        check_phase1_common(s, phase);
        check_other_dtypes(s);
        check_view(s);
        check_blocks(s);
        if (phase == 2)
            check_phase2(s);
        CHECK_OK(npk_close(s));
    }
    return check_end();
}
