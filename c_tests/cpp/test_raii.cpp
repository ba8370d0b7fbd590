// numpack.hpp: errors (npk::Error carries the status and npk_last_error) and RAII (Store closes,
// Batch aborts, moves transfer ownership).
#include <atomic>
#include <filesystem>
#include <thread>

#include "check.hpp"

using npk::Batch;
using npk::Store;

static void test_error_type(const chk::TmpDir &dir) {
    Store s(dir / "err.npk", Store::create);
    s.save("x", std::vector<double>{1, 2, 3, 4}, {2, 2});

    // missing array: the status, its name, and the library's message
    try {
        s.load<double>("missing_one");
        CHECK(!"load of a missing array did not throw");
    } catch (const std::runtime_error &re) {
        const npk::Error *e = dynamic_cast<const npk::Error *>(&re);
        CHECK(e != nullptr);
        if (e) {
            CHECK_EQ(e->status(), NPK_NOT_FOUND);
            CHECK_EQ(std::string(e->status_name()), std::string("NPK_NOT_FOUND"));
            CHECK(std::strstr(e->message(), "missing_one") != nullptr);
            CHECK_EQ(std::string(e->what()), std::string("NPK_NOT_FOUND: ") + e->message());
        }
    }
    CHECK_THROWS_NPK(s.view<double>("missing_one"), NPK_NOT_FOUND, "missing_one");
    CHECK_THROWS_NPK(s.get_rows<double>("missing_one", {0}), NPK_NOT_FOUND, "missing_one");
    CHECK_THROWS_NPK(s.drop("missing_one"), NPK_NOT_FOUND, "missing_one");
    CHECK_THROWS_NPK(s.drop_rows("missing_one", {0}), NPK_NOT_FOUND, "missing_one");
    CHECK_THROWS_NPK(s.compact("missing_one"), NPK_NOT_FOUND, "missing_one");

    // dtype mismatch: typed load (library), typed view (wrapper), pointer load (library)
    CHECK_THROWS_NPK(s.load<float>("x"), NPK_DTYPE_MISMATCH, "x");
    CHECK_THROWS_NPK(s.view<int64_t>("x"), NPK_DTYPE_MISMATCH, "float64");
    int64_t ibuf[4];
    CHECK_THROWS_NPK(s.load("x", ibuf, {2, 2}), NPK_DTYPE_MISMATCH, "x");
    CHECK_THROWS_NPK(s.replace_rows("x", {0}, std::vector<float>{1, 2}), NPK_DTYPE_MISMATCH, "x");

    // shape mismatch
    double dbuf[6];
    CHECK_THROWS_NPK(s.load("x", dbuf, {3, 2}), NPK_SHAPE_MISMATCH, "x");
    CHECK_THROWS_NPK(s.load("x", dbuf, {4}), NPK_SHAPE_MISMATCH, "x");
    CHECK_THROWS_NPK(s.get_rows("x", {0}, dbuf, {1, 3}), NPK_SHAPE_MISMATCH, "x");

    // bad names: refused before any file is touched
    auto before = chk::listing(dir / "err.npk");
    for (const std::string &bad : std::vector<std::string>{"a/b", "..", ".", "", "back\\slash", "ctl\x01", std::string(240, 'n')})
        CHECK_THROWS_NPK(s.save(bad, std::vector<int8_t>{1}), NPK_INVALID_ARGUMENT, nullptr);
    CHECK_THROWS_NPK(s.save(std::string("nul\0byte", 8), std::vector<int8_t>{1}), NPK_INVALID_ARGUMENT, "NUL");
    CHECK_THROWS_NPK(s.has(std::string("x\0y", 3)), NPK_INVALID_ARGUMENT, "NUL");
    CHECK_EQ(chk::listing(dir / "err.npk"), before);
    CHECK_EQ(s.list(), std::vector<std::string>{"x"});
    s.save(std::string(239, 'n'), std::vector<int8_t>{1});  // the longest name is fine
    CHECK(s.has(std::string(239, 'n')));

    // the message is this thread's and is copied: a later success does not change it
    try {
        s.load<double>("gone");
    } catch (const npk::Error &e) {
        s.save("ok", std::vector<int8_t>{1});
        CHECK(std::strstr(e.what(), "gone") != nullptr);
    }
    CHECK_THROWS_NPK(s.clone("x", "ok"), NPK_ALREADY_EXISTS, "ok");
    CHECK_THROWS_NPK(Store(dir / "does_not_exist.npk"), NPK_NOT_FOUND, nullptr);
    CHECK_THROWS_NPK(Store::open(dir / "does_not_exist.npk", Store::read_only), NPK_NOT_FOUND, nullptr);
    CHECK(!std::filesystem::exists(dir / "does_not_exist.npk"));
}

