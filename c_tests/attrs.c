/*
 * attrs: attributes through the C ABI. Every type set and read back (query, then get into a
 * buffer of that size), the two-call list, delete, the buffer and type errors, the limits with
 * their messages (and nothing changed on disk), NULL pointers, read-only handles, a cache batch
 * committing attributes with its arrays at its end (and none on abort), a writable batch
 * refusing them, drop and clone, and a damaged attributes.json that costs only the attributes.
 */
#include "check.h"

#include <math.h>

static char *g_tmp;

static npk_store *fresh(const char *name, char *dir, size_t len)
{
    npk_store *s = NULL;
    const double x[3] = {1, 2, 3};
    const uint64_t shape[1] = {3};
    snprintf(dir, len, "%s/%s", g_tmp, name);
    if (!CHECK_OK(npk_open(dir, NPK_OPEN_CREATE, &s)))
        exit(check_end() | 1);
    CHECK_OK(npk_save(s, "x", NPK_FLOAT64, 1, shape, x, NULL));
    return s;
}

static int64_t get_i64(npk_store *s, const char *array, const char *key)
{
    int64_t v = -1;
    uint64_t n = 0;
    CHECK_OK(npk_attr_get(s, array, key, NPK_ATTR_INT64, &v, 1, &n));
    CHECK_EQ_U64(n, 1);
    return v;
}

static void test_types(void)
{
    char dir[4096];
    npk_store *s = fresh("types", dir, sizeof dir);
    const int64_t step = -42, iv[3] = {1, INT64_MAX, INT64_MIN};
    const double t = 2.5, fv[2] = {0.1, -1e300};
    const char *units = "m/s\xc2\xb2";
    npk_attr_type type = 0;
    uint64_t len = 0, needed = 0, count = 0;
    int64_t ibuf[3] = {0};
    double dbuf[2] = {0}, d = 0;
    char sbuf[16];
    char names[64];

    CHECK_OK(npk_attr_set(s, NULL, "step", NPK_ATTR_INT64, &step, 1));
    CHECK_OK(npk_attr_set(s, NULL, "time", NPK_ATTR_FLOAT64, &t, 1));
    CHECK_OK(npk_attr_set(s, NULL, "units", NPK_ATTR_STRING, units, strlen(units)));
    CHECK_OK(npk_attr_set(s, NULL, "iv", NPK_ATTR_INT64_VECTOR, iv, 3));
    CHECK_OK(npk_attr_set(s, "x", "fv", NPK_ATTR_FLOAT64_VECTOR, fv, 2));
    CHECK_OK(npk_attr_set(s, "x", "empty", NPK_ATTR_INT64_VECTOR, NULL, 0));
    CHECK_OK(npk_attr_set(s, "x", "none", NPK_ATTR_STRING, NULL, 0));

    CHECK(get_i64(s, NULL, "step") == -42);
    CHECK_OK(npk_attr_query(s, NULL, "time", &type, &len));
    CHECK(type == NPK_ATTR_FLOAT64 && len == 1);
    CHECK_OK(npk_attr_get(s, NULL, "time", NPK_ATTR_FLOAT64, &d, 1, &len));
    CHECK(d == 2.5);
    /* The two-call pattern: the length first (buf NULL), then a buffer of that size. */
    CHECK_OK(npk_attr_query(s, NULL, "units", &type, &len));
    CHECK(type == NPK_ATTR_STRING && len == strlen(units));
    CHECK_OK(npk_attr_get(s, NULL, "units", NPK_ATTR_STRING, NULL, 0, &len));
    CHECK_EQ_U64(len, strlen(units));
    CHECK_ERR(npk_attr_get(s, NULL, "units", NPK_ATTR_STRING, sbuf, len, &len),
              NPK_BUFFER_TOO_SMALL, "units");
    CHECK_OK(npk_attr_get(s, NULL, "units", NPK_ATTR_STRING, sbuf, len + 1, &len));
    CHECK_STR(sbuf, units);
    CHECK_OK(npk_attr_query(s, NULL, "iv", &type, &len));
    CHECK(type == NPK_ATTR_INT64_VECTOR && len == 3);
    CHECK_ERR(npk_attr_get(s, NULL, "iv", NPK_ATTR_INT64_VECTOR, ibuf, 2, &len),
              NPK_BUFFER_TOO_SMALL, "iv");
    CHECK_EQ_U64(len, 3);
    CHECK_OK(npk_attr_get(s, NULL, "iv", NPK_ATTR_INT64_VECTOR, ibuf, 3, &len));
    CHECK(memcmp(ibuf, iv, sizeof iv) == 0);
    CHECK_OK(npk_attr_get(s, "x", "fv", NPK_ATTR_FLOAT64_VECTOR, dbuf, 2, &len));
    CHECK(memcmp(dbuf, fv, sizeof fv) == 0);
    CHECK_OK(npk_attr_query(s, "x", "empty", &type, &len));
    CHECK(type == NPK_ATTR_INT64_VECTOR && len == 0);
    CHECK_OK(npk_attr_get(s, "x", "none", NPK_ATTR_STRING, sbuf, sizeof sbuf, &len));
    CHECK(len == 0 && sbuf[0] == '\0');
    /* No conversions: an int64 is not read as a double. */
    CHECK_ERR2(npk_attr_get(s, NULL, "step", NPK_ATTR_FLOAT64, &d, 1, &len), NPK_DTYPE_MISMATCH,
               "int64", "float64");
    /* Missing keys and arrays. */
    CHECK_ERR(npk_attr_query(s, NULL, "nope", &type, &len), NPK_NOT_FOUND, "nope");
    CHECK_ERR(npk_attr_query(s, "y", "step", &type, &len), NPK_NOT_FOUND, "y");
    CHECK_ERR(npk_attr_set(s, "y", "k", NPK_ATTR_INT64, &step, 1), NPK_NOT_FOUND, "y");

    /* The list, in npk_list's form. */
    CHECK_OK(npk_attr_list(s, NULL, NULL, 0, &needed, &count));
    CHECK_EQ_U64(count, 4);
    CHECK_EQ_U64(needed, strlen("iv step time units") + 1);
    CHECK_ERR(npk_attr_list(s, NULL, names, needed - 1, &needed, &count), NPK_BUFFER_TOO_SMALL,
              "bytes");
    CHECK_OK(npk_attr_list(s, NULL, names, sizeof names, &needed, &count));
    CHECK(memcmp(names, "iv\0step\0time\0units\0", needed) == 0);

    /* Replace with another type, delete, and survive a reopen. */
    CHECK_OK(npk_attr_set(s, NULL, "step", NPK_ATTR_STRING, "ten", 3));
    CHECK_OK(npk_attr_delete(s, NULL, "time"));
    CHECK_ERR(npk_attr_delete(s, NULL, "time"), NPK_NOT_FOUND, "time");
    CHECK_OK(npk_close(s));
    CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &s));
    CHECK_OK(npk_attr_query(s, NULL, "step", &type, &len));
    CHECK(type == NPK_ATTR_STRING && len == 3);
    CHECK_OK(npk_attr_list(s, "x", NULL, 0, &needed, &count));
    CHECK_EQ_U64(count, 3);
    CHECK_ERR(npk_attr_set(s, NULL, "k", NPK_ATTR_INT64, &step, 1), NPK_READ_ONLY, "");
    CHECK_ERR(npk_attr_delete(s, NULL, "step"), NPK_READ_ONLY, "");
    CHECK_OK(npk_close(s));
}

