// A second translation unit including numpack.hpp, linked into test_batch: the header-only
// wrapper must not define anything twice (every function is inline or a template).
#include "numpack.hpp"

std::vector<std::string> second_tu_list(const npk::Store &store) { return store.list(); }

double second_tu_sum(npk::Batch &batch, const std::string &name) {
    npk::View<double> v = batch.load<double>(name);
    double sum = 0;
    for (double x : v)
        sum += x;
    return sum;
}
