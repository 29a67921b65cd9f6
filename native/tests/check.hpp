// A tiny self-made test harness (the GPU host has no gtest and no network).
//
//   TEST_CASE(layout_2d) { CHECK(a == b); CHECK_EQ(x, 3); CHECK_THROWS(f(), cv::Exception, "step[0]"); }
//   int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
//
// Arguments pick tests by name: `test_gpu_alloc --only a,b` runs a and b, `--except a` all but a (the sanitizer
// stage runs the cases that provoke CUDA API errors on purpose apart from the others). An unknown name is a
// usage error (exit 2), so a renamed test cannot silently drop out of a run.
//
// A failed CHECK records the failure and the test goes on; REQUIRE stops the test. SKIP("why") ends a test as
// skipped. Exit code: 1 when any check failed (or a test threw), 77 when every test skipped (ctest's
// SKIP_RETURN_CODE), else 0.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <set>
#include <utility>
#include <vector>

namespace cvzc_test {

struct Skip {
    std::string why;
};
struct Abort {};

struct State {
    int failures = 0;
    std::vector<std::pair<std::string, std::function<void()>>> tests;
};

inline State& state() {
    static State s;
    return s;
}

struct Register {
    Register(const char* name, std::function<void()> fn) { state().tests.emplace_back(name, std::move(fn)); }
};

inline void fail(const char* file, int line, const std::string& what) {
    ++state().failures;
    std::fprintf(stderr, "  %s:%d: FAILED: %s\n", file, line, what.c_str());
}

template <typename A, typename B>
std::string describe_pair(const char* ea, const char* eb, const A& a, const B& b) {
    std::ostringstream os;
    os << ea << " == " << eb << " (" << a << " vs " << b << ")";
    return os.str();
}

struct Selection {
    std::set<std::string> only;
    std::set<std::string> except;
    bool ok = true;
};

inline std::set<std::string> split_names(const std::string& list) {
    std::set<std::string> names;
    std::string::size_type start = 0;
    while (start <= list.size()) {
        const auto comma = list.find(',', start);
        const auto end = comma == std::string::npos ? list.size() : comma;
        if (end > start) names.insert(list.substr(start, end - start));
        start = end + 1;
    }
    return names;
}

inline Selection parse_selection(int argc, char** argv) {
    Selection sel;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--only" || arg == "--except") && i + 1 < argc) {
            (arg == "--only" ? sel.only : sel.except) = split_names(argv[++i]);
        } else {
            std::fprintf(stderr, "error: unknown argument '%s' (use --only NAME[,NAME] or --except NAME[,NAME])\n",
                         arg.c_str());
            sel.ok = false;
        }
    }
    for (const auto* names : {&sel.only, &sel.except}) {
        for (const auto& name : *names) {
            bool known = false;
            for (const auto& test : state().tests) known = known || test.first == name;
            if (!known) {
                std::fprintf(stderr, "error: no test named '%s' in this binary\n", name.c_str());
                sel.ok = false;
            }
        }
    }
    return sel;
}

inline int run_all(int argc = 0, char** argv = nullptr) {
    const Selection sel = parse_selection(argc, argv);
    if (!sel.ok) return 2;
    int skipped = 0;
    int ran = 0;
    for (const auto& [name, fn] : state().tests) {
        if ((!sel.only.empty() && sel.only.count(name) == 0) || sel.except.count(name) != 0) continue;
        const int before = state().failures;
        std::fprintf(stderr, "[ RUN  ] %s\n", name.c_str());
        try {
            fn();
        } catch (const Skip& s) {
            ++skipped;
            std::fprintf(stderr, "[ SKIP ] %s: %s\n", name.c_str(), s.why.c_str());
            continue;
        } catch (const Abort&) {
            // already recorded
        } catch (const std::exception& e) {
            fail(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
        } catch (...) {
            fail(__FILE__, __LINE__, "unexpected non-standard exception");
        }
        ++ran;
        std::fprintf(stderr, "[ %s ] %s\n", state().failures == before ? " OK " : "FAIL", name.c_str());
    }
    std::fprintf(stderr, "%d test(s) ran, %d skipped, %d failed check(s)\n", ran, skipped, state().failures);
    if (state().failures > 0) return 1;
    if (ran == 0 && skipped > 0) return 77;
    return 0;
}

}  // namespace cvzc_test

#define CVZC_TEST_CAT2(a, b) a##b
#define CVZC_TEST_CAT(a, b) CVZC_TEST_CAT2(a, b)
#define TEST_CASE(name)                                                         \
    static void name();                                                         \
    static ::cvzc_test::Register CVZC_TEST_CAT(name, _registration)(#name, name); \
    static void name()

#define CHECK(cond)                                                \
    do {                                                           \
        if (!(cond)) ::cvzc_test::fail(__FILE__, __LINE__, #cond); \
    } while (0)

#define REQUIRE(cond)                                              \
    do {                                                           \
        if (!(cond)) {                                             \
            ::cvzc_test::fail(__FILE__, __LINE__, #cond);          \
            throw ::cvzc_test::Abort{};                            \
        }                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                                     \
    do {                                                                                                   \
        const auto& cvzc_a_ = (a);                                                                         \
        const auto& cvzc_b_ = (b);                                                                         \
        if (!(cvzc_a_ == cvzc_b_))                                                                         \
            ::cvzc_test::fail(__FILE__, __LINE__, ::cvzc_test::describe_pair(#a, #b, cvzc_a_, cvzc_b_)); \
    } while (0)

/// ``expr`` must throw ``Type`` whose what() contains ``needle`` (may be "").
#define CHECK_THROWS(expr, Type, needle)                                                                  \
    do {                                                                                                  \
        bool cvzc_thrown_ = false;                                                                        \
        try {                                                                                             \
            (void)(expr);                                                                                 \
        } catch (const Type& cvzc_e_) {                                                                   \
            cvzc_thrown_ = true;                                                                          \
            const std::string cvzc_what_ = cvzc_e_.what();                                                \
            if (cvzc_what_.find(needle) == std::string::npos)                                            \
                ::cvzc_test::fail(__FILE__, __LINE__,                                                     \
                                  std::string(#expr " threw, but without '") + (needle) + "': " + cvzc_what_); \
        } catch (...) {                                                                                   \
            cvzc_thrown_ = true;                                                                          \
            ::cvzc_test::fail(__FILE__, __LINE__, #expr " threw something other than " #Type);            \
        }                                                                                                 \
        if (!cvzc_thrown_) ::cvzc_test::fail(__FILE__, __LINE__, #expr " did not throw " #Type);        \
    } while (0)

#define SKIP(why) throw ::cvzc_test::Skip{why}