static void test_bad_arguments(void)
{
    char dir[4096];
    npk_store *s = fresh("bad", dir, sizeof dir);
    const int64_t one = 1;
    int64_t two[2] = {1, 2};
    char key[300];
    char *big = calloc(70000, 1);
    npk_attr_type type;
    uint64_t len, needed, count;
    snapshot *before = malloc(sizeof *before);

    CHECK_OK(npk_attr_set(s, NULL, "keep", NPK_ATTR_INT64, &one, 1));
    take_snapshot(dir, before);
    memset(key, 'k', 256);
    key[256] = '\0';
    CHECK_ERR2(npk_attr_set(s, NULL, key, NPK_ATTR_INT64, &one, 1), NPK_INVALID_ARGUMENT, "key",
               "255");
    CHECK_ERR(npk_attr_set(s, NULL, "", NPK_ATTR_INT64, &one, 1), NPK_INVALID_ARGUMENT, "key");
    memset(big, 'a', 65537);
    CHECK_ERR(npk_attr_set(s, NULL, "big", NPK_ATTR_STRING, big, 65537), NPK_INVALID_ARGUMENT,
              "65536");
    CHECK_ERR(npk_attr_set(s, NULL, "big", NPK_ATTR_INT64_VECTOR, two, 8193),
              NPK_INVALID_ARGUMENT, "65536");
    CHECK_ERR(npk_attr_set(s, NULL, "bad", NPK_ATTR_STRING, "\xff", 1), NPK_INVALID_ARGUMENT,
              "UTF-8");
    CHECK_ERR(npk_attr_set(s, NULL, "two", NPK_ATTR_INT64, two, 2), NPK_INVALID_ARGUMENT,
              "VECTOR");
    CHECK_ERR(npk_attr_set(s, NULL, "t", 99, &one, 1), NPK_INVALID_ARGUMENT, "99");
    CHECK_ERR(npk_attr_set(s, NULL, "n", NPK_ATTR_INT64, NULL, 1), NPK_INVALID_ARGUMENT, "data");
    CHECK_ERR(npk_attr_set(s, NULL, NULL, NPK_ATTR_INT64, &one, 1), NPK_INVALID_ARGUMENT, "key");
    CHECK_ERR(npk_attr_set(NULL, NULL, "k", NPK_ATTR_INT64, &one, 1), NPK_INVALID_ARGUMENT,
              "NULL");
    CHECK_ERR(npk_attr_query(s, NULL, "keep", NULL, &len), NPK_INVALID_ARGUMENT, "out_type");
    CHECK_ERR(npk_attr_query(s, NULL, "keep", &type, NULL), NPK_INVALID_ARGUMENT, "out_len");
    CHECK_ERR(npk_attr_get(s, NULL, "keep", NPK_ATTR_INT64, two, 2, NULL), NPK_INVALID_ARGUMENT,
              "out_len");
    CHECK_ERR(npk_attr_list(s, NULL, NULL, 0, NULL, &count), NPK_INVALID_ARGUMENT, "out_needed");
    CHECK_ERR(npk_attr_list(s, NULL, NULL, 0, &needed, NULL), NPK_INVALID_ARGUMENT, "out_count");
    check_unchanged(before, dir);
    free_snapshot(before);
    free(before);
    free(big);
    CHECK_OK(npk_close(s));
}

