// numpack.hpp: the Store API with typed data: every element type, strides, rows, the catalogue,
// read-only views and refresh.
#include <array>
#include <chrono>
#include <cmath>
#include <numeric>

#include "check.hpp"

using npk::Store;
using c64 = std::complex<float>;
using c128 = std::complex<double>;

// ---- compile-time dtype mapping ----------------------------------------------------------------
static_assert(npk::dtype_of<bool>() == NPK_BOOL);
static_assert(npk::dtype_of<uint8_t>() == NPK_UINT8);
static_assert(npk::dtype_of<uint16_t>() == NPK_UINT16);
static_assert(npk::dtype_of<uint32_t>() == NPK_UINT32);
static_assert(npk::dtype_of<uint64_t>() == NPK_UINT64);
static_assert(npk::dtype_of<int8_t>() == NPK_INT8);
static_assert(npk::dtype_of<int16_t>() == NPK_INT16);
static_assert(npk::dtype_of<int32_t>() == NPK_INT32);
static_assert(npk::dtype_of<int64_t>() == NPK_INT64);
static_assert(npk::dtype_of<float>() == NPK_FLOAT32);
static_assert(npk::dtype_of<double>() == NPK_FLOAT64);
static_assert(npk::dtype_of<c64>() == NPK_COMPLEX64);
static_assert(npk::dtype_of<c128>() == NPK_COMPLEX128);
static_assert(npk::dtype_of<long long>() == NPK_INT64);
static_assert(npk::dtype_of<unsigned long long>() == NPK_UINT64);
static_assert(npk::dtype_of<signed char>() == NPK_INT8);
static_assert(npk::dtype_of<unsigned char>() == NPK_UINT8);
static_assert(npk::dtype_of<const double>() == NPK_FLOAT64);
static_assert(npk::dtype_of<double[3]>() == NPK_FLOAT64);
static_assert(npk::dtype_v<short> == NPK_INT16);

// Values of each type for the round trips: distinct, including the type's extremes.
template <class T> std::vector<T> sample(std::size_t n) {
    std::vector<T> v(n);
    for (std::size_t i = 0; i < n; i++) {
        if constexpr (std::is_same_v<T, bool>)
            v[i] = (i % 3) == 1;
        else if constexpr (std::is_integral_v<T>)
            v[i] = i == 0 ? std::numeric_limits<T>::min()
                   : i == 1 ? std::numeric_limits<T>::max()
                            : static_cast<T>(i * 7 + 3);
        else if constexpr (std::is_floating_point_v<T>)
            v[i] = i == 0 ? -std::numeric_limits<T>::infinity() : static_cast<T>(i) * T(0.25) - T(1);
        else
            v[i] = T(static_cast<typename T::value_type>(i) + 0.5f, -static_cast<typename T::value_type>(i));
    }
    return v;
}

template <class T, class Other> void roundtrip(Store &s, const std::string &name, npk_dtype want) {
    const std::vector<T> values = sample<T>(12);
    std::string ctx = name + " (" + npk::dtype_name(want) + ")";
    chk::current = "typed round trip: " + ctx;

    // 1-D std::vector
    s.save(name, values);
    npk::ArrayInfo info = s.info(name);
    CHECK_EQ(info.dtype, want);
    CHECK_EQ(info.shape, std::vector<uint64_t>{12});
    CHECK_EQ(info.nbytes, 12 * sizeof(T));
    CHECK_EQ(s.load<T>(name), values);

    // 2-D from a vector with a shape, read back through a pointer with the same shape
    s.save(name, values, {3, 4});
    CHECK_EQ(s.info(name).shape, (std::vector<uint64_t>{3, 4}));
    CHECK_EQ(s.load<T>(name), values);
    std::array<T, 12> back{};
    s.load(name, back.data(), {3, 4});
    CHECK(std::equal(back.begin(), back.end(), values.begin()));

    // through the pointer overload, and a read-only view
    std::array<T, 12> raw{};
    std::copy(values.begin(), values.end(), raw.begin());
    s.save(name, raw.data(), {2, 6});
    npk::ReadOnlyView<T> v = s.view<T>(name);
    CHECK_EQ(v.dtype(), want);
    CHECK_EQ(v.size(), 12u);
    CHECK(std::equal(v.begin(), v.end(), values.begin()));
    CHECK_EQ(v.at(1, 5), values[11]);

    // a wrong T is the library's NPK_DTYPE_MISMATCH (typed load) or ours (typed view)
    CHECK_THROWS_NPK(s.load<Other>(name), NPK_DTYPE_MISMATCH, name.c_str());
    CHECK_THROWS_NPK(s.view<Other>(name), NPK_DTYPE_MISMATCH, npk::dtype_name(want));
}

