// The one place the benchmark touches the zero-copy plugin's API (cvcuda_zerocopy::...). Everything else uses
// these functions, so a change of the plugin's names is a change here only.
#pragma once

#include "cvzc_json.hpp"

#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>

#include <string>

namespace bench::plugin {

using cvzc_json::Json;

/// The plugin's mapped-memory allocator; ``pooled`` false gives the same allocator with its pool disabled
/// (every create is a cudaHostAlloc, every release a cudaFreeHost). Lives for the whole process.
cv::MatAllocator* mapped_allocator(bool pooled);

/// A Mat of pinned, GPU-mapped host memory from ``allocator``; throws when the memory is not really mapped
/// (cv::Mat::create silently falls back to the default allocator when a custom one throws).
cv::Mat make_mapped(int rows, int cols, int type, cv::MatAllocator* allocator);

/// A GpuMat header (no ownership) over the device alias of a mapped Mat.
cv::cuda::GpuMat device_view(const cv::Mat& mapped);

/// The plugin's name and version, for the report.
std::string describe();

/// True when ``ptr`` is page-locked host memory that the current device can address (a device alias exists).
bool is_mapped(const void* ptr);

/// The plugin's one-time set-up of ``device`` for mapped memory; its one-line note for the report.
std::string setup_device(int device);

/// The default pool's counters (hits, misses, cudaHostAlloc/cudaFreeHost calls, bytes held).
Json pool_stats();

}  // namespace bench::plugin