static void test_store_raii(const chk::TmpDir &dir) {
    const std::string p1 = dir / "a.npk", p2 = dir / "b.npk";
    {
        Store s(p1, Store::create);
        s.save("x", std::vector<int32_t>{1, 2});
        // second writer, in this process: locked; a reader is fine
        CHECK_THROWS_NPK(Store(p1), NPK_LOCKED, nullptr);
        CHECK_THROWS_NPK(Store::open(p1, Store::create | Store::durable), NPK_LOCKED, nullptr);
        Store r(p1, Store::read_only);
        CHECK_EQ(r.load<int32_t>("x"), (std::vector<int32_t>{1, 2}));
    }
    // the destructor closed it: the lock is free
    {
        Store s = Store::open(p1);
        CHECK_EQ(s.load<int32_t>("x"), (std::vector<int32_t>{1, 2}));

        // move construction
        Store m(std::move(s));
        CHECK(!s.is_open() && !s);
        CHECK(m.is_open() && m);
        m.save("y", std::vector<int32_t>{3});
        CHECK_EQ(m.list(), (std::vector<std::string>{"x", "y"}));
        CHECK_THROWS_NPK(s.list(), NPK_INVALID_ARGUMENT, "moved");
        CHECK_THROWS_NPK(s.save("z", std::vector<int32_t>{1}), NPK_INVALID_ARGUMENT, "moved");
        CHECK_THROWS_NPK(s.batch(), NPK_INVALID_ARGUMENT, "moved");

        // move assignment closes the target's store first (its lock is released)
        Store other(p2, Store::create);
        CHECK_THROWS_NPK(Store(p2), NPK_LOCKED, nullptr);
        other = std::move(m);
        CHECK(other.has("y"));
        CHECK_NOTHROW(Store(p2));
        CHECK_THROWS_NPK(Store(p1), NPK_LOCKED, nullptr);  // still held, by `other`

        // stores in a container survive reallocation
        std::vector<Store> stores;
        stores.push_back(std::move(other));
        for (int i = 0; i < 8; i++)
            stores.push_back(Store(dir / ("many" + std::to_string(i) + ".npk"), Store::create));
        stores[0].save("w", std::vector<int32_t>{4});
        CHECK(stores[0].has("w"));
        CHECK_THROWS_NPK(Store(p1), NPK_LOCKED, nullptr);

        // explicit close, twice, then use
        stores[0].close();
        stores[0].close();
        CHECK_THROWS_NPK(stores[0].has("w"), NPK_INVALID_ARGUMENT, "closed");
        CHECK_NOTHROW(Store(p1));
    }
    Store def;
    CHECK(!def.is_open());
    CHECK_THROWS_NPK(def.info("x"), NPK_INVALID_ARGUMENT, nullptr);
}

