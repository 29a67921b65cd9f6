// GPU: retrofit registration of existing memory, and device set-up from many threads. Skips (77) without a
// device.
#include <opencv2/core.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <cstdio>
#include <thread>
#include <vector>

#include "gpu_common.hpp"

namespace cvzc = cvcuda_zerocopy;
using cvzc_test::raw_is_mapped;
using cvzc_test::require_gpu;

TEST_CASE(register_and_unregister_a_pageable_mat) {
    require_gpu();
    cv::Mat img(240, 320, CV_8UC1, cv::Scalar(3));  // the standard allocator: pageable
    REQUIRE(!raw_is_mapped(img.data));
    {
        cvzc::HostRegistration reg(img);
        CHECK(reg.registered());
        CHECK(reg.host_base() == img.u->origdata);
        CHECK_EQ(reg.bytes(), img.u->size);
        void* alias = nullptr;
        CHECK(raw_is_mapped(img.data, &alias));
        CHECK(cvzc::device_pointer(img) == alias);
        CHECK(reg.device_base() != nullptr);
        const cv::cuda::GpuMat h = cvzc::gpu_header(img);
        CHECK(h.data == alias);
        if (cvzc::opencv_has_cuda()) {
            cv::Mat back;
            h.download(back);
            CHECK_EQ(cv::countNonZero(back != 3), 0);
        }
        // moving the guard moves the registration, not a second one
        cvzc::HostRegistration moved(std::move(reg));
        CHECK(moved.registered());
        CHECK(!reg.registered());
    }
    CHECK(!raw_is_mapped(img.data));
    CHECK_THROWS(cvzc::device_pointer(img), cv::Exception, "unregistered");
}

TEST_CASE(registration_keeps_the_mat_alive_and_release_unregisters) {
    require_gpu();
    cvzc::HostRegistration reg(cv::Mat(100, 100, CV_32FC1, cv::Scalar(1.5f)));  // the only owner is the guard
    CHECK(reg.registered());
    CHECK(raw_is_mapped(reg.host_base()));
    CHECK_EQ(static_cast<const float*>(reg.host_base())[99], 1.5f);
    void* base = reg.host_base();
    reg.release();
    CHECK(!reg.registered());
    CHECK(reg.host_base() == nullptr);
    (void)base;  // freed with the Mat: not touched again
}

TEST_CASE(already_mapped_memory_needs_no_registration) {
    require_gpu();
    cvzc::DefaultAllocatorGuard guard;
    cv::Mat mapped(16, 16, CV_8UC1);
    cvzc::HostRegistration reg(mapped);
    CHECK(!reg.registered());
    CHECK(reg.device_base() == cvzc::device_pointer(mapped));
}

TEST_CASE(overlapping_and_bad_registrations_are_refused) {
    require_gpu();
    std::vector<unsigned char> buffer(1 << 20);
    cvzc::HostRegistration first(buffer.data(), buffer.size());
    CHECK(first.registered());
    // a range inside it shares the registration: a reference, not a second cudaHostRegister
    cvzc::HostRegistration same(buffer.data(), 4096);
    CHECK(!same.registered());
    CHECK(same.holds_registration());
    CHECK_EQ(first.references(), size_t(2));
    CHECK(same.device_base() == first.device_base());
    std::vector<unsigned char> other(1 << 16);
    CHECK_THROWS(cvzc::HostRegistration(other.data(), other.size(), cvzc::kWriteCombined), cv::Exception, "flags");
    cvzc::HostRegistration portable(other.data(), other.size(), cvzc::kMapped | cvzc::kPortable);
    CHECK(portable.registered());
    unsigned flags = 0;
    CHECK_EQ(cudaHostGetFlags(&flags, other.data()), cudaSuccess);
    CHECK((flags & cudaHostRegisterMapped) != 0);
}

namespace {

/// A page-aligned pageable buffer of ``pages`` pages (std::vector gives no alignment promise).
struct PageBuffer {
    std::vector<unsigned char> storage;
    unsigned char* base;
    explicit PageBuffer(std::size_t pages) : storage((pages + 1) * 4096, 0) {
        const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
        base = storage.data() + ((4096 - address % 4096) % 4096);
    }
    unsigned char* page(std::size_t i) { return base + i * 4096; }
};

}  // namespace

