#include "cvcuda_zerocopy/error.hpp"

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
    throw CudaError(static_cast<int>(status), cuda_check::failure_message(status, call, context), func, file, line);
}

void report_cuda(cudaError_t status, const char* call, const char* file, int line, const char* /*func*/,
                 const std::string& /*context*/) noexcept {
    cuda_check::warn("cvcuda_zerocopy", status, call, file, line);
}

}  // namespace detail
}  // namespace cvcuda_zerocopy
