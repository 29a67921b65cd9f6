// One-time, thread-safe device set-up for mapped memory, and pointer queries.
//
// Mapped (zero-copy) memory needs the device's context to carry cudaDeviceMapHost. The flag has to be set
// before the context exists on old runtimes; since CUDA 12 the runtime creates its primary contexts with
// the flag implied and lets cudaSetDeviceFlags change an active context, and on every 64-bit platform with
// unified addressing (UVA) mapped pinned memory is device-accessible anyway. ``setup_device`` handles both:
// it asks for the flag, explains in ``DeviceSetup::note`` what it found, and proves the result by mapping
// one page and asking for its device alias. It fails (cv::Exception) only when mapped memory really is
// unusable: no device, canMapHostMemory == 0, or no device alias for a mapped page.
#pragma once

#include <cstddef>
#include <string>

namespace cvcuda_zerocopy {

/// What ``setup_device`` found and did for one device.
struct DeviceSetup {
    int device = -1;
    std::string name;
    int major = 0;
    int minor = 0;
    bool integrated = false;
    bool can_map_host_memory = false;
    bool unified_addressing = false;
    /// cudaDevAttrCanUseHostPointerForRegisteredMem: the alias equals the host pointer on this device.
    bool host_pointer_is_device_pointer = false;
    /// Whether the device's primary context was already active before set-up: 1 yes, 0 no, -1 unknown
    /// (the runtime is older than 12.5 or the driver entry point is unavailable).
    int context_was_active = -1;
    /// cudaGetDeviceFlags before and after set-up.
    unsigned flags_before = 0;
    unsigned flags_after = 0;
    /// cudaDeviceMapHost is in effect after set-up.
    bool map_host = false;
    /// This set-up called cudaSetDeviceFlags (false: the flag was already there).
    bool set_flags_called = false;
    /// cudaDevAttrTexturePitchAlignment: a pitched 2-D texture over a GpuMat (what CUDA Canny, remap, resize
    /// ... build over their input) needs a row step that is a multiple of this (32 bytes on current GPUs).
    std::size_t texture_pitch_alignment = 0;
    /// cudaDevAttrTextureAlignment: the base address such a texture needs (512 bytes on current GPUs).
    std::size_t texture_alignment = 0;
    /// One line for a person: what was found and why mapped memory works on this device.
    std::string note;
};

/// Sets up ``device`` once per process (thread safe; later calls return the stored result) and makes it the
/// calling thread's current device (cudaSetDevice is per thread). Throws cv::Exception with a clear message
/// when there is no usable CUDA device, the index is out of range, or the device cannot map host memory.
const DeviceSetup& setup_device(int device);

/// The calling thread's current device, set up on first use; throws like ``setup_device``.
int ensure_device();

/// The number of CUDA devices, 0 when there are none or no driver; ``error`` (when given) receives why
/// (``"cudaErrorNoDevice: no CUDA-capable device is detected"``). Never throws.
int device_count(std::string* error = nullptr) noexcept;

/// cudaDriverGetVersion / cudaRuntimeGetVersion (e.g. 13000); 0 when unavailable. Never throw.
int driver_version() noexcept;
int runtime_version() noexcept;

/// cudaPointerGetAttributes' memory type.
enum class MemoryType { Unregistered = 0, Host = 1, Device = 2, Managed = 3 };

/// ``"unregistered"``, ``"host"``, ``"device"``, ``"managed"``.
const char* memory_type_name(MemoryType type) noexcept;

struct PointerAttributes {
    MemoryType type = MemoryType::Unregistered;
    int device = -1;
    /// The address the current device uses for this byte (null: no device alias, i.e. not mapped).
    void* device_pointer = nullptr;
    /// The address the host uses for this byte (null for device memory).
    void* host_pointer = nullptr;
};

/// cudaPointerGetAttributes for ``ptr``; pageable memory gives type Unregistered. Throws CudaError.
PointerAttributes pointer_attributes(const void* ptr);

/// True when ``ptr`` is pinned host memory with a device alias on the current device. Never throws.
bool is_mapped(const void* ptr) noexcept;

}  // namespace cvcuda_zerocopy
