// Errors of the zero-copy plugin: every failed CUDA call becomes a cvcuda_zerocopy::CudaError, which is a
// cv::Exception (code cv::Error::GpuApiCallError) whose message names the CUDA error, the call and file:line:
//
//   cudaHostAlloc(&ptr, bytes, flags) failed: cudaErrorMemoryAllocation (out of memory) while allocating
//   8294400 bytes of mapped pinned host memory [.../pool.cpp:212]
//
// No CUDA type appears in this header, so code that includes it needs only OpenCV's headers.
#pragma once

#include <opencv2/core.hpp>

#include <string>

namespace cvcuda_zerocopy {

/// A CUDA runtime call failed. ``status()`` is the ``cudaError_t`` value, ``cuda_name()`` its name
/// (``"cudaErrorNoDevice"``); ``what()`` / ``msg`` hold the whole one-line message.
class CudaError : public cv::Exception {
public:
    CudaError(int status, const std::string& message, const char* function, const char* source_file, int source_line);

    int status() const noexcept { return status_; }
    const std::string& cuda_name() const noexcept { return cuda_name_; }

private:
    int status_;
    std::string cuda_name_;
};

/// ``"cudaErrorNoDevice"`` for a ``cudaError_t`` value (never throws; ``"cudaError(N)"`` when unknown).
std::string cuda_error_name(int status);

/// ``"no CUDA-capable device is detected"`` for a ``cudaError_t`` value (never throws).
std::string cuda_error_text(int status);

}  // namespace cvcuda_zerocopy
