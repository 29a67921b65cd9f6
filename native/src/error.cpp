#include "cvcuda_zerocopy/error.hpp"

#include <cstdio>

#include "cuda_check.hpp"

namespace cvcuda_zerocopy {

std::string cuda_error_name(int status) {
    try {
        const char* name = cudaGetErrorName(static_cast<cudaError_t>(status));
        if (name != nullptr) return name;
        return "cudaError(" + std::to_string(status) + ")";
    } catch (...) {
        return std::string();
    }
}

std::string cuda_error_text(int status) {
    try {
        const char* text = cudaGetErrorString(static_cast<cudaError_t>(status));
        return text != nullptr ? std::string(text) : std::string("unknown error");
    } catch (...) {
        return std::string();
    }
}

CudaError::CudaError(int status, const std::string& message, const char* function, const char* source_file,
                     int source_line)
    : cv::Exception(cv::Error::GpuApiCallError, message, function, source_file, source_line),
      status_(status),
      cuda_name_(cuda_error_name(status)) {}

namespace detail {

void throw_cuda(cudaError_t status, const char* call, const char* file, int line, const char* func,
                const std::string& context) {
    (void)cudaGetLastError();
    std::string message = std::string(call) + " failed: " + cuda_error_name(status) + " (" +
                          cuda_error_text(status) + ")";
    if (!context.empty()) message += " " + context;
    throw CudaError(static_cast<int>(status), message, func, file, line);
}

void report_cuda(cudaError_t status, const char* call, const char* file, int line) noexcept {
    (void)cudaGetLastError();
    if (status == cudaErrorCudartUnloading) return;  // process exit: the runtime is already gone
    const char* name = cudaGetErrorName(status);
    const char* text = cudaGetErrorString(status);
    std::fprintf(stderr, "cvcuda_zerocopy: warning: %s failed at %s:%d: %s (%s)\n", call, file, line,
                 name != nullptr ? name : "?", text != nullptr ? text : "?");
}

}  // namespace detail
}  // namespace cvcuda_zerocopy
