/*
 * errors: every way a caller can get it wrong, and every status code with the input that
 * causes it. NULL for every pointer parameter, bad names (refused before any file is touched),
 * bad ranks, dtypes, shapes, strides and flags, read-only handles, the writer lock (same process
 * and another process), mismatches, missing arrays, a batch in the way (busy), a full disk (I/O)
 * and an address-space limit (out of memory). Every failure must name what it is about in
 * npk_last_error().
 */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

static char *g_tmp;
static char g_dir[4096];

static const uint64_t SHAPE23[2] = {2, 3};
static const int32_t V23[6] = {1, 2, 3, 4, 5, 6};

/* A store with "x": int32 (2, 3), "scalar": float64 0-d. */
static npk_store *open_fixture(void)
{
    npk_store *s = NULL;
    const double d = 2.5;
    snprintf(g_dir, sizeof g_dir, "%s/store", g_tmp);
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_CREATE, &s)))
        exit(check_end() | 1);
    CHECK_OK(npk_save(s, "x", NPK_INT32, 2, SHAPE23, V23, NULL));
    CHECK_OK(npk_save(s, "scalar", NPK_FLOAT64, 0, NULL, &d, NULL));
    return s;
}

/* "x" still holds V23 (2, 3). */
static void check_x_intact(npk_store *s)
{
    int32_t back[6] = {0};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    CHECK_OK(npk_info(s, "x", &info));
    CHECK(info.dtype == NPK_INT32 && info.ndim == 2 && info.shape[0] == 2 && info.shape[1] == 3);
    CHECK(info.physical_rows == 2);
    CHECK_OK(npk_load(s, "x", NPK_INT32, 2, SHAPE23, back, NULL));
    CHECK(memcmp(back, V23, sizeof V23) == 0);
}

/* ---- NULL pointers ----------------------------------------------------------------------------*/

