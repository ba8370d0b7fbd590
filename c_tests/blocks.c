/*
 * blocks: sized arrays (npk_create) and block (hyperslab) I/O (npk_read_block, npk_write_block)
 * through the C ABI, as a simulator uses them: create a field, write slabs of rows and interior
 * boxes from C-order, Fortran-order and reversed buffers, read them back, every dtype, 0-d,
 * dropped rows, fill values, sparse files, modify times; and every error path with its status,
 * its message (naming the dimension at fault) and a store left exactly as it was.
 */
#include "check.h"

/* ---- a reference model of one array: C-order bytes and the block arithmetic ---------------- */

/* Index (in elements, C order) into an array of `shape` of element `k` (C order) of the block
 * at `offset` with `count`. */
static uint64_t block_index(uint32_t ndim, const uint64_t *shape, const uint64_t *offset,
                            const uint64_t *count, uint64_t k)
{
    uint64_t idx = 0, stride = 1;
    uint32_t d;
    for (d = ndim; d-- > 0;) {
        idx += (offset[d] + k % count[d]) * stride;
        k /= count[d];
        stride *= shape[d];
    }
    return idx;
}

static uint64_t elements(uint32_t ndim, const uint64_t *shape)
{
    uint64_t n = 1;
    uint32_t d;
    for (d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

/* Copies block <-> array bytes in the model: to_array 1 writes `block` into `full`. */
static void model_block(unsigned char *full, unsigned char *block, size_t item, uint32_t ndim,
                        const uint64_t *shape, const uint64_t *offset, const uint64_t *count,
                        int to_array)
{
    uint64_t k, n = elements(ndim, count);
    for (k = 0; k < n; k++) {
        unsigned char *a = full + block_index(ndim, shape, offset, count, k) * item;
        if (to_array)
            memcpy(a, block + k * item, item);
        else
            memcpy(block + k * item, a, item);
    }
}

/* The store's whole array equals the model. */
static int array_is(npk_store *s, const char *name, npk_dtype dt, uint32_t ndim,
                    const uint64_t *shape, const unsigned char *want)
{
    size_t n = (size_t)(elements(ndim, shape) * npk_dtype_size(dt));
    unsigned char *back = (unsigned char *)malloc(n ? n : 1);
    int ok = CHECK_OK(npk_load(s, name, dt, ndim, shape, back, NULL)) &&
             CHECK_MSG(memcmp(back, want, n) == 0, "array %s differs from the model", name);
    free(back);
    return ok;
}

static npk_store *open_store(const char *dir, uint32_t flags)
{
    npk_store *s = NULL;
    if (!CHECK_OK(npk_open(dir, flags, &s)))
        exit(check_end() | 1);
    return s;
}

/* ---- tests -------------------------------------------------------------------------------------*/

/* The MPI pattern in one process: create a 2-D field, write slabs of rows, read boxes back. */
static void test_create_write_slabs_read_boxes(void)
{
    const uint64_t shape[2] = {1000, 37};
    const uint64_t n = 1000 * 37;
    double *model = (double *)calloc(n, sizeof(double));
    double *slab = (double *)malloc(250 * 37 * sizeof(double));
    double box[40 * 6];
    double want[40 * 6];
    const uint64_t box_off[2] = {230, 30}, box_cnt[2] = {40, 6};
    char *dir = make_tmpdir("slabs");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    int r;
    uint64_t i;

    CHECK_OK(npk_create(s, "u", NPK_FLOAT64, 2, shape, NULL));
    CHECK_OK(npk_info(s, "u", &info));
    CHECK(info.dtype == NPK_FLOAT64 && info.ndim == 2 && info.shape[0] == 1000 &&
          info.shape[1] == 37 && info.nbytes == n * 8);
    /* Zeros until written. */
    CHECK_OK(npk_read_block(s, "u", NPK_FLOAT64, 2, box_off, box_cnt, box, NULL));
    for (i = 0; i < 40 * 6; i++)
        if (!CHECK(box[i] == 0.0))
            break;
    /* Four "ranks" write their slab of 250 rows each. */
    for (r = 0; r < 4; r++) {
        const uint64_t off[2] = {250 * (uint64_t)r, 0}, cnt[2] = {250, 37};
        for (i = 0; i < 250 * 37; i++)
            slab[i] = r * 1e6 + (double)i;
        CHECK_OK(npk_write_block(s, "u", NPK_FLOAT64, 2, off, cnt, slab, NULL));
        memcpy(model + 250 * 37 * r, slab, 250 * 37 * sizeof(double));
    }
    array_is(s, "u", NPK_FLOAT64, 2, shape, (const unsigned char *)model);
    /* A box straddling two slabs. */
    CHECK_OK(npk_read_block(s, "u", NPK_FLOAT64, 2, box_off, box_cnt, box, NULL));
    model_block((unsigned char *)model, (unsigned char *)want, 8, 2, shape, box_off, box_cnt, 0);
    CHECK(memcmp(box, want, sizeof box) == 0);
    CHECK_OK(npk_close(s));
    /* A read-only handle, after reopening, reads the same box. */
    s = open_store(dir, NPK_OPEN_READ_ONLY);
    memset(box, 0, sizeof box);
    CHECK_OK(npk_read_block(s, "u", NPK_FLOAT64, 2, box_off, box_cnt, box, NULL));
    CHECK(memcmp(box, want, sizeof box) == 0);
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
    free(model);
    free(slab);
}

/* Every dtype: created with a fill value, an interior box written, the whole array and the box
 * read back. */
static void test_every_dtype(void)
{
    const uint64_t shape[3] = {5, 4, 3};
    const uint64_t off[3] = {1, 1, 0}, cnt[3] = {3, 2, 3};
    const uint64_t off2[3] = {0, 2, 1}, cnt2[3] = {5, 2, 2};
    char *dir = make_tmpdir("dtypes");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    npk_dtype dt;
    for (dt = NPK_BOOL; dt <= NPK_COMPLEX128; dt++) {
        size_t item = (size_t)npk_dtype_size(dt), i;
        unsigned char fill[16], model[60 * 16], block[18 * 16], back[20 * 16], want[20 * 16];
        char name[16];
        snprintf(name, sizeof name, "a%d", (int)dt);
        fill_bytes(fill, item, 100 + dt);
        fill_bytes(block, 18 * item, 200 + dt);
        if (dt == NPK_BOOL) {
            fill[0] = 1;
            for (i = 0; i < 18; i++)
                block[i] &= 1;
        }
        for (i = 0; i < 60; i++)
            memcpy(model + i * item, fill, item);
        CHECK_OK(npk_create(s, name, dt, 3, shape, fill));
        array_is(s, name, dt, 3, shape, model);
        CHECK_OK(npk_write_block(s, name, dt, 3, off, cnt, block, NULL));
        model_block(model, block, item, 3, shape, off, cnt, 1);
        array_is(s, name, dt, 3, shape, model);
        CHECK_OK(npk_read_block(s, name, dt, 3, off2, cnt2, back, NULL));
        model_block(model, want, item, 3, shape, off2, cnt2, 0);
        CHECK_MSG(memcmp(back, want, 20 * item) == 0, "box of %s", name);
    }
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
}

/* Fortran-order and reversed caller buffers, as npk_load and npk_save take them. */
static void test_strided_buffers(void)
{
    const uint64_t shape[2] = {6, 5};
    const uint64_t off[2] = {2, 1}, cnt[2] = {3, 4};
    const int64_t fortran[2] = {8, 24};    /* a(3,4) column-major: a(i,j) at i + 3 j */
    const int64_t reversed[2] = {-32, 8};  /* C order, rows last to first */
    double model[30] = {0}, a[12], back[12], want[12];
    char *dir = make_tmpdir("strided");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    int i, j;

    CHECK_OK(npk_create(s, "f", NPK_FLOAT64, 2, shape, NULL));
    for (i = 0; i < 3; i++)
        for (j = 0; j < 4; j++) {
            a[i + 3 * j] = 10.0 * i + j; /* block element (i, j) */
            want[i * 4 + j] = 10.0 * i + j;
        }
    CHECK_OK(npk_write_block(s, "f", NPK_FLOAT64, 2, off, cnt, a, fortran));
    model_block((unsigned char *)model, (unsigned char *)want, 8, 2, shape, off, cnt, 1);
    array_is(s, "f", NPK_FLOAT64, 2, shape, (const unsigned char *)model);

    /* Read back reversed: element (i, j) at back[(2 - i) * 4 + j]; element 0 is row 2. */
    CHECK_OK(npk_read_block(s, "f", NPK_FLOAT64, 2, off, cnt, back + 8, reversed));
    for (i = 0; i < 3; i++)
        for (j = 0; j < 4; j++)
            CHECK(back[(2 - i) * 4 + j] == 10.0 * i + j);
    /* And in Fortran order. */
    memset(back, 0, sizeof back);
    CHECK_OK(npk_read_block(s, "f", NPK_FLOAT64, 2, off, cnt, back, fortran));
    CHECK(memcmp(back, a, sizeof a) == 0);
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
}

/* 0-d arrays: ndim 0, offset and count NULL. */
static void test_zero_d(void)
{
    char *dir = make_tmpdir("scalar");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    const int64_t fill = -7;
    int64_t v = 0, w = 42;
    CHECK_OK(npk_create(s, "t", NPK_INT64, 0, NULL, &fill));
    CHECK_OK(npk_read_block(s, "t", NPK_INT64, 0, NULL, NULL, &v, NULL));
    CHECK(v == -7);
    CHECK_OK(npk_write_block(s, "t", NPK_INT64, 0, NULL, NULL, &w, NULL));
    CHECK_OK(npk_load(s, "t", NPK_INT64, 0, NULL, &v, NULL));
    CHECK(v == 42);
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
}

/* Row numbers are logical: dropped rows are skipped, and keep their bytes. */
static void test_dropped_rows(void)
{
    const uint64_t shape[2] = {10, 2};
    const int64_t drop[2] = {2, 5};
    int32_t v[20], back[6], neg[6] = {-1, -2, -3, -4, -5, -6};
    const uint64_t off[2] = {2, 0}, cnt[2] = {3, 2}, rows4[2] = {7, 0};
    char *dir = make_tmpdir("dropped");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    int i;
    size_t len;
    int32_t *raw;
    for (i = 0; i < 20; i++)
        v[i] = 10 * (i / 2) + i % 2;
    CHECK_OK(npk_save(s, "x", NPK_INT32, 2, shape, v, NULL));
    CHECK_OK(npk_drop_rows(s, "x", drop, 2)); /* live: 0 1 3 4 6 7 8 9 */
    CHECK_OK(npk_read_block(s, "x", NPK_INT32, 2, off, cnt, back, NULL));
    CHECK(back[0] == 30 && back[1] == 31 && back[2] == 40 && back[3] == 41 && back[4] == 60 &&
          back[5] == 61);
    CHECK_OK(npk_write_block(s, "x", NPK_INT32, 2, off, cnt, neg, NULL));
    CHECK_OK(npk_read_block(s, "x", NPK_INT32, 2, off, cnt, back, NULL));
    CHECK(memcmp(back, neg, sizeof neg) == 0);
    /* 8 live rows: offset 7 + count 2 is past the end though 10 rows are stored. */
    CHECK_ERR2(npk_read_block(s, "x", NPK_INT32, 2, rows4, cnt, back, NULL),
               NPK_INVALID_ARGUMENT, "dimension 0: offset 7 + count 3 exceeds 8", "\"x\"");
    raw = (int32_t *)read_file(path_in(dir, "data_x.npkd"), &len);
    CHECK(raw != NULL && len == sizeof v);
    if (raw) /* physical rows 2 and 5 (dropped) kept their values; rows 3, 4, 6 were written */
        CHECK(raw[4] == 20 && raw[5] == 21 && raw[10] == 50 && raw[11] == 51 && raw[6] == -1 &&
              raw[13] == -6);
    free(raw);
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
}

/* A created array takes no disk space until written; its data file has the full length. */
static void test_sparse(void)
{
    const uint64_t shape[2] = {1u << 17, 1024}; /* 1 GiB of float64 */
    const uint64_t off[2] = {70000, 0}, cnt[2] = {2, 1024};
    char *dir = make_tmpdir("sparse");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    struct stat st;
    double row[2048];
    int i;
    CHECK_OK(npk_create(s, "big", NPK_FLOAT64, 2, shape, NULL));
    CHECK(stat(path_in(dir, "data_big.npkd"), &st) == 0);
    CHECK(st.st_size == (off_t)1 << 30);
    CHECK_MSG((long long)st.st_blocks * 512 < (1 << 20), "%lld bytes allocated",
              (long long)st.st_blocks * 512);
    for (i = 0; i < 2048; i++)
        row[i] = i;
    CHECK_OK(npk_write_block(s, "big", NPK_FLOAT64, 2, off, cnt, row, NULL));
    memset(row, 0, sizeof row);
    CHECK_OK(npk_read_block(s, "big", NPK_FLOAT64, 2, off, cnt, row, NULL));
    CHECK(row[0] == 0 && row[1] == 1 && row[2047] == 2047);
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
}

/* A block write sets the modify time as npk_replace_rows does; an empty block does not. */
static void test_modify_time(void)
{
    const uint64_t shape[1] = {8}, off[1] = {3}, cnt[1] = {2}, none[1] = {0};
    const float v[2] = {1, 2};
    char *dir = make_tmpdir("mtime");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    npk_array_info a = NPK_ARRAY_INFO_INIT, b = NPK_ARRAY_INFO_INIT;
    CHECK_OK(npk_create(s, "m", NPK_FLOAT32, 1, shape, NULL));
    CHECK_OK(npk_info(s, "m", &a));
    wait_clock_after(a.modify_time_us);
    CHECK_OK(npk_write_block(s, "m", NPK_FLOAT32, 1, off, none, NULL, NULL));
    CHECK_OK(npk_info(s, "m", &b));
    CHECK(b.modify_time_us == a.modify_time_us);
    CHECK_OK(npk_write_block(s, "m", NPK_FLOAT32, 1, off, cnt, v, NULL));
    CHECK_OK(npk_info(s, "m", &b));
    CHECK(b.modify_time_us > a.modify_time_us);
    CHECK_OK(npk_close(s));
    s = open_store(dir, NPK_OPEN_READ_ONLY);
    CHECK_OK(npk_info(s, "m", &a));
    CHECK(a.modify_time_us == b.modify_time_us); /* reached metadata.npkm at close */
    CHECK_OK(npk_close(s));
    remove_tree(dir);
    free(dir);
}

/* Every refused call: status, message, and the store directory unchanged. */
static void test_errors(void)
{
    const uint64_t shape[2] = {4, 3};
    const uint64_t off[2] = {0, 0}, cnt[2] = {2, 3}, cnt1[2] = {1, 3};
    const uint64_t off_bad1[2] = {0, 1}, off_bad0[2] = {3, 0};
    const uint64_t huge[2] = {UINT64_MAX, 3}, off1[2] = {1, 0};
    const uint64_t off3[3] = {0, 0, 0}, cnt3[3] = {1, 3, 1};
    const uint64_t bad_shape[2] = {(uint64_t)1 << 62, 4};
    const int64_t neg_strides[2] = {INT64_MIN, 4};
    const uint8_t bool_fill = 2;
    int32_t buf[6] = {0};
    char *dir = make_tmpdir("errors");
    npk_store *s = open_store(dir, NPK_OPEN_CREATE);
    npk_store *ro;
    snapshot *before = (snapshot *)malloc(sizeof *before);

    CHECK_OK(npk_create(s, "x", NPK_INT32, 2, shape, NULL));
    take_snapshot(dir, before);

    /* NULL pointers and bad codes. */
    CHECK_ERR(npk_read_block(NULL, "x", NPK_INT32, 2, off, cnt, buf, NULL), NPK_INVALID_ARGUMENT,
              "store");
    CHECK_ERR(npk_write_block(s, NULL, NPK_INT32, 2, off, cnt, buf, NULL), NPK_INVALID_ARGUMENT,
              "name");
    CHECK_ERR(npk_write_block(s, "x", NPK_INT32, 2, NULL, cnt, buf, NULL), NPK_INVALID_ARGUMENT,
              "offset");
    CHECK_ERR(npk_read_block(s, "x", NPK_INT32, 2, off, NULL, buf, NULL), NPK_INVALID_ARGUMENT,
              "count");
    CHECK_ERR(npk_write_block(s, "x", NPK_INT32, 2, off, cnt, NULL, NULL), NPK_INVALID_ARGUMENT,
              "data");
    CHECK_ERR(npk_read_block(s, "x", 99, 2, off, cnt, buf, NULL), NPK_INVALID_ARGUMENT,
              "dtype code 99");
    CHECK_ERR(npk_read_block(s, "x", NPK_INT32, 33, off, cnt, buf, NULL), NPK_INVALID_ARGUMENT,
              "NPK_MAX_DIMS");
    CHECK_ERR(npk_write_block(s, "x", NPK_INT32, 2, off, cnt, buf, neg_strides),
              NPK_INVALID_ARGUMENT, "strides");
    /* Out of range, naming the dimension; overflow; wrong rank. */
    CHECK_ERR2(npk_write_block(s, "x", NPK_INT32, 2, off_bad1, cnt, buf, NULL),
               NPK_INVALID_ARGUMENT, "dimension 1: offset 1 + count 3 exceeds 3", "\"x\"");
    CHECK_ERR(npk_read_block(s, "x", NPK_INT32, 2, off_bad0, cnt, buf, NULL),
              NPK_INVALID_ARGUMENT, "dimension 0: offset 3 + count 2 exceeds 4");
    /* A count no buffer can have: the message still names the dimension. */
    CHECK_ERR2(npk_write_block(s, "x", NPK_INT32, 2, off1, huge, buf, NULL), NPK_INVALID_ARGUMENT,
               "dimension 0", "overflows");
    CHECK_ERR2(npk_read_block(s, "x", NPK_INT32, 2, off, huge, buf, NULL), NPK_INVALID_ARGUMENT,
               "dimension 0", "exceeds 4");
    CHECK_ERR2(npk_write_block(s, "x", NPK_INT32, 3, off3, cnt3, buf, NULL), NPK_INVALID_ARGUMENT,
               "rank 2", "rank 3");
    CHECK_ERR2(npk_write_block(s, "x", NPK_FLOAT32, 2, off, cnt1, buf, NULL),
               NPK_DTYPE_MISMATCH, "int32", "float32");
    CHECK_ERR(npk_read_block(s, "nope", NPK_INT32, 2, off, cnt1, buf, NULL), NPK_NOT_FOUND,
              "\"nope\"");
    /* Create: taken name, bad shape, bad fill, NULL shape. */
    CHECK_ERR2(npk_create(s, "x", NPK_INT32, 2, shape, NULL), NPK_ALREADY_EXISTS, "\"x\"",
               "drop it first");
    CHECK_ERR(npk_create(s, "y", NPK_INT32, 2, bad_shape, NULL), NPK_INVALID_ARGUMENT,
              "too large");
    CHECK_ERR(npk_create(s, "y", NPK_INT32, 2, NULL, NULL), NPK_INVALID_ARGUMENT, "shape");
    CHECK_ERR(npk_create(s, "y", NPK_INT32, 33, shape, NULL), NPK_INVALID_ARGUMENT,
              "NPK_MAX_DIMS");
    CHECK_ERR(npk_create(s, "y", NPK_BOOL, 2, shape, &bool_fill), NPK_INVALID_ARGUMENT,
              "0 or 1");
    CHECK_ERR(npk_create(s, "a/b", NPK_INT32, 2, shape, NULL), NPK_INVALID_ARGUMENT, "a/b");
    CHECK_ERR(npk_create(NULL, "y", NPK_INT32, 2, shape, NULL), NPK_INVALID_ARGUMENT, "store");
    CHECK(memcmp(buf, (int32_t[6]){0}, sizeof buf) == 0);
    CHECK_OK(npk_close(s));
    check_unchanged(before, dir);

    /* A read-only handle reads blocks, refuses to write or create them. */
    ro = open_store(dir, NPK_OPEN_READ_ONLY);
    CHECK_OK(npk_read_block(ro, "x", NPK_INT32, 2, off, cnt, buf, NULL));
    CHECK_ERR(npk_write_block(ro, "x", NPK_INT32, 2, off, cnt, buf, NULL), NPK_READ_ONLY,
              "read-only");
    CHECK_ERR(npk_create(ro, "y", NPK_INT32, 2, shape, NULL), NPK_READ_ONLY, "read-only");
    CHECK_OK(npk_close(ro));
    check_unchanged(before, dir);
    free_snapshot(before);
    free(before);
    remove_tree(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    RUN_TEST(test_create_write_slabs_read_boxes);
    RUN_TEST(test_every_dtype);
    RUN_TEST(test_strided_buffers);
    RUN_TEST(test_zero_d);
    RUN_TEST(test_dropped_rows);
    RUN_TEST(test_sparse);
    RUN_TEST(test_modify_time);
    RUN_TEST(test_errors);
    return check_end();
}
