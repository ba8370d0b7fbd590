/*
 * numpack.hpp: a header-only C++17 wrapper of libnumpack (include/numpack.h).
 *
 *   #include "numpack.hpp"
 *   npk::Store store("run.npk", npk::Store::create);
 *   store.save("field", data, {4, 3});              // pointer + shape (+ optional byte strides)
 *   std::vector<double> back = store.load<double>("field");
 *   store.create_array<double>("u", {1000, 3});                // sized, zeros until written
 *   store.write_block("u", {40, 0}, rows, {2, 3});             // a block (hyperslab), in place
 *   npk::Block<double> b = store.read_block<double>("u", {40, 0}, {2, 3});  // b.data, b.shape
 *
 * Everything lives in namespace npk. Link with -lnumpack exactly as a C program does.
 *
 * Errors. Every call that fails throws npk::Error (a std::runtime_error). Its status() is the
 * library's npk_status code and what() reads "NPK_NOT_FOUND: <npk_last_error()>". Errors the
 * wrapper detects itself use the status the library would have used:
 *   - a typed view (Batch::load<T>, Store::view<T>) of an array whose dtype is not T's:
 *     npk::Error with NPK_DTYPE_MISMATCH;
 *   - a std::vector whose size does not match the stated shape, strides whose count differs from
 *     the shape's, block offsets whose count differs from the counts', a name containing NUL,
 *     a Store or Batch used after a move, close, end or abort: npk::Error with
 *     NPK_INVALID_ARGUMENT.
 * The one exception is View::at(), which throws std::out_of_range (wrong number of indices, or
 * an index outside its axis) like std::vector::at. Destructors never throw.
 *
 * Element types. T maps to a dtype at compile time (npk::dtype_of<T>()):
 *   bool -> NPK_BOOL, uint8_t/uint16_t/uint32_t/uint64_t -> NPK_UINT8..NPK_UINT64,
 *   int8_t/int16_t/int32_t/int64_t -> NPK_INT8..NPK_INT64 (any other integer type of the same
 *   size and signedness, e.g. long long, maps the same way), float -> NPK_FLOAT32,
 *   double -> NPK_FLOAT64, std::complex<float> -> NPK_COMPLEX64,
 *   std::complex<double> -> NPK_COMPLEX128.
 * Anything else (char, long double, a struct, ...) fails a static_assert. NPK_FLOAT16 has no
 * C++17 type: use the C API on store.native() for it. A pointer to a C array
 * (`double field[4][3]` passed as `field`) is taken as a pointer to its elements.
 *
 * Shapes, strides and indices are passed as npk::Span<uint64_t> / npk::Span<int64_t>: a
 * braced list ({4, 3}), a std::vector, a std::array or (pointer, count). Strides are signed
 * BYTE strides, one per dimension (NumPy's convention); an empty Strides ({} or omitted) means
 * C order. Fortran order for a (rows, cols) double array is {8, 8 * rows}.
 *
 * Lifetimes (the C header's rules, restated):
 *   - npk::Store closes its handle in its destructor (or close()). Everything committed is
 *     already on disk. A Batch keeps the store open until the batch ends, so a Store may be
 *     destroyed before its Batch; the writer lock is released when both are gone.
 *   - npk::Batch aborts in its destructor unless end() (or abort()) succeeded. An aborted cache
 *     batch leaves the store exactly as it was; an aborted writable batch leaves in the files the
 *     writes made through its views (they were made in place) but records no modify times.
 *   - npk::View<T> (from Batch::load) does not own memory. It is valid until its batch ends or
 *     aborts (explicitly or by the Batch's destructor), and, in a cache batch, until the array is
 *     saved again from another buffer (not the view's own pointer) or evicted under the
 *     batch's memory limit. Using it after that is undefined behaviour. Copies of a View are
 *     views of the same memory. Moving the Batch object does not invalidate its views.
 *   - npk::ReadOnlyView<T> (from Store::view) owns a read-only snapshot and releases it in its
 *     destructor; it may outlive the Store. Movable, not copyable.
 *   - Span arguments built from braced lists live until the end of the call's full expression;
 *     never keep a Span.
 *
 * Threads: a Store may be shared by threads (the C handle is thread-safe), but close() and the
 * destructor free the handle and must not run while another thread uses the Store; a Batch and
 * its views are for one thread at a time. Error messages are captured on the thread that failed.
 */
#ifndef NUMPACK_HPP
#define NUMPACK_HPP

#include "numpack.h"

#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace npk {

// ---- errors ------------------------------------------------------------------------------------

// What every failing npk call throws. what() is "<status name>: <message>".
class Error : public std::runtime_error {
public:
    Error(npk_status status, const std::string &message)
        : std::runtime_error(std::string(npk_status_str(status)) + ": " + message),
          status_(status), prefix_(std::strlen(npk_status_str(status)) + 2) {}

    // The library's status code (NPK_NOT_FOUND, NPK_DTYPE_MISMATCH, ...).
    npk_status status() const noexcept { return status_; }
    // Its name, e.g. "NPK_NOT_FOUND" (static storage).
    const char *status_name() const noexcept { return npk_status_str(status_); }
    // The message alone, as npk_last_error() gave it (without the status name).
    const char *message() const noexcept { return what() + prefix_; }

private:
    npk_status status_;
    std::size_t prefix_;
};

namespace detail {

// Throws npk::Error for a failed status, with this thread's npk_last_error().
inline void check(npk_status status) {
    if (status != NPK_OK) {
        const char *msg = npk_last_error();
        throw Error(status, msg != nullptr ? msg : "");
    }
}

[[noreturn]] inline void fail(npk_status status, const std::string &message) {
    throw Error(status, message);
}

// A name as a C string; a name with an embedded NUL would be silently cut, so refuse it.
inline const char *cname(const std::string &name) {
    if (name.find('\0') != std::string::npos)
        fail(NPK_INVALID_ARGUMENT, "npk: the name contains a NUL byte");
    return name.c_str();
}

template <class T> struct always_false : std::false_type {};

template <class T>
constexpr bool is_plain_integer_v =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
    !std::is_same_v<T, wchar_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>;

} // namespace detail

