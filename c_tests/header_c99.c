/*
 * numpack.h on its own, as strict C99 (-std=c99 -Wall -Wextra -Werror -pedantic, no feature
 * macros): it must bring everything it needs (stdint.h, stddef.h) and declare every type,
 * macro and function a C caller uses. Links and calls a few functions so the declarations are
 * checked against the real library too.
 */
#include "numpack.h"

#include <stdio.h>
#include <string.h>

static int passed, failed;

#define EXPECT(cond)                                                                           \
    do {                                                                                       \
        if (cond) {                                                                            \
            passed++;                                                                          \
        } else {                                                                               \
            failed++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                      \
    } while (0)

/* Every function of the header, by address, with its exact type: a changed signature is a
 * compile error here (-Werror, incompatible pointer types). */
static void signatures(void)
{
    npk_status (*open_)(const char *, uint32_t, npk_store **) = npk_open;
    npk_status (*close_)(npk_store *) = npk_close;
    npk_status (*save_)(npk_store *, const char *, npk_dtype, uint32_t, const uint64_t *,
                        const void *, const int64_t *) = npk_save;
    npk_status (*load_)(npk_store *, const char *, npk_dtype, uint32_t, const uint64_t *, void *,
                        const int64_t *) = npk_load;
    npk_status (*append_)(npk_store *, const char *, npk_dtype, uint32_t, const uint64_t *,
                          const void *, const int64_t *) = npk_append;
    npk_status (*replace_)(npk_store *, const char *, const int64_t *, uint64_t, npk_dtype,
                           uint32_t, const uint64_t *, const void *, const int64_t *) =
        npk_replace_rows;
    npk_status (*get_)(npk_store *, const char *, const int64_t *, uint64_t, npk_dtype, uint32_t,
                       const uint64_t *, void *, const int64_t *) = npk_get_rows;
    npk_status (*create_)(npk_store *, const char *, npk_dtype, uint32_t, const uint64_t *,
                          const void *) = npk_create;
    npk_status (*read_block_)(npk_store *, const char *, npk_dtype, uint32_t, const uint64_t *,
                              const uint64_t *, void *, const int64_t *) = npk_read_block;
    npk_status (*write_block_)(npk_store *, const char *, npk_dtype, uint32_t, const uint64_t *,
                               const uint64_t *, const void *, const int64_t *) = npk_write_block;
    npk_status (*drop_)(npk_store *, const char *const *, uint64_t) = npk_drop;
    npk_status (*drop_rows_)(npk_store *, const char *, const int64_t *, uint64_t) =
        npk_drop_rows;
    npk_status (*compact_)(npk_store *, const char *) = npk_compact;
    npk_status (*clone_)(npk_store *, const char *, const char *) = npk_clone;
    npk_status (*has_)(npk_store *, const char *, int32_t *) = npk_has;
    npk_status (*list_)(npk_store *, char *, uint64_t, uint64_t *, uint64_t *) = npk_list;
    npk_status (*info_)(npk_store *, const char *, npk_array_info *) = npk_info;
    npk_status (*refresh_)(npk_store *) = npk_refresh;
    uint64_t (*dtype_size_)(npk_dtype) = npk_dtype_size;
    npk_status (*view_open_)(npk_store *, const char *, npk_view *) = npk_view_open;
    npk_status (*view_release_)(npk_view *) = npk_view_release;
    const char *(*version_)(void) = npk_version;
    uint32_t (*version_number_)(void) = npk_version_number;
    const char *(*last_error_)(void) = npk_last_error;
    const char *(*status_str_)(npk_status) = npk_status_str;
    EXPECT(open_ && close_ && save_ && load_ && append_ && replace_ && get_ && create_ &&
           read_block_ && write_block_ && drop_ &&
           drop_rows_ && compact_ && clone_ && has_ && list_ && info_ && refresh_ &&
           dtype_size_ && view_open_ && view_release_ && version_ && version_number_ &&
           last_error_ && status_str_);
}

int main(void)
{
    npk_view view = NPK_VIEW_INIT;
    npk_array_info info = NPK_ARRAY_INFO_INIT;
    npk_store *store = NULL;
    char version[32];

    signatures();
    EXPECT(sizeof(npk_status) == 4 && sizeof(npk_dtype) == 4);
    EXPECT(NPK_MAX_DIMS == 32);
    EXPECT(sizeof view.shape / sizeof view.shape[0] == NPK_MAX_DIMS);
    EXPECT(sizeof info.shape / sizeof info.shape[0] == NPK_MAX_DIMS);
    EXPECT(NPK_OK == 0 && NPK_INTERNAL == 13 && NPK_COMPLEX128 == 13);
    EXPECT((NPK_OPEN_CREATE | NPK_OPEN_READ_ONLY | NPK_OPEN_DURABLE) == 7);

    sprintf(version, "%d.%d.%d", NPK_VERSION_MAJOR, NPK_VERSION_MINOR, NPK_VERSION_PATCH);
    EXPECT(strcmp(npk_version(), version) == 0);
    EXPECT(npk_version_number() ==
           NPK_VERSION_MAJOR * 10000u + NPK_VERSION_MINOR * 100u + NPK_VERSION_PATCH);
    EXPECT(npk_dtype_size(NPK_COMPLEX64) == 8);
    EXPECT(strcmp(npk_status_str(NPK_CORRUPT), "NPK_CORRUPT") == 0);
    EXPECT(npk_open(NULL, 0, &store) == NPK_INVALID_ARGUMENT && store == NULL);
    EXPECT(strstr(npk_last_error(), "path") != NULL);
    EXPECT(npk_close(NULL) == NPK_OK);

    printf("header_c99: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
