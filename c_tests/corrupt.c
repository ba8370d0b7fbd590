/*
 * corrupt: damaged and hostile stores. Each case builds a valid store, closes it, damages one
 * file, then opens it read-only, as a writer and as a writer with NPK_OPEN_CREATE. Damage to the
 * store (catalogue, commit record) fails every open with NPK_CORRUPT; damage to one array (its
 * data file, its bitmap, a name whose files cannot be named safely) lets every open succeed,
 * the array's reads fail with NPK_CORRUPT, and the other array read as saved. Either way the
 * message names the damaged file, and every file of the store stays byte-identical (same
 * inode, same bytes: never written, never replaced).
 *
 * The store is one float32 array "x" of shape (2, 3), so metadata.npkm is the 99-byte file of
 * format.md, with these offsets:
 *   0 magic "NPKB" | 4 version | 8 total_size | 16 array_count
 *   20 name len | 24 "x" | 25 ndim | 29 shape[0] | 37 shape[1] | 45 data file len
 *   49 "data_x.npkd" | 60 mtime | 68 size_bytes | 76 dtype | 77 compression | 78 level
 *   82 original size | 90 compressed size | 98 block flag
 */
#include "check.h"

#include <sys/wait.h>
#include <limits.h>

#define OFF_COUNT 16
#define OFF_NAME 24
#define OFF_NDIM 25
#define OFF_SHAPE0 29
#define OFF_SHAPE1 37
#define OFF_DATAFILE 49
#define OFF_SIZE 68
#define OFF_DTYPE 76
#define OFF_ALGO 77
#define META_LEN 99

static char *g_tmp;
static int g_case;

/* ---- building and damaging stores -------------------------------------------------------------*/

/* A fresh store with "x": float32 (2, 3) = 0..5; with_bitmap drops row 0 (deleted_x.npkb). */
static char *build_store(int with_bitmap)
{
    static char dir[4096];
    npk_store *s = NULL;
    const uint64_t shape[2] = {2, 3};
    const float v[6] = {0, 1, 2, 3, 4, 5};
    const int64_t first = 0;
    snprintf(dir, sizeof dir, "%s/case%02d", g_tmp, ++g_case);
    if (!CHECK_OK(npk_open(dir, NPK_OPEN_CREATE, &s)))
        return dir;
    CHECK_OK(npk_save(s, "x", NPK_FLOAT32, 2, shape, v, NULL));
    if (with_bitmap)
        CHECK_OK(npk_drop_rows(s, "x", &first, 1));
    CHECK_OK(npk_close(s));
    CHECK_EQ_U64(file_size(path_in(dir, "metadata.npkm")), META_LEN);
    return dir;
}

static void patch_u8(const char *file, long off, uint8_t v)
{
    CHECK(patch_file(file, off, &v, 1) == 0);
}

