// numpack.h from C++17 (-Wall -Wextra -Werror -pedantic): the extern "C" guards must give the
// functions C linkage (this links against libnumpack.so), and the header's types must be usable
// as ordinary C++ types. Opens a store in a temporary directory and round-trips one array.
#include "numpack.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

static int passed, failed;

static void expect(bool ok, const char *what, int line)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        std::fprintf(stderr, "header_cxx.cpp:%d: CHECK failed: %s (last error: %s)\n", line,
                     what, npk_last_error());
    }
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

static_assert(std::is_same<npk_status, int32_t>::value, "npk_status is int32_t");
static_assert(std::is_same<npk_dtype, int32_t>::value, "npk_dtype is int32_t");
static_assert(std::is_trivially_copyable<npk_view>::value, "npk_view is plain data");
static_assert(std::is_standard_layout<npk_array_info>::value, "npk_array_info is plain data");

int main()
{
    char tmpl[] = "/tmp/npk_c_header_cxx_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        std::perror("mkdtemp");
        return 2;
    }
    const std::string dir = std::string(tmpl) + "/store";

    npk_store *store = nullptr;
    EXPECT(npk_open(dir.c_str(), NPK_OPEN_CREATE, &store) == NPK_OK);
    const std::array<uint64_t, 2> shape{{2, 3}};
    const std::vector<double> values{1.5, 2.5, 3.5, 4.5, 5.5, 6.5};
    EXPECT(npk_save(store, "values", NPK_FLOAT64, 2, shape.data(), values.data(), nullptr) ==
           NPK_OK);

    std::vector<double> back(6, 0.0);
    EXPECT(npk_load(store, "values", NPK_FLOAT64, 2, shape.data(), back.data(), nullptr) ==
           NPK_OK);
    EXPECT(back == values);

    npk_array_info info = NPK_ARRAY_INFO_INIT;
    EXPECT(npk_info(store, "values", &info) == NPK_OK);
    EXPECT(info.dtype == NPK_FLOAT64 && info.ndim == 2 && info.shape[1] == 3 && info.nbytes == 48);

    int32_t exists = -1;
    EXPECT(npk_has(store, "values", &exists) == NPK_OK && exists == 1);

    npk_view view = NPK_VIEW_INIT;
    EXPECT(npk_view_open(store, "values", &view) == NPK_OK);
    EXPECT(view.data != nullptr && static_cast<const double *>(view.data)[5] == 6.5);
    EXPECT(npk_view_release(&view) == NPK_OK && view.data == nullptr);

    EXPECT(npk_load(store, "missing", NPK_FLOAT64, 2, shape.data(), back.data(), nullptr) ==
           NPK_NOT_FOUND);
    EXPECT(std::strstr(npk_last_error(), "missing") != nullptr);
    EXPECT(std::string(npk_status_str(NPK_NOT_FOUND)) == "NPK_NOT_FOUND");
    EXPECT(npk_version_number() ==
           NPK_VERSION_MAJOR * 10000u + NPK_VERSION_MINOR * 100u + NPK_VERSION_PATCH);
    const std::vector<const char *> names{"values"};
    EXPECT(npk_drop(store, names.data(), names.size()) == NPK_OK);
    EXPECT(npk_has(store, "values", &exists) == NPK_OK && exists == 0);
    EXPECT(npk_close(store) == NPK_OK);

    std::string cmd = "rm -rf '" + std::string(tmpl) + "'";
    if (std::system(cmd.c_str()) != 0)
        std::fprintf(stderr, "could not remove %s\n", tmpl);

    std::printf("header_cxx: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
