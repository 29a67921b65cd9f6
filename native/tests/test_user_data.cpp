// User data is wrapped, never freed; the guard restores the previous default allocator; the pool's pure
// parts (size classes, bad flags, zero bytes, unknown pointers). None of this needs a GPU.
#include <opencv2/core.hpp>

#include <cstring>
#include <memory>

#include "check.hpp"
#include "cvcuda_zerocopy/allocator.hpp"
#include "cvcuda_zerocopy/pool.hpp"

namespace cvzc = cvcuda_zerocopy;

namespace {

bool same_counters(const cvzc::PoolStats& a, const cvzc::PoolStats& b) {
    return a.bytes_held == b.bytes_held && a.bytes_in_use == b.bytes_in_use && a.releases == b.releases &&
           a.host_allocs == b.host_allocs && a.host_frees == b.host_frees && a.hits == b.hits && a.misses == b.misses;
}

}  // namespace

TEST_CASE(user_data_is_never_freed) {
    const auto pool_ptr = std::make_shared<cvzc::HostPool>();  // allocators share it
    cvzc::HostPool& pool = *pool_ptr;
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool_ptr);
    const cvzc::PoolStats before = pool.stats();
    // A heap buffer we free ourselves at the end: had the allocator freed it, this would be a double free.
    std::unique_ptr<unsigned char[]> buffer(new unsigned char[6 * 8]);
    std::memset(buffer.get(), 0x5A, 6 * 8);
    {
        // How OpenCV's own bindings wrap foreign memory: a header over the data plus a UMatData from the
        // allocator, reference counted by the Mat.
        cv::Mat m(6, 8, CV_8UC1, buffer.get());
        const int sizes[] = {6, 8};
        size_t steps[] = {8, 1};
        m.u = alloc.allocate(2, sizes, CV_8UC1, buffer.get(), steps, cv::ACCESS_RW, cv::USAGE_DEFAULT);
        m.allocator = &alloc;
        m.addref();
        CHECK(!!(m.u->flags & cv::UMatData::USER_ALLOCATED));
        cv::Mat copy = m;  // shares the UMatData
        CHECK_EQ(m.u->refcount, 2);
        m.release();  // not the last reference: nothing happens
        CHECK_EQ(copy.u->refcount, 1);
        copy.at<uchar>(1, 1) = 7;
    }  // the last release: MappedAllocator::deallocate deletes the UMatData, leaves the buffer alone
    CHECK_EQ(buffer[8 + 1], 7);
    CHECK_EQ(buffer[0], 0x5A);
    CHECK(same_counters(before, pool.stats()));
    buffer[5] = 1;  // still ours to write (and to free below)
}

TEST_CASE(deallocate_null_and_live_refcounts_do_not_crash) {
    cvzc::MappedAllocator alloc;
    alloc.deallocate(nullptr);
    unsigned char buffer[16] = {};
    const int sizes[] = {16};
    cv::UMatData* u = alloc.allocate(1, sizes, CV_8UC1, buffer, nullptr, cv::ACCESS_RW, cv::USAGE_DEFAULT);
    u->refcount = 1;   // a caller bug: the allocator must not free (or throw)
    alloc.deallocate(u);  // reports to stderr and leaves u alone
    u->refcount = 0;
    alloc.deallocate(u);
}

TEST_CASE(default_allocator_guard_restores_the_previous_one) {
    cv::MatAllocator* original = cv::Mat::getDefaultAllocator();
    {
        cvzc::DefaultAllocatorGuard outer;  // mapped_allocator(): creating it touches no CUDA
        CHECK(cv::Mat::getDefaultAllocator() == cvzc::mapped_allocator());
        CHECK(outer.previous() == original);
        {
            cvzc::DefaultAllocatorGuard inner(cv::Mat::getStdAllocator());
            CHECK(cv::Mat::getDefaultAllocator() == cv::Mat::getStdAllocator());
        }
        CHECK(cv::Mat::getDefaultAllocator() == cvzc::mapped_allocator());
    }
    CHECK(cv::Mat::getDefaultAllocator() == original);
    CHECK_THROWS(cvzc::DefaultAllocatorGuard(nullptr), cv::Exception, "null allocator");
}