static void test_null_pointers(npk_store *s)
{
    int32_t buf[6] = {0};
    const int64_t idx[2] = {0, 1};
    npk_store *out = (npk_store *)&buf; /* sentinel: must stay as it is */
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    uint64_t needed = 7, count = 7;
    int32_t exists = 7;
    const char *names2[2] = {"x", NULL};
    SECTION("null_pointers");

    /* npk_open */
    CHECK_ERR(npk_open(NULL, NPK_OPEN_CREATE, &out), NPK_INVALID_ARGUMENT, "path");
    CHECK(out == (npk_store *)&buf);
    CHECK_ERR(npk_open(g_dir, 0, NULL), NPK_INVALID_ARGUMENT, "out_store");
    CHECK_ERR(npk_open("", NPK_OPEN_CREATE, &out), NPK_INVALID_ARGUMENT, "path");
    CHECK(out == (npk_store *)&buf);
    /* npk_close(NULL) is fine */
    CHECK_OK(npk_close(NULL));

    /* npk_save */
    CHECK_ERR(npk_save(NULL, "x", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT,
              "store");
    CHECK_ERR(npk_save(s, NULL, NPK_INT32, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_save(s, "x", NPK_INT32, 2, NULL, V23, NULL), NPK_INVALID_ARGUMENT, "shape");
    CHECK_ERR(npk_save(s, "x", NPK_INT32, 2, SHAPE23, NULL, NULL), NPK_INVALID_ARGUMENT, "data");
    /* npk_load */
    CHECK_ERR(npk_load(NULL, "x", NPK_INT32, 2, SHAPE23, buf, NULL), NPK_INVALID_ARGUMENT,
              "store");
    CHECK_ERR(npk_load(s, NULL, NPK_INT32, 2, SHAPE23, buf, NULL), NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 2, NULL, buf, NULL), NPK_INVALID_ARGUMENT, "shape");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 2, SHAPE23, NULL, NULL), NPK_INVALID_ARGUMENT, "data");
    /* npk_append */
    CHECK_ERR(npk_append(NULL, "x", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT,
              "store");
    CHECK_ERR(npk_append(s, NULL, NPK_INT32, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT,
              "name");
    CHECK_ERR(npk_append(s, "x", NPK_INT32, 2, NULL, V23, NULL), NPK_INVALID_ARGUMENT, "shape");
    CHECK_ERR(npk_append(s, "x", NPK_INT32, 2, SHAPE23, NULL, NULL), NPK_INVALID_ARGUMENT,
              "data");
    /* npk_replace_rows */
    CHECK_ERR(npk_replace_rows(NULL, "x", idx, 2, NPK_INT32, 2, SHAPE23, V23, NULL),
              NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_replace_rows(s, NULL, idx, 2, NPK_INT32, 2, SHAPE23, V23, NULL),
              NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_replace_rows(s, "x", NULL, 2, NPK_INT32, 2, SHAPE23, V23, NULL),
              NPK_INVALID_ARGUMENT, "indices");
    CHECK_ERR(npk_replace_rows(s, "x", idx, 2, NPK_INT32, 2, NULL, V23, NULL),
              NPK_INVALID_ARGUMENT, "shape");
    CHECK_ERR(npk_replace_rows(s, "x", idx, 2, NPK_INT32, 2, SHAPE23, NULL, NULL),
              NPK_INVALID_ARGUMENT, "data");
    /* npk_get_rows */
    CHECK_ERR(npk_get_rows(NULL, "x", idx, 2, NPK_INT32, 2, SHAPE23, buf, NULL),
              NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_get_rows(s, NULL, idx, 2, NPK_INT32, 2, SHAPE23, buf, NULL),
              NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_get_rows(s, "x", NULL, 2, NPK_INT32, 2, SHAPE23, buf, NULL),
              NPK_INVALID_ARGUMENT, "indices");
    CHECK_ERR(npk_get_rows(s, "x", idx, 2, NPK_INT32, 2, NULL, buf, NULL), NPK_INVALID_ARGUMENT,
              "shape");
    CHECK_ERR(npk_get_rows(s, "x", idx, 2, NPK_INT32, 2, SHAPE23, NULL, NULL),
              NPK_INVALID_ARGUMENT, "data");
    /* npk_drop */
    CHECK_ERR(npk_drop(NULL, names2, 1), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_drop(s, NULL, 1), NPK_INVALID_ARGUMENT, "names");
    CHECK_ERR(npk_drop(s, names2, 2), NPK_INVALID_ARGUMENT, "names[1]");
    CHECK_ERR(npk_drop(s, names2, 0), NPK_INVALID_ARGUMENT, "no array names");
    CHECK_ERR(npk_drop(s, NULL, 0), NPK_INVALID_ARGUMENT, "no array names");
    /* npk_drop_rows */
    CHECK_ERR(npk_drop_rows(NULL, "x", idx, 1), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_drop_rows(s, NULL, idx, 1), NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_drop_rows(s, "x", NULL, 1), NPK_INVALID_ARGUMENT, "indices");
    /* npk_compact (a NULL name means every array) */
    CHECK_ERR(npk_compact(NULL, "x"), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_compact(NULL, NULL), NPK_INVALID_ARGUMENT, "store");
    CHECK_OK(npk_compact(s, NULL));
    /* npk_clone */
    CHECK_ERR(npk_clone(NULL, "x", "y"), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_clone(s, NULL, "y"), NPK_INVALID_ARGUMENT, "src");
    CHECK_ERR(npk_clone(s, "x", NULL), NPK_INVALID_ARGUMENT, "dst");
    /* npk_has */
    CHECK_ERR(npk_has(NULL, "x", &exists), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_has(s, NULL, &exists), NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_has(s, "x", NULL), NPK_INVALID_ARGUMENT, "out_exists");
    CHECK(exists == 7);
    /* npk_list (a NULL buf only asks for sizes) */
    CHECK_ERR(npk_list(NULL, NULL, 0, &needed, &count), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_list(s, NULL, 0, NULL, &count), NPK_INVALID_ARGUMENT, "out_needed");
    CHECK_ERR(npk_list(s, NULL, 0, &needed, NULL), NPK_INVALID_ARGUMENT, "out_count");
    CHECK(needed == 7 && count == 7);
    /* npk_info */
    memset(&info, 0xAB, sizeof info);
    info.struct_size = sizeof info;
    CHECK_ERR(npk_info(NULL, "x", &info), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_info(s, NULL, &info), NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_info(s, "x", NULL), NPK_INVALID_ARGUMENT, "out_info");
    CHECK(info.dtype == (npk_dtype)0xABABABAB && info.nbytes == 0xABABABABABABABABull);
    /* npk_refresh */
    CHECK_ERR(npk_refresh(NULL), NPK_INVALID_ARGUMENT, "store");
    /* npk_view_open / npk_view_release */
    memset(&view, 0xAB, sizeof view);
    view.struct_size = sizeof view;
    CHECK_ERR(npk_view_open(NULL, "x", &view), NPK_INVALID_ARGUMENT, "store");
    CHECK_ERR(npk_view_open(s, NULL, &view), NPK_INVALID_ARGUMENT, "name");
    CHECK_ERR(npk_view_open(s, "x", NULL), NPK_INVALID_ARGUMENT, "out_view");
    CHECK(view.ndim == 0xABABABABu);
    CHECK_OK(npk_view_release(NULL));

    /* Zero elements need no data; zero indices need no index array. */
    {
        const uint64_t shape03[2] = {0, 3};
        CHECK_OK(npk_save(s, "nothing", NPK_INT32, 2, shape03, NULL, NULL));
        CHECK_OK(npk_load(s, "nothing", NPK_INT32, 2, shape03, NULL, NULL));
        CHECK_OK(npk_get_rows(s, "x", NULL, 0, NPK_INT32, 2, shape03, NULL, NULL));
        CHECK_OK(npk_replace_rows(s, "x", NULL, 0, NPK_INT32, 2, shape03, NULL, NULL));
        CHECK_OK(npk_drop(s, (const char *const[]){"nothing"}, 1));
    }
    check_x_intact(s);
}

/* ---- bad names --------------------------------------------------------------------------------*/

/* Every function that takes an array name refuses `name` with NPK_INVALID_ARGUMENT, a message
 * containing `needle`, and creates or changes no file in the store directory. */
static void refuse_name(npk_store *s, const char *name, const char *needle, const char *label)
{
    char *before = dir_listing(g_dir);
    char *after;
    int32_t buf[6] = {0};
    int32_t exists = 7;
    const int64_t idx[1] = {0};
    const uint64_t shape13[2] = {1, 3};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    const char *names[2];
    SECTION(label);
    names[0] = name;
    names[1] = "x";

    CHECK_ERR(npk_save(s, name, NPK_INT32, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_load(s, name, NPK_INT32, 2, SHAPE23, buf, NULL), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_append(s, name, NPK_INT32, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT,
              needle);
    CHECK_ERR(npk_replace_rows(s, name, idx, 1, NPK_INT32, 2, shape13, V23, NULL),
              NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_get_rows(s, name, idx, 1, NPK_INT32, 2, shape13, buf, NULL),
              NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_drop(s, names, 2), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_drop_rows(s, name, idx, 1), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_compact(s, name), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_clone(s, "x", name), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_clone(s, name, "clone_of_bad"), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_has(s, name, &exists), NPK_INVALID_ARGUMENT, needle);
    CHECK(exists == 7);
    CHECK_ERR(npk_info(s, name, &info), NPK_INVALID_ARGUMENT, needle);
    CHECK_ERR(npk_view_open(s, name, &view), NPK_INVALID_ARGUMENT, needle);

    after = dir_listing(g_dir);
    CHECK_MSG(strcmp(before, after) == 0, "the store directory changed:\nbefore:\n%safter:\n%s",
              before, after);
    /* NumPack would have made these paths; we must not have. */
    CHECK(!path_exists(path_in(g_tmp, "x.npkd")));
    CHECK(!path_exists(path_in(g_tmp, "data_.npkd")));
    free(before);
    free(after);
}

static void test_bad_names(npk_store *s)
{
    char long240[241], long239[240], multi239[240];
    int i;
    memset(long240, 'n', 240);
    long240[240] = '\0';
    memset(long239, 'n', 239);
    long239[239] = '\0';
    for (i = 0; i < 119; i++) { /* 119 x "é" (2 bytes) + "a" = 239 bytes */
        multi239[2 * i] = (char)0xC3;
        multi239[2 * i + 1] = (char)0xA9;
    }
    multi239[238] = 'a';
    multi239[239] = '\0';

    refuse_name(s, "../x", "../x", "name ../x");
    refuse_name(s, "a/b", "a/b", "name a/b");
    refuse_name(s, "/abs", "'/'", "name /abs");
    refuse_name(s, "a\\b", "'\\'", "name a\\b");
    refuse_name(s, "", "empty", "name \"\"");
    refuse_name(s, ".", "\".\"", "name .");
    refuse_name(s, "..", "\"..\"", "name ..");
    refuse_name(s, long240, "240 bytes", "name of 240 bytes");
    refuse_name(s, "\xff\xfe", "UTF-8", "name \\xff\\xfe");
    refuse_name(s, "ok\xc3", "UTF-8", "name with a truncated UTF-8 sequence");
    refuse_name(s, "a\nb", "control", "name with \\n");
    refuse_name(s, "tab\there", "control", "name with \\t");
    refuse_name(s, "\x7f", "control", "name \\x7f");
    refuse_name(s, "\x1b[31m", "control", "name with ESC");
    refuse_name(s, "x\xc2\x85", "control", "name with U+0085");

    /* The limit itself is fine, in bytes, whatever the characters. */
    SECTION("239-byte names");
    {
        int32_t back[6] = {0};
        int32_t exists = 0;
        char file[256];
        CHECK_OK(npk_save(s, long239, NPK_INT32, 2, SHAPE23, V23, NULL));
        CHECK_OK(npk_load(s, long239, NPK_INT32, 2, SHAPE23, back, NULL));
        CHECK(memcmp(back, V23, sizeof V23) == 0);
        memcpy(file, "data_", 5);
        memcpy(file + 5, long239, 239);
        memcpy(file + 244, ".npkd", 6); /* 249 bytes: within the 255-byte limit */
        CHECK(path_exists(path_in(g_dir, file)));
        CHECK_OK(npk_save(s, multi239, NPK_INT32, 2, SHAPE23, V23, NULL));
        CHECK_OK(npk_has(s, multi239, &exists));
        CHECK(exists == 1);
        CHECK_OK(npk_drop(s, (const char *const[]){long239, multi239}, 2));
    }
    check_x_intact(s);
}

/* ---- ranks, dtypes, shapes, strides -----------------------------------------------------------*/

/* Strides whose byte range cannot exist: INT64_MAX forward, INT64_MIN (or -2^62 over three
 * rows) backward. Either direction must be refused before any byte is touched. */
static void child_wild_strides(void *arg)
{
    npk_store *s = (npk_store *)arg;
    int32_t buf[8] = {0};
    const uint64_t shape33[2] = {3, 3};
    const int64_t wild[2] = {INT64_MAX, 4};
    const int64_t wild_neg[2] = {INT64_MIN, 4};
    const int64_t wild_neg2[2] = {-(INT64_C(1) << 62), 4};
    SECTION("bad strides (child)");
    CHECK_ERR(npk_save(s, "wild", NPK_INT32, 2, SHAPE23, V23, wild), NPK_INVALID_ARGUMENT,
              "strides");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 2, SHAPE23, buf, wild), NPK_INVALID_ARGUMENT,
              "strides");
    fprintf(stderr, "errors: (child) trying negative strides that span more than the address space\n");
    CHECK_ERR(npk_save(s, "wild", NPK_INT32, 2, shape33, &buf[7], wild_neg2),
              NPK_INVALID_ARGUMENT, "strides");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 2, SHAPE23, &buf[7], wild_neg), NPK_INVALID_ARGUMENT,
              "strides");
}

