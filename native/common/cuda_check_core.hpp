// The one checked-call implementation for CUDA runtime calls, shared by the library (CVZC_CUDA_CHECK in
// cuda_check.hpp), the check tool and the benchmark (CUDA_CHECK in native/bench/src/bench_cuda.hpp).
//
// Header-only and needs only the CUDA runtime (no OpenCV, no library symbol), so a CUDA-only translation unit
// such as the benchmark's kernels.cu can use it. Each user supplies what a failure turns into:
//
//   CVZC_CUDA_TRY(cudaMalloc(&p, n), my_throw, std::string("while ..."));
//
// calls, only when the call does not return cudaSuccess,
//
//   my_throw(status, "cudaMalloc(&p, n)", __FILE__, __LINE__, __func__, context)
//
// (``context`` is evaluated only then). Handlers build on failure_message() (throwing) or warn() (reporting);
// both clear the sticky error state (cudaGetLastError) so later calls report their own state.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>

namespace cvcuda_zerocopy {
namespace cuda_check {

/// ``"cudaErrorNoDevice"`` (never null).
inline const char* error_name(cudaError_t status) noexcept {
    const char* name = cudaGetErrorName(status);
    return name != nullptr ? name : "cudaErrorUnknown";
}

/// ``"no CUDA-capable device is detected"`` (never null).
inline const char* error_text(cudaError_t status) noexcept {
    const char* text = cudaGetErrorString(status);
    return text != nullptr ? text : "unknown error";
}

/// Clears the sticky error and returns ``"<call> failed: <name> (<text>)[ <context>]"``.
inline std::string failure_message(cudaError_t status, const char* call, const std::string& context = std::string()) {
    (void)cudaGetLastError();
    std::string message = std::string(call) + " failed: " + error_name(status) + " (" + error_text(status) + ")";
    if (!context.empty()) message += " " + context;
    return message;
}

/// Clears the sticky error and prints ``"<tag>: warning: <call> failed at <file>:<line>: <name> (<text>)"`` to
/// stderr; nothing for cudaErrorCudartUnloading (at process exit the runtime may be torn down before the last
/// buffer is freed, and the OS reclaims the memory anyway). For destructors: never throws.
inline void warn(const char* tag, cudaError_t status, const char* call, const char* file, int line) noexcept {
    (void)cudaGetLastError();
    if (status == cudaErrorCudartUnloading) return;
    std::fprintf(stderr, "%s: warning: %s failed at %s:%d: %s (%s)\n", tag, call, file, line, error_name(status),
                 error_text(status));
}

}  // namespace cuda_check
}  // namespace cvcuda_zerocopy

/// Runs ``call`` once; on a status other than cudaSuccess calls
/// ``on_failure(status, "<call>", __FILE__, __LINE__, __func__, context)``.
#define CVZC_CUDA_TRY(call, on_failure, context)                                                 \
    do {                                                                                         \
        const cudaError_t cvzc_status_ = (call);                                                 \
        if (cvzc_status_ != cudaSuccess) {                                                       \
            on_failure(cvzc_status_, #call, __FILE__, __LINE__, static_cast<const char*>(__func__), \
                       (context));                                                               \
        }                                                                                        \
    } while (0)
