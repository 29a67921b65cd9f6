#include "cvcuda_zerocopy/device.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cuda_check.hpp"

namespace cvcuda_zerocopy {
namespace {

std::mutex& setup_mutex() {
    static std::mutex* m = new std::mutex;  // never destroyed: set-up may run during static destruction
    return *m;
}

std::map<int, std::unique_ptr<DeviceSetup>>& setups() {
    static auto* m = new std::map<int, std::unique_ptr<DeviceSetup>>;
    return *m;
}

/// Bit d set: device d (< 64) is set up; the fast path of ensure_device reads it without the lock.
std::atomic<std::uint64_t> g_ready_mask{0};

std::string visible_devices_note() {
    const char* value = std::getenv("CUDA_VISIBLE_DEVICES");
    if (value == nullptr) return std::string();
    return std::string(" (CUDA_VISIBLE_DEVICES=\"") + value + "\")";
}

[[noreturn]] void throw_no_device(cudaError_t status, const char* call, const char* file, int line) {
    std::string hint;
    if (status == cudaErrorInsufficientDriver) {
        hint = "; no NVIDIA driver is loaded, or it is older than this CUDA runtime";
    } else if (status == cudaErrorNoDevice) {
        hint = "; no GPU is visible to this process";
    }
    detail::throw_cuda(status, call, file, line, "cvcuda_zerocopy::setup_device",
                       "- no usable CUDA device" + hint + visible_devices_note());
}

int attribute(cudaDeviceAttr attr, int device) {
    int value = 0;
    CVZC_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
    return value;
}

/// cuDevicePrimaryCtxGetState through the runtime's driver entry point (no link to libcuda): 1 active,
/// 0 inactive, -1 unknown.
int primary_context_active(int device) noexcept {
#if defined(CUDART_VERSION) && CUDART_VERSION >= 12050
    using GetState = int (*)(int, unsigned int*, int*);  // CUresult (CUdevice, unsigned*, int*)
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult query = cudaDriverEntryPointSymbolNotFound;
    const cudaError_t status =
        cudaGetDriverEntryPointByVersion("cuDevicePrimaryCtxGetState", &fn, 12000, cudaEnableDefault, &query);
    if (status != cudaSuccess || query != cudaDriverEntryPointSuccess || fn == nullptr) {
        (void)cudaGetLastError();
        return -1;
    }
    unsigned int flags = 0;
    int active = 0;
    if (reinterpret_cast<GetState>(fn)(device, &flags, &active) != 0) return -1;
    return active != 0 ? 1 : 0;
#else
    (void)device;
    return -1;
#endif
}

unsigned kept_flags(unsigned flags) {
    unsigned mask = cudaDeviceScheduleMask | cudaDeviceLmemResizeToMax;
#ifdef cudaDeviceSyncMemops
    mask |= cudaDeviceSyncMemops;
#endif
    return flags & mask;
}

/// Maps one page and asks for its device alias: the proof that mapped memory works on this device.
cudaError_t probe_mapping() {
    void* host = nullptr;
    CVZC_CUDA_CHECK_MSG(cudaHostAlloc(&host, 4096, cudaHostAllocMapped),
                        "while probing mapped memory with one page");
    void* alias = nullptr;
    const cudaError_t status = cudaHostGetDevicePointer(&alias, host, 0);
    if (status != cudaSuccess) (void)cudaGetLastError();
    CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(host));
    return status;
}

std::unique_ptr<DeviceSetup> do_setup(int device) {
    auto setup = std::make_unique<DeviceSetup>();
    DeviceSetup& s = *setup;
    s.device = device;
    cudaDeviceProp prop{};
    CVZC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    s.name = prop.name;
    s.major = attribute(cudaDevAttrComputeCapabilityMajor, device);
    s.minor = attribute(cudaDevAttrComputeCapabilityMinor, device);
    s.integrated = attribute(cudaDevAttrIntegrated, device) != 0;
    s.can_map_host_memory = attribute(cudaDevAttrCanMapHostMemory, device) != 0;
    s.unified_addressing = attribute(cudaDevAttrUnifiedAddressing, device) != 0;
    s.host_pointer_is_device_pointer = attribute(cudaDevAttrCanUseHostPointerForRegisteredMem, device) != 0;
    s.texture_pitch_alignment = static_cast<std::size_t>(attribute(cudaDevAttrTexturePitchAlignment, device));
    s.texture_alignment = static_cast<std::size_t>(attribute(cudaDevAttrTextureAlignment, device));
    if (!s.can_map_host_memory) {
        CV_Error(cv::Error::StsNotImplemented,
                 cv::format("CUDA device %d (%s) cannot map host memory (canMapHostMemory = 0): zero-copy is "
                            "impossible on it; use copies (cudaMemcpy) instead",
                            device, s.name.c_str()));
    }
    s.context_was_active = primary_context_active(device);

    // Since CUDA 12, cudaSetDevice creates the primary context (with cudaDeviceMapHost implied).
    CVZC_CUDA_CHECK(cudaSetDevice(device));
    CVZC_CUDA_CHECK(cudaGetDeviceFlags(&s.flags_before));
    std::string refused;
    if ((s.flags_before & cudaDeviceMapHost) == 0) {
        s.set_flags_called = true;
        const cudaError_t status = cudaSetDeviceFlags(kept_flags(s.flags_before) | cudaDeviceMapHost);
        if (status != cudaSuccess) {
            (void)cudaGetLastError();
            // cudaErrorSetOnActiveProcess (old runtimes, context already there) or a runtime that no longer
            // accepts the flag: not fatal by itself; the probe below decides.
            refused = cuda_error_name(status);
        }
    }
    CVZC_CUDA_CHECK(cudaFree(nullptr));  // make sure the context exists, with whatever flags it now has
    CVZC_CUDA_CHECK(cudaGetDeviceFlags(&s.flags_after));
    s.map_host = (s.flags_after & cudaDeviceMapHost) != 0;

    std::string note;
    if ((s.flags_before & cudaDeviceMapHost) != 0) {
        note = "cudaDeviceMapHost was already in effect (the CUDA runtime implies it for the contexts it creates)";
    } else if (refused.empty()) {
        note = "cudaDeviceMapHost set with cudaSetDeviceFlags";
    } else {
        note = "cudaSetDeviceFlags(cudaDeviceMapHost) was refused (" + refused + ")";
        if (s.context_was_active == 1) note += ": a CUDA context already existed on this device without it";
    }

    const cudaError_t probe = probe_mapping();
    if (probe != cudaSuccess) {
        std::string why = note;
        if (!s.map_host) {
            why += cv::format("; call cvcuda_zerocopy::setup_device(%d) (Python: cvcuda_zerocopy.setup_device(%d))"
                              " before any other CUDA work in the process, so the context is created with "
                              "cudaDeviceMapHost",
                              device, device);
        }
        detail::throw_cuda(probe, "cudaHostGetDevicePointer(&alias, probe_page, 0)", __FILE__, __LINE__, CV_Func,
                           cv::format("- CUDA device %d (%s): mapped host memory has no device alias; ", device,
                                      s.name.c_str()) +
                               why);
    }
    if (!s.map_host && s.unified_addressing) {
        note += "; mapped memory works anyway: with unified addressing every mapped pinned page has a device "
                "address (CUDA >= 12 behaviour)";
    }
    if (s.host_pointer_is_device_pointer) note += "; on this device the alias equals the host pointer";
    s.note = note;
    return setup;
}

}  // namespace