static void test_bad_layouts(npk_store *s)
{
    uint64_t shape33[33];
    int32_t buf[8] = {0};
    const int64_t idx[1] = {0};
    const uint64_t shape13[2] = {1, 3};
    int i;
    SECTION("bad ranks, dtypes, shapes, strides");
    for (i = 0; i < 33; i++)
        shape33[i] = 1;

    /* Rank 33 (NPK_MAX_DIMS + 1). */
    CHECK_ERR(npk_save(s, "r33", NPK_INT32, 33, shape33, buf, NULL), NPK_INVALID_ARGUMENT, "33");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 33, shape33, buf, NULL), NPK_INVALID_ARGUMENT, "33");
    CHECK_ERR(npk_append(s, "x", NPK_INT32, 33, shape33, buf, NULL), NPK_INVALID_ARGUMENT, "33");
    CHECK_ERR(npk_replace_rows(s, "x", idx, 1, NPK_INT32, 33, shape33, buf, NULL),
              NPK_INVALID_ARGUMENT, "33");
    CHECK_ERR(npk_get_rows(s, "x", idx, 1, NPK_INT32, 33, shape33, buf, NULL),
              NPK_INVALID_ARGUMENT, "33");
    CHECK_ERR(npk_save(s, "r_huge", NPK_INT32, UINT32_MAX, shape33, buf, NULL),
              NPK_INVALID_ARGUMENT, "ndim");

    /* Unknown dtype codes: 14 and -1. */
    CHECK_ERR(npk_save(s, "d14", 14, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT, "14");
    CHECK_ERR(npk_save(s, "dm1", -1, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT, "-1");
    CHECK_ERR(npk_load(s, "x", 14, 2, SHAPE23, buf, NULL), NPK_INVALID_ARGUMENT, "14");
    CHECK_ERR(npk_load(s, "x", -1, 2, SHAPE23, buf, NULL), NPK_INVALID_ARGUMENT, "-1");
    CHECK_ERR(npk_append(s, "x", 14, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT, "dtype");
    CHECK_ERR(npk_replace_rows(s, "x", idx, 1, -1, 2, shape13, V23, NULL), NPK_INVALID_ARGUMENT,
              "dtype");
    CHECK_ERR(npk_get_rows(s, "x", idx, 1, 14, 2, shape13, buf, NULL), NPK_INVALID_ARGUMENT,
              "dtype");
    CHECK_ERR(npk_save(s, "d255", 255, 2, SHAPE23, V23, NULL), NPK_INVALID_ARGUMENT, "255");
    CHECK_EQ_U64(npk_dtype_size(14), 0);
    CHECK_EQ_U64(npk_dtype_size(-1), 0);

    /* Shapes whose size overflows. */
    {
        const uint64_t overflow[2] = {1ull << 40, 1ull << 40};
        const uint64_t too_big = 1ull << 62; /* 2^62 float64: 2^65 bytes */
        CHECK_ERR(npk_save(s, "big", NPK_UINT8, 2, overflow, buf, NULL), NPK_INVALID_ARGUMENT,
                  "overflow");
        CHECK_ERR(npk_save(s, "big", NPK_FLOAT64, 1, &too_big, buf, NULL), NPK_INVALID_ARGUMENT,
                  "shape");
        CHECK_ERR(npk_load(s, "x", NPK_UINT8, 2, overflow, buf, NULL), NPK_INVALID_ARGUMENT,
                  "overflow");
    }
    /* The element count must fit whatever the order of the dimensions: a zero anywhere does not
     * excuse the others (NumPy refuses both). */
    {
        const uint64_t zero_first[3] = {0, 1ull << 62, 1ull << 62};
        const uint64_t zero_last[3] = {1ull << 40, 1ull << 30, 0};
        CHECK_ERR(npk_save(s, "big", NPK_UINT8, 3, zero_first, NULL, NULL), NPK_INVALID_ARGUMENT,
                  "overflow");
        CHECK_ERR(npk_save(s, "big", NPK_UINT8, 3, zero_last, NULL, NULL), NPK_INVALID_ARGUMENT,
                  "overflow");
    }
    /* Strides that leave the address space (in a child process: a library that trusted them
     * would crash). */
    check_in_child(child_wild_strides, s, "strides that overflow");
    /* None of it left a file behind. */
    CHECK(!path_exists(path_in(g_dir, "data_r33.npkd")));
    CHECK(!path_exists(path_in(g_dir, "data_d14.npkd")));
    CHECK(!path_exists(path_in(g_dir, "data_big.npkd")));
    CHECK(!path_exists(path_in(g_dir, "data_wild.npkd")));
    check_x_intact(s);
}

/* ---- open flags and paths ---------------------------------------------------------------------*/

static void test_open_errors(void)
{
    npk_store *s = (npk_store *)0x1;
    char missing[4096], file[4096], under_file[4096];
    SECTION("open errors");
    snprintf(missing, sizeof missing, "%s/does/not/exist", g_tmp);

    /* Unknown flags, read-only together with create, and shared (an in-place writer of arrays
     * that exist) together with either. */
    CHECK_ERR(npk_open(g_dir, 32, &s), NPK_INVALID_ARGUMENT, "flags");
    CHECK_ERR(npk_open(g_dir, 0x80000000u, &s), NPK_INVALID_ARGUMENT, "flags");
    CHECK_ERR(npk_open(g_dir, NPK_OPEN_CREATE | 64, &s), NPK_INVALID_ARGUMENT, "0x40");
    CHECK_ERR(npk_open(missing, NPK_OPEN_READ_ONLY | NPK_OPEN_CREATE, &s), NPK_INVALID_ARGUMENT,
              "read-only");
    CHECK_ERR2(npk_open(missing, NPK_OPEN_SHARED | NPK_OPEN_CREATE, &s), NPK_INVALID_ARGUMENT,
               "NPK_OPEN_SHARED", "NPK_OPEN_CREATE");
    CHECK_ERR2(npk_open(g_dir, NPK_OPEN_SHARED | NPK_OPEN_READ_ONLY, &s), NPK_INVALID_ARGUMENT,
               "NPK_OPEN_SHARED", "NPK_OPEN_READ_ONLY");
    CHECK_ERR(npk_open(missing, NPK_OPEN_SHARED, &s), NPK_NOT_FOUND, missing);
    CHECK(!path_exists(missing));
    CHECK(s == (npk_store *)0x1);

    /* A missing directory without CREATE: not found, nothing created. */
    CHECK_ERR(npk_open(missing, 0, &s), NPK_NOT_FOUND, missing);
    CHECK_ERR(npk_open(missing, NPK_OPEN_READ_ONLY, &s), NPK_NOT_FOUND, missing);
    CHECK_ERR(npk_open(missing, NPK_OPEN_DURABLE, &s), NPK_NOT_FOUND, missing);
    CHECK(!path_exists(path_in(g_tmp, "does")));
    CHECK(s == (npk_store *)0x1);

    /* A regular file is not a store directory. */
    snprintf(file, sizeof file, "%s/plain_file", g_tmp);
    CHECK(write_file(file, "hello", 5) == 0);
    CHECK_ERR(npk_open(file, 0, &s), NPK_INVALID_ARGUMENT, file);
    CHECK_ERR(npk_open(file, NPK_OPEN_CREATE, &s), NPK_INVALID_ARGUMENT, file);
    CHECK_EQ_U64(file_size(file), 5);

    /* The operating system refuses: a path through a regular file (ENOTDIR) is an I/O error
     * with the path and the errno. */
    snprintf(under_file, sizeof under_file, "%s", path_in(file, "store"));
    CHECK_ERR2(npk_open(under_file, NPK_OPEN_CREATE, &s), NPK_IO, under_file, "errno 20");
    CHECK_ERR2(npk_open(under_file, 0, &s), NPK_IO, under_file, "errno 20");
    CHECK(s == (npk_store *)0x1);
}

/* ---- read-only handles ------------------------------------------------------------------------*/

static void test_read_only(void)
{
    npk_store *r = NULL;
    const int64_t idx[1] = {0};
    const uint64_t shape13[2] = {1, 3};
    int32_t buf[6] = {0};
    size_t len_before = 0, len_after = 0;
    unsigned char *meta_before, *meta_after;
    char *listing_before, *listing_after;
    npk_view view = NPK_VIEW_INIT;
    SECTION("read_only");
    meta_before = read_file(path_in(g_dir, "metadata.npkm"), &len_before);
    listing_before = dir_listing(g_dir);
    if (!CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r)))
        return;
    /* Reads work. */
    check_x_intact(r);
    CHECK_OK(npk_view_open(r, "x", &view));
    CHECK(view.data && memcmp(view.data, V23, sizeof V23) == 0);
    CHECK_OK(npk_view_release(&view));
    CHECK_OK(npk_refresh(r));
    /* Every write is refused, naming the store. */
    CHECK_ERR(npk_save(r, "x", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_save(r, "new", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_append(r, "x", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_replace_rows(r, "x", idx, 1, NPK_INT32, 2, shape13, V23, NULL), NPK_READ_ONLY,
              g_dir);
    CHECK_ERR(npk_drop(r, (const char *const[]){"x"}, 1), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_drop_rows(r, "x", idx, 1), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_compact(r, "x"), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_compact(r, NULL), NPK_READ_ONLY, g_dir);
    CHECK_ERR(npk_clone(r, "x", "x2"), NPK_READ_ONLY, g_dir);
    CHECK_OK(npk_load(r, "x", NPK_INT32, 2, SHAPE23, buf, NULL));
    CHECK_OK(npk_close(r));
    /* Nothing on disk changed. */
    meta_after = read_file(path_in(g_dir, "metadata.npkm"), &len_after);
    CHECK(meta_before && meta_after && len_before == len_after &&
          memcmp(meta_before, meta_after, len_after) == 0);
    listing_after = dir_listing(g_dir);
    CHECK_STR(listing_before, listing_after);
    free(meta_before);
    free(meta_after);
    free(listing_before);
    free(listing_after);
}

/* ---- the writer lock --------------------------------------------------------------------------*/

static void child_second_writer(void *arg)
{
    npk_store *w = (npk_store *)0x1;
    (void)arg;
    SECTION("locked: second writer in a child process");
    CHECK_ERR(npk_open(g_dir, 0, &w), NPK_LOCKED, g_dir);
    CHECK_ERR(npk_open(g_dir, NPK_OPEN_CREATE | NPK_OPEN_DURABLE, &w), NPK_LOCKED, g_dir);
    CHECK(w == (npk_store *)0x1);
    /* A reader is fine. */
    if (CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &w))) {
        check_x_intact(w);
        CHECK_OK(npk_close(w));
    }
}

static void test_locked(npk_store *s)
{
    npk_store *w = (npk_store *)0x1, *r = NULL;
    char pid_text[32];
    SECTION("locked");
    /* A second writer handle in the same process. */
    snprintf(pid_text, sizeof pid_text, "pid %ld", (long)getpid());
    CHECK_ERR2(npk_open(g_dir, 0, &w), NPK_LOCKED, g_dir, pid_text);
    CHECK_ERR(npk_open(g_dir, NPK_OPEN_CREATE, &w), NPK_LOCKED, g_dir);
    CHECK(w == (npk_store *)0x1);
    /* Readers open alongside the writer. */
    if (CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r))) {
        npk_store *r2 = NULL;
        CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r2));
        check_x_intact(r);
        check_x_intact(r2);
        CHECK_OK(npk_close(r2));
        CHECK_OK(npk_close(r));
    }
    /* Another process, while this one holds the lock. */
    check_in_child(child_second_writer, NULL, "second writer");

    /* Another process holds the lock: this one is refused, with the holder's pid. */
    {
        int to_parent[2], to_child[2];
        pid_t pid;
        char c = 0;
        int status = 0;
        CHECK_OK(npk_close(s));
        if (pipe(to_parent) != 0 || pipe(to_child) != 0) {
            CHECK_MSG(0, "pipe: %s", strerror(errno));
            return;
        }
        pid = fork();
        if (pid == 0) {
            npk_store *holder = NULL;
            char go = 0;
            close(to_parent[0]);
            close(to_child[1]);
            c = npk_open(g_dir, 0, &holder) == NPK_OK ? 'y' : 'n';
            if (write(to_parent[1], &c, 1) != 1)
                _exit(3);
            if (read(to_child[0], &go, 1) != 1)
                _exit(4);
            npk_close(holder);
            _exit(0);
        }
        close(to_parent[1]);
        close(to_child[0]);
        CHECK(read(to_parent[0], &c, 1) == 1 && c == 'y');
        snprintf(pid_text, sizeof pid_text, "pid %ld", (long)pid);
        w = (npk_store *)0x1;
        CHECK_ERR2(npk_open(g_dir, 0, &w), NPK_LOCKED, g_dir, pid_text);
        CHECK(w == (npk_store *)0x1);
        if (CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &r))) {
            check_x_intact(r);
            CHECK_OK(npk_close(r));
        }
        CHECK(write(to_child[1], "g", 1) == 1);
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(to_parent[0]);
        close(to_child[1]);
    }
    /* Once the other writer closed, the lock is free. */
    w = NULL;
    if (CHECK_OK(npk_open(g_dir, 0, &w))) {
        check_x_intact(w);
        CHECK_OK(npk_close(w));
    }
}

