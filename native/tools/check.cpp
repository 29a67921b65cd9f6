// cvcuda-zerocopy-check: the C++ side of `cvcuda-setup verify`. Every subcommand prints one JSON object on
// one line of stdout (diagnostics go to stderr) and exits with:
//   0 the check passed, 1 it failed, 2 bad usage, 3 no CUDA device, 4 this OpenCV lacks CUDA (modules).
//
//   cvcuda-zerocopy-check device-info
//   cvcuda-zerocopy-check kernel --device 0
//   cvcuda-zerocopy-check mapped --device 0
//   cvcuda-zerocopy-check pipeline --device 0 --input in.png --out-blur blur.png --out-edges edges.png
//   cvcuda-zerocopy-check pipeline --device 0 --pattern discs --size 1920x1080 --out-blur b.png --out-edges e.png
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>
#include <opencv2/core/version.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#if defined(CVZC_HAVE_CUDAFILTERS) && defined(CVZC_HAVE_CUDAIMGPROC)
#include <opencv2/cudafilters.hpp>
#include <opencv2/cudaimgproc.hpp>
#define CVZC_HAVE_PIPELINE 1
#endif
#ifdef CVZC_HAVE_CUDAARITHM
#include <opencv2/cudaarithm.hpp>
#endif

#include "cvcuda_zerocopy/zerocopy.hpp"
#include "image_io.hpp"
#include "cvzc_json.hpp"

namespace cvzc = cvcuda_zerocopy;
using cvzc_json::Json;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoDevice = 3;
constexpr int kExitNoOpenCvCuda = 4;

const char* const kUsage =
    "usage: cvcuda-zerocopy-check COMMAND [options]\n"
    "\n"
    "commands (each prints one JSON object on stdout):\n"
    "  device-info                       CUDA devices, driver/runtime/OpenCV versions\n"
    "  kernel   --device N               run a real OpenCV CUDA kernel (GpuMat::setTo, cuda::add)\n"
    "  mapped   --device N               allocate through the plugin, check pointer attributes, free\n"
    "  pipeline --device N (--input IMG | --pattern NAME --size WxH) --out-blur B --out-edges E\n"
    "           [--out-input I] [--repeat N]\n"
    "                                    Gaussian 5x5 sigma 1.2 + Canny 50/150 on mapped memory\n"
    "\n"
    "exit codes: 0 passed, 1 failed, 2 usage, 3 no CUDA device, 4 OpenCV without CUDA (modules)\n"
    "example: cvcuda-zerocopy-check pipeline --device 0 --pattern discs --size 1920x1080 \\\n"
    "           --out-blur blur.png --out-edges edges.png\n";

struct Options {
    std::string command;
    int device = 0;
    std::string input;
    std::string pattern;
    int width = 0;
    int height = 0;
    std::string out_blur;
    std::string out_edges;
    std::string out_input;
    int repeat = 1;
};

struct UsageError {
    std::string message;
};

int emit(Json& out, int code) {
    std::fflush(stderr);
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    return code;
}

int parse_int(const std::string& flag, const std::string& text, int lo, int hi) {
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || end == nullptr || *end != '\0' || value < lo || value > hi) {
        throw UsageError{flag + " " + text + ": expected an integer in " + std::to_string(lo) + ".." +
                         std::to_string(hi)};
    }
    return static_cast<int>(value);
}

Options parse(int argc, char** argv) {
    Options o;
    if (argc < 2) throw UsageError{"no command given"};
    o.command = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
            return argv[++i];
        };
        if (flag == "--device") {
            o.device = parse_int(flag, value(), 0, 1023);
        } else if (flag == "--input") {
            o.input = value();
        } else if (flag == "--pattern") {
            o.pattern = value();
        } else if (flag == "--size") {
            const std::string text = value();
            const auto x = text.find_first_of("xX");
            if (x == std::string::npos) throw UsageError{"--size " + text + ": expected WxH, e.g. 1920x1080"};
            o.width = parse_int("--size width", text.substr(0, x), 8, 32767);
            o.height = parse_int("--size height", text.substr(x + 1), 8, 32767);
        } else if (flag == "--out-blur") {
            o.out_blur = value();
        } else if (flag == "--out-edges") {
            o.out_edges = value();
        } else if (flag == "--out-input") {
            o.out_input = value();
        } else if (flag == "--repeat") {
            o.repeat = parse_int(flag, value(), 1, 10000);
        } else {
            throw UsageError{"unknown option " + flag};
        }
    }
    return o;
}

