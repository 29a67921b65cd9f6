// Checked CUDA runtime calls (private to the library and its tools; like rmm's RMM_CUDA_TRY), built on the
// shared checked-call core (cuda_check_core.hpp) that the benchmark's CUDA_CHECK uses too.
//
//   CVZC_CUDA_CHECK(cudaHostAlloc(&p, n, flags));                 // throws CudaError on failure
//   CVZC_CUDA_CHECK_MSG(cudaHostAlloc(&p, n, flags), "while ...");  // the same, with context appended
//   CVZC_CUDA_CHECK_NOTHROW(cudaFreeHost(p));                     // destructors / deallocate: reports only
//
// On failure the sticky error state is cleared (cudaGetLastError) so later calls report their own state.
// The no-throw path stays silent for cudaErrorCudartUnloading: at process exit the runtime may be torn down
// before the last Mat is freed, and the OS reclaims the memory anyway. A failure throws CudaError, a
// cv::Exception whose function is the caller's __func__.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "cuda_check_core.hpp"
#include "cvcuda_zerocopy/error.hpp"
#include "cvcuda_zerocopy/flags.hpp"

namespace cvcuda_zerocopy {

static_assert(kPortable == cudaHostAllocPortable, "kPortable must equal cudaHostAllocPortable");
static_assert(kMapped == cudaHostAllocMapped, "kMapped must equal cudaHostAllocMapped");
static_assert(kWriteCombined == cudaHostAllocWriteCombined, "kWriteCombined must equal cudaHostAllocWriteCombined");
static_assert(kPortable == cudaHostRegisterPortable, "kPortable must equal cudaHostRegisterPortable");
static_assert(kMapped == cudaHostRegisterMapped, "kMapped must equal cudaHostRegisterMapped");

namespace detail {

/// Clears the sticky error and throws CudaError: "<call> failed: <name> (<text>)[ <context>]".
[[noreturn]] void throw_cuda(cudaError_t status, const char* call, const char* file, int line, const char* func,
                             const std::string& context = std::string());

/// Clears the sticky error and prints one warning line to stderr (nothing for cudaErrorCudartUnloading);
/// ``func`` and ``context`` are not printed (the handler signature of CVZC_CUDA_TRY).
void report_cuda(cudaError_t status, const char* call, const char* file, int line, const char* func = nullptr,
                 const std::string& context = std::string()) noexcept;

}  // namespace detail
}  // namespace cvcuda_zerocopy

#define CVZC_CUDA_CHECK(call) CVZC_CUDA_TRY(call, ::cvcuda_zerocopy::detail::throw_cuda, std::string())

#define CVZC_CUDA_CHECK_MSG(call, context) CVZC_CUDA_TRY(call, ::cvcuda_zerocopy::detail::throw_cuda, (context))

#define CVZC_CUDA_CHECK_NOTHROW(call) CVZC_CUDA_TRY(call, ::cvcuda_zerocopy::detail::report_cuda, std::string())
