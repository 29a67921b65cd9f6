// Retrofit: make memory that already exists (a Mat from the standard allocator, a numpy array, a buffer of a
// library) GPU-mapped for a while, with cudaHostRegister(..., cudaHostRegisterMapped), and undo it when the
// guard ends.
//
//   cv::Mat img = cv::imread("in.png", cv::IMREAD_GRAYSCALE);   // pageable memory
//   {
//       cvcuda_zerocopy::HostRegistration reg(img);             // page-locked + mapped
//       cv::cuda::GpuMat dev = cvcuda_zerocopy::gpu_header(img);
//       ...                                                      // GPU work, synchronised before the end
//   }                                                            // cudaHostUnregister
//
// Registering pins whole pages, so the pages around a small buffer are pinned too. This process's
// registrations are kept in a registry of page-granular intervals:
// * a range wholly inside a live registration (the same buffer registered twice, an ROI, a neighbour on the
//   same pages) shares it: the guard holds a reference, and the memory stays pinned until the last guard
//   over it ends, whatever order they end in;
// * a range that overlaps a registration only in part is refused (cv::Exception naming both ranges):
//   register one range that covers both, or keep the buffers on separate pages;
// * memory pinned by others (the mapped allocator, another library) is probed page by page with
//   cudaPointerGetAttributes: wholly pinned and mapped needs nothing (the guard does nothing, ``registered()``
//   is false; a Mat guard keeps the Mat, and so its memory, alive); partly pinned is refused.
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>

#include "cvcuda_zerocopy/flags.hpp"

namespace cvcuda_zerocopy {

class HostRegistration {
public:
    /// Registers the whole buffer behind ``m`` (its allocation when OpenCV knows it, else datastart..dataend)
    /// and keeps a copy of ``m`` so the memory cannot be freed while registered. ``flags``: kMapped (always
    /// added) and kPortable. Throws cv::Exception (CudaError for a failed CUDA call).
    explicit HostRegistration(const cv::Mat& m, unsigned flags = kMapped);

    /// Registers ``bytes`` bytes at ``ptr``; the caller keeps that memory alive until the guard ends.
    HostRegistration(void* ptr, std::size_t bytes, unsigned flags = kMapped);

    /// Unregisters (errors go to stderr; cudaErrorCudartUnloading at exit is ignored). Never throws.
    ~HostRegistration();

    HostRegistration(HostRegistration&& other) noexcept;
    HostRegistration& operator=(HostRegistration&& other) noexcept;
    HostRegistration(const HostRegistration&) = delete;
    HostRegistration& operator=(const HostRegistration&) = delete;

    /// Unregisters now (throws CudaError on failure); afterwards the guard is empty.
    void release();

    /// True while this guard holds the registration it made (false when it shares another guard's, or the
    /// memory was already mapped by its owner).
    bool registered() const noexcept { return registered_; }
    /// True while this guard holds a reference on a registration of this process (its own or a shared one).
    bool holds_registration() const noexcept { return holds_ref_; }
    /// Guards referencing this guard's registration now (0 when it holds none).
    std::size_t references() const;
    void* host_base() const noexcept { return base_; }
    std::size_t bytes() const noexcept { return bytes_; }
    /// The device alias of the range's first byte.
    void* device_base() const noexcept { return device_base_; }

private:
    void register_range(unsigned flags);
    void unregister_nothrow() noexcept;
    /// Drops this guard's reference; the last one unregisters. Returns cudaHostUnregister's status (a
    /// cudaError_t).
    int drop_reference() noexcept;

    cv::Mat keep_;
    void* base_ = nullptr;
    std::size_t bytes_ = 0;
    void* device_base_ = nullptr;
    bool registered_ = false;
    bool holds_ref_ = false;
    std::uintptr_t key_ = 0;  // the registry entry (its first page)
};

}  // namespace cvcuda_zerocopy
