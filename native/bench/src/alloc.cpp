// Allocation benchmark: how many per-frame Mats (create + release of a CV_8UC1 or CV_8UC3 Mat of a frame size)
// each allocator serves per second. See docs/benchmarks.md.
#include "alloc.hpp"

#include "pipeline.hpp"
#include "plugin_adapter.hpp"

#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace bench {
namespace {

struct NamedAllocator {
    std::string name;
    cv::MatAllocator* allocator;
    bool mapped;  // the memory must be GPU-mapped host memory
    std::string what;
};

std::vector<NamedAllocator> allocators() {
    return {
        {"plugin_pooled", plugin::mapped_allocator(true), true, "zero-copy plugin, pool on"},
        {"plugin_unpooled", plugin::mapped_allocator(false), true, "zero-copy plugin, pool off"},
        {"opencv_shared", cv::cuda::HostMem::getAllocator(cv::cuda::HostMem::SHARED), true,
         "cv::cuda::HostMem::getAllocator(SHARED)"},
        {"cpu_default", cv::Mat::getStdAllocator(), false, "cv::Mat::getStdAllocator() (plain CPU memory)"},
    };
}

const char* type_name(int type) { return type == CV_8UC1 ? "CV_8UC1" : "CV_8UC3"; }

/// One Mat from ``a``: checks it really came from ``a`` (Mat::create falls back to the default allocator
/// silently when a custom one throws) and, for a mapped allocator, that the memory is mapped.
void check_one(const NamedAllocator& a, int rows, int cols, int type) {
    cv::Mat m;
    m.allocator = a.allocator;
    m.create(rows, cols, type);
    if (m.u == nullptr || m.u->currAllocator != a.allocator) {
        throw std::runtime_error(a.name + ": cv::Mat::create did not use the allocator (it fell back to another)");
    }
    if (a.mapped && !plugin::is_mapped(m.data)) {
        throw std::runtime_error(a.name + ": the Mat's memory is not GPU-mapped host memory");
    }
}

Json measure(const NamedAllocator& a, int rows, int cols, int type, const AllocOptions& o) {
    check_one(a, rows, cols, type);
    for (int i = 0; i < 3; ++i) {  // warm-up: fills a pool, faults in the allocator's own structures
        cv::Mat m;
        m.allocator = a.allocator;
        m.create(rows, cols, type);
    }
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto budget = std::chrono::duration<double>(o.max_seconds);
    int done = 0;
    for (; done < o.iterations; ++done) {
        if (done >= 3 && clock::now() - start > budget) break;
        cv::Mat m;  // one per-frame Mat: create, then release at the end of the scope
        m.allocator = a.allocator;
        m.create(rows, cols, type);
    }
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    Json j = Json::object();
    j.set("what", a.what);
    j.set("iterations", done);
    j.set("seconds", seconds);
    j.set("per_second", seconds > 0 ? done / seconds : 0.0);
    j.set("mean_us", done > 0 ? seconds * 1e6 / done : 0.0);
    j.set("mapped", a.mapped);
    j.set("stopped_early", done < o.iterations);
    return j;
}

}  // namespace

Json run_alloc(const AllocOptions& o) {
    select_device(o.device);
    Json doc = Json::object();
    doc.set("schema", "cvcuda-setup/bench-alloc/1");
    doc.set("device", device_info(o.device));
    doc.set("opencv_version", cv::getVersionString());
    doc.set("plugin", plugin::describe());
    Json params = Json::object();
    params.set("iterations", o.iterations);
    params.set("max_seconds", o.max_seconds);
    params.set("operation", "create + release of one Mat (per frame)");
    doc.set("params", std::move(params));
    const std::vector<NamedAllocator> list = allocators();
    Json results = Json::array();
    for (const FrameSize& size : o.sizes) {
        for (const int type : {CV_8UC1, CV_8UC3}) {
            Json entry = Json::object();
            entry.set("size", size.text());
            entry.set("width", size.width);
            entry.set("height", size.height);
            entry.set("type", type_name(type));
            entry.set("bytes", static_cast<long long>(size.width) * size.height * CV_ELEM_SIZE(type));
            Json per = Json::object();
            for (const NamedAllocator& a : list) {
                const Json before = plugin::pool_stats();
                Json measured = measure(a, size.height, size.width, type, o);
                if (a.name.rfind("plugin_", 0) == 0) {
                    measured.set("pool_before", before);
                    measured.set("pool_after", plugin::pool_stats());
                }
                per.set(a.name, std::move(measured));
            }
            entry.set("allocators", std::move(per));
            results.push(std::move(entry));
        }
    }
    doc.set("results", std::move(results));
    return doc;
}

}  // namespace bench