// ---- element types -----------------------------------------------------------------------------

// The dtype code of element type T; unsupported types fail to compile.
template <class T> constexpr npk_dtype dtype_of() noexcept {
    using U = std::remove_cv_t<std::remove_all_extents_t<T>>;
    if constexpr (std::is_same_v<U, bool>) {
        static_assert(sizeof(bool) == 1, "npk: NPK_BOOL needs a 1-byte bool");
        return NPK_BOOL;
    } else if constexpr (std::is_same_v<U, float>) {
        static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559,
                      "npk: NPK_FLOAT32 needs IEEE-754 binary32 float");
        return NPK_FLOAT32;
    } else if constexpr (std::is_same_v<U, double>) {
        static_assert(sizeof(double) == 8 && std::numeric_limits<double>::is_iec559,
                      "npk: NPK_FLOAT64 needs IEEE-754 binary64 double");
        return NPK_FLOAT64;
    } else if constexpr (std::is_same_v<U, std::complex<float>>) {
        static_assert(sizeof(U) == 8, "npk: NPK_COMPLEX64 needs an 8-byte std::complex<float>");
        return NPK_COMPLEX64;
    } else if constexpr (std::is_same_v<U, std::complex<double>>) {
        static_assert(sizeof(U) == 16, "npk: NPK_COMPLEX128 needs a 16-byte std::complex<double>");
        return NPK_COMPLEX128;
    } else if constexpr (detail::is_plain_integer_v<U> && std::is_signed_v<U>) {
        static_assert(sizeof(U) == 1 || sizeof(U) == 2 || sizeof(U) == 4 || sizeof(U) == 8,
                      "npk: integer types must be 1, 2, 4 or 8 bytes");
        return sizeof(U) == 1 ? NPK_INT8 : sizeof(U) == 2 ? NPK_INT16 : sizeof(U) == 4 ? NPK_INT32 : NPK_INT64;
    } else if constexpr (detail::is_plain_integer_v<U>) {
        static_assert(sizeof(U) == 1 || sizeof(U) == 2 || sizeof(U) == 4 || sizeof(U) == 8,
                      "npk: integer types must be 1, 2, 4 or 8 bytes");
        return sizeof(U) == 1 ? NPK_UINT8 : sizeof(U) == 2 ? NPK_UINT16 : sizeof(U) == 4 ? NPK_UINT32 : NPK_UINT64;
    } else {
        static_assert(detail::always_false<T>::value,
                      "npk: unsupported element type; use bool, (u)int8_t..(u)int64_t, float, "
                      "double, std::complex<float> or std::complex<double>");
        return -1;
    }
}

template <class T> inline constexpr npk_dtype dtype_v = dtype_of<T>();

// "float64" for NPK_FLOAT64 (NumPy's names); "unknown" for anything else.
inline const char *dtype_name(npk_dtype dtype) noexcept {
    static const char *const names[] = {"bool",  "uint8", "uint16",  "uint32",  "uint64",
                                        "int8",  "int16", "int32",   "int64",   "float16",
                                        "float32", "float64", "complex64", "complex128"};
    return dtype >= 0 && dtype <= NPK_COMPLEX128 ? names[dtype] : "unknown";
}

// The library's version string and number (MAJOR * 10000 + MINOR * 100 + PATCH).
inline std::string version() { return npk_version(); }
inline uint32_t version_number() noexcept { return npk_version_number(); }

// ---- Span: a borrowed, read-only run of elements (shapes, strides, indices) ---------------------

