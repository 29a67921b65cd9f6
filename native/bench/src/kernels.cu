#include "kernels.hpp"

#include "bench_cuda.hpp"

#include <array>
#include <climits>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

namespace bench {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // loads each thread has in flight before it stores

/// One thread moves ``kUnroll`` vectors per pass: all loads first, then all stores, so a PCIe-bound side
/// sees several outstanding requests per thread. ``vecs_per_row`` vectors of V per row; the row tail (bytes
/// past the last whole vector) is copied by tail_kernel.
template <typename V>
__global__ void copy_rows_kernel(const unsigned char* __restrict__ src, std::size_t src_step,
                                 unsigned char* __restrict__ dst, std::size_t dst_step, int vecs_per_row,
                                 int total) {
    const int stride = static_cast<int>(gridDim.x * blockDim.x);
    for (int base = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); base < total;
         base += stride * kUnroll) {
        V v[kUnroll];
#pragma unroll
        for (int j = 0; j < kUnroll; ++j) {
            const int i = base + j * stride;
            if (i < total) {
                const int r = i / vecs_per_row;
                const int c = i - r * vecs_per_row;
                v[j] = reinterpret_cast<const V*>(src + static_cast<std::size_t>(r) * src_step)[c];
            }
        }
#pragma unroll
        for (int j = 0; j < kUnroll; ++j) {
            const int i = base + j * stride;
            if (i < total) {
                const int r = i / vecs_per_row;
                const int c = i - r * vecs_per_row;
                reinterpret_cast<V*>(dst + static_cast<std::size_t>(r) * dst_step)[c] = v[j];
            }
        }
    }
}

/// Bytes [offset, offset + tail) of every row, one byte per thread.
__global__ void tail_kernel(const unsigned char* __restrict__ src, std::size_t src_step,
                            unsigned char* __restrict__ dst, std::size_t dst_step, std::size_t offset, int tail,
                            int rows) {
    const int total = tail * rows;
    const int stride = static_cast<int>(gridDim.x * blockDim.x);
    for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < total; i += stride) {
        const int r = i / tail;
        const int c = i - r * tail;
        dst[static_cast<std::size_t>(r) * dst_step + offset + c] =
            src[static_cast<std::size_t>(r) * src_step + offset + c];
    }
}

bool aligned(std::uintptr_t value, std::size_t alignment) noexcept { return value % alignment == 0; }

template <typename V>
void launch_vectors(const unsigned char* src, std::size_t src_step, unsigned char* dst, std::size_t dst_step,
                    std::size_t width_bytes, int rows, cudaStream_t stream, CopyLaunch launch) {
    const std::size_t vecs = width_bytes / sizeof(V);
    const std::size_t tail = width_bytes - vecs * sizeof(V);
    if (vecs > 0) {
        const std::size_t total = vecs * static_cast<std::size_t>(rows);
        if (total > static_cast<std::size_t>(INT_MAX) / 2) {
            throw std::invalid_argument("copy_rows: " + std::to_string(total) + " vectors is too large a copy");
        }
        const std::size_t per_block = static_cast<std::size_t>(kThreads) * kUnroll;
        std::size_t blocks = (total + per_block - 1) / per_block;
        const std::size_t one_pass = static_cast<std::size_t>(multiprocessor_count()) * (2048 / kThreads);
        if (blocks > one_pass) blocks = one_pass;  // grid-stride beyond one resident wave
        if (launch.max_blocks > 0 && blocks > static_cast<std::size_t>(launch.max_blocks)) {
            blocks = static_cast<std::size_t>(launch.max_blocks);
        }
        copy_rows_kernel<V><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
            src, src_step, dst, dst_step, static_cast<int>(vecs), static_cast<int>(total));
        CUDA_CHECK_LAUNCH();
    }
    if (tail > 0) {
        const int total = static_cast<int>(tail) * rows;
        const int blocks = (total + kThreads - 1) / kThreads;
        tail_kernel<<<blocks < 1024 ? blocks : 1024, kThreads, 0, stream>>>(
            src, src_step, dst, dst_step, vecs * sizeof(V), static_cast<int>(tail), rows);
        CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

int copy_vector_bytes(const void* src, std::size_t src_step, const void* dst, std::size_t dst_step) noexcept {
    const auto s = reinterpret_cast<std::uintptr_t>(src);
    const auto d = reinterpret_cast<std::uintptr_t>(dst);
    for (const std::size_t width : {std::size_t{16}, std::size_t{8}, std::size_t{4}}) {
        if (aligned(s, width) && aligned(d, width) && src_step % width == 0 && dst_step % width == 0) {
            return static_cast<int>(width);
        }
    }
    return 1;
}

void copy_rows(const void* src, std::size_t src_step, void* dst, std::size_t dst_step, std::size_t width_bytes,
               int rows, cudaStream_t stream, CopyLaunch launch) {
    if (rows <= 0 || width_bytes == 0) return;
    if (src == nullptr || dst == nullptr) throw std::invalid_argument("copy_rows: null pointer");
    if (rows > 1 && (src_step < width_bytes || dst_step < width_bytes)) {
        throw std::invalid_argument("copy_rows: a row step is smaller than the row width (" +
                                    std::to_string(width_bytes) + " bytes)");
    }
    const auto* s = static_cast<const unsigned char*>(src);
    auto* d = static_cast<unsigned char*>(dst);
    switch (copy_vector_bytes(src, src_step, dst, dst_step)) {
        case 16: launch_vectors<uint4>(s, src_step, d, dst_step, width_bytes, rows, stream, launch); break;
        case 8: launch_vectors<uint2>(s, src_step, d, dst_step, width_bytes, rows, stream, launch); break;
        case 4: launch_vectors<unsigned>(s, src_step, d, dst_step, width_bytes, rows, stream, launch); break;
        default: launch_vectors<unsigned char>(s, src_step, d, dst_step, width_bytes, rows, stream, launch); break;
    }
}

int multiprocessor_count() {
    static std::mutex mutex;
    static std::array<int, 64> cache{};
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    std::lock_guard<std::mutex> lock(mutex);
    if (device >= 0 && device < static_cast<int>(cache.size()) && cache[static_cast<std::size_t>(device)] > 0) {
        return cache[static_cast<std::size_t>(device)];
    }
    int count = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    if (count <= 0) count = 1;
    if (device >= 0 && device < static_cast<int>(cache.size())) cache[static_cast<std::size_t>(device)] = count;
    return count;
}

}  // namespace bench