static void patch_u32(const char *file, long off, uint32_t v)
{
    unsigned char b[4];
    int i;
    for (i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    CHECK(patch_file(file, off, b, 4) == 0);
}

static void patch_u64(const char *file, long off, uint64_t v)
{
    unsigned char b[8];
    int i;
    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    CHECK(patch_file(file, off, b, 8) == 0);
}

static void truncate_to(const char *file, long long len)
{
    CHECK(truncate(file, (off_t)len) == 0);
}

/* Replaces `file` by a symlink to a copy of it outside the store. */
static void replace_by_symlink(const char *file)
{
    char copy[4096];
    size_t len = 0;
    unsigned char *bytes = read_file(file, &len);
    snprintf(copy, sizeof copy, "%s.outside-%d", g_tmp, g_case);
    CHECK(bytes != NULL && write_file(copy, bytes, len) == 0);
    CHECK(unlink(file) == 0);
    CHECK(symlink(copy, file) == 0);
    free(bytes);
}

/* The three opens of a damaged store: all NPK_CORRUPT naming `needle` (normally the damaged
 * file's path), nothing written. */
static void expect_corrupt(const char *dir, const char *needle, const char *label)
{
    snapshot before;
    npk_store *s = (npk_store *)0x1;
    static const uint32_t flags[4] = {NPK_OPEN_READ_ONLY, 0, NPK_OPEN_CREATE,
                                      NPK_OPEN_DURABLE};
    int i;
    SECTION(label);
    take_snapshot(dir, &before);
    for (i = 0; i < 4; i++) {
        if (!CHECK_ERR(npk_open(dir, flags[i], &s), NPK_CORRUPT, needle))
            fprintf(stderr, "    (open flags %u)\n", flags[i]);
        CHECK(s == (npk_store *)0x1);
        if (s != (npk_store *)0x1) {
            npk_close(s);
            s = (npk_store *)0x1;
        }
    }
    /* The inspector flags the same damage, with or without --repair, and writes nothing. */
    {
        static const char *modes[2] = {"", " --repair"};
        char cmd[4096];
        for (i = 0; i < 2; i++) {
            snprintf(cmd, sizeof cmd, "'%s' check '%s'%s >/dev/null 2>&1", NPK_BIN, dir, modes[i]);
            int rc = system(cmd);
            CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "npk check%s exited %d, expected 1",
                      modes[i], WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
        }
    }
    check_unchanged(&before, dir);
    free_snapshot(&before);
}

/* build_store plus a healthy float32 array "y" = {7} (its record follows x's, so the offsets
 * above still hold): damage to x alone must leave y readable. */
static char *build_store_y(int with_bitmap)
{
    char *dir = build_store(with_bitmap);
    npk_store *s = NULL;
    const uint64_t one = 1;
    const float seven = 7;
    if (CHECK_OK(npk_open(dir, 0, &s))) {
        CHECK_OK(npk_save(s, "y", NPK_FLOAT32, 1, &one, &seven, NULL));
        CHECK_OK(npk_close(s));
    }
    return dir;
}

/* One array's damage: every open succeeds; reading `name` fails with NPK_CORRUPT naming
 * `needle` (info, or a load with the shape info reports: a writer opens data files on first
 * use); "y" reads as saved; npk check reports it; nothing is written. */
static void expect_array_corrupt(const char *dir, const char *name, const char *needle,
                                 const char *label)
{
    snapshot before;
    static const uint32_t flags[4] = {NPK_OPEN_READ_ONLY, 0, NPK_OPEN_CREATE,
                                      NPK_OPEN_DURABLE};
    int i;
    SECTION(label);
    take_snapshot(dir, &before);
    for (i = 0; i < 4; i++) {
        npk_store *s = NULL;
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        const uint64_t one = 1;
        float y = 0, buf[64];
        npk_status rc;
        if (!CHECK_OK(npk_open(dir, flags[i], &s))) {
            fprintf(stderr, "    (open flags %u)\n", flags[i]);
            continue;
        }
        rc = npk_info(s, name, &info);
        if (rc == NPK_OK) {
            CHECK(info.ndim <= 2 && info.nbytes <= sizeof buf);
            rc = npk_load(s, name, NPK_FLOAT32, info.ndim, info.shape, buf, NULL);
        }
        if (!CHECK_ERR(rc, NPK_CORRUPT, needle))
            fprintf(stderr, "    (open flags %u)\n", flags[i]);
        CHECK_OK(npk_load(s, "y", NPK_FLOAT32, 1, &one, &y, NULL));
        CHECK(y == 7);
        CHECK_OK(npk_close(s));
    }
    {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "'%s' check '%s' >/dev/null 2>&1", NPK_BIN, dir);
        int rc = system(cmd);
        CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "npk check exited %d, expected 1",
                  WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    }
    check_unchanged(&before, dir);
    free_snapshot(&before);
}

/* ---- the cases --------------------------------------------------------------------------------*/

