// Tiny assertion helpers for the C++ tests of numpack.hpp (self-contained: no other test dir).
//
// Every CHECK* macro counts one pass or one failure; a failure prints file:line, the current
// test's name and what was expected. A test program runs its tests with chk::run("name", fn)
// (an exception escaping a test counts as one failure and the next test still runs) and returns
// chk::finish(argv[0]) from main, which prints exactly "<program>: N passed, M failed".
#ifndef NPK_CPP_TESTS_CHECK_HPP
#define NPK_CPP_TESTS_CHECK_HPP

#include <algorithm>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <unistd.h>

#include "numpack.hpp"

namespace chk {

inline int passed = 0;
inline int failed = 0;
inline std::string current = "";

inline bool report(bool ok, const char *file, int line, const std::string &what) {
    if (ok) {
        passed++;
        return true;
    }
    failed++;
    std::cerr << file << ":" << line << ": [" << current << "] " << what << std::endl;
    return false;
}

// Printable form of a value, for failure messages.
template <class T> std::string show(const T &v);

template <class T, class = void> struct printable : std::false_type {};
template <class T>
struct printable<T, std::void_t<decltype(std::declval<std::ostream &>() << std::declval<const T &>())>>
    : std::true_type {};

template <class T> std::string show(const T &v) {
    std::ostringstream os;
    if constexpr (std::is_same_v<T, bool>) {
        os << (v ? "true" : "false");
    } else if constexpr (std::is_integral_v<T>) {
        os << +v;  // int8_t/uint8_t as numbers
    } else if constexpr (printable<T>::value) {
        os << v;
    } else {
        os << "[";
        std::size_t i = 0;
        for (const auto &x : v) {
            if (i++)
                os << ", ";
            if (i > 16) {
                os << "...";
                break;
            }
            os << show(static_cast<std::decay_t<decltype(x)>>(x));
        }
        os << "]";
    }
    return os.str();
}

template <class A, class B>
bool check_eq(const A &a, const B &b, const char *file, int line, const char *ea, const char *eb) {
    bool ok = a == b;
    return report(ok, file, line,
                  ok ? "" : std::string("CHECK_EQ(") + ea + ", " + eb + "): " + show(a) + " != " + show(b));
}

#define CHECK(cond) ::chk::report(static_cast<bool>(cond), __FILE__, __LINE__, "CHECK failed: " #cond)
#define CHECK_EQ(a, b) ::chk::check_eq((a), (b), __FILE__, __LINE__, #a, #b)

// `expr` must throw npk::Error with status `want`, and its message must contain `needle`
// (nullptr: anything). Evaluates to true on success.
#define CHECK_THROWS_NPK(expr, want, needle)                                                          \
    [&]() -> bool {                                                                                   \
        try {                                                                                         \
            (void)(expr);                                                                             \
        } catch (const npk::Error &e_) {                                                              \
            const char *n_ = (needle);                                                                \
            bool ok_ = e_.status() == (want) && (n_ == nullptr || std::strstr(e_.message(), n_));     \
            ok_ = ok_ && std::string(e_.what()).rfind(std::string(npk_status_str(want)) + ": ", 0) == 0; \
            return ::chk::report(ok_, __FILE__, __LINE__,                                             \
                                 std::string(#expr ": threw ") + e_.what() + ", expected " +          \
                                     npk_status_str(want) + (n_ ? std::string(" containing \"") + n_ + "\"" : ""));\
        } catch (const std::exception &e_) {                                                          \
            return ::chk::report(false, __FILE__, __LINE__,                                           \
                                 std::string(#expr ": threw a non-npk exception: ") + e_.what());     \
        }                                                                                             \
        return ::chk::report(false, __FILE__, __LINE__,                                               \
                             std::string(#expr ": did not throw, expected ") + npk_status_str(want)); \
    }()

// `expr` must throw exactly an exception of type `Type` (or a class derived from it).
#define CHECK_THROWS_AS(expr, Type)                                                                   \
    [&]() -> bool {                                                                                   \
        try {                                                                                         \
            (void)(expr);                                                                             \
        } catch (const Type &) {                                                                      \
            return ::chk::report(true, __FILE__, __LINE__, "");                                       \
        } catch (const std::exception &e_) {                                                          \
            return ::chk::report(false, __FILE__, __LINE__,                                           \
                                 std::string(#expr ": threw another exception: ") + e_.what());       \
        }                                                                                             \
        return ::chk::report(false, __FILE__, __LINE__, #expr ": did not throw " #Type);             \
    }()

#define CHECK_NOTHROW(expr)                                                                           \
    [&]() -> bool {                                                                                   \
        try {                                                                                         \
            (void)(expr);                                                                             \
        } catch (const std::exception &e_) {                                                          \
            return ::chk::report(false, __FILE__, __LINE__, std::string(#expr ": threw ") + e_.what()); \
        }                                                                                             \
        return ::chk::report(true, __FILE__, __LINE__, "");                                           \
    }()

// Runs one test; an exception escaping it is one failure.
template <class F> void run(const char *name, F fn) {
    current = name;
    try {
        fn();
    } catch (const std::exception &e) {
        report(false, __FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    } catch (...) {
        report(false, __FILE__, __LINE__, "uncaught non-std exception");
    }
}

inline int finish(const char *argv0) {
    const char *slash = std::strrchr(argv0, '/');
    std::cout << (slash ? slash + 1 : argv0) << ": " << passed << " passed, " << failed << " failed"
              << std::endl;
    return failed ? 1 : 0;
}

// A fresh directory under /tmp, removed (recursively) when the object dies.
class TmpDir {
public:
    TmpDir() {
        std::string tmpl = "/tmp/npk_cpp_XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) {
            std::perror("mkdtemp");
            std::exit(2);
        }
        path_ = tmpl;
    }
    ~TmpDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TmpDir(const TmpDir &) = delete;
    TmpDir &operator=(const TmpDir &) = delete;

    const std::string &path() const { return path_; }
    std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Sorted entry names of a directory (recursive, relative paths).
inline std::vector<std::string> listing(const std::string &dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        out.push_back(std::filesystem::relative(it->path(), dir).string());
    std::sort(out.begin(), out.end());
    return out;
}

// Every regular file's bytes under a directory, keyed by relative path, in sorted order.
inline std::vector<std::pair<std::string, std::string>> snapshot(const std::string &dir) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string &name : listing(dir)) {
        std::string p = dir + "/" + name;
        if (!std::filesystem::is_regular_file(p) || name == ".npk.lock")
            continue;
        std::ifstream f(p, std::ios::binary);
        std::ostringstream os;
        os << f.rdbuf();
        out.emplace_back(name, os.str());
    }
    return out;
}

} // namespace chk

#endif // NPK_CPP_TESTS_CHECK_HPP
