// The device side of mapped host memory: the alias of any byte, and GpuMat headers over it.
//
// The device alias comes from cudaHostGetDevicePointer (or cudaPointerGetAttributes for memory this library
// did not allocate); it is never assumed to equal the host pointer. Memory that is not mapped (pageable,
// pinned without kMapped, device memory) is refused with a cv::Exception that says how to fix it.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>

#include "cvcuda_zerocopy/stream.hpp"

namespace cvcuda_zerocopy {

/// The device alias of ``host`` (any address inside a mapped block: pool blocks, registered ranges or any
/// other mapped pinned memory). Throws cv::Exception when it is not mapped for the current device.
void* device_pointer(const void* host);

/// The device alias of ``m.data`` for a Mat of any number of dimensions (ROIs included).
void* device_pointer(const cv::Mat& m);

/// A GpuMat header over the device alias of a 1-D or 2-D Mat (channels allowed: an HxW CV_8UC3 Mat gives an
/// HxW CV_8UC3 GpuMat with the same row step). It does not own anything: ``m``'s memory must outlive it.
cv::cuda::GpuMat gpu_header(const cv::Mat& m);

/// Like ``gpu_header``, but the GpuMat keeps ``m``'s memory alive: the header carries a reference count
/// whose last release drops a copy of ``m`` (so the UMatData's refcount, and with it the pooled block,
/// lives as long as the Mat or any copy/ROI of the view). If an OpenCV function has to reallocate the view
/// (a different size or type), the view is released and the function falls back to a device allocation.
/// Needs an OpenCV built with CUDA (its GpuMat::release must call the header's allocator); throws
/// cv::Exception (StsNotImplemented) otherwise, where ``gpu_header`` still works.
cv::cuda::GpuMat gpu_view(const cv::Mat& m);

/// Like ``gpu_view(m)`` for work on ``stream``: when the last reference to the view ends, a use of the
/// pooled block is recorded on ``stream`` (``record_use``), so the block is not reused after the Mat's
/// release until the work enqueued on ``stream`` by then is done. Needed for non-blocking streams, which the
/// release's own event (on the legacy default stream) does not order; harmless for others.
cv::cuda::GpuMat gpu_view(const cv::Mat& m, Stream stream);

/// Records that work enqueued on ``stream`` so far may use ``m``'s pooled block (see pool.hpp, stream-ordered
/// reuse). Does nothing for memory the pool does not own (user data, registrations, unpooled blocks).
/// Throws CudaError when the event cannot be recorded.
void record_use(const cv::Mat& m, Stream stream);

namespace detail {
cv::cuda::GpuMat make_view(const cv::Mat& m, Stream stream, bool has_stream);
}

/// True when OpenCV was built with CUDA (its build information says so and GpuMat has a default allocator).
bool opencv_has_cuda() noexcept;

}  // namespace cvcuda_zerocopy