static void test_batch_raii(const chk::TmpDir &dir) {
    const std::string path = dir / "batch.npk";
    Store s(path, Store::create);
    s.save("w", std::vector<double>{1, 2, 3, 4}, {2, 2});
    s.save("n", std::vector<int32_t>{7, 8, 9});
    const auto files = chk::snapshot(path);
    const auto info_w = s.info("w");

    // A cache batch destroyed without end(): nothing changes on disk.
    {
        Batch b = s.batch();
        CHECK(b.active() && !b.is_writable());
        npk::View<double> w = b.load<double>("w");
        for (double &x : w)
            x *= 10;
        b.save("w", w);
        b.save("n", std::vector<int32_t>{1, 2, 3, 4, 5});  // a new shape
        b.save("fresh", std::vector<uint8_t>{1, 2});      // a new array
        CHECK_THROWS_NPK(s.batch(), NPK_BUSY, nullptr);
        CHECK_THROWS_NPK(s.writable_batch(), NPK_BUSY, nullptr);
        CHECK_THROWS_NPK(s.save("other", std::vector<int8_t>{1}), NPK_BUSY, nullptr);
        CHECK_EQ(s.load<double>("w"), (std::vector<double>{1, 2, 3, 4}));  // reads: last commit
    }
    CHECK(chk::snapshot(path) == files);
    CHECK_EQ(s.list(), (std::vector<std::string>{"n", "w"}));
    CHECK_EQ(s.load<double>("w"), (std::vector<double>{1, 2, 3, 4}));
    CHECK_EQ(s.load<int32_t>("n"), (std::vector<int32_t>{7, 8, 9}));
    CHECK_EQ(s.info("w").modify_time_us, info_w.modify_time_us);

    // The same when an exception unwinds through the batch's scope.
    try {
        Batch b = s.batch();
        b.save("w", std::vector<double>{0, 0, 0, 0}, {2, 2});
        b.load<float>("w");  // throws: dtype mismatch
        CHECK(!"unreachable");
    } catch (const npk::Error &e) {
        CHECK_EQ(e.status(), NPK_DTYPE_MISMATCH);
    }
    CHECK(chk::snapshot(path) == files);
    CHECK_NOTHROW(s.save("after", std::vector<int8_t>{1}));  // not busy any more
    s.drop("after");

    // explicit abort(); then the object is empty
    {
        Batch b = s.batch(16);
        b.save("w", std::vector<double>{5, 5, 5, 5}, {2, 2});
        b.abort();
        CHECK(!b.active() && !b);
        CHECK_THROWS_NPK(b.end(), NPK_INVALID_ARGUMENT, "batch");
        CHECK_THROWS_NPK(b.load<double>("w"), NPK_INVALID_ARGUMENT, "batch");
        CHECK_NOTHROW(b.abort());  // aborting an empty batch is fine
    }
    CHECK_EQ(s.load<double>("w"), (std::vector<double>{1, 2, 3, 4}));

    // moving a batch keeps its views valid; end() through the new owner commits
    {
        Batch a = s.batch();
        npk::View<double> w = a.load<double>("w");
        Batch b(std::move(a));
        CHECK(!a.active() && b.active());
        CHECK_THROWS_NPK(a.save("w", w), NPK_INVALID_ARGUMENT, nullptr);
        w.at(0, 0) = 100;
        b.save("w", w);
        Batch c;
        c = std::move(b);
        c.end();
        CHECK(!c.active());
        CHECK_THROWS_NPK(c.end(), NPK_INVALID_ARGUMENT, nullptr);
    }
    CHECK_EQ(s.load<double>("w"), (std::vector<double>{100, 2, 3, 4}));

    // move-assigning over an active batch aborts it
    {
        Batch a = s.batch();
        a.save("w", std::vector<double>{-1, -1, -1, -1}, {2, 2});
        a = Batch();
        CHECK(!a.active());
        CHECK_NOTHROW(s.save("free", std::vector<int8_t>{1}));  // not busy: it was aborted
    }
    CHECK_EQ(s.load<double>("w"), (std::vector<double>{100, 2, 3, 4}));

    // A writable batch destroyed without end(): writes made through its views stay (in place),
    // but no modify time is recorded.
    const uint64_t mt = s.info("n").modify_time_us;
    {
        Batch b = s.writable_batch();
        CHECK(b.is_writable());
        npk::View<int32_t> n = b.load<int32_t>("n");
        n[0] = -7;
    }
    CHECK_EQ(s.load<int32_t>("n"), (std::vector<int32_t>{-7, 8, 9}));
    CHECK_EQ(s.info("n").modify_time_us, mt);
}

static void test_batch_outlives_store(const chk::TmpDir &dir) {
    const std::string path = dir / "outlive.npk";
    Batch b;
    {
        Store s(path, Store::create);
        s.save("v", std::vector<float>{1, 2});
        b = s.batch();
    }  // the store handle is closed; the batch keeps the store open and locked
    CHECK_THROWS_NPK(Store(path), NPK_LOCKED, nullptr);
    npk::View<float> v = b.load<float>("v");
    v[1] = 20;
    b.save("v", v);
    b.end();
    Store again(path);  // the lock is free now
    CHECK_EQ(again.load<float>("v"), (std::vector<float>{1, 20}));
}

// One Store shared by threads; each thread's npk::Error carries its own failure's message.
static void test_threads(const chk::TmpDir &dir) {
    Store s(dir / "threads.npk", Store::create);
    std::atomic<int> good{0}, bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            const std::string mine = "t" + std::to_string(t);
            for (int i = 0; i < 50; i++) {
                try {
                    s.save(mine, std::vector<int32_t>{t, i});
                    if (s.load<int32_t>(mine) != std::vector<int32_t>{t, i})
                        bad++;
                    s.load<int32_t>(mine + "_missing");
                    bad++;
                } catch (const npk::Error &e) {
                    // the message names this thread's missing array, never another thread's
                    if (e.status() == NPK_NOT_FOUND && std::string(e.message()).find(mine + "_missing") != std::string::npos)
                        good++;
                    else
                        bad++;
                }
            }
        });
    for (std::thread &th : threads)
        th.join();
    CHECK_EQ(good.load(), 200);
    CHECK_EQ(bad.load(), 0);
    CHECK_EQ(s.list().size(), 4u);
}

int main(int, char **argv) {
    chk::TmpDir dir;
    chk::run("npk::Error", [&] { test_error_type(dir); });
    chk::run("Store RAII and moves", [&] { test_store_raii(dir); });
    chk::run("Batch RAII and moves", [&] { test_batch_raii(dir); });
    chk::run("Batch outlives Store", [&] { test_batch_outlives_store(dir); });
    chk::run("threads", [&] { test_threads(dir); });
    return chk::finish(argv[0]);
}
