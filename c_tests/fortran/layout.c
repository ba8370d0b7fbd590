/* sizeof and offsetof of numpack.h's structs as the C compiler lays them out, for test.f90 to
 * compare with its bind(C) derived types (linked into the Fortran test program). */
#include <stddef.h>
#include <stdint.h>
#include "numpack.h"

void npk_ftest_layout(int64_t out[20])
{
    out[0] = (int64_t)sizeof(npk_view);
    out[1] = (int64_t)offsetof(npk_view, data);
    out[2] = (int64_t)offsetof(npk_view, dtype);
    out[3] = (int64_t)offsetof(npk_view, ndim);
    out[4] = (int64_t)offsetof(npk_view, shape);
    out[5] = (int64_t)offsetof(npk_view, strides);
    out[6] = (int64_t)offsetof(npk_view, itemsize);
    out[7] = (int64_t)offsetof(npk_view, nbytes);
    out[8] = (int64_t)offsetof(npk_view, writable);
    out[9] = (int64_t)offsetof(npk_view, owner);
    out[10] = (int64_t)sizeof(npk_array_info);
    out[11] = (int64_t)offsetof(npk_array_info, dtype);
    out[12] = (int64_t)offsetof(npk_array_info, ndim);
    out[13] = (int64_t)offsetof(npk_array_info, shape);
    out[14] = (int64_t)offsetof(npk_array_info, nbytes);
    out[15] = (int64_t)offsetof(npk_array_info, modify_time_us);
    out[16] = (int64_t)offsetof(npk_array_info, physical_rows);
    out[17] = (int64_t)offsetof(npk_array_info, segmented);
    out[18] = (int64_t)offsetof(npk_view, struct_size);
    out[19] = (int64_t)offsetof(npk_array_info, struct_size);
}
