#include "plugin_adapter.hpp"

#include <cvcuda_zerocopy/zerocopy.hpp>

#include <stdexcept>
#include <string>

namespace bench::plugin {

cv::MatAllocator* mapped_allocator(bool pooled) {
    return cvcuda_zerocopy::mapped_allocator(cvcuda_zerocopy::kMapped, pooled);
}

cv::Mat make_mapped(int rows, int cols, int type, cv::MatAllocator* allocator) {
    cv::Mat m;
    m.allocator = allocator;
    m.create(rows, cols, type);
    if (m.u == nullptr || m.u->currAllocator != allocator) {
        throw std::runtime_error("cv::Mat::create did not use the zero-copy allocator for a " + std::to_string(cols) +
                                 "x" + std::to_string(rows) + " Mat (it fell back to another allocator)");
    }
    if (!cvcuda_zerocopy::is_mapped(m.data)) {
        throw std::runtime_error("the zero-copy allocator returned memory that is not GPU-mapped");
    }
    return m;
}

cv::cuda::GpuMat device_view(const cv::Mat& mapped) { return cvcuda_zerocopy::gpu_header(mapped); }

std::string describe() { return cvcuda_zerocopy::describe(); }

bool is_mapped(const void* ptr) { return cvcuda_zerocopy::is_mapped(ptr); }

std::string setup_device(int device) { return cvcuda_zerocopy::setup_device(device).note; }

Json pool_stats() {
    const cvcuda_zerocopy::PoolStats s = cvcuda_zerocopy::default_pool().stats();
    Json j = Json::object();
    j.set("hits", static_cast<unsigned long long>(s.hits));
    j.set("misses", static_cast<unsigned long long>(s.misses));
    j.set("host_allocs", static_cast<unsigned long long>(s.host_allocs));
    j.set("host_frees", static_cast<unsigned long long>(s.host_frees));
    j.set("bytes_held", static_cast<unsigned long long>(s.bytes_held));
    j.set("peak_bytes_held", static_cast<unsigned long long>(s.peak_bytes_held));
    j.set("max_cached_bytes", static_cast<unsigned long long>(s.max_cached_bytes));
    return j;
}

}  // namespace bench::plugin
