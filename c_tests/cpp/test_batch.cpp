// numpack.hpp: both batch modes through npk::Batch and npk::View<T>.
#include <cmath>
#include <numeric>

#include "check.hpp"

using npk::Batch;
using npk::Store;
using npk::View;

std::vector<std::string> second_tu_list(const npk::Store &store);
double second_tu_sum(npk::Batch &batch, const std::string &name);

// NumPack's batch_mode: 100 rounds of x2, one commit at the end.
static void test_cache_rounds(const chk::TmpDir &dir) {
    Store s(dir / "cache.npk", Store::create);
    std::vector<double> w0(3 * 4);
    std::iota(w0.begin(), w0.end(), 0.5);
    s.save("weights", w0, {3, 4});
    s.save("bias", std::vector<float>{1.5f, -0.25f});
    s.save("untouched", std::vector<int32_t>{1, 2, 3});
    const auto files = chk::snapshot(dir / "cache.npk");

    Batch b = s.batch();
    double *first_w = nullptr;
    float *first_b = nullptr;
    bool same_pointers = true, committed_unchanged = true;
    for (int round = 0; round < 100; round++) {
        View<double> w = b.load<double>("weights");
        View<float> bias = b.load<float>("bias");
        if (round == 0) {
            first_w = w.data();
            first_b = bias.data();
            CHECK(w.writable());
            CHECK_EQ(w.shape().vec(), (std::vector<uint64_t>{3, 4}));
        }
        same_pointers = same_pointers && w.data() == first_w && bias.data() == first_b;
        for (uint64_t i = 0; i < w.shape()[0]; i++)
            for (uint64_t j = 0; j < w.shape()[1]; j++)
                w.at(i, j) *= 2;
        for (std::size_t i = 0; i < bias.size(); i++)
            bias[i] *= 2;
        b.save("weights", w);  // the view's own pointer: no copy
        b.save("bias", bias);
        if (round % 25 == 0)
            committed_unchanged = committed_unchanged && s.load<double>("weights") == w0;
    }
    CHECK(same_pointers);
    CHECK(committed_unchanged);
    // changed through a view but never saved: not written (NumPack's case 18)
    View<int32_t> u = b.load<int32_t>("untouched");
    u[0] = 999;
    CHECK_EQ(second_tu_sum(b, "weights"), std::ldexp(std::accumulate(w0.begin(), w0.end(), 0.0), 100));
    CHECK(chk::snapshot(dir / "cache.npk") == files);  // nothing written before end()
    b.end();
    CHECK(!b.active());

    std::vector<double> want(w0);
    for (double &x : want)
        x = std::ldexp(x, 100);
    CHECK_EQ(s.load<double>("weights"), want);
    CHECK_EQ(s.load<float>("bias"), (std::vector<float>{std::ldexp(1.5f, 100), std::ldexp(-0.25f, 100)}));
    CHECK_EQ(s.load<int32_t>("untouched"), (std::vector<int32_t>{1, 2, 3}));
    CHECK_EQ(second_tu_list(s), (std::vector<std::string>{"bias", "untouched", "weights"}));
}