/// Runs ``fn`` with stdout pointed at stderr (OpenCV's printShortCudaDeviceInfo prints with printf).
void with_stdout_on_stderr(const std::function<void()>& fn) {
    std::fflush(stdout);
    const int saved = dup(1);
    if (saved < 0) {
        fn();
        return;
    }
    dup2(2, 1);
    try {
        fn();
    } catch (...) {
        std::fflush(stdout);
        dup2(saved, 1);
        close(saved);
        throw;
    }
    std::fflush(stdout);
    dup2(saved, 1);
    close(saved);
}

int attribute_or(cudaDeviceAttr attr, int device, int fallback) {
    int value = fallback;
    if (cudaDeviceGetAttribute(&value, attr, device) != cudaSuccess) {
        (void)cudaGetLastError();
        return fallback;
    }
    return value;
}

Json device_entry(int index) {
    Json d = Json::object();
    d.set("index", index);
    cudaDeviceProp prop{};
    const cudaError_t status = cudaGetDeviceProperties(&prop, index);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();
        d.set("error", cvzc::cuda_error_name(status) + ": " + cvzc::cuda_error_text(status));
        return d;
    }
    d.set("name", std::string(prop.name))
        .set("major", prop.major)
        .set("minor", prop.minor)
        .set("can_map_host_memory", attribute_or(cudaDevAttrCanMapHostMemory, index, 0) != 0)
        .set("integrated", attribute_or(cudaDevAttrIntegrated, index, 0) != 0)
        .set("total_memory", static_cast<unsigned long long>(prop.totalGlobalMem))
        .set("unified_addressing", attribute_or(cudaDevAttrUnifiedAddressing, index, 0) != 0)
        .set("host_pointer_is_device_pointer",
             attribute_or(cudaDevAttrCanUseHostPointerForRegisteredMem, index, 0) != 0)
        .set("multiprocessors", attribute_or(cudaDevAttrMultiProcessorCount, index, 0))
        .set("pci_bus_id", cv::format("%04x:%02x:%02x.0", attribute_or(cudaDevAttrPciDomainId, index, 0),
                                      attribute_or(cudaDevAttrPciBusId, index, 0),
                                      attribute_or(cudaDevAttrPciDeviceId, index, 0)));
    return d;
}

Json cuda_modules() {
    Json m = Json::array();
#ifdef CVZC_HAVE_CUDAARITHM
    m.push("cudaarithm");
#endif
#ifdef CVZC_HAVE_CUDAFILTERS
    m.push("cudafilters");
#endif
#ifdef CVZC_HAVE_CUDAIMGPROC
    m.push("cudaimgproc");
#endif
    return m;
}

Json stats_json(const cvzc::PoolStats& s) {
    return Json::object()
        .set("bytes_held", static_cast<unsigned long long>(s.bytes_held))
        .set("bytes_in_use", static_cast<unsigned long long>(s.bytes_in_use))
        .set("bytes_cached", static_cast<unsigned long long>(s.bytes_cached))
        .set("blocks_in_use", static_cast<unsigned long long>(s.blocks_in_use))
        .set("blocks_cached", static_cast<unsigned long long>(s.blocks_cached))
        .set("peak_bytes_held", static_cast<unsigned long long>(s.peak_bytes_held))
        .set("hits", static_cast<unsigned long long>(s.hits))
        .set("misses", static_cast<unsigned long long>(s.misses))
        .set("host_allocs", static_cast<unsigned long long>(s.host_allocs))
        .set("host_frees", static_cast<unsigned long long>(s.host_frees));
}