static void test_all_types(const chk::TmpDir &dir) {
    Store s(dir / "types.npk", Store::create);
    roundtrip<bool, uint8_t>(s, "b", NPK_BOOL);
    roundtrip<uint8_t, int8_t>(s, "u8", NPK_UINT8);
    roundtrip<uint16_t, int16_t>(s, "u16", NPK_UINT16);
    roundtrip<uint32_t, int32_t>(s, "u32", NPK_UINT32);
    roundtrip<uint64_t, int64_t>(s, "u64", NPK_UINT64);
    roundtrip<int8_t, bool>(s, "i8", NPK_INT8);
    roundtrip<int16_t, uint16_t>(s, "i16", NPK_INT16);
    roundtrip<int32_t, float>(s, "i32", NPK_INT32);
    roundtrip<int64_t, double>(s, "i64", NPK_INT64);
    roundtrip<float, int32_t>(s, "f32", NPK_FLOAT32);
    roundtrip<double, c64>(s, "f64", NPK_FLOAT64);
    roundtrip<c64, c128>(s, "c64", NPK_COMPLEX64);
    roundtrip<c128, double>(s, "c128", NPK_COMPLEX128);
    chk::current = "all types";
    CHECK_EQ(s.list().size(), 13u);
    // long long is int64 on the wire: readable as int64_t
    std::vector<long long> ll = {-5, 1LL << 40};
    s.save("ll", ll);
    CHECK_EQ(s.load<int64_t>("ll"), (std::vector<int64_t>{-5, int64_t(1) << 40}));
}

static void test_complex_layout(const chk::TmpDir &dir) {
    Store s(dir / "complex.npk", Store::create);
    // C99 layout: real then imaginary. Write pairs through the C API, read std::complex.
    const double pairs[3][2] = {{1.5, -2}, {0, 3.25}, {-1e300, 1e-300}};
    const uint64_t shape[1] = {3};
    CHECK_EQ(npk_save(s.native(), "z", NPK_COMPLEX128, 1, shape, pairs, nullptr), NPK_OK);
    std::vector<c128> z = s.load<c128>("z");
    CHECK_EQ(z, (std::vector<c128>{{1.5, -2}, {0, 3.25}, {-1e300, 1e-300}}));
    // and the reverse for complex64
    std::vector<c64> w = {{1.f, 2.f}, {-3.f, 0.5f}};
    s.save("w", w);
    float back[2][2];
    const uint64_t wshape[1] = {2};
    CHECK_EQ(npk_load(s.native(), "w", NPK_COMPLEX64, 1, wshape, back, nullptr), NPK_OK);
    CHECK(back[0][0] == 1.f && back[0][1] == 2.f && back[1][0] == -3.f && back[1][1] == 0.5f);
    CHECK_THROWS_NPK(s.load<c128>("w"), NPK_DTYPE_MISMATCH, "w");
}

