// The README's C++ quick start: save a field, replace a row, scale it in place, read it back;
// then a sized array written and read by blocks (hyperslabs).
#include <cstdio>
#include <vector>
#include "numpack.hpp"

int main(int argc, char **argv) try {
    npk::Store store(argc > 1 ? argv[1] : "quickstart.npk", npk::Store::create);

    std::vector<double> field = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    store.save("field", field, {4, 3});                                  // 4 x 3, C order
    store.replace_rows("field", {-1}, std::vector<double>{-1, -1, -1});  // -1: the last row

    {
        npk::Batch batch = store.writable_batch();                       // zero-copy, in place
        npk::View<double> v = batch.load<double>("field");
        for (uint64_t i = 0; i < v.shape()[0]; i++)
            for (uint64_t j = 0; j < v.shape()[1]; j++)
                v.at(i, j) *= 2;                                         // bounds-checked
        batch.end();                                                     // no end(): aborted
    }

    std::vector<double> back = store.load<double>("field");             // shape from info()
    for (size_t i = 0; i < back.size(); i++)
        std::printf("%g%c", back[i], i % 3 == 2 ? '\n' : ' ');

    store.create_array<double>("u", {100, 3});                           // sized: reads as zeros
    store.write_block("u", {40, 0}, std::vector<double>(6, 7.5), {2, 3}); // rows 40-41, in place
    npk::Block<double> box = store.read_block<double>("u", {39, 1}, {3, 2}); // rows 39-41, cols 1-2
    std::printf("box %zu x %zu: %g %g %g\n", size_t(box.shape[0]), size_t(box.shape[1]),
                box.data[0], box.data[2], box.data[4]);                  // C order: (i, j) at i*2+j
    return 0;
} catch (const npk::Error &e) {                                          // every failure throws
    std::fprintf(stderr, "%s\n", e.what());                              // "NPK_...: message"
    return 1;
}