/// cudaPointerGetAttributes as JSON; ``mapped`` is set to whether it is host memory with a device alias.
Json attributes_json(const void* ptr, bool* mapped) {
    const cvzc::PointerAttributes a = cvzc::pointer_attributes(ptr);
    if (mapped != nullptr) *mapped = a.type == cvzc::MemoryType::Host && a.device_pointer != nullptr;
    return Json::object()
        .set("type", cvzc::memory_type_name(a.type))
        .set("device", a.device)
        .set("device_pointer", Json::pointer(a.device_pointer))
        .set("host_pointer", Json::pointer(a.host_pointer));
}

Json setup_json(const cvzc::DeviceSetup& s) {
    return Json::object()
        .set("device", s.device)
        .set("name", s.name)
        .set("can_map_host_memory", s.can_map_host_memory)
        .set("unified_addressing", s.unified_addressing)
        .set("host_pointer_is_device_pointer", s.host_pointer_is_device_pointer)
        .set("context_was_active", s.context_was_active)
        .set("flags_before", s.flags_before)
        .set("flags_after", s.flags_after)
        .set("map_host", s.map_host)
        .set("set_flags_called", s.set_flags_called)
        .set("note", s.note);
}

/// 3 with the JSON error when ``device`` is not a usable index, else -1.
int check_device(Json& out, int device) {
    std::string why;
    const int count = cvzc::device_count(&why);
    out.set("cuda_device_count", count);
    if (count <= 0) {
        out.set("ok", false).set("error", "no CUDA device: " + why);
        return kExitNoDevice;
    }
    if (device >= count) {
        out.set("ok", false).set("error", cv::format("device %d does not exist (%d visible)", device, count));
        return kExitNoDevice;
    }
    return -1;
}

// ------------------------------------------------------------------------------------------------ device-info

int cmd_device_info() {
    Json out = Json::object();
    std::string why;
    const int count = cvzc::device_count(&why);
    Json devices = Json::array();
    for (int i = 0; i < count; ++i) devices.push(device_entry(i));
    out.set("cuda_device_count", count)
        .set("devices", devices)
        .set("driver_version", cvzc::driver_version())
        .set("runtime_version", cvzc::runtime_version())
        .set("opencv_version", std::string(CV_VERSION))
        .set("opencv_cuda", cvzc::opencv_has_cuda())
        .set("opencv_cuda_modules", cuda_modules())
        .set("plugin", cvzc::describe());
    try {
        out.set("opencv_cuda_device_count", cv::cuda::getCudaEnabledDeviceCount());
    } catch (const cv::Exception& e) {
        out.set("opencv_cuda_device_count_error", e.what());
    }
    Json short_info_errors = Json::array();
    bool any_short_info_error = false;
    for (int i = 0; i < count; ++i) {
        try {
            with_stdout_on_stderr([i] { cv::cuda::printShortCudaDeviceInfo(i); });
        } catch (const cv::Exception& e) {
            short_info_errors.push(Json::object().set("device", i).set("error", e.what()));
            any_short_info_error = true;
        }
    }
    if (any_short_info_error) out.set("short_info_errors", short_info_errors);
    if (count <= 0) {
        out.set("error", "no CUDA device: " + why);
        return emit(out, kExitNoDevice);
    }
    return emit(out, kExitOk);
}

// ------------------------------------------------------------------------------------------------ kernel

