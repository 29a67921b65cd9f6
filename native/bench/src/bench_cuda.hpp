// The benchmark's CUDA layer: checked calls (CUDA_CHECK, built on the checked-call core shared with the
// library, native/common/cuda_check_core.hpp) and RAII owners of streams, events, pinned and device buffers.
//
// Every runtime call goes through CUDA_CHECK: on failure the sticky error is cleared (cudaGetLastError) and a
// bench::CudaError is thrown naming the call, the error name, its text and file:line. Destructors use
// CUDA_CHECK_NOTHROW, which reports to stderr and never throws. Needs only the CUDA runtime (kernels.cu
// includes it), not OpenCV.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_check_core.hpp"

namespace bench {

class CudaError : public std::runtime_error {
public:
    CudaError(cudaError_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
    cudaError_t code() const noexcept { return code_; }

private:
    cudaError_t code_;
};

/// CVZC_CUDA_TRY handler: throws CudaError "<call> failed: <name> (<text>)[ <context>] [file:line]".
[[noreturn]] inline void throw_cuda(cudaError_t code, const char* call, const char* file, int line,
                                    const char* /*func*/, const std::string& context) {
    throw CudaError(code, ::cvcuda_zerocopy::cuda_check::failure_message(code, call, context) + " [" + file + ":" +
                              std::to_string(line) + "]");
}

/// CVZC_CUDA_TRY handler for destructors: one warning line on stderr, never throws.
inline void report_cuda(cudaError_t code, const char* call, const char* file, int line, const char* /*func*/,
                        const std::string& /*context*/) noexcept {
    ::cvcuda_zerocopy::cuda_check::warn("cvcuda-zerocopy-bench", code, call, file, line);
}

}  // namespace bench

#define CUDA_CHECK(call) CVZC_CUDA_TRY(call, ::bench::throw_cuda, std::string())
#define CUDA_CHECK_MSG(call, context) CVZC_CUDA_TRY(call, ::bench::throw_cuda, (context))
#define CUDA_CHECK_NOTHROW(call) CVZC_CUDA_TRY(call, ::bench::report_cuda, std::string())

/// After a kernel launch: the launch error now, not at the next synchronising call.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace bench {

/// A non-blocking stream (does not synchronise with the legacy default stream).
class Stream {
public:
    Stream() { CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
    ~Stream() {
        if (stream_ != nullptr) CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_));
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
    Stream& operator=(Stream&&) = delete;

    cudaStream_t get() const noexcept { return stream_; }
    void synchronize() const { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

private:
    cudaStream_t stream_ = nullptr;
};

/// An event; ``timing`` false gives a cheaper event for fork/join dependencies only.
class Event {
public:
    explicit Event(bool timing = true) {
        CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
    }
    ~Event() {
        if (event_ != nullptr) CUDA_CHECK_NOTHROW(cudaEventDestroy(event_));
    }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
    Event& operator=(Event&&) = delete;

    cudaEvent_t get() const noexcept { return event_; }
    void record(cudaStream_t stream) const { CUDA_CHECK(cudaEventRecord(event_, stream)); }
    void wait_on(cudaStream_t stream) const { CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }
    void synchronize() const { CUDA_CHECK(cudaEventSynchronize(event_)); }

    /// Milliseconds from ``start`` to this event (both recorded and complete).
    float elapsed_since(const Event& start) const {
        float ms = 0.0f;
        CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
        return ms;
    }

private:
    cudaEvent_t event_ = nullptr;
};

/// Page-locked host memory (cudaHostAlloc with the given flags); zero bytes holds nullptr.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    explicit PinnedBuffer(std::size_t bytes, unsigned flags = cudaHostAllocDefault) : bytes_(bytes) {
        if (bytes == 0) return;
        CUDA_CHECK_MSG(cudaHostAlloc(&ptr_, bytes, flags), "allocating " + std::to_string(bytes) + " bytes");
    }
    ~PinnedBuffer() {
        if (ptr_ != nullptr) CUDA_CHECK_NOTHROW(cudaFreeHost(ptr_));
    }
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    PinnedBuffer(PinnedBuffer&& other) noexcept
        : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    PinnedBuffer& operator=(PinnedBuffer&& other) noexcept {
        if (this != &other) {
            if (ptr_ != nullptr) CUDA_CHECK_NOTHROW(cudaFreeHost(ptr_));
            ptr_ = std::exchange(other.ptr_, nullptr);
            bytes_ = std::exchange(other.bytes_, 0);
        }
        return *this;
    }

    void* get() const noexcept { return ptr_; }
    std::size_t size() const noexcept { return bytes_; }

private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

/// Linear device memory (cudaMalloc); zero bytes holds nullptr.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
        if (bytes == 0) return;
        CUDA_CHECK_MSG(cudaMalloc(&ptr_, bytes), "allocating " + std::to_string(bytes) + " bytes");
    }
    ~DeviceBuffer() {
        if (ptr_ != nullptr) CUDA_CHECK_NOTHROW(cudaFree(ptr_));
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& other) noexcept
        : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&&) = delete;

    void* get() const noexcept { return ptr_; }
    std::size_t size() const noexcept { return bytes_; }

private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

}  // namespace bench