// Cache batch: other buffers, new shapes and dtypes, new arrays, appending by saving longer.
static void test_cache_reshape(const chk::TmpDir &dir) {
    Store s(dir / "reshape.npk", Store::create);
    s.save("rows", std::vector<int64_t>{1, 2, 3, 4}, {2, 2});
    s.save("kind", std::vector<int16_t>{1, 2});
    {
        Batch b = s.batch();
        View<int64_t> r = b.load<int64_t>("rows");
        std::vector<int64_t> longer(r.begin(), r.end());
        longer.insert(longer.end(), {5, 6});
        b.save("rows", longer, {3, 2});               // append a row by saving a longer array
        b.save("kind", std::vector<double>{0.5, 1});  // a dtype change is fine in a cache batch
        const std::complex<float> z[2][1] = {{{1, 2}}, {{3, 4}}};
        b.save("z", z, {2, 1});
        View<int64_t> r2 = b.load<int64_t>("rows");   // the new buffer
        CHECK_EQ(r2.shape().vec(), (std::vector<uint64_t>{3, 2}));
        CHECK_EQ(r2.at(2, 1), 6);
        CHECK_THROWS_NPK(b.load<int16_t>("kind"), NPK_DTYPE_MISMATCH, "float64");
        CHECK_THROWS_NPK(b.load<double>("nope"), NPK_NOT_FOUND, "nope");
        CHECK_THROWS_NPK(b.save("bad/name", std::vector<int8_t>{1}), NPK_INVALID_ARGUMENT, nullptr);
        CHECK_THROWS_NPK(b.save("x", std::vector<int8_t>{1, 2, 3}, {2, 2}), NPK_INVALID_ARGUMENT, "3 elements");
        b.end();
    }
    CHECK_EQ(s.load<int64_t>("rows"), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
    CHECK_EQ(s.info("kind").dtype, NPK_FLOAT64);
    CHECK_EQ(s.load<std::complex<float>>("z"), (std::vector<std::complex<float>>{{1, 2}, {3, 4}}));
    CHECK_EQ(s.info("z").shape, (std::vector<uint64_t>{2, 1}));
}

// A cache batch with a memory limit: arrays evicted and read again; all changes committed.
static void test_cache_memory_limit(const chk::TmpDir &dir) {
    Store s(dir / "limit.npk", Store::create);
    const std::size_t n = (1u << 20) / 8;  // 1 MiB of float64 each
    for (int k = 0; k < 4; k++)
        s.save("a" + std::to_string(k), std::vector<double>(n, double(k)));
    {
        Batch b = s.batch(1);
        for (int round = 0; round < 3; round++)
            for (int k = 0; k < 4; k++) {
                const std::string name = "a" + std::to_string(k);
                View<double> v = b.load<double>(name);  // may have been evicted: load again
                for (double &x : v)
                    x += 1;
                b.save(name, v);
            }
        b.end();
    }
    for (int k = 0; k < 4; k++) {
        std::vector<double> got = s.load<double>("a" + std::to_string(k));
        CHECK(got.size() == n && std::all_of(got.begin(), got.end(), [&](double x) { return x == k + 3; }));
    }
}

// NumPack's writable_batch_mode: scale in place through View<T>::at(i, j).
static void test_writable(const chk::TmpDir &dir) {
    Store s(dir / "writable.npk", Store::create);
    const uint64_t R = 5, C = 4;
    std::vector<double> grid(R * C);
    std::iota(grid.begin(), grid.end(), 1.0);
    s.save("grid", grid, {R, C});
    s.save("cube", std::vector<int32_t>(2 * 3 * 4, 0), {2, 3, 4});
    s.save("line", std::vector<uint16_t>{1, 2, 3});
    s.save("holes", std::vector<float>{0, 1, 2, 3, 4, 5}, {3, 2});
    s.drop_rows("holes", {1});
    const uint64_t mt = s.info("grid").modify_time_us;

    {
        Batch b = s.writable_batch();
        View<double> g = b.load<double>("grid");
        CHECK(g.writable());
        CHECK_EQ(g.ndim(), 2u);
        CHECK_EQ(g.size(), R * C);
        CHECK_EQ(g.nbytes(), R * C * 8);
        CHECK_EQ(g.dtype(), NPK_FLOAT64);
        CHECK_EQ(g.strides().vec(), (std::vector<int64_t>{int64_t(C) * 8, 8}));
        CHECK(b.load<double>("grid").data() == g.data());  // a second load: same pointer
        for (uint64_t i = 0; i < g.shape()[0]; i++)
            for (uint64_t j = 0; j < g.shape()[1]; j++)
                g.at(i, j) *= 3;
        CHECK_EQ(g.at(4, 3), 60.0);
        CHECK_EQ(g.at(int8_t{1}, uint16_t{2}), 21.0);  // any integer types

        // bounds and rank
        CHECK_THROWS_AS(g.at(5, 0), std::out_of_range);
        CHECK_THROWS_AS(g.at(0, 4), std::out_of_range);
        CHECK_THROWS_AS(g.at(-1, 0), std::out_of_range);
        CHECK_THROWS_AS(g.at(0, int64_t(-1)), std::out_of_range);
        CHECK_THROWS_AS(g.at(uint64_t(1) << 63, 0), std::out_of_range);
        CHECK_THROWS_AS(g.at(1), std::out_of_range);
        CHECK_THROWS_AS(g.at(0, 0, 0), std::out_of_range);
        CHECK_THROWS_AS(g.at(), std::out_of_range);
        try {
            g.at(7, 1);
        } catch (const std::out_of_range &e) {
            CHECK(std::string(e.what()).find("index 7") != std::string::npos);
            CHECK(std::string(e.what()).find("axis 0 of extent 5") != std::string::npos);
        }

        // 3-D: at() uses the byte strides
        View<int32_t> c = b.load<int32_t>("cube");
        for (uint64_t i = 0; i < 2; i++)
            for (uint64_t j = 0; j < 3; j++)
                for (uint64_t k = 0; k < 4; k++)
                    c.at(i, j, k) = int32_t(100 * i + 10 * j + k);
        CHECK_EQ(c.data()[(1 * 3 + 2) * 4 + 3], 123);
        CHECK_THROWS_AS(c.at(0, 3, 0), std::out_of_range);

        // operator[] on rank 1, iteration
        View<uint16_t> l = b.load<uint16_t>("line");
        l[2] = 30;
        for (uint16_t &x : l)
            x = uint16_t(x + 1);

        // a dropped row is compacted away on first load
        View<float> h = b.load<float>("holes");
        CHECK_EQ(h.shape().vec(), (std::vector<uint64_t>{2, 2}));
        CHECK_EQ(h.at(1, 0), 4.0f);

        // dtype of the view, saves that cannot change shape or dtype
        CHECK_THROWS_NPK(b.load<float>("grid"), NPK_DTYPE_MISMATCH, "grid");
        CHECK_NOTHROW(b.save("grid", g));  // own pointer: a no-op
        CHECK_THROWS_NPK(b.save("grid", std::vector<double>(R * C + C), {R + 1, C}), NPK_SHAPE_MISMATCH, "grid");
        CHECK_THROWS_NPK(b.save("grid", std::vector<float>(R * C), {R, C}), NPK_DTYPE_MISMATCH, "grid");
        // another buffer of the same shape: copied into the mapping
        b.save("line", std::vector<uint16_t>{7, 8, 9});
        CHECK_EQ(l[0], uint16_t{7});
        CHECK_THROWS_NPK(s.save("grid", grid, {R, C}), NPK_BUSY, nullptr);
        b.end();
    }
    std::vector<double> want(grid);
    for (double &x : want)
        x *= 3;
    CHECK_EQ(s.load<double>("grid"), want);
    CHECK(s.info("grid").modify_time_us >= mt);
    CHECK_EQ(s.view<int32_t>("cube").at(1, 1, 1), 111);
    CHECK_EQ(s.load<uint16_t>("line"), (std::vector<uint16_t>{7, 8, 9}));
    CHECK_EQ(s.load<float>("holes"), (std::vector<float>{0, 1, 4, 5}));
    CHECK_EQ(s.info("holes").physical_rows, 2u);

    // a zero-size array in a writable batch: data() is null, at() is always out of range
    s.save("nothing", std::vector<double>{}, {0, 3});
    Batch b = s.writable_batch();
    View<double> z = b.load<double>("nothing");
    CHECK(z.data() == nullptr && z.empty() && z.begin() == z.end());
    CHECK_EQ(z.shape().vec(), (std::vector<uint64_t>{0, 3}));
    CHECK_THROWS_AS(z.at(0, 0), std::out_of_range);
    b.end();
}

// Batch::save from a pointer with strides (Fortran order) in a cache batch.
static void test_batch_strided_save(const chk::TmpDir &dir) {
    Store s(dir / "bstride.npk", Store::create);
    const double f[6] = {1, 4, 2, 5, 3, 6};  // (2, 3) in Fortran order
    {
        Batch b = s.batch();
        b.save("m", f, {2, 3}, {8, 16});
        View<double> m = b.load<double>("m");
        CHECK_EQ(m.at(0, 2), 3.0);
        CHECK_EQ(m.at(1, 0), 4.0);
        b.end();
    }
    CHECK_EQ(s.load<double>("m"), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

// Views that a cache batch invalidated, saving a view under another name, rank 0.
static void test_view_edges(const chk::TmpDir &dir) {
    Store s(dir / "edges.npk", Store::create);
    s.save("a", std::vector<double>{1, 2});
    const double three = 3;
    s.save("sc", &three, {});
    {
        Batch b = s.batch();
        View<double> a = b.load<double>("a");
        b.save("copy", a);                             // another name: a copy
        b.save("a", std::vector<double>{1, 2, 3});     // replaced from another buffer: `a` is invalid
        CHECK_THROWS_NPK(b.save("a", a), NPK_INVALID_ARGUMENT, "invalidated");
        CHECK_EQ(b.load<double>("a").size(), 3u);      // load again for a valid view
        View<double> sc = b.load<double>("sc");
        CHECK_EQ(sc.ndim(), 0u);
        CHECK_EQ(sc.size(), 1u);
        sc.at() += 1;
        b.save("sc", sc);
        b.end();
    }
    CHECK_EQ(s.load<double>("copy"), (std::vector<double>{1, 2}));
    CHECK_EQ(s.load<double>("a"), (std::vector<double>{1, 2, 3}));
    CHECK_EQ(s.load<double>("sc"), std::vector<double>{4});
    {
        Batch b = s.writable_batch();
        View<double> sc = b.load<double>("sc");
        sc.at() *= 10;
        CHECK_THROWS_AS(sc.at(0), std::out_of_range);
        CHECK_THROWS_NPK(b.save("missing", sc), NPK_NOT_FOUND, "missing");
        b.end();
    }
    CHECK_EQ(s.load<double>("sc"), std::vector<double>{40});
}

int main(int, char **argv) {
    chk::TmpDir dir;
    chk::run("cache batch x2 x100", [&] { test_cache_rounds(dir); });
    chk::run("cache batch reshape", [&] { test_cache_reshape(dir); });
    chk::run("cache batch memory limit", [&] { test_cache_memory_limit(dir); });
    chk::run("writable batch", [&] { test_writable(dir); });
    chk::run("batch strided save", [&] { test_batch_strided_save(dir); });
    chk::run("view edge cases", [&] { test_view_edges(dir); });
    return chk::finish(argv[0]);
}