int cmd_kernel(const Options& o) {
    Json out = Json::object();
    out.set("device", o.device);
    const int bad = check_device(out, o.device);
    if (bad >= 0) return emit(out.set("compatible", false), bad);
    if (!cvzc::opencv_has_cuda()) {
        out.set("ok", false)
            .set("compatible", false)
            .set("error", "this OpenCV was built without CUDA (" + std::string(CV_VERSION) + "): no kernel can run");
        return emit(out, kExitNoOpenCvCuda);
    }
    Json ops = Json::array();
    bool ok = true;
    std::string first_error;
    auto run = [&](const char* name, const std::function<bool()>& fn) {
        Json op = Json::object().set("op", name);
        try {
            const bool good = fn();
            op.set("ok", good).set("error", nullptr);
            if (!good) {
                ok = false;
                if (first_error.empty()) first_error = std::string(name) + ": wrong result";
            }
        } catch (const cv::Exception& e) {
            op.set("ok", false).set("error", e.what());
            ok = false;
            if (first_error.empty()) first_error = std::string(name) + ": " + e.what();
        }
        ops.push(op);
    };
    bool compatible = false;
    try {
        cv::cuda::setDevice(o.device);
        compatible = cv::cuda::DeviceInfo(o.device).isCompatible();
    } catch (const cv::Exception& e) {
        out.set("ok", false).set("compatible", false).set("error", std::string("cv::cuda::setDevice: ") + e.what());
        return emit(out, kExitFailed);
    }
    cv::cuda::GpuMat g;
    run("GpuMat::setTo + download", [&] {
        g.create(64, 64, CV_8UC1);
        g.setTo(cv::Scalar(37));
        cv::Mat host;
        g.download(host);
        return cv::countNonZero(host != 37) == 0;
    });
#ifdef CVZC_HAVE_CUDAARITHM
    run("cuda::add", [&] {
        cv::cuda::GpuMat sum;
        cv::cuda::add(g, g, sum);
        cv::Mat host;
        sum.download(host);
        return cv::countNonZero(host != 74) == 0;
    });
#endif
    out.set("ok", ok).set("error", ok ? Json(nullptr) : Json(first_error));
    out.set("compatible", compatible).set("ops", ops);
    return emit(out, ok ? kExitOk : kExitFailed);
}

// ------------------------------------------------------------------------------------------------ mapped

struct Case {
    const char* name;
    std::vector<int> sizes;
    int type;
};

