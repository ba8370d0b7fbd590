// numpack.hpp: sized arrays (Store::create_array) and block (hyperslab) I/O (Store::read_block,
// Store::write_block): slabs written by several "ranks", boxes read back with their shape,
// strided buffers, every element type, dropped rows, 0-d arrays and every refused call.
#include <numeric>

#include "check.hpp"

using npk::Block;
using npk::Store;
using c64 = std::complex<float>;
using c128 = std::complex<double>;

// The model of a (rows, cols) field: element (i, j) is 100 * i + j.
static std::vector<double> field(uint64_t rows, uint64_t cols, uint64_t first_row = 0) {
    std::vector<double> v;
    for (uint64_t i = first_row; i < first_row + rows; i++)
        for (uint64_t j = 0; j < cols; j++)
            v.push_back(static_cast<double>(100 * i + j));
    return v;
}

static void test_create_and_slabs(const chk::TmpDir &dir) {
    Store s(dir / "slabs.npk", Store::create);
    s.create_array<double>("u", {12, 5});
    npk::ArrayInfo info = s.info("u");
    CHECK_EQ(info.dtype, NPK_FLOAT64);
    CHECK_EQ(info.shape, (std::vector<uint64_t>{12, 5}));
    // never written: zeros
    CHECK_EQ(s.load<double>("u"), std::vector<double>(60, 0.0));

    // four "ranks" write their slab of rows: two from std::vector, two from a pointer
    s.write_block("u", {0, 0}, field(3, 5, 0), {3, 5});
    s.write_block("u", {3, 0}, field(3, 5, 3), {3, 5});
    const std::vector<double> third = field(3, 5, 6), fourth = field(3, 5, 9);
    s.write_block("u", {6, 0}, third.data(), {3, 5});
    s.write_block("u", {9, 0}, fourth.data(), {3, 5});
    CHECK_EQ(s.load<double>("u"), field(12, 5));

    // a neighbour's slab back, with its shape
    Block<double> b = s.read_block<double>("u", {3, 0}, {3, 5});
    CHECK_EQ(b.shape, (std::vector<uint64_t>{3, 5}));
    CHECK_EQ(b.ndim(), 2u);
    CHECK_EQ(b.size(), 15u);
    CHECK_EQ(b.data, field(3, 5, 3));

    // a box inside: rows 2..5, columns 1..3
    Block<double> box = s.read_block<double>("u", {2, 1}, {4, 3});
    CHECK_EQ(box.shape, (std::vector<uint64_t>{4, 3}));
    std::vector<double> want;
    for (uint64_t i = 2; i < 6; i++)
        for (uint64_t j = 1; j < 4; j++)
            want.push_back(static_cast<double>(100 * i + j));
    CHECK_EQ(box.data, want);

    // a Block written back elsewhere (rows 8..11, columns 2..4), and a read into a pointer
    s.write_block("u", {8, 2}, box);
    std::array<double, 12> back{};
    s.read_block("u", {8, 2}, back.data(), {4, 3});
    CHECK(std::equal(back.begin(), back.end(), want.begin()));
    std::vector<double> model = field(12, 5);
    for (uint64_t i = 0; i < 4; i++)
        for (uint64_t j = 0; j < 3; j++)
            model[(8 + i) * 5 + 2 + j] = want[i * 3 + j];
    CHECK_EQ(s.load<double>("u"), model);

    // a fill value; an existing name is refused and left alone
    s.create_array<int32_t>("filled", {2, 3}, -7);
    CHECK_EQ(s.load<int32_t>("filled"), std::vector<int32_t>(6, -7));
    CHECK_THROWS_NPK(s.create_array<double>("u", {2}), NPK_ALREADY_EXISTS, "u");
    CHECK_EQ(s.info("u").shape, (std::vector<uint64_t>{12, 5}));
    CHECK_EQ(s.load<double>("u"), model);

    // a 3-D array split on axis 0, and a 3-D box
    s.create_array<float>("w", {4, 3, 2});
    for (uint64_t r = 0; r < 4; r++) {
        std::vector<float> slab(6);
        for (std::size_t k = 0; k < 6; k++)
            slab[k] = static_cast<float>(10 * r + k);
        s.write_block("w", {r, 0, 0}, slab, {1, 3, 2});
    }
    Block<float> w = s.read_block<float>("w", {1, 1, 1}, {2, 2, 1});
    CHECK_EQ(w.shape, (std::vector<uint64_t>{2, 2, 1}));
    CHECK_EQ(w.data, (std::vector<float>{13, 15, 23, 25}));
}

