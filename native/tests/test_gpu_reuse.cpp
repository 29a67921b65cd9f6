// GPU: stream-ordered reuse of pooled blocks. GPU work (DMA copies of a sentinel pattern, queued for about
// 50 ms) still writes a pooled block when its Mat is released; the next allocation of that size must not get
// the same bytes while the copies run: it fills its Mat with zeros and, after the GPU is done, finds no
// sentinel byte in it. Before stream-ordered reuse the block went straight back to the cache, the next
// allocation got it, and the sentinel showed up. Skips (77) without a device.
#include <cuda_runtime_api.h>

#include <opencv2/core.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "gpu_common.hpp"

namespace cvzc = cvcuda_zerocopy;
using cvzc_test::require_gpu;

namespace {

constexpr int kRows = 2160;
constexpr int kCols = 3840;  // a 4K grey frame: 8 MiB, one size class
constexpr unsigned char kSentinel = 0xAB;
constexpr double kWriterMs = 50.0;

#define RAW(call) REQUIRE((call) == cudaSuccess)

/// Device memory holding the sentinel, the source of the writer's copies.
struct DeviceSentinel {
    void* ptr = nullptr;
    explicit DeviceSentinel(std::size_t bytes) {
        RAW(cudaMalloc(&ptr, bytes));
        RAW(cudaMemset(ptr, kSentinel, bytes));
        RAW(cudaDeviceSynchronize());
    }
    ~DeviceSentinel() {
        if (ptr != nullptr) (void)cudaFree(ptr);
    }
    DeviceSentinel(const DeviceSentinel&) = delete;
    DeviceSentinel& operator=(const DeviceSentinel&) = delete;
};

struct Event {
    cudaEvent_t e = nullptr;
    Event() { RAW(cudaEventCreate(&e)); }
    ~Event() {
        if (e != nullptr) (void)cudaEventDestroy(e);
    }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
};

struct Stream {
    cudaStream_t s = nullptr;
    Stream() { RAW(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
    ~Stream() {
        if (s != nullptr) (void)cudaStreamDestroy(s);
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
};

/// How many copies of ``bytes`` into ``host`` take about kWriterMs on ``stream`` (timed once).
int copies_for_writer(void* host, const void* dev, std::size_t bytes, cudaStream_t stream) {
    Event start;
    Event stop;
    RAW(cudaEventRecord(start.e, stream));
    for (int i = 0; i < 4; ++i) RAW(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDefault, stream));
    RAW(cudaEventRecord(stop.e, stream));
    RAW(cudaEventSynchronize(stop.e));
    float ms = 0.0f;
    RAW(cudaEventElapsedTime(&ms, start.e, stop.e));
    const double per_copy = ms > 0.0f ? ms / 4.0 : 0.01;
    const int n = static_cast<int>(kWriterMs / per_copy) + 1;
    std::fprintf(stderr, "  one %zu-byte copy: %.3f ms; the writer queues %d copies\n", bytes, per_copy, n);
    return n;
}

/// Queues ``n`` copies of the sentinel into ``host`` on ``stream`` and records ``done`` after them.
void queue_writer(void* host, const void* dev, std::size_t bytes, cudaStream_t stream, int n, cudaEvent_t done) {
    for (int i = 0; i < n; ++i) RAW(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDefault, stream));
    RAW(cudaEventRecord(done, stream));
}

/// The next allocation after the release: zeroed by the CPU at once; after the GPU is done it must still be
/// zero everywhere. Returns the sentinel bytes found (0: not corrupted).
std::size_t sentinels_after_writer(cv::Mat& next, cudaEvent_t done, bool* writer_was_running) {
    std::memset(next.data, 0, next.total() * next.elemSize());
    *writer_was_running = cudaEventQuery(done) == cudaErrorNotReady;
    (void)cudaGetLastError();
    RAW(cudaDeviceSynchronize());
    std::size_t found = 0;
    const std::size_t bytes = next.total() * next.elemSize();
    for (std::size_t i = 0; i < bytes; ++i) found += next.data[i] == kSentinel ? 1 : 0;
    return found;
}

}  // namespace

TEST_CASE(a_plain_mat_released_while_the_gpu_writes_it_is_not_reused_early) {
    require_gpu();
    const auto pool = std::make_shared<cvzc::HostPool>(64u << 20);
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool);
    cvzc::DefaultAllocatorGuard guard(&alloc);  // the plain Mat path: no stream given, no call from the user
    const std::size_t bytes = std::size_t(kRows) * kCols;
    DeviceSentinel sentinel(bytes);
    Event done;