int cmd_mapped(const Options& o) {
    Json out = Json::object();
    out.set("device", o.device);
    const int bad = check_device(out, o.device);
    if (bad >= 0) return emit(out, bad);
    std::vector<std::string> problems;
    try {
        const cvzc::DeviceSetup& setup = cvzc::setup_device(o.device);
        out.set("setup", setup_json(setup)).set("can_map_host_memory", setup.can_map_host_memory);
        cvzc::HostPool& pool = cvzc::default_pool();
        const cvzc::PoolStats before = pool.stats();
        out.set("stats_before", stats_json(before));

        Json allocations = Json::array();
        bool device_checked = false;
        {
            cvzc::DefaultAllocatorGuard guard(cvzc::mapped_allocator());
            const std::vector<Case> cases = {
                {"2-D 1080x1920 CV_8UC1", {1080, 1920}, CV_8UC1},
                {"2-D 480x640 CV_8UC3", {480, 640}, CV_8UC3},
                {"3-D 4x64x64 CV_32FC1", {4, 64, 64}, CV_32FC1},
                {"5-D 2x3x4x5x6 CV_16UC1", {2, 3, 4, 5, 6}, CV_16UC1},
            };
            std::vector<cv::Mat> mats;
            for (const Case& c : cases) {
                cv::Mat m(static_cast<int>(c.sizes.size()), c.sizes.data(), c.type);
                mats.push_back(m);
            }
            mats.push_back(mats[0](cv::Rect(10, 20, 300, 200)));  // a ROI: interior pointer, parent's step
            for (std::size_t i = 0; i < mats.size(); ++i) {
                const cv::Mat& m = mats[i];
                const std::string name = i < cases.size() ? cases[i].name : "ROI (10,20) 300x200 of case 1";
                bool mapped = false;
                Json attrs = attributes_json(m.data, &mapped);
                void* alias = cvzc::device_pointer(m);
                const cvzc::PointerAttributes a = cvzc::pointer_attributes(m.data);
                void* handle_alias = nullptr;
                CV_Assert(m.u != nullptr);
                const bool by_plugin = cvzc::allocated_by_plugin(m);
                if (by_plugin) {
                    handle_alias = static_cast<char*>(m.u->handle) + (m.data - m.u->origdata);
                }
                Json sizes = Json::array();
                for (int d = 0; d < m.dims; ++d) sizes.push(m.size[d]);
                Json entry = Json::object();
                entry.set("name", name)
                    .set("dims", m.dims)
                    .set("sizes", sizes)
                    .set("mat_type", cv::typeToString(m.type()))
                    .set("bytes", static_cast<unsigned long long>(m.total() * m.elemSize()))
                    .set("allocated_by_plugin", by_plugin)
                    .set("attributes", attrs)
                    .set("device_alias", Json::pointer(alias))
                    .set("alias_matches_attributes", alias == a.device_pointer)
                    .set("handle_matches_alias", handle_alias == alias);
                allocations.push(entry);
                if (!by_plugin) problems.push_back(name + ": not allocated by the plugin");
                if (!mapped) problems.push_back(name + ": not mapped host memory");
                if (alias != a.device_pointer) problems.push_back(name + ": device_pointer() != the attributes' alias");
                if (handle_alias != alias) problems.push_back(name + ": UMatData::handle is not the device alias");
            }
            if (cvzc::opencv_has_cuda()) {
                // the GPU writes through the alias, the host reads; the host writes, the GPU reads
                cv::cuda::setDevice(o.device);
                cv::Mat& m = mats[0];
                cv::cuda::GpuMat view = cvzc::gpu_view(m);
                view.setTo(cv::Scalar(7));
                cv::cuda::Stream::Null().waitForCompletion();
                const bool host_sees = cv::countNonZero(m != 7) == 0;
                m.setTo(cv::Scalar(9));
                cv::Mat back;
                view.download(back);
                const bool device_sees = cv::countNonZero(back != 9) == 0;
                out.set("device_write_seen_by_host", host_sees).set("host_write_seen_by_device", device_sees);
                if (!host_sees) problems.push_back("the host does not see what the GPU wrote through the alias");
                if (!device_sees) problems.push_back("the GPU does not see what the host wrote");
                device_checked = true;
            }
            out.set("stats_allocated", stats_json(pool.stats()));
        }
        out.set("allocations", allocations).set("device_access_checked", device_checked);
        if (!device_checked) out.set("device_access_skipped", "this OpenCV has no CUDA: no kernel can use the alias");

        const cvzc::PoolStats freed = pool.stats();
        out.set("stats_freed", stats_json(freed));
        const bool released = freed.bytes_in_use == before.bytes_in_use;
        out.set("released", released);
        if (!released) problems.push_back("the pool's bytes_in_use did not return to its value before");

        // write-combined + portable, through a per-Mat allocator
        {
            cvzc::MappedAllocator* wc = cvzc::mapped_allocator(cvzc::kMapped | cvzc::kWriteCombined | cvzc::kPortable);
            cv::Mat m;
            m.allocator = wc;
            m.create(256, 256, CV_8UC1);
            unsigned host_flags = 0;
            const cudaError_t status = cudaHostGetFlags(&host_flags, m.u->origdata);
            bool mapped = false;
            Json attrs = attributes_json(m.data, &mapped);
            const unsigned wanted = cudaHostAllocMapped | cudaHostAllocWriteCombined | cudaHostAllocPortable;
            const bool flags_ok = status == cudaSuccess && (host_flags & wanted) == wanted;
            if (status != cudaSuccess) (void)cudaGetLastError();
            out.set("write_combined_portable", Json::object()
                                                   .set("allocated_by_plugin", cvzc::allocated_by_plugin(m))
                                                   .set("host_alloc_flags", host_flags)
                                                   .set("flags_ok", flags_ok)
                                                   .set("attributes", attrs));
            if (!cvzc::allocated_by_plugin(m) || !mapped || !flags_ok) {
                problems.push_back("mapped + write-combined + portable allocation is not what was asked for");
            }
        }

        // retrofit: register a pageable Mat, then unregister
        {
            cv::Mat pageable(240, 320, CV_8UC1, cv::Scalar(3));
            Json reg_json = Json::object();
            bool was_mapped_before = cvzc::is_mapped(pageable.data);
            bool mapped = false;
            {
                cvzc::HostRegistration reg(pageable);
                reg_json.set("registered", reg.registered()).set("attributes", attributes_json(pageable.data, &mapped));
                reg_json.set("device_alias", Json::pointer(cvzc::device_pointer(pageable)));
            }
            const bool mapped_after = cvzc::is_mapped(pageable.data);
            reg_json.set("mapped_before", was_mapped_before).set("mapped_after_unregister", mapped_after);
            out.set("registration", reg_json);
            if (was_mapped_before || !mapped || mapped_after) {
                problems.push_back("register/unregister of a pageable Mat did not map and unmap it");
            }
        }

        const std::size_t trimmed = pool.trim(0);
        const cvzc::PoolStats after_trim = pool.stats();
        out.set("trimmed_bytes", static_cast<unsigned long long>(trimmed)).set("stats_trimmed", stats_json(after_trim));
        if (after_trim.bytes_cached != 0) problems.push_back("trim() left cached bytes");
    } catch (const cv::Exception& e) {
        problems.push_back(e.what());
    }
    const bool ok = problems.empty();
    Json list = Json::array();
    for (const auto& p : problems) list.push(p);
    out.set("ok", ok).set("error", ok ? Json(nullptr) : Json(problems.front())).set("problems", list);
    return emit(out, ok ? kExitOk : kExitFailed);
}

