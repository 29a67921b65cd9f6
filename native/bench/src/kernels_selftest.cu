// Self-test of the banded strategy's copy kernels (no OpenCV): every vector width and row tail, mapped host
// memory as source and as destination, pitched device buffers, and the throughput of a kernel reading or
// writing mapped memory next to cudaMemcpy on pinned memory. Exit 0 when every copy is exact, 1 otherwise,
// 3 without a CUDA device.
//
//   cvcuda-bench-kernels-selftest [--device N]
#include "bench_cuda.hpp"
#include "kernels.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Case {
    std::size_t width;
    int rows;
    std::size_t host_offset;  // bytes past an aligned base: forces the narrower vector paths
    std::size_t host_step_pad;
};

std::size_t check_case(const Case& c) {
    const std::size_t host_step = c.width + c.host_step_pad;
    const std::size_t host_bytes = host_step * static_cast<std::size_t>(c.rows) + c.host_offset + 16;
    bench::PinnedBuffer in(host_bytes, cudaHostAllocMapped);
    bench::PinnedBuffer out(host_bytes, cudaHostAllocMapped);
    auto* in_host = static_cast<unsigned char*>(in.get()) + c.host_offset;
    auto* out_host = static_cast<unsigned char*>(out.get()) + c.host_offset;
    for (std::size_t i = 0; i < host_step * static_cast<std::size_t>(c.rows); ++i) {
        in_host[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
    }
    std::memset(out.get(), 0xAB, host_bytes);
    void* in_dev_base = nullptr;
    void* out_dev_base = nullptr;
    CUDA_CHECK(cudaHostGetDevicePointer(&in_dev_base, in.get(), 0));
    CUDA_CHECK(cudaHostGetDevicePointer(&out_dev_base, out.get(), 0));
    auto* in_dev = static_cast<unsigned char*>(in_dev_base) + c.host_offset;
    auto* out_dev = static_cast<unsigned char*>(out_dev_base) + c.host_offset;

    void* dev = nullptr;
    std::size_t dev_step = 0;
    CUDA_CHECK(cudaMallocPitch(&dev, &dev_step, c.width, static_cast<std::size_t>(c.rows)));
    bench::Stream stream;
    try {
        bench::copy_rows(in_dev, host_step, dev, dev_step, c.width, c.rows, stream.get(), {8});
        bench::copy_rows(dev, dev_step, out_dev, host_step, c.width, c.rows, stream.get(), {});
        stream.synchronize();
    } catch (...) {
        CUDA_CHECK_NOTHROW(cudaFree(dev));
        throw;
    }
    CUDA_CHECK(cudaFree(dev));
    std::size_t bad = 0;
    for (int r = 0; r < c.rows; ++r) {
        const std::size_t row = static_cast<std::size_t>(r) * host_step;
        for (std::size_t x = 0; x < c.width; ++x) bad += in_host[row + x] != out_host[row + x];
        for (std::size_t x = c.width; x < host_step; ++x) bad += out_host[row + x] != 0xAB;  // padding untouched
    }
    std::printf("  width %6zu rows %5d offset %2zu pad %2zu vector %2d bytes: %s (%zu bad bytes)\n", c.width,
                c.rows, c.host_offset, c.host_step_pad,
                bench::copy_vector_bytes(in_dev, host_step, out_dev, host_step), bad == 0 ? "ok" : "FAIL", bad);
    return bad;
}

double gbps(std::size_t bytes, float ms) { return ms > 0 ? static_cast<double>(bytes) / (ms * 1e6) : 0.0; }

void throughput() {
    const std::size_t width = 7680;
    const int rows = 4320;
    const std::size_t bytes = width * rows;
    bench::PinnedBuffer mapped(bytes, cudaHostAllocMapped);
    std::memset(mapped.get(), 1, bytes);
    void* mapped_dev = nullptr;
    CUDA_CHECK(cudaHostGetDevicePointer(&mapped_dev, mapped.get(), 0));
    bench::DeviceBuffer dev(bytes);
    bench::Stream stream;
    bench::Event start, stop;
    auto timed = [&](auto&& op) {
        op();
        stream.synchronize();
        float best = 1e30f;
        for (int i = 0; i < 10; ++i) {
            start.record(stream.get());
            op();
            stop.record(stream.get());
            stop.synchronize();
            const float ms = stop.elapsed_since(start);
            if (ms < best) best = ms;
        }
        return best;
    };
    const float k_in = timed([&] { bench::copy_rows(mapped_dev, width, dev.get(), width, width, rows, stream.get()); });
    const float k_out = timed([&] { bench::copy_rows(dev.get(), width, mapped_dev, width, width, rows, stream.get()); });
    const float k_in_small = timed(
        [&] { bench::copy_rows(mapped_dev, width, dev.get(), width, width, rows, stream.get(), {2 * bench::multiprocessor_count()}); });
    const float m_in = timed([&] {
        CUDA_CHECK(cudaMemcpyAsync(dev.get(), mapped.get(), bytes, cudaMemcpyHostToDevice, stream.get()));
    });
    const float m_out = timed([&] {
        CUDA_CHECK(cudaMemcpyAsync(mapped.get(), dev.get(), bytes, cudaMemcpyDeviceToHost, stream.get()));
    });
    std::printf("throughput, %zu bytes (best of 10):\n", bytes);
    std::printf("  kernel read mapped   %.3f ms  %.1f GB/s\n", k_in, gbps(bytes, k_in));
    std::printf("  kernel read mapped, 2 blocks/SM  %.3f ms  %.1f GB/s\n", k_in_small, gbps(bytes, k_in_small));
    std::printf("  kernel write mapped  %.3f ms  %.1f GB/s\n", k_out, gbps(bytes, k_out));
    std::printf("  cudaMemcpy H2D       %.3f ms  %.1f GB/s\n", m_in, gbps(bytes, m_in));
    std::printf("  cudaMemcpy D2H       %.3f ms  %.1f GB/s\n", m_out, gbps(bytes, m_out));
}

}  // namespace

int main(int argc, char** argv) {
    int device = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--device" && i + 1 < argc) {
            device = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: %s [--device N]\n", argv[0]);
            return 2;
        }
    }
    try {
        int count = 0;
        const cudaError_t status = cudaGetDeviceCount(&count);
        if (status != cudaSuccess || count == 0) {
            std::fprintf(stderr, "no CUDA device: %s\n",
                         status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
            return 3;
        }
        CUDA_CHECK(cudaSetDevice(device));
        const Case cases[] = {
            {1, 3, 0, 0},       {15, 7, 0, 1},    {16, 5, 0, 0},     {17, 9, 0, 15},   {640, 480, 0, 0},
            {641, 33, 0, 7},    {640, 64, 1, 0},  {640, 64, 4, 0},   {640, 64, 8, 0},  {1920, 1080, 0, 0},
            {3840, 2160, 0, 0}, {7680, 17, 0, 0}, {100000, 3, 0, 0}, {4, 70000, 0, 12},
        };
        std::size_t bad = 0;
        std::printf("copy_rows: mapped -> pitched device -> mapped\n");
        for (const Case& c : cases) bad += check_case(c);
        throughput();
        std::printf("%s\n", bad == 0 ? "ALL OK" : "FAILED");
        return bad == 0 ? 0 : 1;
    } catch (const std::exception& exc) {
        std::fprintf(stderr, "error: %s\n", exc.what());
        return 1;
    }
}
