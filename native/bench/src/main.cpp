// cvcuda-zerocopy-bench: the C++ side of `cvcuda-setup bench pipeline|alloc`. Prints one JSON document on
// stdout; diagnostics go to stderr. Exit codes: 0 ok, 1 failure, 2 bad arguments, 3 no CUDA device.
#include "alloc.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "pipeline.hpp"

#include <opencv2/core.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::fputs(bench::kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string command = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    try {
        bench::Json doc;
        if (command == "pipeline") {
            doc = bench::run_pipeline(bench::parse_pipeline_options(rest));
        } else if (command == "alloc") {
            doc = bench::run_alloc(bench::parse_alloc_options(rest));
        } else {
            throw bench::UsageError("unknown command " + command + " (expected pipeline or alloc)");
        }
        const std::string text = doc.dump(2);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fputc('\n', stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    } catch (const bench::UsageError& exc) {
        std::fprintf(stderr, "error: %s\n%s", exc.what(), bench::kUsage);
        return 2;
    } catch (const bench::NoDeviceError& exc) {
        std::fprintf(stderr, "error: %s\n", exc.what());
        return 3;
    } catch (const cv::Exception& exc) {
        std::fprintf(stderr, "error: OpenCV: %s\n", exc.what());
        return 1;
    } catch (const std::exception& exc) {
        std::fprintf(stderr, "error: %s\n", exc.what());
        return 1;
    }
}