// ------------------------------------------------------------------------------------------------ pipeline

int cmd_pipeline(const Options& o) {
    Json out = Json::object();
    out.set("device", o.device);
    if (o.out_blur.empty() || o.out_edges.empty()) throw UsageError{"pipeline needs --out-blur and --out-edges"};
    if (o.input.empty() == o.pattern.empty()) throw UsageError{"pipeline needs exactly one of --input and --pattern"};
    if (!o.pattern.empty() && o.width == 0) throw UsageError{"--pattern needs --size WxH"};
#ifndef CVZC_HAVE_PIPELINE
    out.set("ok", false)
        .set("error", "this tool was built against an OpenCV without the CUDA modules cudafilters and cudaimgproc "
                      "(OpenCV " CV_VERSION "): rebuild OpenCV with a CUDA recipe, then the plugin");
    return emit(out, kExitNoOpenCvCuda);
#else
    if (!cvzc::opencv_has_cuda()) {
        out.set("ok", false).set("error", "this OpenCV (" CV_VERSION ") was built without CUDA");
        return emit(out, kExitNoOpenCvCuda);
    }
    const int bad = check_device(out, o.device);
    if (bad >= 0) return emit(out, bad);
    std::vector<std::string> problems;
    try {
        out.set("setup", setup_json(cvzc::setup_device(o.device)));
        cv::cuda::setDevice(o.device);
        cvzc::HostPool& pool = cvzc::default_pool();
        const cvzc::PoolStats before = pool.stats();
        {
            cvzc::DefaultAllocatorGuard guard(cvzc::mapped_allocator());  // every Mat below is mapped
            cv::Mat src;
            bool copied = false;
            if (!o.input.empty()) {
                cvzc_tool::read_gray(o.input, src);
                if (!cvzc::allocated_by_plugin(src) || !cvzc::is_mapped(src.data)) {
                    cv::Mat mapped(src.size(), CV_8UC1);  // the decoder used its own buffer: one host copy
                    src.copyTo(mapped);
                    src = mapped;
                    copied = true;
                }
                out.set("input", Json::object().set("file", o.input).set("copied_into_mapped", copied));
            } else {
                src.create(o.height, o.width, CV_8UC1);
                cvzc_tool::fill_pattern(o.pattern, src);
                out.set("input", Json::object().set("pattern", o.pattern).set("copied_into_mapped", false));
                if (!o.out_input.empty()) cvzc_tool::write_gray(o.out_input, src);
            }
            // the outputs' rows padded for textures: cuda::Canny reads the blur through one (plugin.md)
            cv::Mat blur = cvzc::texture_mat(src.rows, src.cols, CV_8UC1);
            cv::Mat edges = cvzc::texture_mat(src.rows, src.cols, CV_8UC1);
            blur.setTo(cv::Scalar::all(0));
            edges.setTo(cv::Scalar::all(0));
            out.set("width", src.cols).set("height", src.rows);

            cv::cuda::GpuMat g_src = cvzc::gpu_view(src);
            cv::cuda::GpuMat g_blur = cvzc::gpu_view(blur);
            cv::cuda::GpuMat g_edges = cvzc::gpu_view(edges);
            const void* blur_before = g_blur.data;
            const void* edges_before = g_edges.data;

            auto gauss = cv::cuda::createGaussianFilter(CV_8UC1, CV_8UC1, cv::Size(5, 5), 1.2);
            auto canny = cv::cuda::createCannyEdgeDetector(50.0, 150.0);
            Json times = Json::array();
            double first_ms = 0.0, best_ms = 0.0;
            for (int r = 0; r < o.repeat; ++r) {
                const auto t0 = std::chrono::steady_clock::now();
                gauss->apply(g_src, g_blur);
                canny->detect(g_blur, g_edges);
                cv::cuda::Stream::Null().waitForCompletion();
                const double ms =
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
                times.push(ms);
                if (r == 0) first_ms = best_ms = ms;
                best_ms = std::min(best_ms, ms);
            }
            const bool blur_reallocated = g_blur.data != blur_before;
            const bool edges_reallocated = g_edges.data != edges_before;
            out.set("blur_reallocated", blur_reallocated)
                .set("edges_reallocated", edges_reallocated)
                .set("time_ms", first_ms)
                .set("best_ms", best_ms)
                .set("times_ms", times)
                .set("frame_copies", 0);
            if (blur_reallocated) problems.push_back("the blur GpuMat was reallocated (output left mapped memory)");
            if (edges_reallocated) problems.push_back("the edges GpuMat was reallocated (output left mapped memory)");

            Json buffers = Json::object();
            const std::vector<std::pair<const char*, std::pair<cv::Mat*, cv::cuda::GpuMat*>>> all = {
                {"src", {&src, &g_src}}, {"blur", {&blur, &g_blur}}, {"edges", {&edges, &g_edges}}};
            for (const auto& [name, pair] : all) {
                bool mapped = false;
                Json attrs = attributes_json(pair.first->data, &mapped);
                void* alias = cvzc::device_pointer(*pair.first);
                buffers.set(name, Json::object()
                                      .set("attributes", attrs)
                                      .set("host_pointer", Json::pointer(pair.first->data))
                                      .set("step", static_cast<unsigned long long>(pair.first->step[0]))
                                      .set("gpumat_data", Json::pointer(pair.second->data))
                                      .set("allocated_by_plugin", cvzc::allocated_by_plugin(*pair.first))
                                      .set("alias_matches_gpumat", alias == pair.second->data));
                if (!mapped) problems.push_back(std::string(name) + ": not mapped host memory");
                if (alias != pair.second->data) problems.push_back(std::string(name) + ": GpuMat is not the alias");
            }
            out.set("buffers", buffers);
            cvzc_tool::write_gray(o.out_blur, blur);
            cvzc_tool::write_gray(o.out_edges, edges);
            out.set("outputs", Json::object().set("blur", o.out_blur).set("edges", o.out_edges));
        }
        out.set("stats_before", stats_json(before)).set("stats_after", stats_json(pool.stats()));
    } catch (const cv::Exception& e) {
        problems.push_back(e.what());
    }
    const bool ok = problems.empty();
    Json list = Json::array();
    for (const auto& p : problems) list.push(p);
    out.set("ok", ok).set("error", ok ? Json(nullptr) : Json(problems.front())).set("problems", list);
    return emit(out, ok ? kExitOk : kExitFailed);
#endif
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    try {
        const Options o = parse(argc, argv);
        if (o.command == "device-info") return cmd_device_info();
        if (o.command == "kernel") return cmd_kernel(o);
        if (o.command == "mapped") return cmd_mapped(o);
        if (o.command == "pipeline") return cmd_pipeline(o);
        throw UsageError{"unknown command '" + o.command + "' (device-info, kernel, mapped, pipeline)"};
    } catch (const UsageError& e) {
        std::fputs(kUsage, stderr);
        Json out = Json::object().set("ok", false).set("error", "usage: " + e.message);
        return emit(out, kExitUsage);
    } catch (const cv::Exception& e) {
        Json out = Json::object().set("ok", false).set("error", e.what());
        return emit(out, kExitFailed);
    } catch (const std::exception& e) {
        Json out = Json::object().set("ok", false).set("error", e.what());
        return emit(out, kExitFailed);
    }
}