TEST_CASE(a_partial_overlap_is_refused_and_the_rest_never_left_unpinned) {
    require_gpu();
    PageBuffer buffer(64);
    cvzc::HostRegistration first(buffer.page(0), 32 * 4096);
    CHECK(first.registered());
    // runs past the first registration: before the registry, the first byte looked "already mapped" and the
    // guard did nothing, leaving pages 32..47 unpinned
    CHECK_THROWS(cvzc::HostRegistration(buffer.page(16), 32 * 4096), cv::Exception, "partly overlaps");
    CHECK(!raw_is_mapped(buffer.page(40)));  // nothing half registered
    // out of order: a small range first, then one that contains it and more
    cvzc::HostRegistration small(buffer.page(40), 4 * 4096);
    CHECK(small.registered());
    CHECK_THROWS(cvzc::HostRegistration(buffer.page(36), 16 * 4096), cv::Exception, "partly overlaps");
    // a neighbour on the same page as the end of ``first`` (bytes, not pages, apart) shares it
    cvzc::HostRegistration neighbour(buffer.page(31) + 100, 200);
    CHECK(neighbour.holds_registration());
    CHECK(!neighbour.registered());
    CHECK_EQ(first.references(), size_t(2));
}

TEST_CASE(shared_registrations_stay_pinned_until_the_last_guard_ends_in_any_order) {
    require_gpu();
    PageBuffer buffer(16);
    auto outer = std::make_unique<cvzc::HostRegistration>(buffer.page(0), 16 * 4096);
    cvzc::HostRegistration inner(buffer.page(4), 4096);
    CHECK(inner.holds_registration());
    void* alias = inner.device_base();
    CHECK(alias != nullptr);
    outer.reset();  // the registering guard ends first (Python GC order, a move)
    CHECK(raw_is_mapped(buffer.page(4)));  // still pinned: the inner guard owns a reference
    CHECK(raw_is_mapped(buffer.page(0)));
    CHECK_EQ(inner.references(), size_t(1));
    void* now = nullptr;
    CHECK(raw_is_mapped(buffer.page(4), &now));
    CHECK(now == alias);
    if (cvzc::opencv_has_cuda()) {  // the GPU still reads it through the alias
        buffer.page(4)[0] = 42;
        unsigned char back = 0;
        CHECK_EQ(cudaMemcpy(&back, alias, 1, cudaMemcpyDefault), cudaSuccess);
        CHECK_EQ(int(back), 42);
    }
    inner.release();
    CHECK(!raw_is_mapped(buffer.page(4)));
    // and the same range registers again afterwards
    cvzc::HostRegistration again(buffer.page(0), 16 * 4096);
    CHECK(again.registered());
}

TEST_CASE(foreign_registrations_are_checked_page_by_page) {
    require_gpu();
    PageBuffer buffer(16);
    REQUIRE(cudaHostRegister(buffer.page(0), 8 * 4096, cudaHostRegisterMapped) == cudaSuccess);
    {
        cvzc::HostRegistration inside(buffer.page(2), 4 * 4096);  // wholly pinned by someone else: nothing to do
        CHECK(!inside.registered());
        CHECK(!inside.holds_registration());
        CHECK(inside.device_base() != nullptr);
        CHECK_THROWS(cvzc::HostRegistration(buffer.page(4), 8 * 4096), cv::Exception, "already pinned");
        CHECK(!raw_is_mapped(buffer.page(10)));
    }
    CHECK_EQ(cudaHostUnregister(buffer.page(0)), cudaSuccess);
}

TEST_CASE(setup_from_many_threads_is_done_once) {
    const cvzc::DeviceSetup& first = require_gpu();
    CHECK(first.can_map_host_memory);
    CHECK(first.map_host || first.unified_addressing);
    CHECK(!first.note.empty());
    CHECK(!first.name.empty());
    std::atomic<int> same{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            if (&cvzc::setup_device(0) == &first) same.fetch_add(1);
            int device = -1;
            if (cudaGetDevice(&device) == cudaSuccess && device == 0) same.fetch_add(1);
        });
    }
    for (auto& t : threads) t.join();
    CHECK_EQ(same.load(), 16);
    CHECK_EQ(cvzc::ensure_device(), 0);
    std::fprintf(stderr, "  setup note: %s\n", first.note.c_str());
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
