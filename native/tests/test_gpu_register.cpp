// GPU: retrofit registration of existing memory, and device set-up from many threads. Skips (77) without a
// device.
#include <opencv2/core.hpp>

#include <atomic>
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
    // the same range again is already mapped: nothing to do, and nothing to undo at the end
    cvzc::HostRegistration same(buffer.data(), 4096);
    CHECK(!same.registered());
    std::vector<unsigned char> other(1 << 16);
    CHECK_THROWS(cvzc::HostRegistration(other.data(), other.size(), cvzc::kWriteCombined), cv::Exception, "flags");
    cvzc::HostRegistration portable(other.data(), other.size(), cvzc::kMapped | cvzc::kPortable);
    CHECK(portable.registered());
    unsigned flags = 0;
    CHECK_EQ(cudaHostGetFlags(&flags, other.data()), cudaSuccess);
    CHECK((flags & cudaHostRegisterMapped) != 0);
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

int main() { return cvzc_test::run_all(); }