    cv::Mat frame(kRows, kCols, CV_8UC1);
    REQUIRE(cvzc::allocated_by_plugin(frame));
    const int n = copies_for_writer(frame.data, sentinel.ptr, bytes, nullptr);
    void* old_block = frame.data;
    queue_writer(frame.data, sentinel.ptr, bytes, nullptr, n, done.e);  // the legacy default stream
    frame.release();  // the GPU is still writing it

    const cvzc::PoolStats released = pool->stats();
    CHECK_EQ(released.blocks_cached + released.blocks_pending, size_t(1));
    cv::Mat next(kRows, kCols, CV_8UC1);
    bool running = false;
    const std::size_t found = sentinels_after_writer(next, done.e, &running);
    REQUIRE(running);  // else the writer was too short to prove anything
    std::fprintf(stderr, "  next allocation %s the released block; %zu sentinel bytes in it\n",
                 next.data == old_block ? "reused" : "did not reuse", found);
    CHECK(next.data != old_block);
    CHECK_EQ(found, size_t(0));

    // once the GPU is done the block is reused (a hit), not leaked
    next.release();
    pool->synchronize_pending();
    const cvzc::PoolStats settled = pool->stats();
    CHECK_EQ(settled.blocks_pending, size_t(0));
    CHECK_EQ(settled.blocks_cached, size_t(2));
    const std::uint64_t hits = settled.hits;
    cv::Mat again(kRows, kCols, CV_8UC1);
    CHECK_EQ(pool->stats().hits, hits + 1);
}

TEST_CASE(a_view_on_a_non_blocking_stream_records_its_use) {
    require_gpu();
    cvzc_test::require_opencv_cuda();  // gpu_view needs GpuMat's allocator hook
    const auto pool = std::make_shared<cvzc::HostPool>(64u << 20);
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool);
    const std::size_t bytes = std::size_t(kRows) * kCols;
    DeviceSentinel sentinel(bytes);
    Stream stream;
    Event done;

    void* old_block = nullptr;
    {
        cv::Mat frame;
        frame.allocator = &alloc;
        frame.create(kRows, kCols, CV_8UC1);
        old_block = frame.data;
        cv::cuda::GpuMat view = cvzc::gpu_view(frame, stream.s);
        const int n = copies_for_writer(view.data, sentinel.ptr, bytes, stream.s);
        queue_writer(view.data, sentinel.ptr, bytes, stream.s, n, done.e);
    }  // the view ends (its use recorded on the stream), then the Mat: the block is released

    cv::Mat next;
    next.allocator = &alloc;
    next.create(kRows, kCols, CV_8UC1);
    bool running = false;
    const std::size_t found = sentinels_after_writer(next, done.e, &running);
    REQUIRE(running);
    CHECK(next.data != old_block);
    CHECK_EQ(found, size_t(0));
}

TEST_CASE(record_use_on_a_non_blocking_stream_delays_reuse) {
    require_gpu();
    const auto pool = std::make_shared<cvzc::HostPool>(64u << 20);
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool);
    const std::size_t bytes = std::size_t(kRows) * kCols;
    DeviceSentinel sentinel(bytes);
    Stream stream;  // not ordered with the legacy stream the release records on
    Event done;

    cv::Mat frame;
    frame.allocator = &alloc;
    frame.create(kRows, kCols, CV_8UC1);
    REQUIRE(frame.u->currAllocator == &alloc);
    const int n = copies_for_writer(frame.data, sentinel.ptr, bytes, stream.s);
    void* old_block = frame.data;
    queue_writer(frame.data, sentinel.ptr, bytes, stream.s, n, done.e);
    cvzc::record_use(frame, stream.s);  // the documented call for non-blocking streams
    frame.release();

    cv::Mat next;
    next.allocator = &alloc;
    next.create(kRows, kCols, CV_8UC1);
    bool running = false;
    const std::size_t found = sentinels_after_writer(next, done.e, &running);
    REQUIRE(running);
    CHECK(next.data != old_block);
    CHECK_EQ(found, size_t(0));
    next.release();
    pool->synchronize_pending();
    CHECK_EQ(pool->stats().blocks_pending, size_t(0));
}

TEST_CASE(record_use_outside_the_pool_is_refused) {
    require_gpu();
    cvzc::HostPool pool;
    int local = 0;
    CHECK_THROWS(pool.record_use(&local, nullptr), cv::Exception, "not inside a live block");
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