static void test_c_arrays_and_edge_shapes(const chk::TmpDir &dir) {
    Store s(dir / "shapes.npk", Store::create);
    double field[4][3] = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}};
    s.save("field", field, {4, 3});  // a 2-D C array is a pointer to its elements
    double back[4][3] = {};
    s.load("field", back, {4, 3});
    CHECK(std::memcmp(field, back, sizeof field) == 0);
    CHECK_EQ(s.load<double>("field")[11], 11.0);

    // std::array / std::vector shapes
    const std::array<uint64_t, 2> shp = {2, 6};
    s.save("field2", &field[0][0], shp);
    CHECK_EQ(s.info("field2").shape, (std::vector<uint64_t>{2, 6}));
    std::vector<uint64_t> vshape = {12};
    s.save("flat", &field[0][0], vshape);
    CHECK_EQ(s.info("flat").ndim(), 1u);

    // rank 0
    const int32_t answer = 42;
    s.save("scalar", &answer, {});
    CHECK_EQ(s.info("scalar").ndim(), 0u);
    CHECK_EQ(s.load<int32_t>("scalar"), std::vector<int32_t>{42});
    auto sv = s.view<int32_t>("scalar");
    CHECK_EQ(sv.at(), 42);
    CHECK_THROWS_AS(sv.at(0), std::out_of_range);

    // zero elements
    std::vector<float> none;
    s.save("empty", none);
    CHECK_EQ(s.info("empty").shape, std::vector<uint64_t>{0});
    CHECK(s.load<float>("empty").empty());
    s.save("empty2", none, {0, 3});
    CHECK_EQ(s.info("empty2").shape, (std::vector<uint64_t>{0, 3}));
    CHECK(s.load<float>("empty2").empty());
    auto ev = s.view<float>("empty2");
    CHECK(ev.empty());
    CHECK(ev.begin() == ev.end());
    CHECK_THROWS_AS(ev.at(0, 0), std::out_of_range);

    // vector<bool>
    std::vector<bool> flags = {true, false, false, true, true};
    s.save("flags", flags);
    CHECK_EQ(s.load<bool>("flags"), flags);
    s.save("flags2", std::vector<bool>{true, false, true, false}, {2, 2});
    CHECK_EQ(s.get_rows<bool>("flags2", {-1}), (std::vector<bool>{true, false}));

    // wrapper-side argument checks
    CHECK_THROWS_NPK(s.save("bad", std::vector<double>(5), {2, 3}), NPK_INVALID_ARGUMENT, "5 elements");
    CHECK_THROWS_NPK(s.save("bad", &field[0][0], {4, 3}, {8}), NPK_INVALID_ARGUMENT, "strides");
    CHECK_THROWS_NPK(s.load("field", back, {4, 3}, {24, 8, 8}), NPK_INVALID_ARGUMENT, "strides");
    std::vector<uint64_t> too_many(NPK_MAX_DIMS + 1, 1);
    CHECK_THROWS_NPK(s.save("bad", &field[0][0], too_many), NPK_INVALID_ARGUMENT, "NPK_MAX_DIMS");
    CHECK(!s.has("bad"));
}

