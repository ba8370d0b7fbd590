/* The README's quick start: save a field, update rows, reload it, and scale it in place. */
#include <stdio.h>
#include "numpack.h"

#define TRY(call) do { npk_status s_ = (call); if (s_ != NPK_OK) { \
    fprintf(stderr, "%s failed: %s: %s\n", #call, npk_status_str(s_), npk_last_error()); \
    return 1; } } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "quickstart.npk";
    double field[4][3] = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}};
    uint64_t shape[2] = {4, 3};
    npk_store *store;
    TRY(npk_open(path, NPK_OPEN_CREATE, &store));
    TRY(npk_save(store, "field", NPK_FLOAT64, 2, shape, field, NULL));   /* NULL strides: C order */

    double row[3] = {-1, -1, -1};
    int64_t last = -1;                                                   /* negative: from the end */
    uint64_t row_shape[2] = {1, 3};
    TRY(npk_replace_rows(store, "field", &last, 1, NPK_FLOAT64, 2, row_shape, row, NULL));

    npk_batch *batch;                                                    /* zero-copy in-place update */
    npk_view v = NPK_VIEW_INIT;
    TRY(npk_writable_batch_begin(store, &batch));
    TRY(npk_batch_load(batch, "field", &v));
    for (uint64_t i = 0; i < v.shape[0] * v.shape[1]; i++) ((double *)v.data)[i] *= 2;
    TRY(npk_batch_end(batch));

    double back[4][3];
    TRY(npk_load(store, "field", NPK_FLOAT64, 2, shape, back, NULL));
    printf("field[0][1] = %g, field[3][2] = %g\n", back[0][1], back[3][2]);
    TRY(npk_close(store));
    return back[0][1] == 2 && back[3][2] == -2 ? 0 : 1;
}