static void test_strides(const chk::TmpDir &dir) {
    Store s(dir / "strides.npk", Store::create);
    s.save("m", field(4, 6), {4, 6});
    // a (3, 2) block into a Fortran-order buffer: element (i, j) at f[i + 3 * j]
    std::array<double, 6> f{};
    s.read_block("m", {1, 2}, f.data(), {3, 2}, {8, 24});
    CHECK_EQ(std::vector<double>(f.begin(), f.end()), (std::vector<double>{102, 202, 302, 103, 203, 303}));
    // write a (2, 3) block from the transpose of a C-order (3, 2) buffer
    const double t[3][2] = {{-1, -4}, {-2, -5}, {-3, -6}};
    s.write_block("m", {0, 3}, &t[0][0], {2, 3}, {8, 16});
    Block<double> got = s.read_block<double>("m", {0, 3}, {2, 3});
    CHECK_EQ(got.data, (std::vector<double>{-1, -2, -3, -4, -5, -6}));
    CHECK_THROWS_NPK(s.read_block("m", {0, 0}, f.data(), {3, 2}, {8}), NPK_INVALID_ARGUMENT, "1 strides");
}

template <class T> void typed_block(Store &s, const std::string &name, const T &fill, const T &value) {
    chk::current = "every type: " + name;
    s.create_array<T>(name, {3, 4}, fill);
    Block<T> all = s.read_block<T>(name, {0, 0}, {3, 4});
    CHECK(std::all_of(all.data.begin(), all.data.end(), [&](const T &x) { return x == fill; }));
    s.write_block(name, {1, 1}, std::vector<T>(4, value), {2, 2});
    Block<T> b = s.read_block<T>(name, {1, 0}, {2, 3});
    CHECK_EQ(b.data, (std::vector<T>{fill, value, value, fill, value, value}));
    CHECK_EQ(s.load<T>(name)[0], fill);
}

static void test_every_type(const chk::TmpDir &dir) {
    Store s(dir / "types.npk", Store::create);
    typed_block<bool>(s, "b", true, false);
    typed_block<uint8_t>(s, "u8", 200, 7);
    typed_block<uint16_t>(s, "u16", 60000, 7);
    typed_block<uint32_t>(s, "u32", 4000000000u, 7);
    typed_block<uint64_t>(s, "u64", std::numeric_limits<uint64_t>::max(), 7);
    typed_block<int8_t>(s, "i8", -100, 7);
    typed_block<int16_t>(s, "i16", -30000, 7);
    typed_block<int32_t>(s, "i32", -2000000000, 7);
    typed_block<int64_t>(s, "i64", std::numeric_limits<int64_t>::min(), 7);
    typed_block<float>(s, "f32", -0.5f, 2.25f);
    typed_block<double>(s, "f64", 1e300, -2.5);
    typed_block<c64>(s, "c64", c64(1, -1), c64(0.5f, 2));
    typed_block<c128>(s, "c128", c128(-3, 4), c128(1e-300, -1e300));
}

static void test_dropped_rows_and_0d(const chk::TmpDir &dir) {
    Store s(dir / "dropped.npk", Store::create);
    s.save("d", field(6, 2), {6, 2});
    s.drop_rows("d", {1, 3});  // logical rows are now 0, 2, 4, 5
    Block<double> b = s.read_block<double>("d", {1, 0}, {3, 2});
    CHECK_EQ(b.data, (std::vector<double>{200, 201, 400, 401, 500, 501}));
    s.write_block("d", {1, 1}, std::vector<double>{-1, -2}, {2, 1});
    CHECK_EQ(s.get_rows<double>("d", {1, 2}), (std::vector<double>{200, -1, 400, -2}));

    // a 0-d array: empty offset and count
    s.create_array<double>("x", {}, 2.5);
    CHECK_EQ(s.read_block<double>("x", {}, {}).data, std::vector<double>{2.5});
    CHECK(s.read_block<double>("x", {}, {}).shape.empty());
    const double seven = 7;
    s.write_block("x", {}, &seven, {});
    CHECK_EQ(s.load<double>("x"), std::vector<double>{7});

    // a zero count reads and writes nothing
    Block<double> none = s.read_block<double>("d", {4, 0}, {0, 2});
    CHECK(none.data.empty());
    CHECK_EQ(none.shape, (std::vector<uint64_t>{0, 2}));
    s.write_block("d", {4, 0}, std::vector<double>{}, {0, 2});
    CHECK_EQ(s.info("d").shape, (std::vector<uint64_t>{4, 2}));
}

