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
// Registering pins whole pages, so the pages around a small buffer are pinned too; two registrations may not
// overlap (CUDA refuses with cudaErrorHostMemoryAlreadyRegistered). Memory that is already pinned and mapped
// (from the mapped allocator, say) needs nothing: the guard then does nothing and ``registered()`` is false.
#pragma once

#include <opencv2/core.hpp>

#include <cstddef>

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

    /// True while this guard holds a registration it made (false when the memory was already mapped).
    bool registered() const noexcept { return registered_; }
    void* host_base() const noexcept { return base_; }
    std::size_t bytes() const noexcept { return bytes_; }
    /// The device alias of the range's first byte.
    void* device_base() const noexcept { return device_base_; }

private:
    void register_range(unsigned flags);
    void unregister_nothrow() noexcept;

    cv::Mat keep_;
    void* base_ = nullptr;
    std::size_t bytes_ = 0;
    void* device_base_ = nullptr;
    bool registered_ = false;
};

}  // namespace cvcuda_zerocopy