static void test_metadata_damage(void)
{
    static const long lengths[] = {0, 3, 19, 20, 24, 29, 50, 76, 98};
    char label[128];
    const char *dir, *meta;
    size_t i;

    for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        dir = build_store(0);
        meta = path_in(dir, "metadata.npkm");
        truncate_to(meta, lengths[i]);
        snprintf(label, sizeof label, "metadata.npkm truncated to %ld bytes", lengths[i]);
        expect_corrupt(dir, path_in(dir, "metadata.npkm"), label);
    }

    /* Garbage of the right length, and garbage after a valid catalogue. */
    {
        unsigned char junk[META_LEN];
        fill_bytes(junk, sizeof junk, 7);
        dir = build_store(0);
        CHECK(write_file(path_in(dir, "metadata.npkm"), junk, sizeof junk) == 0);
        expect_corrupt(dir, path_in(dir, "metadata.npkm"), "metadata.npkm garbage");

        dir = build_store(0);
        meta = path_in(dir, "metadata.npkm");
        CHECK(patch_file(meta, META_LEN, junk, 17) == 0);
        expect_corrupt(dir, path_in(dir, "metadata.npkm"), "metadata.npkm trailing bytes");
    }

    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), 0, 'X');
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "wrong magic");

    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_DTYPE, 99);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "dtype code 99");
    /* ... and the message says what it found. */
    {
        npk_store *s = NULL;
        CHECK_ERR(npk_open(dir, NPK_OPEN_READ_ONLY, &s), NPK_CORRUPT, "99");
    }
    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_DTYPE, 14);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "dtype code 14");

    /* A shape whose byte size overflows (2^62 x 3 float32), or whose element count does
     * (2^40 x 2^40). */
    dir = build_store(0);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SHAPE0, 1ull << 62);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "shape dim 2^62");
    dir = build_store(0);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SHAPE0, 1ull << 40);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SHAPE1, 1ull << 40);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "shape 2^40 x 2^40");
    dir = build_store(0);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SHAPE0, UINT64_MAX);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "shape dim 2^64-1");

    /* size_bytes disagrees with the shape. */
    dir = build_store(0);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SHAPE0, 3);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "size_bytes disagrees with shape");

    /* ndim 33. */
    dir = build_store(0);
    patch_u32(path_in(dir, "metadata.npkm"), OFF_NDIM, 33);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "ndim 33");

    /* A hostile name or data file name in the catalogue. */
    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_NAME, '/');
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "array name \"/\"");
    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_NAME, '\n');
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "array name \"\\n\"");
    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_DATAFILE + 5, 'y');
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "data file name data_y.npkd");
    dir = build_store(0);
    CHECK(patch_file(path_in(dir, "metadata.npkm"), OFF_DATAFILE, "../../etc/x", 11) == 0);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "data file name ../../etc/x");

    /* Counts that promise more than the file holds. */
    dir = build_store(0);
    patch_u32(path_in(dir, "metadata.npkm"), OFF_COUNT, 2);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "array_count 2");
    dir = build_store(0);
    patch_u32(path_in(dir, "metadata.npkm"), OFF_COUNT, UINT32_MAX);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "array_count 2^32-1");
    dir = build_store(0);
    patch_u32(path_in(dir, "metadata.npkm"), 20, 1u << 30); /* name length */
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "name length 2^30");

    /* The same array twice. */
    {
        size_t len = 0;
        unsigned char *m, *twice;
        dir = build_store(0);
        meta = path_in(dir, "metadata.npkm");
        m = read_file(meta, &len);
        if (CHECK(m != NULL && len == META_LEN)) {
            twice = (unsigned char *)malloc(2 * META_LEN - 20);
            memcpy(twice, m, META_LEN);
            memcpy(twice + META_LEN, m + 20, META_LEN - 20);
            CHECK(write_file(meta, twice, 2 * META_LEN - 20) == 0);
            patch_u32(meta, OFF_COUNT, 2);
            expect_corrupt(dir, path_in(dir, "metadata.npkm"), "duplicate record");
            free(twice);
        }
        free(m);
    }

    /* Compression (which NumPack never writes and we do not read). */
    dir = build_store(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_ALGO, 1);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "compression algorithm 1");

    /* A symlink, a directory. */
    dir = build_store(0);
    replace_by_symlink(path_in(dir, "metadata.npkm"));
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "metadata.npkm is a symlink");
    dir = build_store(0);
    CHECK(unlink(path_in(dir, "metadata.npkm")) == 0);
    CHECK(mkdir(path_in(dir, "metadata.npkm"), 0755) == 0);
    expect_corrupt(dir, path_in(dir, "metadata.npkm"), "metadata.npkm is a directory");
}

static void test_data_damage(void)
{
    const char *dir;

    /* Shorter than its shape: several lengths. */
    dir = build_store_y(0);
    truncate_to(path_in(dir, "data_x.npkd"), 23);
    expect_array_corrupt(dir, "x", path_in(dir, "data_x.npkd"), "data_x.npkd truncated to 23 bytes");
    dir = build_store_y(0);
    truncate_to(path_in(dir, "data_x.npkd"), 0);
    expect_array_corrupt(dir, "x", path_in(dir, "data_x.npkd"), "data_x.npkd truncated to 0 bytes");
    /* The metadata claims more rows than the file holds (shape and size both patched). */
    dir = build_store_y(0);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SHAPE0, 4);
    patch_u64(path_in(dir, "metadata.npkm"), OFF_SIZE, 48);
    expect_array_corrupt(dir, "x", path_in(dir, "data_x.npkd"), "shape larger than data_x.npkd");
    /* Missing altogether. */
    dir = build_store_y(0);
    CHECK(unlink(path_in(dir, "data_x.npkd")) == 0);
    expect_array_corrupt(dir, "x", "data_x.npkd", "data_x.npkd missing");
    /* A symlink (to a perfectly good copy) or a directory. */
    dir = build_store_y(0);
    replace_by_symlink(path_in(dir, "data_x.npkd"));
    expect_array_corrupt(dir, "x", path_in(dir, "data_x.npkd"), "data_x.npkd is a symlink");
    dir = build_store_y(0);
    CHECK(unlink(path_in(dir, "data_x.npkd")) == 0);
    CHECK(mkdir(path_in(dir, "data_x.npkd"), 0755) == 0);
    expect_array_corrupt(dir, "x", path_in(dir, "data_x.npkd"), "data_x.npkd is a directory");

    /* Longer than its shape is fine (an interrupted append, see crash_recovery). */
}