/* ---- mismatches and missing arrays ------------------------------------------------------------*/

static void test_mismatch_not_found(npk_store *s)
{
    int32_t buf[12] = {0};
    float fbuf[6] = {0};
    const uint64_t shape32[2] = {3, 2}, shape6 = 6, shape233[3] = {2, 3, 1}, shape13[2] = {1, 3};
    const int64_t idx[1] = {0};
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_view view = NPK_VIEW_INIT;
    SECTION("mismatch");
    /* load: wrong shape (same element count), wrong rank, wrong dtype. */
    CHECK_ERR2(npk_load(s, "x", NPK_INT32, 2, shape32, buf, NULL), NPK_SHAPE_MISMATCH, "\"x\"",
               "[2, 3]");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 1, &shape6, buf, NULL), NPK_SHAPE_MISMATCH, "\"x\"");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 3, shape233, buf, NULL), NPK_SHAPE_MISMATCH, "\"x\"");
    CHECK_ERR(npk_load(s, "x", NPK_INT32, 0, NULL, buf, NULL), NPK_SHAPE_MISMATCH, "\"x\"");
    CHECK_ERR(npk_load(s, "x", NPK_FLOAT32, 2, SHAPE23, fbuf, NULL), NPK_DTYPE_MISMATCH, "\"x\"");
    CHECK_ERR(npk_load(s, "x", NPK_UINT32, 2, SHAPE23, buf, NULL), NPK_DTYPE_MISMATCH, "\"x\"");
    CHECK_ERR(npk_load(s, "x", NPK_INT64, 2, SHAPE23, buf, NULL), NPK_DTYPE_MISMATCH, "\"x\"");
    CHECK_ERR(npk_load(s, "scalar", NPK_FLOAT64, 1, &shape6, buf, NULL), NPK_SHAPE_MISMATCH,
              "scalar");
    /* Nothing was written into the buffer. */
    CHECK(buf[0] == 0 && buf[5] == 0 && fbuf[0] == 0);
    check_x_intact(s);

    SECTION("not_found");
    memset(&info, 0xAB, sizeof info);
    info.struct_size = sizeof info;
    memset(&view, 0xAB, sizeof view);
    view.struct_size = sizeof view;
    CHECK_ERR(npk_load(s, "ghost", NPK_INT32, 2, SHAPE23, buf, NULL), NPK_NOT_FOUND, "ghost");
    CHECK_ERR(npk_info(s, "ghost", &info), NPK_NOT_FOUND, "ghost");
    CHECK(info.ndim == 0xABABABABu);
    CHECK_ERR(npk_view_open(s, "ghost", &view), NPK_NOT_FOUND, "ghost");
    CHECK(view.ndim == 0xABABABABu);
    CHECK_ERR(npk_get_rows(s, "ghost", idx, 1, NPK_INT32, 2, shape13, buf, NULL), NPK_NOT_FOUND,
              "ghost");
    CHECK_ERR(npk_replace_rows(s, "ghost", idx, 1, NPK_INT32, 2, shape13, V23, NULL),
              NPK_NOT_FOUND, "ghost");
    CHECK_ERR(npk_drop_rows(s, "ghost", idx, 1), NPK_NOT_FOUND, "ghost");
    CHECK_ERR(npk_clone(s, "ghost", "ghost2"), NPK_NOT_FOUND, "ghost");
    CHECK_ERR(npk_append(s, "ghost", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_NOT_FOUND, "ghost");
    CHECK_ERR(npk_drop(s, (const char *const[]){"ghost"}, 1), NPK_NOT_FOUND, "ghost");
    CHECK_ERR(npk_compact(s, "ghost"), NPK_NOT_FOUND, "ghost");
    CHECK(!path_exists(path_in(g_dir, "data_ghost.npkd")));
    CHECK(!path_exists(path_in(g_dir, "data_ghost2.npkd")));
    CHECK(!path_exists(path_in(g_dir, "deleted_ghost.npkb")));

    SECTION("already_exists");
    CHECK_OK(npk_clone(s, "x", "x_copy"));
    CHECK_ERR(npk_clone(s, "scalar", "x_copy"), NPK_ALREADY_EXISTS, "x_copy");
    CHECK_ERR(npk_clone(s, "x", "x"), NPK_ALREADY_EXISTS, "\"x\"");
    CHECK_OK(npk_drop(s, (const char *const[]){"x_copy"}, 1));
}

