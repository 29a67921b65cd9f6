// Command-line options of cvcuda-zerocopy-bench and their parsing (bad values throw bench::UsageError).
#pragma once

#include <string>
#include <vector>

namespace bench {

struct FrameSize {
    int width = 0;
    int height = 0;
    std::string text() const { return std::to_string(width) + "x" + std::to_string(height); }
};

struct PipelineOptions {
    std::vector<FrameSize> sizes;
    int repeat = 50;
    int warmup = 5;
    int device = 0;
    int bands = 4;
    int streams = 2;
    /// Grid of the banded/pipelined copy kernels that run next to other kernels: blocks per SM.
    int copy_blocks_per_sm = 2;
    /// Empty: every strategy.
    std::vector<std::string> strategies;
};

struct AllocOptions {
    std::vector<FrameSize> sizes;
    int iterations = 200;
    /// Stop one measurement early (after at least 3 iterations) once it has run this long.
    double max_seconds = 3.0;
    int device = 0;
};

/// "640x480,1920x1080" -> sizes; each side 16..32767.
std::vector<FrameSize> parse_sizes(const std::string& text);
std::vector<std::string> split_list(const std::string& text);
int parse_int(const std::string& flag, const std::string& text, int min_value, int max_value);
double parse_double(const std::string& flag, const std::string& text, double min_value, double max_value);

PipelineOptions parse_pipeline_options(const std::vector<std::string>& args);
AllocOptions parse_alloc_options(const std::vector<std::string>& args);

extern const char* const kUsage;

}  // namespace bench