static void test_strides(const chk::TmpDir &dir) {
    Store s(dir / "strides.npk", Store::create);
    // A (3, 4) float64 matrix stored column-major (Fortran order): element (i, j) at j * 3 + i.
    const std::size_t R = 3, C = 4;
    std::vector<double> fortran(R * C), c_order(R * C);
    for (std::size_t i = 0; i < R; i++)
        for (std::size_t j = 0; j < C; j++) {
            fortran[j * R + i] = double(10 * i + j);
            c_order[i * C + j] = double(10 * i + j);
        }
    const int64_t fstrides_d[2] = {8, 8 * int64_t(R)};
    s.save("m", fortran.data(), {R, C}, {fstrides_d[0], fstrides_d[1]});
    CHECK_EQ(s.load<double>("m"), c_order);  // stored in C order

    std::vector<double> back(R * C);
    s.load("m", back.data(), {R, C}, {8, 8 * int64_t(R)});  // read into Fortran order
    CHECK_EQ(back, fortran);

    // 3-D int32 Fortran order via std::vector strides
    const uint64_t A = 2, B = 3, D = 4;
    std::vector<int32_t> f3(A * B * D);
    for (uint64_t i = 0; i < A; i++)
        for (uint64_t j = 0; j < B; j++)
            for (uint64_t k = 0; k < D; k++)
                f3[k * A * B + j * A + i] = int32_t(100 * i + 10 * j + k);
    std::vector<int64_t> st = {4, 4 * int64_t(A), 4 * int64_t(A * B)};
    s.save("t", f3.data(), {A, B, D}, st);
    auto tv = s.view<int32_t>("t");
    CHECK_EQ(tv.at(1, 2, 3), 123);
    CHECK_EQ(tv.at(0, 1, 2), 12);
    CHECK_EQ(tv.strides().vec(), (std::vector<int64_t>{48, 16, 4}));
    std::vector<int32_t> f3back(f3.size());
    s.load("t", f3back.data(), {A, B, D}, st);
    CHECK_EQ(f3back, f3);

    // negative strides: a reversed vector
    std::vector<int16_t> fwd = {1, 2, 3, 4, 5};
    s.save("rev", fwd.data() + 4, {5}, {-2});
    CHECK_EQ(s.load<int16_t>("rev"), (std::vector<int16_t>{5, 4, 3, 2, 1}));

    // rows in Fortran order through get_rows / replace_rows pointer overloads
    double rows_f[2 * C];  // (2, C) column-major
    s.get_rows("m", {0, -1}, rows_f, {2, C}, {8, 16});
    for (std::size_t j = 0; j < C; j++)
        CHECK(rows_f[j * 2] == double(j) && rows_f[j * 2 + 1] == double(20 + j));
    for (double &x : rows_f)
        x = -x;
    s.replace_rows("m", {0, -1}, rows_f, {2, C}, {8, 16});
    std::vector<double> m = s.load<double>("m");
    CHECK_EQ(m[0 * C + 3], -3.0);
    CHECK_EQ(m[2 * C + 1], -21.0);
    CHECK_EQ(m[1 * C + 1], 11.0);
}