template <class T> class Span {
public:
    constexpr Span() noexcept = default;
    constexpr Span(const T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    // The list's array lives until the end of the full expression: fine for an argument.
    constexpr Span(std::initializer_list<T> list) noexcept : data_(first(list)), size_(list.size()) {}
    Span(const std::vector<T> &v) noexcept : data_(v.data()), size_(v.size()) {}
    template <std::size_t N>
    constexpr Span(const std::array<T, N> &a) noexcept : data_(a.data()), size_(N) {}

    constexpr const T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr const T &operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr const T *begin() const noexcept { return data_; }
    constexpr const T *end() const noexcept { return data_ + size_; }
    std::vector<T> vec() const { return std::vector<T>(begin(), end()); }

    friend bool operator==(Span a, Span b) noexcept {
        if (a.size_ != b.size_)
            return false;
        for (std::size_t i = 0; i < a.size_; i++)
            if (a.data_[i] != b.data_[i])
                return false;
        return true;
    }
    friend bool operator!=(Span a, Span b) noexcept { return !(a == b); }

private:
    static constexpr const T *first(std::initializer_list<T> list) noexcept { return list.begin(); }

    const T *data_ = nullptr;
    std::size_t size_ = 0;
};

using Dims = Span<uint64_t>;    // a shape
using Strides = Span<int64_t>;  // byte strides, one per dimension; empty: C order
using Indices = Span<int64_t>;  // logical row indices; negative counts from the end

namespace detail {

// Rank as the C API takes it, and the strides pointer (NULL for C order).
inline uint32_t rank_of(Dims shape) {
    if (shape.size() > NPK_MAX_DIMS)
        fail(NPK_INVALID_ARGUMENT, "npk: rank " + std::to_string(shape.size()) + " exceeds NPK_MAX_DIMS (" +
                                       std::to_string(NPK_MAX_DIMS) + ")");
    return static_cast<uint32_t>(shape.size());
}

inline const int64_t *strides_of(Dims shape, Strides strides) {
    if (strides.empty())
        return nullptr;
    if (strides.size() != shape.size())
        fail(NPK_INVALID_ARGUMENT, "npk: " + std::to_string(strides.size()) + " strides for a shape of rank " +
                                       std::to_string(shape.size()));
    return strides.data();
}

// Number of elements of a shape; NPK_INVALID_ARGUMENT if it overflows size_t.
inline std::size_t element_count(Dims shape) {
    std::size_t n = 1;
    for (uint64_t d : shape) {
        if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d)
            fail(NPK_INVALID_ARGUMENT, "npk: the shape's element count overflows size_t");
        n *= static_cast<std::size_t>(d);
    }
    return n;
}

inline void check_count(std::size_t have, Dims shape, const char *what) {
    std::size_t want = element_count(shape);
    if (have != want)
        fail(NPK_INVALID_ARGUMENT, std::string("npk: ") + what + " holds " + std::to_string(have) +
                                       " elements but the shape needs " + std::to_string(want));
}

// A contiguous copy of a std::vector's elements (std::vector<bool> has no data()).
template <class T> class VecData {
public:
    explicit VecData(const std::vector<T> &v) : ptr_(v.data()) {}
    const T *get() const noexcept { return ptr_; }

private:
    const T *ptr_;
};
template <> class VecData<bool> {
public:
    explicit VecData(const std::vector<bool> &v) : buf_(new bool[v.size() > 0 ? v.size() : 1]) {
        for (std::size_t i = 0; i < v.size(); i++)
            buf_[i] = v[i];
    }
    const bool *get() const noexcept { return buf_.get(); }

private:
    std::unique_ptr<bool[]> buf_;
};

// Fills a std::vector<T> of n elements through a pointer-taking read.
template <class T, class Read> std::vector<T> read_vector(std::size_t n, Read read) {
    if constexpr (std::is_same_v<T, bool>) {
        std::unique_ptr<bool[]> buf(new bool[n > 0 ? n : 1]);
        read(buf.get());
        return std::vector<bool>(buf.get(), buf.get() + n);
    } else {
        std::vector<T> out(n);
        read(out.data());
        return out;
    }
}

template <class I> uint64_t checked_index(I i, std::size_t axis, uint64_t extent) {
    static_assert(std::is_integral_v<I> && !std::is_same_v<I, bool>, "npk::View::at: indices must be integers");
    bool negative = false;
    if constexpr (std::is_signed_v<I>)
        negative = i < 0;
    if (negative || static_cast<uint64_t>(i) >= extent)
        throw std::out_of_range("npk::View::at: index " + std::to_string(i) + " is out of range for axis " +
                                std::to_string(axis) + " of extent " + std::to_string(extent));
    return static_cast<uint64_t>(i);
}

// Element access shared by View<T> (E = T) and ReadOnlyView<T> (E = const T).
template <class E> class ViewBase {
public:
    using element_type = E;
    using value_type = std::remove_cv_t<E>;

    // The first element; nullptr for an array with zero elements.
    E *data() const noexcept { return static_cast<E *>(v_.data); }
    std::size_t ndim() const noexcept { return v_.ndim; }
    Dims shape() const noexcept { return Dims(v_.shape, v_.ndim); }
    // Byte strides (C order).
    Strides strides() const noexcept { return Strides(v_.strides, v_.ndim); }
    // Number of elements (1 for rank 0; 0 for an empty, default-constructed or moved-from view).
    std::size_t size() const noexcept {
        if (v_.data == nullptr)
            return 0;
        std::size_t n = 1;
        for (uint32_t k = 0; k < v_.ndim; k++)
            n *= static_cast<std::size_t>(v_.shape[k]);
        return n;
    }
    bool empty() const noexcept { return size() == 0; }
    uint64_t nbytes() const noexcept { return v_.nbytes; }
    npk_dtype dtype() const noexcept { return v_.dtype; }
    bool writable() const noexcept { return v_.writable != 0; }

    // The elements in C order (views are contiguous).
    E *begin() const noexcept { return data(); }
    E *end() const noexcept { return data() + size(); }

    // Element i of a rank-1 view; no rank or bounds check.
    E &operator[](std::size_t i) const noexcept { return data()[i]; }

    // Element (i, j, ...): one index per dimension, each in [0, extent). Throws
    // std::out_of_range for a wrong number of indices or an index out of its axis.
    template <class... I> E &at(I... idx) const {
        if (sizeof...(I) != v_.ndim)
            throw std::out_of_range("npk::View::at: " + std::to_string(sizeof...(I)) +
                                    " indices for an array of rank " + std::to_string(v_.ndim));
        if (v_.data == nullptr)  // zero elements, or a default-constructed / moved-from view
            throw std::out_of_range("npk::View::at: the view has no elements");
        return element(std::index_sequence_for<I...>{}, idx...);
    }

    // The C struct, for the C API.
    const npk_view &raw() const noexcept { return v_; }

private:
    template <std::size_t... K, class... I> E &element(std::index_sequence<K...>, I... idx) const {
        const int64_t offset =
            (int64_t{0} + ... + (static_cast<int64_t>(checked_index(idx, K, v_.shape[K])) * v_.strides[K]));
        return *reinterpret_cast<E *>(static_cast<char *>(v_.data) + offset);
    }

protected:
    ViewBase() noexcept : v_() {}
    explicit ViewBase(const npk_view &v) noexcept : v_(v) {}

    npk_view v_;
};

template <class T> void check_view_dtype(const npk_view &v, const std::string &name, const char *where) {
    if (v.dtype != dtype_of<T>())
        fail(NPK_DTYPE_MISMATCH, std::string(where) + ": array '" + name + "' has dtype " + dtype_name(v.dtype) +
                                     ", not the requested " + dtype_name(dtype_of<T>()));
}

} // namespace detail

// ---- views -------------------------------------------------------------------------------------

