// Without a CUDA device every entry point fails with a clear cv::Exception, never a crash. ctest runs this
// with CUDA_VISIBLE_DEVICES=-1, so it exercises the no-device path on a GPU host too; it skips (77) if a
// device is visible anyway.
#include <opencv2/core.hpp>

#include <string>

#include "check.hpp"
#include "cvcuda_zerocopy/zerocopy.hpp"

namespace cvzc = cvcuda_zerocopy;

namespace {

void require_no_device() {
    std::string why;
    if (cvzc::device_count(&why) > 0) SKIP("a CUDA device is visible; this test needs none (CUDA_VISIBLE_DEVICES=-1)");
}

}  // namespace

TEST_CASE(device_count_is_zero_with_a_reason) {
    require_no_device();
    std::string why;
    CHECK_EQ(cvzc::device_count(&why), 0);
    CHECK(!why.empty());
    CHECK(why.find("cudaError") != std::string::npos || why.find("0 devices") != std::string::npos);
}

TEST_CASE(setup_device_throws_a_clear_error) {
    require_no_device();
    CHECK_THROWS(cvzc::setup_device(0), cv::Exception, "no usable CUDA device");
    CHECK_THROWS(cvzc::ensure_device(), cv::Exception, "no usable CUDA device");
    try {
        cvzc::setup_device(0);
    } catch (const cvzc::CudaError& e) {
        CHECK(e.status() != 0);
        CHECK(e.cuda_name().rfind("cudaError", 0) == 0);
        CHECK(std::string(e.what()).find(e.cuda_name()) != std::string::npos);
        CHECK_EQ(e.code, static_cast<int>(cv::Error::GpuApiCallError));
    } catch (const cv::Exception& e) {
        CHECK(std::string(e.what()).find("0 devices") != std::string::npos);
    }
}

TEST_CASE(allocation_throws_and_leaks_nothing) {
    require_no_device();
    cvzc::HostPool& pool = cvzc::default_pool();
    const cvzc::PoolStats before = pool.stats();
    CHECK_THROWS(pool.allocate(1024, cvzc::kMapped), cv::Exception, "no usable CUDA device");
    const int sizes[] = {32, 32};
    size_t steps[2] = {0, 0};
    cvzc::MappedAllocator* alloc = cvzc::mapped_allocator();
    CHECK_THROWS(alloc->allocate(2, sizes, CV_8UC1, nullptr, steps, cv::ACCESS_RW, cv::USAGE_DEFAULT), cv::Exception,
                 "no usable CUDA device");
    const cvzc::PoolStats after = pool.stats();
    CHECK_EQ(after.bytes_held, before.bytes_held);
    CHECK_EQ(after.host_allocs, before.host_allocs);
}

TEST_CASE(default_allocator_errors_propagate_but_per_mat_allocators_fall_back) {
    require_no_device();
    {
        cvzc::DefaultAllocatorGuard guard;
        // as the default allocator, its error reaches the caller (Mat::create does not fall back)
        CHECK_THROWS(cv::Mat(10, 10, CV_8UC1), cv::Exception, "no usable CUDA device");
    }
    // as a per-Mat allocator, Mat::create silently falls back to the default one: the reason every check
    // must prove mapping instead of assuming it
    cv::Mat m;
    m.allocator = cvzc::mapped_allocator();
    m.create(10, 10, CV_8UC1);
    CHECK(!m.empty());
    CHECK(!cvzc::allocated_by_plugin(m));
    CHECK(!cvzc::is_mapped(m.data));
}

TEST_CASE(views_and_registration_refuse_cleanly) {
    require_no_device();
    cv::Mat pageable(8, 8, CV_8UC1, cv::Scalar(1));
    CHECK_THROWS(cvzc::device_pointer(pageable), cv::Exception, "no usable CUDA device");
    CHECK_THROWS(cvzc::gpu_header(pageable), cv::Exception, "no usable CUDA device");
    CHECK_THROWS(cvzc::HostRegistration(pageable), cv::Exception, "no usable CUDA device");
    try {  // without a device the runtime refuses; a runtime that answers must call it unregistered
        CHECK(cvzc::pointer_attributes(pageable.data).type == cvzc::MemoryType::Unregistered);
    } catch (const cv::Exception& e) {
        CHECK(std::string(e.what()).find("cudaPointerGetAttributes") != std::string::npos);
    }
    CHECK(!cvzc::is_mapped(pageable.data));
    CHECK_THROWS(cvzc::HostRegistration(pageable, cvzc::kWriteCombined), cv::Exception, "flags");
}

TEST_CASE(versions_and_description) {
    CHECK(cvzc::driver_version() >= 0);  // 0 without a driver; a GPU host reports its driver even with no device
    CHECK(cvzc::runtime_version() >= 0);
    CHECK(std::string(cvzc::describe()).find(CVCUDA_ZEROCOPY_VERSION) != std::string::npos);
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