static void test_rows(const chk::TmpDir &dir) {
    Store s(dir / "rows.npk", Store::create);
    std::vector<int64_t> data(5 * 2);
    std::iota(data.begin(), data.end(), 0);  // rows (0,1) (2,3) (4,5) (6,7) (8,9)
    s.save("r", data, {5, 2});

    // append: vector with shape, and pointer
    s.append("r", std::vector<int64_t>{10, 11, 12, 13}, {2, 2});
    const int64_t more[1][2] = {{14, 15}};
    s.append("r", more, {1, 2});
    CHECK_EQ(s.info("r").shape, (std::vector<uint64_t>{8, 2}));
    CHECK_EQ(s.get_rows<int64_t>("r", {-1, 5}), (std::vector<int64_t>{14, 15, 10, 11}));
    CHECK_THROWS_NPK(s.append("r", std::vector<int64_t>{1, 2, 3}, {1, 3}), NPK_SHAPE_MISMATCH, "r");
    CHECK_THROWS_NPK(s.append("r", std::vector<int32_t>{1, 2}, {1, 2}), NPK_DTYPE_MISMATCH, "r");
    CHECK_THROWS_NPK(s.append("nope", std::vector<int64_t>{1, 2}, {1, 2}), NPK_NOT_FOUND, "nope");
    // 1-D append of a vector
    s.save("v", std::vector<float>{1, 2});
    s.append("v", std::vector<float>{3});
    CHECK_EQ(s.load<float>("v"), (std::vector<float>{1, 2, 3}));

    // replace_rows: vector form takes the row shape from info
    s.replace_rows("r", {0, -2}, std::vector<int64_t>{-1, -2, -3, -4});
    CHECK_EQ(s.get_rows<int64_t>("r", {0, 6}), (std::vector<int64_t>{-1, -2, -3, -4}));
    CHECK_THROWS_NPK(s.replace_rows("r", {0}, std::vector<int64_t>{1, 2, 3}), NPK_INVALID_ARGUMENT, "3 elements");
    CHECK_THROWS_NPK(s.replace_rows("r", {8}, std::vector<int64_t>{1, 2}), NPK_INVALID_ARGUMENT, nullptr);
    CHECK_THROWS_NPK(s.get_rows<int64_t>("r", {-9}), NPK_INVALID_ARGUMENT, nullptr);
    s.replace_rows("v", {1}, std::vector<float>{20});
    CHECK_EQ(s.load<float>("v"), (std::vector<float>{1, 20, 3}));
    // empty index lists read or change nothing; dropping no rows is refused, like dropping no
    // arrays
    CHECK(s.get_rows<int64_t>("r", {}).empty());
    CHECK_NOTHROW(s.replace_rows("r", {}, std::vector<int64_t>{}));
    CHECK_THROWS_NPK(s.drop_rows("r", {}), NPK_INVALID_ARGUMENT, "no row indices");
    CHECK_EQ(s.info("r").shape, (std::vector<uint64_t>{8, 2}));
    const int32_t scalar = 1;
    s.save("s0", &scalar, {});
    CHECK_THROWS_NPK(s.get_rows<int32_t>("s0", {0}), NPK_SHAPE_MISMATCH, "rank 0");

    // drop_rows / compact / clone
    s.drop_rows("r", {1, -1});  // rows (2,3) and (14,15); row 6 is (-3,-4) since replace_rows
    npk::ArrayInfo info = s.info("r");
    CHECK_EQ(info.shape, (std::vector<uint64_t>{6, 2}));
    CHECK_EQ(info.physical_rows, 8u);
    CHECK_EQ(s.load<int64_t>("r"), (std::vector<int64_t>{-1, -2, 4, 5, 6, 7, 8, 9, 10, 11, -3, -4}));
    auto dv = s.view<int64_t>("r");  // a private copy of the live rows
    CHECK_EQ(dv.size(), 12u);
    CHECK_EQ(dv.at(1, 0), 4);
    s.clone("r", "r2");
    CHECK_EQ(s.info("r2").physical_rows, 6u);
    CHECK_EQ(s.load<int64_t>("r2"), s.load<int64_t>("r"));
    CHECK_THROWS_NPK(s.clone("r", "v"), NPK_ALREADY_EXISTS, "v");
    CHECK_THROWS_NPK(s.clone("nope", "x"), NPK_NOT_FOUND, "nope");
    s.compact("r");
    CHECK_EQ(s.info("r").physical_rows, 6u);
    CHECK_EQ(s.load<int64_t>("r"), s.load<int64_t>("r2"));
    s.drop_rows("v", {0});
    s.drop_rows("r2", {0});
    s.compact();  // every array with deleted rows
    CHECK_EQ(s.info("v").physical_rows, 2u);
    CHECK_EQ(s.info("r2").physical_rows, 5u);
    CHECK_EQ(s.load<float>("v"), (std::vector<float>{20, 3}));
}