// A writable, typed view of an array inside a batch (from Batch::load<T>). Does not own its
// memory: see the lifetime rules at the top of this file. Cheap to copy.
template <class T> class View : public detail::ViewBase<T> {
public:
    static_assert(dtype_of<T>() >= 0, "npk::View: unsupported element type");
    View() noexcept = default;

private:
    friend class Batch;
    explicit View(const npk_view &v) noexcept : detail::ViewBase<T>(v) {}
};

// A read-only snapshot of an array's committed content (from Store::view<T>): a shared mapping
// of its data file, or a private copy when it has deleted rows. Releases it in its destructor;
// may outlive the Store. In-place writes to the same file (replace_rows, writable batches) show
// through a mapping. Movable, not copyable.
template <class T> class ReadOnlyView : public detail::ViewBase<const T> {
public:
    static_assert(dtype_of<T>() >= 0, "npk::ReadOnlyView: unsupported element type");
    ReadOnlyView() noexcept = default;
    ReadOnlyView(ReadOnlyView &&other) noexcept : detail::ViewBase<const T>(other.v_) { other.v_ = npk_view(); }
    ReadOnlyView &operator=(ReadOnlyView &&other) noexcept {
        if (this != &other) {
            release();
            this->v_ = other.v_;
            other.v_ = npk_view();
        }
        return *this;
    }
    ReadOnlyView(const ReadOnlyView &) = delete;
    ReadOnlyView &operator=(const ReadOnlyView &) = delete;
    ~ReadOnlyView() { release(); }

    // Releases the snapshot now (the view becomes empty); safe to call twice.
    void release() noexcept { npk_view_release(&this->v_); }

private:
    friend class Store;
    explicit ReadOnlyView(const npk_view &v) noexcept : detail::ViewBase<const T>(v) {}
};

// ---- batches -----------------------------------------------------------------------------------

// An open batch (Store::batch() for a cache batch, Store::writable_batch() for a writable one).
// Aborts in its destructor unless end() or abort() succeeded. Movable, not copyable.
// ---- attributes --------------------------------------------------------------------------------

// An attribute's value: int64, float64, UTF-8 text, or a vector of int64 or float64.
using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

// The attributes of a store (store.attrs()) or of one array (store.attrs("u")), dictionary-like:
//   store.attrs()["step"] = 100;              // or .set("step", 100): one atomic commit
//   int64_t step = store.attrs().get<int64_t>("step");
//   AttrValue v = store.attrs().get("units");  // any type
//   for (auto &k : store.attrs("u").keys()) ...; store.attrs().erase("step");
// Integers (not bool) are stored as int64, floating-point numbers as float64, anything that
// converts to std::string_view as text, std::vector<integer> / std::vector<floating> as vectors.
// get<T> of another type than the stored one throws NPK_DTYPE_MISMATCH (no conversions).
// From a cache batch (batch.attrs()), set and erase are committed with the batch's arrays at
// end(); a batch's Attrs cannot read (read from the Store). An Attrs refers to its Store or
// Batch and must not outlive it.
class Attrs {
public:
    class Proxy {
    public:
        template <class T> Proxy &operator=(const T &value) {
            a_.set(key_, value);
            return *this;
        }
        operator AttrValue() const { return a_.get(key_); }
        template <class T> T as() const { return a_.get<T>(key_); }

    private:
        friend class Attrs;
        Proxy(const Attrs &a, std::string key) : a_(a), key_(std::move(key)) {}
        const Attrs &a_;
        std::string key_;
    };

    Proxy operator[](const std::string &key) const { return Proxy(*this, key); }

    template <class T> void set(const std::string &key, const T &value) const {
        if constexpr (std::is_same_v<T, bool>) {
            static_assert(detail::always_false<T>::value, "npk::Attrs: store a bool as an integer");
        } else if constexpr (std::is_integral_v<T>) {
            const int64_t v = static_cast<int64_t>(value);
            put(key, NPK_ATTR_INT64, &v, 1);
        } else if constexpr (std::is_floating_point_v<T>) {
            const double v = static_cast<double>(value);
            put(key, NPK_ATTR_FLOAT64, &v, 1);
        } else if constexpr (std::is_convertible_v<const T &, std::string_view>) {
            const std::string_view text(value);
            put(key, NPK_ATTR_STRING, text.data(), text.size());
        } else if constexpr (std::is_same_v<T, AttrValue>) {
            std::visit([&](const auto &x) { set(key, x); }, value);
        } else {
            using E = typename T::value_type;
            static_assert(std::is_same_v<T, std::vector<E>> && std::is_arithmetic_v<E> && !std::is_same_v<E, bool>,
                          "npk::Attrs: a value is an integer, a floating-point number, text, or a std::vector of numbers");
            if constexpr (std::is_integral_v<E>) {
                const std::vector<int64_t> v(value.begin(), value.end());
                put(key, NPK_ATTR_INT64_VECTOR, v.data(), v.size());
            } else {
                const std::vector<double> v(value.begin(), value.end());
                put(key, NPK_ATTR_FLOAT64_VECTOR, v.data(), v.size());
            }
        }
    }

    // The stored type (NPK_ATTR_*); NPK_NOT_FOUND if there is no such key.
    npk_attr_type type(const std::string &key) const {
        npk_attr_type t = 0;
        uint64_t n = 0;
        detail::check(npk_attr_query(store(), owner(), detail::cname(key), &t, &n));
        return t;
    }

    bool contains(const std::string &key) const {
        for (const auto &k : keys())
            if (k == key)
                return true;
        return false;
    }