static void test_bitmap_damage(void)
{
    static const long lengths[] = {0, 5, 16, 23, 25};
    char label[128];
    const char *dir;
    size_t i;

    /* The valid store first: 16-byte header + one word. */
    dir = build_store(1);
    CHECK_EQ_U64(file_size(path_in(dir, "deleted_x.npkb")), 24);
    {
        npk_store *s = NULL;
        npk_array_info info = NPK_ARRAY_INFO_INIT;
        if (CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &s))) {
            CHECK_OK(npk_info(s, "x", &info));
            CHECK(info.shape[0] == 1 && info.physical_rows == 2);
            CHECK_OK(npk_close(s));
        }
    }

    for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        dir = build_store_y(1);
        if (lengths[i] > 24) {
            const unsigned char z = 0;
            CHECK(patch_file(path_in(dir, "deleted_x.npkb"), 24, &z, 1) == 0);
        } else {
            truncate_to(path_in(dir, "deleted_x.npkb"), lengths[i]);
        }
        snprintf(label, sizeof label, "deleted_x.npkb of %ld bytes", lengths[i]);
        expect_array_corrupt(dir, "x", path_in(dir, "deleted_x.npkb"), label);
    }
    /* A bit set for a row past the end (row 5 of 2). */
    dir = build_store_y(1);
    patch_u64(path_in(dir, "deleted_x.npkb"), 16, 0x22);
    expect_array_corrupt(dir, "x", path_in(dir, "deleted_x.npkb"), "bitmap bit past the last row");
    /* A header for another row count. */
    dir = build_store_y(1);
    patch_u64(path_in(dir, "deleted_x.npkb"), 0, 3);
    expect_array_corrupt(dir, "x", path_in(dir, "deleted_x.npkb"), "bitmap header for 3 rows");
    /* A symlink. */
    dir = build_store_y(1);
    replace_by_symlink(path_in(dir, "deleted_x.npkb"));
    expect_array_corrupt(dir, "x", path_in(dir, "deleted_x.npkb"), "deleted_x.npkb is a symlink");
}

/* Names numpack accepts and we would not create, with their data file named to match. */
static void test_odd_names(void)
{
    const char *dir;
    npk_store *s = NULL;
    const uint64_t shape[2] = {2, 3};
    float v[6];
    int i;

    /* A control character: the data file is one plain name in the store, and it reads. */
    dir = build_store_y(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_NAME, '\n');
    patch_u8(path_in(dir, "metadata.npkm"), OFF_DATAFILE + 5, '\n');
    CHECK(rename(path_in(dir, "data_x.npkd"), path_in(dir, "data_\n.npkd")) == 0);
    SECTION("array name \"\\n\" reads");
    if (CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &s))) {
        CHECK_OK(npk_load(s, "\n", NPK_FLOAT32, 2, shape, v, NULL));
        for (i = 0; i < 6; i++)
            CHECK(v[i] == (float)i);
        /* Writes to it are refused; the name is one we would not create. */
        CHECK_OK(npk_close(s));
    }
    if (CHECK_OK(npk_open(dir, 0, &s))) {
        CHECK_ERR(npk_save(s, "\n", NPK_FLOAT32, 2, shape, v, NULL), NPK_INVALID_ARGUMENT,
                  "control character");
        CHECK_OK(npk_load(s, "\n", NPK_FLOAT32, 2, shape, v, NULL));
        CHECK_OK(npk_close(s));
    }

    /* A '/': its files would not be a plain name in the store, so they are never opened. */
    dir = build_store_y(0);
    patch_u8(path_in(dir, "metadata.npkm"), OFF_NAME, '/');
    patch_u8(path_in(dir, "metadata.npkm"), OFF_DATAFILE + 5, '/');
    expect_array_corrupt(dir, "/", "array \"/\" cannot be read", "array name \"/\"");
}