/* ---- busy: a batch is open --------------------------------------------------------------------*/

static void test_busy(npk_store *s)
{
    npk_batch *b = NULL, *b2 = NULL;
    const int64_t idx[1] = {0};
    const uint64_t shape13[2] = {1, 3};
    int32_t exists = 0;
    SECTION("busy");
    /* The batch API has its own tests (batch/); here it only gets in the way of plain writes. */
    if (!CHECK_OK(npk_batch_begin(s, 0, &b)))
        return;
    CHECK_ERR(npk_save(s, "x", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_BUSY, g_dir);
    CHECK_ERR(npk_save(s, "busy_new", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_BUSY, g_dir);
    CHECK_ERR(npk_append(s, "x", NPK_INT32, 2, SHAPE23, V23, NULL), NPK_BUSY, g_dir);
    CHECK_ERR(npk_replace_rows(s, "x", idx, 1, NPK_INT32, 2, shape13, V23, NULL), NPK_BUSY, g_dir);
    CHECK_ERR(npk_drop(s, (const char *const[]){"x"}, 1), NPK_BUSY, g_dir);
    CHECK_ERR(npk_drop_rows(s, "x", idx, 1), NPK_BUSY, g_dir);
    CHECK_ERR(npk_compact(s, NULL), NPK_BUSY, g_dir);
    CHECK_ERR(npk_clone(s, "x", "busy_clone"), NPK_BUSY, g_dir);
    CHECK_ERR(npk_batch_begin(s, 0, &b2), NPK_BUSY, g_dir);
    CHECK(b2 == NULL);
    /* Reads still work and see the committed state. */
    check_x_intact(s);
    CHECK_OK(npk_has(s, "busy_new", &exists));
    CHECK(exists == 0);
    CHECK_OK(npk_batch_abort(b));
    /* Writable again. */
    CHECK_OK(npk_save(s, "busy_new", NPK_INT32, 2, SHAPE23, V23, NULL));
    CHECK_OK(npk_drop(s, (const char *const[]){"busy_new"}, 1));
    check_x_intact(s);
}

/* ---- I/O errors: a full disk (RLIMIT_FSIZE) ---------------------------------------------------*/

static void child_file_size_limit(void *arg)
{
    npk_store *s = NULL;
    struct rlimit lim;
    const size_t big_n = 1 << 18; /* 1 MiB of int32 */
    int32_t *big = (int32_t *)calloc(big_n, sizeof(int32_t));
    uint64_t big_shape[2];
    char *listing;
    (void)arg;
    SECTION("io: file size limit");
    big_shape[0] = big_n / 3;
    big_shape[1] = 3;
    if (!CHECK_OK(npk_open(g_dir, 0, &s)))
        return;
    /* Writes past 64 KiB fail with EFBIG instead of killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    lim.rlim_cur = lim.rlim_max = 64 * 1024;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);

    CHECK_ERR2(npk_save(s, "x", NPK_INT32, 2, big_shape, big, NULL), NPK_IO, "data_x.npkd",
               "errno 27");
    CHECK_ERR2(npk_save(s, "bigger", NPK_INT32, 2, big_shape, big, NULL), NPK_IO,
               "data_bigger.npkd", "errno");
    CHECK_ERR2(npk_append(s, "x", NPK_INT32, 2, big_shape, big, NULL), NPK_IO, "data_x.npkd",
               "errno");
    CHECK_OK(npk_clone(s, "x", "x_clone")); /* small: fits */
    /* The committed state is the old one, in memory and on disk. */
    check_x_intact(s);
    CHECK_EQ_U64(file_size(path_in(g_dir, "data_x.npkd")), sizeof V23);
    listing = dir_listing(g_dir);
    CHECK_MSG(strstr(listing, ".npk-stage-") == NULL && strstr(listing, "data_bigger") == NULL,
              "leftovers after failed writes:\n%s", listing);
    free(listing);
    CHECK_OK(npk_drop(s, (const char *const[]){"x_clone"}, 1));
    CHECK_OK(npk_close(s));
    if (CHECK_OK(npk_open(g_dir, NPK_OPEN_READ_ONLY, &s))) {
        check_x_intact(s);
        CHECK_OK(npk_close(s));
    }
    free(big);
}

/* ---- out of memory: an address-space limit (RLIMIT_AS) ----------------------------------------*/

static uint64_t address_space_bytes(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void child_address_space_limit(void *arg)
{
    npk_store *s = NULL;
    npk_view view = NPK_VIEW_INIT;
    struct rlimit lim;
    (void)arg;
    SECTION("out_of_memory: address space limit");
    if (!CHECK_OK(npk_open(g_dir, 0, &s)))
        return;
    memset(&view, 0, sizeof view);
    view.struct_size = sizeof view;
    lim.rlim_cur = lim.rlim_max = address_space_bytes() + (16u << 20);
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
    /* Mapping 64 MiB does not fit in 16 MiB of headroom. */
    CHECK_ERR(npk_view_open(s, "huge", &view), NPK_OUT_OF_MEMORY, "huge");
    CHECK(view.data == NULL);
    /* Nor does a 64 MiB copy of the live rows. */
    CHECK_ERR(npk_view_open(s, "huge_holes", &view), NPK_OUT_OF_MEMORY, "huge_holes");
    CHECK(view.data == NULL);
    /* Small things still work. */
    check_x_intact(s);
    CHECK_OK(npk_close(s));
}

static void test_out_of_memory(npk_store *s)
{
    const uint64_t n = 8u << 20; /* 8 Mi float64 = 64 MiB */
    const int64_t zero_stride = 0;
    const double one = 1.0;
    const int64_t first = 0;
    SECTION("out_of_memory");
    /* Broadcast one value (stride 0) to fill big arrays without a big buffer. */
    if (!CHECK_OK(npk_save(s, "huge", NPK_FLOAT64, 1, &n, &one, &zero_stride)))
        return;
    CHECK_OK(npk_save(s, "huge_holes", NPK_FLOAT64, 1, &n, &one, &zero_stride));
    CHECK_OK(npk_drop_rows(s, "huge_holes", &first, 1));
    CHECK_OK(npk_close(s));
    check_in_child(child_address_space_limit, NULL, "address space limit");
}

/* ---- the last error is per thread -------------------------------------------------------------*/

static void *other_thread(void *arg)
{
    int *ok = (int *)arg;
    int32_t e;
    *ok = npk_has(NULL, "x", &e) == NPK_INVALID_ARGUMENT &&
          strstr(npk_last_error(), "store") != NULL;
    return NULL;
}

static void test_last_error_per_thread(npk_store *s)
{
    pthread_t t;
    int thread_ok = 0;
    char mine[512];
    int32_t buf[6];
    SECTION("last_error per thread");
    CHECK_ERR(npk_load(s, "only_mine", NPK_INT32, 2, SHAPE23, buf, NULL), NPK_NOT_FOUND,
              "only_mine");
    snprintf(mine, sizeof mine, "%s", npk_last_error());
    CHECK(pthread_create(&t, NULL, other_thread, &thread_ok) == 0);
    pthread_join(t, NULL);
    CHECK(thread_ok);
    CHECK_STR(npk_last_error(), mine);
    /* A successful call leaves the last failure's message alone. */
    CHECK_OK(npk_load(s, "x", NPK_INT32, 2, SHAPE23, buf, NULL));
    CHECK_STR(npk_last_error(), mine);
}

int main(int argc, char **argv)
{
    npk_store *s;
    (void)argc;
    check_begin(argv[0]);
    g_tmp = make_tmpdir(NULL);
    s = open_fixture();

    test_null_pointers(s);
    test_bad_names(s);
    test_bad_layouts(s);
    test_open_errors();
    test_read_only();
    test_mismatch_not_found(s);
    test_last_error_per_thread(s);
    test_busy(s);
    test_locked(s); /* closes s */
    s = NULL;
    if (CHECK_OK(npk_open(g_dir, 0, &s))) {
        CHECK_OK(npk_close(s));
        check_in_child(child_file_size_limit, NULL, "file size limit");
    }
    if (CHECK_OK(npk_open(g_dir, 0, &s)))
        test_out_of_memory(s); /* closes s */

    remove_tree(g_tmp);
    free(g_tmp);
    return check_end();
}
