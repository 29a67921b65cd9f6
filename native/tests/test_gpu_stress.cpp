// GPU: 100 000 allocate/free cycles from 4 threads (a quarter of the frees on another thread than the
// allocation), then trim(): no pinned memory left, the pool really reused blocks, and a second round does not
// grow what the pool holds. Skips (77) without a device.
#include <opencv2/core.hpp>

#include <memory>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "gpu_common.hpp"

namespace cvzc = cvcuda_zerocopy;

namespace {

constexpr int kThreads = 4;
constexpr int kCycles = 100000;
constexpr int kLivePerThread = 3;

struct Handoff {
    std::mutex mutex;
    std::deque<cv::Mat> mats;
};

/// One round: each thread allocates kCycles / kThreads Mats of a few sizes, keeps up to kLivePerThread alive,
/// and passes every fourth to the shared queue, from which another thread frees it.
void round(cvzc::MappedAllocator& alloc, std::atomic<int>& errors) {
    Handoff handoff;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                cvzc::setup_device(0);  // the current device is per thread
                const cv::Size sizes[] = {{64, 48}, {640, 480}, {320, 240}, {1920, 1080}, {100, 7}};
                std::deque<cv::Mat> live;
                for (int i = 0; i < kCycles / kThreads; ++i) {
                    cv::Mat m;
                    m.allocator = &alloc;
                    m.create(sizes[(i + t) % 5], CV_8UC1);
                    if (!cvzc::allocated_by_plugin(m)) {
                        errors.fetch_add(1);
                        continue;
                    }
                    m.data[0] = static_cast<uchar>(i);
                    if (i % 4 == 0) {
                        std::lock_guard<std::mutex> lock(handoff.mutex);
                        handoff.mats.push_back(m);
                        if (handoff.mats.size() > kThreads) handoff.mats.pop_front();  // freed on this thread,
                    } else {                                                        // made on another
                        live.push_back(m);
                        if (live.size() > kLivePerThread) live.pop_front();
                    }
                }
            } catch (const cv::Exception&) {
                errors.fetch_add(1);
            }
        });
    }
    for (auto& th : threads) th.join();
}

}  // namespace

TEST_CASE(hundred_thousand_cycles_from_four_threads) {
    cvzc_test::require_gpu();
    const auto pool_ptr = std::make_shared<cvzc::HostPool>(256u << 20);  // allocators share it
    cvzc::HostPool& pool = *pool_ptr;
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool_ptr);
    std::atomic<int> errors{0};
    // Blocks alive at once, at most: per thread the live deque (+1 before its pop) and the Mat being made,
    // plus the handoff queue (+1 before its pop). The pool only calls cudaHostAlloc when a class has no cached
    // block, so each class never holds more blocks than that.
    constexpr int kMaxLive = kThreads * (kLivePerThread + 2) + kThreads + 1;
    const cv::Size sizes[] = {{64, 48}, {640, 480}, {320, 240}, {1920, 1080}, {100, 7}};
    std::size_t all_classes = 0;  // one block of every distinct class
    std::vector<std::size_t> classes;
    for (const cv::Size& s : sizes) {
        const std::size_t c = cvzc::HostPool::size_class(static_cast<std::size_t>(s.area()));
        if (std::find(classes.begin(), classes.end(), c) == classes.end()) {
            classes.push_back(c);
            all_classes += c;
        }
    }

    round(alloc, errors);
    CHECK_EQ(errors.load(), 0);
    const cvzc::PoolStats first = pool.stats();
    CHECK_EQ(first.bytes_in_use, size_t(0));
    CHECK_EQ(first.hits + first.misses, std::uint64_t(kCycles));
    CHECK_EQ(first.releases, std::uint64_t(kCycles));
    CHECK(first.host_allocs <= std::uint64_t(kMaxLive) * classes.size());
    CHECK(first.hits >= std::uint64_t(kCycles) * 99 / 100);
    CHECK(first.peak_bytes_held <= std::size_t(kMaxLive) * all_classes);
    pool.trim(0);
    CHECK_EQ(pool.stats().bytes_held, size_t(0));

    round(alloc, errors);
    CHECK_EQ(errors.load(), 0);
    const cvzc::PoolStats second = pool.stats();
    CHECK_EQ(second.bytes_in_use, size_t(0));
    CHECK(second.host_allocs - first.host_allocs <= std::uint64_t(kMaxLive) * classes.size());
    CHECK(second.peak_bytes_held <= std::size_t(kMaxLive) * all_classes);  // bounded, not growing per cycle

    pool.trim(0);
    const cvzc::PoolStats trimmed = pool.stats();
    CHECK_EQ(trimmed.bytes_held, size_t(0));  // no pinned memory left after trim()
    CHECK_EQ(trimmed.blocks_cached, size_t(0));
    CHECK_EQ(trimmed.host_allocs, trimmed.host_frees);
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
