// numpack.hpp must compile cleanly under many more warnings than the tests use (the Makefile
// builds this with $(STRICT)), for every element type: users' -Werror builds must not break.
#include <complex>

#include "numpack.hpp"

template <class T> void use_all(npk::Store &s, npk::Batch &b) {
    T buf[4] = {};
    std::vector<T> v(4);
    s.save("x", buf, {2, 2}, {static_cast<int64_t>(2 * sizeof(T)), static_cast<int64_t>(sizeof(T))});
    s.save("x", v);
    s.save("x", v, {2, 2});
    s.load("x", buf, {2, 2});
    v = s.template load<T>("x");
    s.append("x", buf, {1, 2});
    s.append("x", v);
    s.append("x", v, {2, 2});
    s.replace_rows("x", {0, -1}, buf, {2, 2});
    s.replace_rows("x", {0}, v);
    s.get_rows("x", {0}, buf, {1, 2});
    v = s.template get_rows<T>("x", {0, 1});
    npk::ReadOnlyView<T> r = s.template view<T>("x");
    T sum{};
    for (const T &x : r)
        sum = x;
    sum = r.at(0, 1);
    sum = r.at(0u, 1ul);
    npk::View<T> w = b.template load<T>("x");
    w.at(1, 1) = sum;
    w[0] = r[0];
    b.save("x", w);
    b.save("x", buf, {2, 2});
    b.save("x", v);
    b.save("x", v, {2, 2});
    s.template create_array<T>("y", {2, 2});
    s.create_array("y", {2, 2}, sum);
    s.read_block("x", {0, 0}, buf, {2, 2}, {static_cast<int64_t>(sizeof(T)), static_cast<int64_t>(2 * sizeof(T))});
    npk::Block<T> blk = s.template read_block<T>("x", {0, 1}, {2, 1});
    s.write_block("x", {0, 0}, buf, {2, 2});
    s.write_block("x", {0, 0}, v, {2, 2});
    s.write_block("x", {1, 0}, blk);
}

void instantiate(npk::Store &s, npk::Batch &b) {
    use_all<uint8_t>(s, b);
    use_all<uint16_t>(s, b);
    use_all<uint32_t>(s, b);
    use_all<uint64_t>(s, b);
    use_all<int8_t>(s, b);
    use_all<int16_t>(s, b);
    use_all<int32_t>(s, b);
    use_all<int64_t>(s, b);
    use_all<float>(s, b);
    use_all<double>(s, b);
    use_all<std::complex<float>>(s, b);
    use_all<std::complex<double>>(s, b);
    s.save("b", std::vector<bool>{true});
    std::vector<bool> bits = s.load<bool>("b");
    (void)bits;
    s.create_array("b", {3}, true);
    npk::Block<bool> bblk = s.read_block<bool>("b", {1}, {2});
    s.write_block("b", {0}, bblk);
    s.drop({"a", "b"});
    s.drop("a");
    s.drop_rows("a", {0});
    s.compact();
    s.compact("a");
    s.clone("a", "b");
    (void)s.has("a");
    (void)s.list();
    (void)s.info("a").size();
    s.refresh();
    npk::Batch c = s.batch(1);
    npk::Batch d = s.writable_batch();
    c.end();
    d.abort();
}

int main() { return 0; }