    AttrValue get(const std::string &key) const {
        for (;;) {
            npk_attr_type t = 0;
            uint64_t n = 0;
            detail::check(npk_attr_query(store(), owner(), detail::cname(key), &t, &n));
            npk_status st = NPK_OK;
            AttrValue out;
            switch (t) {
            case NPK_ATTR_INT64:
            case NPK_ATTR_INT64_VECTOR: {
                std::vector<int64_t> v(static_cast<std::size_t>(n) + 1);
                st = npk_attr_get(store(), owner(), key.c_str(), t, v.data(), v.size(), &n);
                v.resize(static_cast<std::size_t>(n));
                if (t == NPK_ATTR_INT64 && st == NPK_OK)
                    out = v.at(0);
                else
                    out = std::move(v);
                break;
            }
            case NPK_ATTR_FLOAT64:
            case NPK_ATTR_FLOAT64_VECTOR: {
                std::vector<double> v(static_cast<std::size_t>(n) + 1);
                st = npk_attr_get(store(), owner(), key.c_str(), t, v.data(), v.size(), &n);
                v.resize(static_cast<std::size_t>(n));
                if (t == NPK_ATTR_FLOAT64 && st == NPK_OK)
                    out = v.at(0);
                else
                    out = std::move(v);
                break;
            }
            default: {
                std::string text(static_cast<std::size_t>(n) + 1, '\0');
                st = npk_attr_get(store(), owner(), key.c_str(), NPK_ATTR_STRING, text.data(), text.size(), &n);
                text.resize(static_cast<std::size_t>(n));
                out = std::move(text);
            }
            }
            if (st == NPK_BUFFER_TOO_SMALL || st == NPK_DTYPE_MISMATCH)
                continue;  // another writer changed it in between
            detail::check(st);
            return out;
        }
    }

    // T is int64_t, double, std::string, std::vector<int64_t> or std::vector<double>.
    template <class T> T get(const std::string &key) const {
        AttrValue v = get(key);
        if (T *p = std::get_if<T>(&v))
            return std::move(*p);
        detail::fail(NPK_DTYPE_MISMATCH, "npk::Attrs::get: attribute '" + key + "' has another type");
    }

    // The keys, sorted.
    std::vector<std::string> keys() const {
        for (;;) {
            uint64_t needed = 0, count = 0;
            detail::check(npk_attr_list(store(), owner(), nullptr, 0, &needed, &count));
            std::vector<char> buf(static_cast<std::size_t>(needed) + 1);
            npk_status st = npk_attr_list(store(), owner(), buf.data(), buf.size(), &needed, &count);
            if (st == NPK_BUFFER_TOO_SMALL)
                continue;
            detail::check(st);
            std::vector<std::string> out;
            const char *p = buf.data();
            for (uint64_t i = 0; i < count; i++) {
                out.emplace_back(p);
                p += out.back().size() + 1;
            }
            return out;
        }
    }

    // Deletes `key` (NPK_NOT_FOUND if there is none).
    void erase(const std::string &key) const {
        if (b_ != nullptr)
            detail::check(npk_batch_attr_delete(b_, owner(), detail::cname(key)));
        else
            detail::check(npk_attr_delete(store(), owner(), detail::cname(key)));
    }

private:
    friend class Store;
    friend class Batch;
    Attrs(npk_store *s, npk_batch *b, const std::string *array)
        : s_(s), b_(b), has_array_(array != nullptr), array_(array ? *array : std::string()) {
        if (has_array_)
            detail::cname(array_);
    }

    const char *owner() const { return has_array_ ? array_.c_str() : nullptr; }
    npk_store *store() const {
        if (s_ == nullptr)
            detail::fail(NPK_WRONG_MODE, "npk::Attrs: a batch's attributes are write-only; read them from the Store");
        return s_;
    }
    void put(const std::string &key, npk_attr_type t, const void *data, std::size_t n) const {
        if (b_ != nullptr)
            detail::check(npk_batch_attr_set(b_, owner(), detail::cname(key), t, data, n));
        else
            detail::check(npk_attr_set(store(), owner(), detail::cname(key), t, data, n));
    }

    npk_store *s_;
    npk_batch *b_;
    bool has_array_;
    std::string array_;
};

class Batch {
public:
    Batch() noexcept = default;
    Batch(Batch &&other) noexcept : b_(std::exchange(other.b_, nullptr)), writable_(other.writable_) {}
    Batch &operator=(Batch &&other) noexcept {
        if (this != &other) {
            npk_batch_abort(b_);
            b_ = std::exchange(other.b_, nullptr);
            writable_ = other.writable_;
        }
        return *this;
    }
    Batch(const Batch &) = delete;
    Batch &operator=(const Batch &) = delete;
    ~Batch() { npk_batch_abort(b_); }

    // The array's memory in the batch as a typed view (NPK_DTYPE_MISMATCH if the array's dtype
    // is not T's). Cache batch: read once, then served from memory (a second load returns the
    // same pointer). Writable batch: a shared writable mapping of the data file.
    template <class T> View<T> load(const std::string &name) {
        npk_view v = NPK_VIEW_INIT;
        detail::check(npk_batch_load(handle(), detail::cname(name), &v));
        detail::check_view_dtype<T>(v, name, "npk::Batch::load");
        return View<T>(v);
    }

    // Saves a view's own memory: marks the array changed without a copy (cache batch) or does
    // nothing (writable batch).
    template <class T> void save(const std::string &name, const View<T> &view) {
        const npk_view &v = view.raw();
        detail::check(npk_batch_save(handle(), detail::cname(name), v.dtype, v.ndim, v.shape, v.data, nullptr));
    }

    // Saves another buffer (copied before the call returns). Cache batch: its shape and dtype may
    // differ from the stored array's; earlier views of the array become invalid. Writable batch:
    // same dtype and shape only (NPK_DTYPE_MISMATCH / NPK_SHAPE_MISMATCH).
    template <class T> void save(const std::string &name, const T *data, Dims shape, Strides strides = {}) {
        detail::check(npk_batch_save(handle(), detail::cname(name), dtype_of<T>(), detail::rank_of(shape),
                                     shape.data(), data, detail::strides_of(shape, strides)));
    }
    // A 1-D std::vector, or one holding the elements of `shape` in C order.
    template <class T> void save(const std::string &name, const std::vector<T> &v) {
        const uint64_t n = v.size();
        save(name, detail::VecData<T>(v).get(), Dims(&n, 1));
    }
    template <class T> void save(const std::string &name, const std::vector<T> &v, Dims shape) {
        detail::check_count(v.size(), shape, "the vector");
        save(name, detail::VecData<T>(v).get(), shape);
    }