static void test_catalogue(const chk::TmpDir &dir) {
    Store s(dir / "cat.npk", Store::create);
    CHECK(s.list().empty());
    CHECK(!s.has("a"));
    uint64_t before = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
    s.save("b", std::vector<double>{1, 2, 3});
    s.save("a", std::vector<uint8_t>{1});
    s.save("c", std::vector<int16_t>{1, 2});
    s.save("d", std::vector<int16_t>{1, 2});
    s.save("é x", std::vector<int16_t>{1, 2});  // UTF-8 and spaces are fine
    uint64_t after = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    CHECK_EQ(s.list(), (std::vector<std::string>{"a", "b", "c", "d", "é x"}));
    CHECK(s.has("a") && s.has("é x"));
    npk::ArrayInfo info = s.info("b");
    CHECK_EQ(info.dtype, NPK_FLOAT64);
    CHECK_EQ(info.size(), 3u);
    CHECK_EQ(info.nbytes, 24u);
    CHECK_EQ(info.physical_rows, 3u);
    CHECK(!info.segmented);
    CHECK(info.modify_time_us + 2000000 >= before && info.modify_time_us <= after + 2000000);
    CHECK_THROWS_NPK(s.info("zz"), NPK_NOT_FOUND, "zz");

    s.drop("a");
    s.drop({"c", "d"});
    CHECK_EQ(s.list(), (std::vector<std::string>{"b", "é x"}));
    CHECK_THROWS_NPK(s.drop({"b", "missing"}), NPK_NOT_FOUND, "missing");  // all or none
    CHECK(s.has("b"));
    CHECK_THROWS_NPK(s.drop(std::vector<std::string>{}), NPK_INVALID_ARGUMENT, nullptr);  // no names
    std::vector<std::string> names = {"b", "é x"};
    s.drop(names);
    CHECK(s.list().empty());

    // many names: list() sizes its buffer
    for (int i = 0; i < 300; i++)
        s.save("array_with_a_fairly_long_name_" + std::to_string(1000 + i), std::vector<int8_t>{1});
    std::vector<std::string> all = s.list();
    CHECK_EQ(all.size(), 300u);
    CHECK(std::is_sorted(all.begin(), all.end()));
    CHECK_EQ(all.front(), std::string("array_with_a_fairly_long_name_1000"));
}

static void test_views_and_refresh(const chk::TmpDir &dir) {
    const std::string path = dir / "views.npk";
    Store s(path, Store::create);
    s.save("x", std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});

    npk::ReadOnlyView<double> v = s.view<double>("x");
    CHECK(!v.writable());
    CHECK_EQ(v.ndim(), 2u);
    CHECK_EQ(v.shape().vec(), (std::vector<uint64_t>{2, 3}));
    CHECK(v.shape() == npk::Dims({2, 3}));
    CHECK_EQ(v.strides().vec(), (std::vector<int64_t>{24, 8}));
    CHECK_EQ(v.nbytes(), 48u);
    CHECK_EQ(v.at(1, 2), 6.0);
    CHECK_EQ(v.at(0u, 1L), 2.0);
    CHECK_THROWS_AS(v.at(2, 0), std::out_of_range);
    CHECK_THROWS_AS(v.at(0, -1), std::out_of_range);
    CHECK_THROWS_AS(v.at(0), std::out_of_range);
    static_assert(std::is_same_v<decltype(v.at(0, 0)), const double &>, "read-only access");
    static_assert(!std::is_copy_constructible_v<npk::ReadOnlyView<double>>, "not copyable");

    // a snapshot: a later save does not change it; an in-place replace_rows shows through
    s.replace_rows("x", {0}, std::vector<double>{7, 8, 9});
    CHECK_EQ(v.at(0, 0), 7.0);
    s.save("x", std::vector<double>{0, 0, 0, 0, 0, 0}, {2, 3});
    CHECK_EQ(v.at(1, 0), 4.0);

    // moves, release, and outliving the store
    npk::ReadOnlyView<double> w = std::move(v);
    CHECK(v.data() == nullptr && v.size() == 0 && v.empty() && v.ndim() == 0);  // moved-from: empty
    CHECK(v.begin() == v.end());
    CHECK_THROWS_AS(v.at(), std::out_of_range);
    npk::View<double> none;
    CHECK(none.empty());
    CHECK_THROWS_AS(none.at(), std::out_of_range);
    CHECK_EQ(w.at(1, 1), 5.0);
    npk::ReadOnlyView<double> z;
    z = std::move(w);
    s.close();
    CHECK_EQ(z.at(1, 2), 6.0);
    z.release();
    CHECK(z.data() == nullptr);
    z.release();

    // a read-only handle sees new commits after refresh()
    Store writer(path);
    Store reader(path, Store::read_only);
    CHECK_THROWS_NPK(Store(path), NPK_LOCKED, nullptr);
    writer.save("y", std::vector<int32_t>{1});
    CHECK(!reader.has("y"));
    reader.refresh();
    CHECK(reader.has("y"));
    CHECK_EQ(reader.view<int32_t>("y")[0], 1);
    CHECK_THROWS_NPK(reader.save("z", std::vector<int32_t>{1}), NPK_READ_ONLY, nullptr);
    CHECK_THROWS_NPK(reader.batch(), NPK_READ_ONLY, nullptr);
    CHECK_THROWS_NPK(reader.view<int32_t>("nope"), NPK_NOT_FOUND, "nope");
    writer.refresh();  // nothing for a writer
}