TEST_CASE(mapped_allocator_instances) {
    CHECK(cvzc::mapped_allocator() == cvzc::mapped_allocator(cvzc::kMapped, true));
    CHECK(cvzc::mapped_allocator(0) == cvzc::mapped_allocator(cvzc::kMapped));  // kMapped is always added
    CHECK(cvzc::mapped_allocator(cvzc::kMapped, false) != cvzc::mapped_allocator(cvzc::kMapped, true));
    cvzc::MappedAllocator* wc = cvzc::mapped_allocator(cvzc::kMapped | cvzc::kWriteCombined);
    CHECK(wc != cvzc::mapped_allocator());
    CHECK_EQ(wc->flags(), cvzc::kMapped | cvzc::kWriteCombined);
    CHECK(!cvzc::mapped_allocator(cvzc::kMapped, false)->pooled());
    CHECK(&cvzc::mapped_allocator()->pool() == &cvzc::default_pool());
    CHECK_THROWS(cvzc::mapped_allocator(0x100), cv::Exception, "flags");
    CHECK_THROWS(cvzc::MappedAllocator(0x40), cv::Exception, "flags");
}

TEST_CASE(allocated_by_plugin_is_false_for_others) {
    cv::Mat std_mat(4, 4, CV_8UC1);
    CHECK(!cvzc::allocated_by_plugin(std_mat));
    unsigned char buffer[16] = {};
    cv::Mat user(4, 4, CV_8UC1, buffer);
    CHECK(!cvzc::allocated_by_plugin(user));
    CHECK(!cvzc::allocated_by_plugin(cv::Mat()));
}

TEST_CASE(size_classes) {
    using cvzc::HostPool;
    CHECK_EQ(HostPool::size_class(1), HostPool::kPageBytes);
    CHECK_EQ(HostPool::size_class(4096), size_t(4096));
    CHECK_EQ(HostPool::size_class(4097), size_t(8192));
    CHECK_EQ(HostPool::size_class(1920 * 1080), size_t(2u << 20));      // a 1080p grey frame: 2 MiB
    CHECK_EQ(HostPool::size_class(3840 * 2160), size_t(8u << 20));      // 4K grey: 8 MiB
    CHECK_EQ(HostPool::size_class(3 * 1920 * 1080), size_t(6u << 20));  // 1080p BGR: 6 MiB
    size_t previous = 0;
    for (size_t bytes = 1; bytes < (size_t(1) << 34); bytes = bytes * 3 / 2 + 1) {
        const size_t c = HostPool::size_class(bytes);
        CHECK(c >= bytes);
        CHECK(c % HostPool::kPageBytes == 0);
        if (bytes >= 4 * HostPool::kPageBytes) {
            CHECK(c - bytes <= bytes / 4);  // at most 25 % slack from 16 KiB up
        } else {
            CHECK(c - bytes < HostPool::kPageBytes);  // below: page rounding only
        }
        CHECK(c >= previous);
        previous = c;
    }
}

TEST_CASE(pool_without_cuda_calls) {
    cvzc::HostPool pool(1 << 20);
    const cvzc::PoolStats before = pool.stats();
    const cvzc::Block empty = pool.allocate(0, cvzc::kMapped);  // zero bytes: a null block, no CUDA call
    CHECK(empty.ptr == nullptr);
    CHECK_THROWS(pool.allocate(64, 0x80), cv::Exception, "flags");
    int not_ours = 0;
    pool.release(&not_ours);  // reported, ignored
    pool.release(nullptr);
    CHECK(!pool.find(&not_ours, nullptr));
    CHECK_EQ(pool.trim(0), size_t(0));
    CHECK(same_counters(before, pool.stats()));
    CHECK_EQ(pool.max_cached_bytes(), size_t(1 << 20));
    pool.set_max_cached_bytes(0);
    CHECK_EQ(pool.stats().max_cached_bytes, size_t(0));
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
