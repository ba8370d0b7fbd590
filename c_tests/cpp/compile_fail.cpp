// Misuses numpack.hpp must reject at compile time. The Makefile compiles this file once per
// CASE and expects each build to fail with the message listed next to the case there.
#include <string>
#include <vector>

#include "numpack.hpp"

struct Pod {
    int a;
};

void misuse(npk::Store &store, npk::Batch &batch) {
#if CASE == 0  // the control: correct use compiles
    store.save("x", std::vector<double>{1, 2}, {2});
    batch.load<double>("x").at(1) = 2;
#elif CASE == 1  // char has no dtype (its signedness is implementation-defined)
    const char text[4] = "abc";
    store.save("x", text, {4});
#elif CASE == 2  // long double has no dtype
    store.load<long double>("x");
#elif CASE == 3  // nor a struct
    std::vector<Pod> v(2);
    store.save("x", v);
#elif CASE == 4  // nor a typed batch view of std::string
    batch.load<std::string>("x");
#elif CASE == 5  // a Store is not copyable
    npk::Store copy = store;
#elif CASE == 6  // a Batch is not copyable
    npk::Batch copy = batch;
#elif CASE == 7  // a read-only view is read-only
    npk::ReadOnlyView<double> v = store.view<double>("x");
    v.at(0) = 1.0;
#elif CASE == 8  // at() takes integers
    npk::View<double> v = batch.load<double>("x");
    v.at(0.5);
#else
#error "set CASE"
#endif
    (void)store;
    (void)batch;
}