static void test_batches_drop_clone(void)
{
    char dir[4096];
    npk_store *s = fresh("batch", dir, sizeof dir), *r = NULL;
    const int64_t k = 7;
    const double y[2] = {5, 6};
    const uint64_t shape[1] = {2};
    npk_batch *b = NULL;
    npk_attr_type type;
    uint64_t len;

    CHECK_OK(npk_batch_begin(s, 0, &b));
    CHECK_OK(npk_batch_save(b, "y", NPK_FLOAT64, 1, shape, y, NULL));
    CHECK_OK(npk_batch_attr_set(b, "y", "units", NPK_ATTR_STRING, "K", 1));
    CHECK_OK(npk_batch_attr_set(b, NULL, "step", NPK_ATTR_INT64, &k, 1));
    /* Nothing before the end, for this handle or another. */
    CHECK_ERR(npk_attr_query(s, NULL, "step", &type, &len), NPK_NOT_FOUND, "step");
    CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &r));
    CHECK_ERR(npk_attr_query(r, NULL, "step", &type, &len), NPK_NOT_FOUND, "step");
    CHECK_OK(npk_batch_end(b));
    CHECK_OK(npk_refresh(r));
    CHECK(get_i64(r, NULL, "step") == 7);
    CHECK_OK(npk_attr_query(r, "y", "units", &type, &len));
    CHECK_OK(npk_close(r));

    CHECK_OK(npk_batch_begin(s, 0, &b));
    CHECK_OK(npk_batch_attr_delete(b, NULL, "step"));
    CHECK_ERR(npk_batch_attr_delete(b, NULL, "step"), NPK_NOT_FOUND, "step");
    CHECK_OK(npk_batch_abort(b));
    CHECK(get_i64(s, NULL, "step") == 7);

    CHECK_OK(npk_writable_batch_begin(s, &b));
    CHECK_ERR(npk_batch_attr_set(b, NULL, "step", NPK_ATTR_INT64, &k, 1), NPK_WRONG_MODE,
              "writable batch");
    CHECK_OK(npk_batch_abort(b));

    /* Clone copies an array's attributes, drop takes them away. */
    CHECK_OK(npk_clone(s, "y", "z"));
    CHECK_OK(npk_attr_query(s, "z", "units", &type, &len));
    {
        const char *names[1] = {"y"};
        CHECK_OK(npk_drop(s, names, 1));
    }
    CHECK_OK(npk_save(s, "y", NPK_FLOAT64, 1, shape, y, NULL));
    CHECK_ERR(npk_attr_query(s, "y", "units", &type, &len), NPK_NOT_FOUND, "units");
    CHECK_OK(npk_close(s));
}

static void test_damaged_file(void)
{
    char dir[4096], path[4200];
    npk_store *s = fresh("damaged", dir, sizeof dir);
    const int64_t k = 1;
    double back[3];
    const uint64_t shape[1] = {3};
    uint64_t needed, count;
    FILE *f;
    CHECK_OK(npk_attr_set(s, NULL, "k", NPK_ATTR_INT64, &k, 1));
    CHECK_OK(npk_close(s));
    snprintf(path, sizeof path, "%s/attributes.json", dir);
    f = fopen(path, "w");
    fputs("{\"format\": \"libnumpack-attributes\", \"version\": 1, \"store\": {\"k\": 1, \"k\"", f);
    fclose(f);
    CHECK_OK(npk_open(dir, 0, &s));
    CHECK_OK(npk_load(s, "x", NPK_FLOAT64, 1, shape, back, NULL));
    CHECK(back[2] == 3);
    CHECK_ERR(npk_attr_list(s, NULL, NULL, 0, &needed, &count), NPK_CORRUPT, "attributes.json");
    CHECK_ERR(npk_attr_set(s, NULL, "k", NPK_ATTR_INT64, &k, 1), NPK_CORRUPT, "attributes.json");
    CHECK_OK(npk_close(s));
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    g_tmp = make_tmpdir(NULL);
    RUN_TEST(test_types);
    RUN_TEST(test_bad_arguments);
    RUN_TEST(test_batches_drop_clone);
    RUN_TEST(test_damaged_file);
    remove_tree(g_tmp);
    free(g_tmp);
    return check_end();
}