int device_count(std::string* error) noexcept {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    try {
        if (status != cudaSuccess) {
            (void)cudaGetLastError();
            if (error != nullptr) *error = cuda_error_name(status) + ": " + cuda_error_text(status);
            return 0;
        }
        if (count == 0 && error != nullptr) *error = "cudaGetDeviceCount() reports 0 devices";
    } catch (...) {
        // a failed string allocation leaves ``error`` as it was
    }
    return status == cudaSuccess ? count : 0;
}

int driver_version() noexcept {
    int version = 0;
    if (cudaDriverGetVersion(&version) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return version;
}

int runtime_version() noexcept {
    int version = 0;
    if (cudaRuntimeGetVersion(&version) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return version;
}

const DeviceSetup& setup_device(int device) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) throw_no_device(status, "cudaGetDeviceCount(&count)", __FILE__, __LINE__);
    if (count <= 0) {
        CV_Error(cv::Error::GpuNotSupported,
                 "no usable CUDA device: cudaGetDeviceCount() reports 0 devices" + visible_devices_note());
    }
    if (device < 0 || device >= count) {
        CV_Error(cv::Error::StsOutOfRange,
                 cv::format("CUDA device %d does not exist: %d device(s) visible, indices 0..%d", device, count,
                            count - 1) +
                     visible_devices_note());
    }
    std::lock_guard<std::mutex> lock(setup_mutex());
    auto found = setups().find(device);
    if (found != setups().end()) {
        CVZC_CUDA_CHECK(cudaSetDevice(device));
        return *found->second;
    }
    std::unique_ptr<DeviceSetup> setup = do_setup(device);
    const DeviceSetup& result = *setup;
    setups().emplace(device, std::move(setup));
    if (device < 64) g_ready_mask.fetch_or(std::uint64_t(1) << device, std::memory_order_release);
    return result;
}

int ensure_device() {
    int device = 0;
    const cudaError_t status = cudaGetDevice(&device);
    if (status != cudaSuccess) throw_no_device(status, "cudaGetDevice(&device)", __FILE__, __LINE__);
    if (device >= 0 && device < 64 &&
        (g_ready_mask.load(std::memory_order_acquire) & (std::uint64_t(1) << device)) != 0) {
        return device;
    }
    setup_device(device);
    return device;
}

const char* memory_type_name(MemoryType type) noexcept {
    switch (type) {
        case MemoryType::Unregistered: return "unregistered";
        case MemoryType::Host: return "host";
        case MemoryType::Device: return "device";
        case MemoryType::Managed: return "managed";
    }
    return "unknown";
}

PointerAttributes pointer_attributes(const void* ptr) {
    if (ptr == nullptr) CV_Error(cv::Error::StsNullPtr, "pointer_attributes: null pointer");
    cudaPointerAttributes attrs{};
    CVZC_CUDA_CHECK_MSG(cudaPointerGetAttributes(&attrs, ptr), cv::format("for %p", ptr));
    PointerAttributes out;
    switch (attrs.type) {
        case cudaMemoryTypeHost: out.type = MemoryType::Host; break;
        case cudaMemoryTypeDevice: out.type = MemoryType::Device; break;
        case cudaMemoryTypeManaged: out.type = MemoryType::Managed; break;
        default: out.type = MemoryType::Unregistered; break;
    }
    out.device = attrs.device;
    out.device_pointer = attrs.devicePointer;
    out.host_pointer = attrs.hostPointer;
    return out;
}

bool is_mapped(const void* ptr) noexcept {
    if (ptr == nullptr) return false;
    cudaPointerAttributes attrs{};
    if (cudaPointerGetAttributes(&attrs, ptr) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    return attrs.type == cudaMemoryTypeHost && attrs.devicePointer != nullptr;
}

}  // namespace cvcuda_zerocopy