static void test_commit_record_damage(void)
{
    const char *dir;
    unsigned char junk[64];
    /* A commit record that is not one. */
    fill_bytes(junk, sizeof junk, 3);
    dir = build_store(0);
    CHECK(write_file(path_in(dir, ".npk.commit"), junk, sizeof junk) == 0);
    expect_corrupt(dir, path_in(dir, ".npk.commit"), ".npk.commit garbage");
    /* A record that starts right and then is cut short. */
    dir = build_store(0);
    CHECK(write_file(path_in(dir, ".npk.commit"), "NPKC\x01\x00\x00\x00\xff", 9) == 0);
    expect_corrupt(dir, path_in(dir, ".npk.commit"), ".npk.commit truncated");
    /* A record that is a symlink: never followed, whatever it points at. */
    dir = build_store(0);
    CHECK(write_file(path_in(dir, ".npk.commit"), junk, sizeof junk) == 0);
    replace_by_symlink(path_in(dir, ".npk.commit"));
    expect_corrupt(dir, path_in(dir, ".npk.commit"), ".npk.commit is a symlink");
}

static void test_not_a_store(void)
{
    char dir[4096];
    npk_store *s = (npk_store *)0x1;
    SECTION("empty directory");
    snprintf(dir, sizeof dir, "%s/empty", g_tmp);
    CHECK(mkdir(dir, 0755) == 0);
    CHECK_ERR2(npk_open(dir, NPK_OPEN_READ_ONLY, &s), NPK_NOT_FOUND, dir, "metadata.npkm");
    CHECK_ERR2(npk_open(dir, 0, &s), NPK_NOT_FOUND, dir, "metadata.npkm");
    CHECK(s == (npk_store *)0x1);
    /* Opening a directory that is not a store (without CREATE) leaves it as it was. */
    {
        char *listing = dir_listing(dir); /* freed: CHECK_MSG evaluates it even on success */
        CHECK_MSG(dir_count(dir) == 0, "%d files left in a directory that is not a store:\n%s",
                  dir_count(dir), listing);
        free(listing);
    }

    /* Data files without a catalogue are not a store either. */
    SECTION("data files but no metadata.npkm");
    {
        const char *d = build_store(0);
        CHECK(unlink(path_in(d, "metadata.npkm")) == 0);
        CHECK_ERR(npk_open(d, NPK_OPEN_READ_ONLY, &s), NPK_NOT_FOUND, "metadata.npkm");
        CHECK_ERR(npk_open(d, 0, &s), NPK_NOT_FOUND, "metadata.npkm");
        CHECK(path_exists(path_in(d, "data_x.npkd")));
    }
}

/* A file damaged behind an open handle's back: the next read says corrupt, never crashes. */
static void test_damage_while_open(void)
{
    const char *dir = build_store(0);
    npk_store *s = NULL;
    const uint64_t shape[2] = {2, 3};
    const int64_t idx = 1;
    const uint64_t shape13[2] = {1, 3};
    const uint64_t off[2] = {1, 0};
    float back[6];
    SECTION("truncated while open");
    if (!CHECK_OK(npk_open(dir, NPK_OPEN_READ_ONLY, &s)))
        return;
    /* Row gets copy out of a cached mapping: made here, before the cut. */
    CHECK_OK(npk_get_rows(s, "x", &idx, 1, NPK_FLOAT32, 2, shape13, back, NULL));
    truncate_to(path_in(dir, "data_x.npkd"), 8);
    CHECK_ERR(npk_load(s, "x", NPK_FLOAT32, 2, shape, back, NULL), NPK_CORRUPT, "\"x\"");
    CHECK_ERR(npk_get_rows(s, "x", &idx, 1, NPK_FLOAT32, 2, shape13, back, NULL), NPK_CORRUPT,
              "\"x\"");
    CHECK_ERR(npk_read_block(s, "x", NPK_FLOAT32, 2, off, shape13, back, NULL), NPK_CORRUPT,
              "\"x\"");
    /* refresh re-reads the store: one array's damage is that array's, reported on access. */
    CHECK_OK(npk_refresh(s));
    CHECK_ERR(npk_load(s, "x", NPK_FLOAT32, 2, shape, back, NULL), NPK_CORRUPT,
              path_in(dir, "data_x.npkd"));
    CHECK_OK(npk_close(s));
}

int main(int argc, char **argv)
{
    (void)argc;
    check_begin(argv[0]);
    g_tmp = make_tmpdir(NULL);

    test_metadata_damage();
    test_data_damage();
    test_bitmap_damage();
    test_odd_names();
    test_commit_record_damage();
    test_not_a_store();
    test_damage_while_open();

    remove_tree(g_tmp);
    {
        /* The symlink targets live next to the temporary directory. */
        int i;
        char copy[4096];
        for (i = 1; i <= g_case; i++) {
            snprintf(copy, sizeof copy, "%s.outside-%d", g_tmp, i);
            unlink(copy);
        }
    }
    free(g_tmp);
    return check_end();
}
