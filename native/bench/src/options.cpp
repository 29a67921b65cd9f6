#include "options.hpp"

#include "errors.hpp"

#include <cerrno>
#include <cstdlib>

namespace bench {

const char* const kUsage =
    "usage: cvcuda-zerocopy-bench pipeline [--sizes WxH,...] [--repeat N] [--warmup N] [--device N]\n"
    "                                      [--bands K] [--streams S] [--copy-blocks-per-sm B]\n"
    "                                      [--strategies a,b,...]\n"
    "       cvcuda-zerocopy-bench alloc [--sizes WxH,...] [--iterations N] [--max-seconds T] [--device N]\n"
    "Prints one JSON document on stdout. Exit codes: 0 ok, 1 failure, 2 bad arguments, 3 no CUDA device.\n"
    "strategies: zerocopy, banded, pipelined, pinned, pageable, device, cpu\n";

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> parts;
    std::string current;
    for (const char ch : text) {
        if (ch == ',') {
            if (!current.empty()) parts.push_back(current);
            current.clear();
        } else if (ch != ' ') {
            current += ch;
        }
    }
    if (!current.empty()) parts.push_back(current);
    return parts;
}

int parse_int(const std::string& flag, const std::string& text, int min_value, int max_value) {
    errno = 0;
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || value < min_value || value > max_value) {
        throw UsageError(flag + " " + text + ": expected an integer in " + std::to_string(min_value) + ".." +
                         std::to_string(max_value));
    }
    return static_cast<int>(value);
}

double parse_double(const std::string& flag, const std::string& text, double min_value, double max_value) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || !(value >= min_value) || !(value <= max_value)) {
        throw UsageError(flag + " " + text + ": expected a number in " + std::to_string(min_value) + ".." +
                         std::to_string(max_value));
    }
    return value;
}

std::vector<FrameSize> parse_sizes(const std::string& text) {
    std::vector<FrameSize> sizes;
    for (const std::string& part : split_list(text)) {
        const auto x = part.find_first_of("xX");
        if (x == std::string::npos) throw UsageError("--sizes " + part + ": expected WIDTHxHEIGHT, e.g. 1920x1080");
        FrameSize size;
        size.width = parse_int("--sizes width", part.substr(0, x), 16, 32767);
        size.height = parse_int("--sizes height", part.substr(x + 1), 16, 32767);
        sizes.push_back(size);
    }
    if (sizes.empty()) throw UsageError("--sizes is empty: expected WIDTHxHEIGHT[,...]");
    return sizes;
}

namespace {

/// Walks ``--flag value`` pairs; ``handle`` returns false for an unknown flag.
template <typename Handler>
void walk(const std::vector<std::string>& args, Handler&& handle) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& flag = args[i];
        if (flag.rfind("--", 0) != 0) throw UsageError("unexpected argument " + flag);
        if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
        const std::string& value = args[++i];
        if (!handle(flag, value)) throw UsageError("unknown option " + flag);
    }
}

}  // namespace

PipelineOptions parse_pipeline_options(const std::vector<std::string>& args) {
    PipelineOptions o;
    o.sizes = parse_sizes("640x480,1920x1080,3840x2160,7680x4320");
    walk(args, [&](const std::string& flag, const std::string& value) {
        if (flag == "--sizes") o.sizes = parse_sizes(value);
        else if (flag == "--repeat") o.repeat = parse_int(flag, value, 1, 100000);
        else if (flag == "--warmup") o.warmup = parse_int(flag, value, 0, 10000);
        else if (flag == "--device") o.device = parse_int(flag, value, 0, 1023);
        else if (flag == "--bands") o.bands = parse_int(flag, value, 1, 64);
        else if (flag == "--streams") o.streams = parse_int(flag, value, 1, 16);
        else if (flag == "--copy-blocks-per-sm") o.copy_blocks_per_sm = parse_int(flag, value, 1, 32);
        else if (flag == "--strategies") o.strategies = split_list(value);
        else return false;
        return true;
    });
    return o;
}

AllocOptions parse_alloc_options(const std::vector<std::string>& args) {
    AllocOptions o;
    o.sizes = parse_sizes("1920x1080,3840x2160");
    walk(args, [&](const std::string& flag, const std::string& value) {
        if (flag == "--sizes") o.sizes = parse_sizes(value);
        else if (flag == "--iterations") o.iterations = parse_int(flag, value, 1, 10000000);
        else if (flag == "--max-seconds") o.max_seconds = parse_double(flag, value, 0.01, 3600.0);
        else if (flag == "--device") o.device = parse_int(flag, value, 0, 1023);
        else return false;
        return true;
    });
    return o;
}

}  // namespace bench