static void test_attributes(const chk::TmpDir &dir) {
    Store s(dir / "attrs.npk", Store::create);
    s.save("u", std::vector<double>{1, 2, 3});
    npk::Attrs a = s.attrs();
    a["step"] = 100;                        // int -> int64
    a["time"] = 2.5f;                       // float -> float64
    a["units"] = "m/s";                     // text
    a.set("ids", std::vector<int>{1, 2, 3});
    a.set("none", std::vector<double>{});
    s.attrs("u")["units"] = std::string("K");
    CHECK_EQ(a.get<int64_t>("step"), int64_t(100));
    CHECK_EQ(a.get<double>("time"), 2.5);
    CHECK_EQ(a["units"].as<std::string>(), std::string("m/s"));
    CHECK_EQ(a.get<std::vector<int64_t>>("ids"), (std::vector<int64_t>{1, 2, 3}));
    CHECK(a.get<std::vector<double>>("none").empty());
    CHECK_EQ(a.type("none"), NPK_ATTR_FLOAT64_VECTOR);
    npk::AttrValue v = a["step"];
    CHECK(std::holds_alternative<int64_t>(v));
    CHECK_EQ(a.keys(), (std::vector<std::string>{"ids", "none", "step", "time", "units"}));
    CHECK(a.contains("ids") && !a.contains("nope"));
    CHECK_THROWS_NPK(a.get<double>("step"), NPK_DTYPE_MISMATCH, "step");
    CHECK_THROWS_NPK(a.get("nope"), NPK_NOT_FOUND, "nope");
    CHECK_THROWS_NPK(s.attrs("zz")["k"] = 1, NPK_NOT_FOUND, "zz");
    CHECK_THROWS_NPK(a.set(std::string(256, 'k'), 1), NPK_INVALID_ARGUMENT, "255");
    a.erase("ids");
    CHECK_THROWS_NPK(a.erase("ids"), NPK_NOT_FOUND, "ids");
    {
        npk::Batch b = s.batch();
        b.attrs()["step"] = 101;
        b.attrs("u").erase("units");
        CHECK_THROWS_NPK(b.attrs().get("step"), NPK_WRONG_MODE, "write-only");
        CHECK_EQ(a.get<int64_t>("step"), int64_t(100));  // not before end()
        b.end();
    }
    CHECK_EQ(a.get<int64_t>("step"), int64_t(101));
    CHECK(s.attrs("u").keys().empty());
    {
        npk::Batch b = s.batch();
        b.attrs()["step"] = 102;
    }  // aborted by the destructor
    CHECK_EQ(a.get<int64_t>("step"), int64_t(101));
    s.close();
    Store r(dir / "attrs.npk", Store::read_only);
    CHECK_EQ(r.attrs().get<std::string>("units"), std::string("m/s"));
    CHECK_THROWS_NPK(r.attrs()["x"] = 1.0, NPK_READ_ONLY, nullptr);
}

int main(int, char **argv) {
    chk::TmpDir dir;
    chk::run("all element types", [&] { test_all_types(dir); });
    chk::run("complex layout", [&] { test_complex_layout(dir); });
    chk::run("C arrays and edge shapes", [&] { test_c_arrays_and_edge_shapes(dir); });
    chk::run("strides", [&] { test_strides(dir); });
    chk::run("rows", [&] { test_rows(dir); });
    chk::run("catalogue", [&] { test_catalogue(dir); });
    chk::run("views and refresh", [&] { test_views_and_refresh(dir); });
    chk::run("attributes", [&] { test_attributes(dir); });
    return chk::finish(argv[0]);
}