    // Ends the batch (cache: one atomic commit of every saved array; writable: msync, unmap,
    // record modify times). On success every view is invalid and this object is empty. On
    // failure it throws and the batch stays open with its contents: call end() again or abort()
    // (the destructor aborts). Exception: NPK_NOT_DURABLE (a durable store's fsync failed after
    // the commit was decided): the arrays are committed, the batch is over and this object is
    // empty, and the npk::Error still tells the caller that durability was not confirmed.
    void end() {
        const npk_status status = npk_batch_end(handle());
        if (status == NPK_OK || status == NPK_NOT_DURABLE)
            b_ = nullptr;
        detail::check(status);
    }

    // Discards the batch now (what the destructor does): the object is empty afterwards.
    void abort() {
        npk_batch *b = std::exchange(b_, nullptr);
        detail::check(npk_batch_abort(b));
    }

    // True until end() succeeds or abort() is called.
    bool active() const noexcept { return b_ != nullptr; }
    explicit operator bool() const noexcept { return active(); }
    bool is_writable() const noexcept { return writable_; }
    npk_batch *native() const noexcept { return b_; }

    // Attributes set or erased in this cache batch, committed at end() (see npk::Attrs).
    Attrs attrs() const { return Attrs(nullptr, handle(), nullptr); }
    Attrs attrs(const std::string &array) const { return Attrs(nullptr, handle(), &array); }

private:
    friend class Store;
    Batch(npk_batch *b, bool writable) noexcept : b_(b), writable_(writable) {}

    npk_batch *handle() const {
        if (b_ == nullptr)
            detail::fail(NPK_INVALID_ARGUMENT, "npk::Batch: the batch has ended, aborted or been moved from");
        return b_;
    }

    npk_batch *b_ = nullptr;
    bool writable_ = false;
};

// ---- blocks ------------------------------------------------------------------------------------

// A block (hyperslab) read by Store::read_block: `data` holds the elements of `shape` (the
// count that was asked for) in C order, so element (i, j) of a 2-D block is data[i * shape[1] + j].
template <class T> struct Block {
    std::vector<T> data;
    std::vector<uint64_t> shape;

    std::size_t ndim() const noexcept { return shape.size(); }
    std::size_t size() const noexcept { return data.size(); }
};

namespace detail {

// The rank of a block call: offset and count must have one entry per dimension.
inline uint32_t block_rank(Dims offset, Dims count) {
    if (offset.size() != count.size())
        fail(NPK_INVALID_ARGUMENT, "npk: " + std::to_string(offset.size()) + " offsets for " +
                                       std::to_string(count.size()) + " counts");
    return rank_of(count);
}

} // namespace detail

// ---- the store ---------------------------------------------------------------------------------

// What Store::info reports (the logical view: dropped rows are not counted).
struct ArrayInfo {
    npk_dtype dtype = 0;
    std::vector<uint64_t> shape;
    uint64_t nbytes = 0;          // product of shape times the item size
    uint64_t modify_time_us = 0;  // microseconds since the Unix epoch
    uint64_t physical_rows = 0;   // rows in the data file, dropped ones included
    bool segmented = false;       // a numpack 0.7.0 segmented array

    std::size_t ndim() const noexcept { return shape.size(); }
    uint64_t size() const noexcept {
        uint64_t n = 1;
        for (uint64_t d : shape)
            n *= d;
        return n;
    }
};

// An open store. Closes in its destructor. Movable, not copyable. Thread-safe like npk_store.
class Store {
public:
    // npk_open flags, OR-ed together.
    static constexpr uint32_t create = NPK_OPEN_CREATE;
    static constexpr uint32_t read_only = NPK_OPEN_READ_ONLY;
    static constexpr uint32_t durable = NPK_OPEN_DURABLE;
    static constexpr uint32_t shared = NPK_OPEN_SHARED;          // in-place writer, many at once
    static constexpr uint32_t no_locking = NPK_OPEN_NO_LOCKING;  // caller guarantees exclusion

    Store() noexcept = default;  // no store; every call throws until one is moved in
    explicit Store(const std::string &path, uint32_t flags = 0) {
        detail::check(npk_open(detail::cname(path), flags, &s_));
    }
    static Store open(const std::string &path, uint32_t flags = 0) { return Store(path, flags); }

