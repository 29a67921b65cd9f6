// Copy kernels of the banded zero-copy strategy: pitched 2-D row copies that a kernel (not a copy engine, not
// cudaMemcpy) performs, so one side can be the device alias of mapped host memory.
//
// Reads and writes are coalesced and as wide as the alignment of both pointers and both steps allows (16, 8, 4
// bytes, else single bytes); each thread keeps several loads in flight so PCIe latency is hidden.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace bench {

struct CopyLaunch {
    /// Upper bound on the blocks of the grid (0: enough blocks to cover the copy in about one pass). A small
    /// bound keeps SMs free for kernels on other streams while a PCIe-bound copy runs.
    int max_blocks = 0;
};

/// Copies ``rows`` rows of ``width_bytes`` bytes from ``src`` (row pitch ``src_step``) to ``dst`` (pitch
/// ``dst_step``) on ``stream``. Either side may be a device pointer or the device alias of mapped host memory.
/// Throws bench::CudaError on a launch failure and std::invalid_argument on bad sizes.
void copy_rows(const void* src, std::size_t src_step, void* dst, std::size_t dst_step, std::size_t width_bytes,
               int rows, cudaStream_t stream, CopyLaunch launch = {});

/// The vector width (16, 8, 4 or 1 bytes) copy_rows uses for these pointers and steps.
int copy_vector_bytes(const void* src, std::size_t src_step, const void* dst, std::size_t dst_step) noexcept;

/// Number of multiprocessors of the current device (cached per device).
int multiprocessor_count();

}  // namespace bench