static void test_errors(const chk::TmpDir &dir) {
    const std::string path = dir / "errors.npk";
    Store s(path, Store::create);
    s.create_array<double>("u", {12, 5});
    std::vector<double> buf(100);
    CHECK_THROWS_NPK(s.read_block<double>("u", {10, 0}, {3, 5}), NPK_INVALID_ARGUMENT,
                     "dimension 0: offset 10 + count 3 exceeds 12");
    CHECK_THROWS_NPK(s.write_block("u", {0, 4}, buf.data(), {1, 2}), NPK_INVALID_ARGUMENT,
                     "dimension 1: offset 4 + count 2 exceeds 5");
    CHECK_THROWS_NPK(s.read_block<double>("u", {0, std::numeric_limits<uint64_t>::max()}, {1, 2}),
                     NPK_INVALID_ARGUMENT, "dimension 1");
    CHECK_THROWS_NPK(s.read_block<double>("u", {0}, {3}), NPK_INVALID_ARGUMENT, "rank 2");
    CHECK_THROWS_NPK(s.read_block<double>("u", {0}, {3, 5}), NPK_INVALID_ARGUMENT, "1 offsets for 2 counts");
    CHECK_THROWS_NPK(s.write_block("u", {0, 0}, std::vector<double>(7), {2, 3}), NPK_INVALID_ARGUMENT,
                     "7 elements but the shape needs 6");
    CHECK_THROWS_NPK(s.read_block<float>("u", {0, 0}, {1, 1}), NPK_DTYPE_MISMATCH, nullptr);
    CHECK_THROWS_NPK(s.write_block("u", {0, 0}, std::vector<int64_t>(1), {1, 1}), NPK_DTYPE_MISMATCH, nullptr);
    CHECK_THROWS_NPK(s.read_block<double>("nope", {0}, {1}), NPK_NOT_FOUND, "nope");
    CHECK_THROWS_NPK(s.create_array<double>("bad/name", {2}), NPK_INVALID_ARGUMENT, nullptr);
    CHECK_THROWS_NPK(s.create_array<double>(std::string("a\0b", 3), {2}), NPK_INVALID_ARGUMENT, "NUL");
    // nothing of the refused writes reached the array
    CHECK_EQ(s.load<double>("u"), std::vector<double>(60, 0.0));
    CHECK(!s.has("nope"));

    // a read-only handle reads blocks and refuses to write or create them
    s.write_block("u", {5, 0}, field(1, 5, 5), {1, 5});
    s.close();
    Store r(path, Store::read_only);
    CHECK_EQ(r.read_block<double>("u", {5, 0}, {1, 5}).data, field(1, 5, 5));
    CHECK_THROWS_NPK(r.write_block("u", {0, 0}, field(1, 5), {1, 5}), NPK_READ_ONLY, nullptr);
    CHECK_THROWS_NPK(r.create_array<double>("v", {2}), NPK_READ_ONLY, nullptr);
    Store closed;
    CHECK_THROWS_NPK(closed.read_block<double>("u", {0}, {1}), NPK_INVALID_ARGUMENT, "closed");
}

// Issue #11's open modes through the wrapper: in-place writers (Store::shared), any number at
// once, write blocks; structural calls are NPK_WRONG_MODE; the structural writer is locked out.
static void test_shared_writers(const chk::TmpDir &dir) {
    const std::string path = dir / "shared.npk";
    {
        Store rank0(path, Store::create);
        rank0.create_array<double>("u", {8, 4});
        rank0.save("v", std::vector<int32_t>{1, 2, 3});
    }
    Store a(path, Store::shared), b(path, Store::shared);
    a.write_block("u", {0, 0}, field(4, 4, 0), {4, 4});
    b.write_block("u", {4, 0}, field(4, 4, 4), {4, 4});
    CHECK_EQ(a.read_block<double>("u", {0, 0}, {8, 4}).data, field(8, 4));
    CHECK_EQ(b.read_block<double>("u", {3, 1}, {2, 2}).data, (std::vector<double>{301, 302, 401, 402}));
    b.replace_rows("v", {1}, std::vector<int32_t>{-2});
    {
        npk::Batch wb = a.writable_batch();  // in place: allowed
        wb.load<int32_t>("v").at(2) = -3;
        wb.end();
    }
    CHECK_EQ(b.load<int32_t>("v"), (std::vector<int32_t>{1, -2, -3}));

    CHECK_THROWS_NPK(a.create_array<double>("w", {2}), NPK_WRONG_MODE, nullptr);
    CHECK_THROWS_NPK(a.save("w", std::vector<double>{1}), NPK_WRONG_MODE, nullptr);
    CHECK_THROWS_NPK(b.append("v", std::vector<int32_t>{4}), NPK_WRONG_MODE, nullptr);
    CHECK_THROWS_NPK(b.drop("v"), NPK_WRONG_MODE, nullptr);
    CHECK_THROWS_NPK(a.batch(), NPK_WRONG_MODE, nullptr);
    CHECK_THROWS_NPK(Store(path), NPK_LOCKED, nullptr);  // the structural writer waits
    Store reader(path, Store::read_only);
    CHECK_EQ(reader.read_block<double>("u", {7, 0}, {1, 4}).data, field(1, 4, 7));
    CHECK_THROWS_NPK(Store(path, Store::shared | Store::read_only), NPK_INVALID_ARGUMENT, nullptr);
    CHECK_THROWS_NPK(Store(path, Store::shared | Store::create), NPK_INVALID_ARGUMENT, nullptr);
    a.close();
    b.close();
    Store rank0(path);  // every in-place writer gone: the structural writer gets in
    CHECK_EQ(rank0.load<double>("u"), field(8, 4));
    CHECK(!rank0.has("w"));
}

int main(int, char **argv) {
    chk::TmpDir dir;
    chk::run("create and slabs", [&] { test_create_and_slabs(dir); });
    chk::run("strides", [&] { test_strides(dir); });
    chk::run("every type", [&] { test_every_type(dir); });
    chk::run("dropped rows and 0-d", [&] { test_dropped_rows_and_0d(dir); });
    chk::run("errors", [&] { test_errors(dir); });
    chk::run("shared writers", [&] { test_shared_writers(dir); });
    return chk::finish(argv[0]);
}