    Store(Store &&other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
    Store &operator=(Store &&other) noexcept {
        if (this != &other) {
            npk_close(s_);
            s_ = std::exchange(other.s_, nullptr);
        }
        return *this;
    }
    Store(const Store &) = delete;
    Store &operator=(const Store &) = delete;
    ~Store() { npk_close(s_); }

    // Closes now (the object is empty afterwards); safe to call on an empty Store.
    void close() {
        npk_store *s = std::exchange(s_, nullptr);
        detail::check(npk_close(s));
    }
    bool is_open() const noexcept { return s_ != nullptr; }
    explicit operator bool() const noexcept { return is_open(); }
    npk_store *native() const noexcept { return s_; }

    // -- whole arrays --

    // Creates or replaces `name` from `data` with `shape` (strides: bytes; empty = C order).
    template <class T> void save(const std::string &name, const T *data, Dims shape, Strides strides = {}) {
        detail::check(npk_save(handle(), detail::cname(name), dtype_of<T>(), detail::rank_of(shape), shape.data(),
                               data, detail::strides_of(shape, strides)));
    }
    template <class T> void save(const std::string &name, const std::vector<T> &v) {
        const uint64_t n = v.size();
        save(name, detail::VecData<T>(v).get(), Dims(&n, 1));
    }
    template <class T> void save(const std::string &name, const std::vector<T> &v, Dims shape) {
        detail::check_count(v.size(), shape, "the vector");
        save(name, detail::VecData<T>(v).get(), shape);
    }

    // Reads `name` into `out`; dtype and shape must match the array's (NPK_DTYPE_MISMATCH /
    // NPK_SHAPE_MISMATCH), strides may describe any layout of `out`.
    template <class T> void load(const std::string &name, T *out, Dims shape, Strides strides = {}) {
        detail::check(npk_load(handle(), detail::cname(name), dtype_of<T>(), detail::rank_of(shape), shape.data(),
                               out, detail::strides_of(shape, strides)));
    }
    // The whole array in C order, its shape taken from info(name).
    template <class T> std::vector<T> load(const std::string &name) {
        const ArrayInfo meta = info(name);
        return detail::read_vector<T>(detail::element_count(meta.shape),
                                      [&](auto *out) { load(name, out, meta.shape); });
    }

    // -- sized arrays and blocks (hyperslabs) --

    // Creates `name` with `shape` and no data (HDF5's H5Dcreate): the data file is only sized
    // (sparse where the filesystem allows) and every element reads as T{} (zero) until written,
    // or as `fill`. One atomic commit. NPK_ALREADY_EXISTS if the name is taken. (Not called
    // create: Store::create is the open flag.)
    template <class T> void create_array(const std::string &name, Dims shape) {
        detail::check(npk_create(handle(), detail::cname(name), dtype_of<T>(), detail::rank_of(shape), shape.data(),
                                 nullptr));
    }
    template <class T> void create_array(const std::string &name, Dims shape, const T &fill) {
        detail::check(npk_create(handle(), detail::cname(name), dtype_of<T>(), detail::rank_of(shape), shape.data(),
                                 &fill));
    }

    // Reads the block of `count` elements from `offset` on (one entry per dimension of the
    // array; row numbers are logical, dropped rows skipped) into `out`, which has shape `count`
    // (strides: bytes; empty = C order). A bad offset or count is NPK_INVALID_ARGUMENT with a
    // message naming the dimension.
    template <class T>
    void read_block(const std::string &name, Dims offset, T *out, Dims count, Strides strides = {}) {
        detail::check(npk_read_block(handle(), detail::cname(name), dtype_of<T>(), detail::block_rank(offset, count),
                                     offset.data(), count.data(), out, detail::strides_of(count, strides)));
    }
    // The block as a new C-order vector with its shape (= count).
    template <class T> Block<T> read_block(const std::string &name, Dims offset, Dims count) {
        detail::block_rank(offset, count);
        Block<T> b;
        b.data = detail::read_vector<T>(detail::element_count(count),
                                        [&](auto *out) { read_block(name, offset, out, count); });
        b.shape = count.vec();
        return b;
    }

    // Writes the block of shape `count` at `offset` from `data` (strides: bytes; empty = C
    // order), in place: like replace_rows, not a commit, and a crash may leave part of it
    // written. Every argument is checked first, so a refused call writes nothing.
    template <class T>
    void write_block(const std::string &name, Dims offset, const T *data, Dims count, Strides strides = {}) {
        detail::check(npk_write_block(handle(), detail::cname(name), dtype_of<T>(),
                                      detail::block_rank(offset, count), offset.data(), count.data(), data,
                                      detail::strides_of(count, strides)));
    }
    // `v` holds the elements of `count` in C order (its size must be their number).
    template <class T>
    void write_block(const std::string &name, Dims offset, const std::vector<T> &v, Dims count) {
        detail::check_count(v.size(), count, "the vector");
        write_block(name, offset, detail::VecData<T>(v).get(), count);
    }
    // A Block (from read_block, or built by hand) written back at `offset`.
    template <class T> void write_block(const std::string &name, Dims offset, const Block<T> &block) {
        write_block(name, offset, block.data, block.shape);
    }

    // -- rows --

    // Appends rows: `shape` is (rows, rest of the array's shape). NPK_NOT_FOUND if missing.
    template <class T> void append(const std::string &name, const T *data, Dims shape, Strides strides = {}) {
        detail::check(npk_append(handle(), detail::cname(name), dtype_of<T>(), detail::rank_of(shape), shape.data(),
                                 data, detail::strides_of(shape, strides)));
    }
    template <class T> void append(const std::string &name, const std::vector<T> &v) {
        const uint64_t n = v.size();
        append(name, detail::VecData<T>(v).get(), Dims(&n, 1));
    }
    template <class T> void append(const std::string &name, const std::vector<T> &v, Dims shape) {
        detail::check_count(v.size(), shape, "the vector");
        append(name, detail::VecData<T>(v).get(), shape);
    }

    // Overwrites the rows at `indices` (in place, not atomic) with data of shape
    // (indices.size(), rest of the array's shape).
    template <class T>
    void replace_rows(const std::string &name, Indices indices, const T *data, Dims shape, Strides strides = {}) {
        detail::check(npk_replace_rows(handle(), detail::cname(name), indices.data(), indices.size(), dtype_of<T>(),
                                       detail::rank_of(shape), shape.data(), data,
                                       detail::strides_of(shape, strides)));
    }
    // `rows` holds the new rows in C order; their shape comes from info(name).
    template <class T> void replace_rows(const std::string &name, Indices indices, const std::vector<T> &rows) {
        const std::vector<uint64_t> shape = rows_shape(name, indices.size());
        detail::check_count(rows.size(), shape, "the vector of rows");
        replace_rows(name, indices, detail::VecData<T>(rows).get(), shape);
    }

    // Reads the rows at `indices` into `out` of shape (indices.size(), rest of the array's shape).
    template <class T>
    void get_rows(const std::string &name, Indices indices, T *out, Dims shape, Strides strides = {}) {
        detail::check(npk_get_rows(handle(), detail::cname(name), indices.data(), indices.size(), dtype_of<T>(),
                                   detail::rank_of(shape), shape.data(), out, detail::strides_of(shape, strides)));
    }
    // The rows in C order; their shape comes from info(name).
    template <class T> std::vector<T> get_rows(const std::string &name, Indices indices) {
        const std::vector<uint64_t> shape = rows_shape(name, indices.size());
        return detail::read_vector<T>(detail::element_count(shape),
                                      [&](auto *out) { get_rows(name, indices, out, shape); });
    }

    // Marks rows deleted (the logical shape shrinks at once; bytes stay until compact()).
    // An empty list is refused (NPK_INVALID_ARGUMENT), as npk_drop refuses an empty name list.
    void drop_rows(const std::string &name, Indices indices) {
        detail::check(npk_drop_rows(handle(), detail::cname(name), indices.data(), indices.size()));
    }

    // -- the catalogue --

    // Removes arrays: all of them or, if one is missing (NPK_NOT_FOUND), none.
    // An empty list is NPK_INVALID_ARGUMENT, as in the C API.
    void drop(const std::vector<std::string> &names) {
        std::vector<const char *> ptrs;
        ptrs.reserve(names.size());
        for (const std::string &n : names)
            ptrs.push_back(detail::cname(n));
        detail::check(npk_drop(handle(), ptrs.data(), ptrs.size()));
    }
    void drop(std::initializer_list<std::string> names) { drop(std::vector<std::string>(names)); }
    void drop(const std::string &name) { drop(std::vector<std::string>{name}); }

    // Rewrites `name` without its deleted rows; compact() does every array that needs it.
    void compact(const std::string &name) { detail::check(npk_compact(handle(), detail::cname(name))); }
    void compact() { detail::check(npk_compact(handle(), nullptr)); }

    // Copies `src` (its live rows) to the new name `dst` (NPK_ALREADY_EXISTS if taken).
    void clone(const std::string &src, const std::string &dst) {
        detail::check(npk_clone(handle(), detail::cname(src), detail::cname(dst)));
    }

    bool has(const std::string &name) const {
        int32_t exists = 0;
        detail::check(npk_has(handle(), detail::cname(name), &exists));
        return exists != 0;
    }

    // The array names, sorted.
    std::vector<std::string> list() const {
        for (;;) {
            uint64_t needed = 0, count = 0;
            detail::check(npk_list(handle(), nullptr, 0, &needed, &count));
            std::vector<char> buf(static_cast<std::size_t>(needed) + 1);
            npk_status st = npk_list(handle(), buf.data(), buf.size(), &needed, &count);
            if (st == NPK_BUFFER_TOO_SMALL)
                continue;  // another thread added names in between
            detail::check(st);
            std::vector<std::string> names;
            names.reserve(static_cast<std::size_t>(count));
            const char *p = buf.data();
            for (uint64_t i = 0; i < count; i++) {
                names.emplace_back(p);
                p += names.back().size() + 1;
            }
            return names;
        }
    }

    ArrayInfo info(const std::string &name) const {
        npk_array_info raw = NPK_ARRAY_INFO_INIT;
        detail::check(npk_info(handle(), detail::cname(name), &raw));
        ArrayInfo out;
        out.dtype = raw.dtype;
        out.shape.assign(raw.shape, raw.shape + raw.ndim);
        out.nbytes = raw.nbytes;
        out.modify_time_us = raw.modify_time_us;
        out.physical_rows = raw.physical_rows;
        out.segmented = raw.segmented != 0;
        return out;
    }

    // Makes a read-only handle see other processes' commits (nothing for a writer).
    void refresh() { detail::check(npk_refresh(handle())); }

    // The store's attributes, or array `array`'s (see npk::Attrs).
    Attrs attrs() const { return Attrs(handle(), nullptr, nullptr); }
    Attrs attrs(const std::string &array) const { return Attrs(handle(), nullptr, &array); }

    // A read-only snapshot of the committed array (NPK_DTYPE_MISMATCH if its dtype is not T's).
    template <class T> ReadOnlyView<T> view(const std::string &name) const {
        npk_view v = NPK_VIEW_INIT;
        detail::check(npk_view_open(handle(), detail::cname(name), &v));
        ReadOnlyView<T> out(v);  // released if the dtype check throws
        detail::check_view_dtype<T>(v, name, "npk::Store::view");
        return out;
    }

    // -- batches --

    // A cache batch (NumPack's batch_mode); memory_limit_mb 0 = no limit (soft limit).
    Batch batch(uint64_t memory_limit_mb = 0) {
        npk_batch *b = nullptr;
        detail::check(npk_batch_begin(handle(), memory_limit_mb, &b));
        return Batch(b, false);
    }
    // A writable batch (NumPack's writable_batch_mode): views map the data files in place.
    Batch writable_batch() {
        npk_batch *b = nullptr;
        detail::check(npk_writable_batch_begin(handle(), &b));
        return Batch(b, true);
    }

private:
    npk_store *handle() const {
        if (s_ == nullptr)
            detail::fail(NPK_INVALID_ARGUMENT, "npk::Store: the store is closed or moved from");
        return s_;
    }

    // (count, rest of the array's shape)
    std::vector<uint64_t> rows_shape(const std::string &name, std::size_t count) const {
        std::vector<uint64_t> shape = info(name).shape;
        if (shape.empty())
            detail::fail(NPK_SHAPE_MISMATCH, "npk: array '" + name + "' has rank 0: it has no rows");
        shape[0] = count;
        return shape;
    }

    npk_store *s_ = nullptr;
};

} // namespace npk

#endif // NUMPACK_HPP
