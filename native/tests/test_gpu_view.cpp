// GPU: GpuMat views over mapped Mats: the alias, data flowing both ways, and the lifetime rule (a gpu_view
// keeps the host memory alive through every copy and ROI; the last one returns it to the pool). Skips (77)
// without a device; the parts that run kernels skip without a CUDA-enabled OpenCV.
#include <opencv2/core.hpp>

#include <memory>
#include <opencv2/core/cuda.hpp>

#include <string>

#include "gpu_common.hpp"

namespace cvzc = cvcuda_zerocopy;
using cvzc_test::require_gpu;
using cvzc_test::require_opencv_cuda;

TEST_CASE(header_over_the_alias) {
    require_gpu();
    cvzc::DefaultAllocatorGuard guard;
    cv::Mat m(48, 64, CV_8UC3);
    const cv::cuda::GpuMat h = cvzc::gpu_header(m);
    CHECK(h.data == static_cast<uchar*>(cvzc::device_pointer(m)));
    CHECK_EQ(h.rows, 48);
    CHECK_EQ(h.cols, 64);
    CHECK_EQ(h.type(), CV_8UC3);
    CHECK_EQ(h.step, m.step[0]);
    CHECK(h.refcount == nullptr);  // a header owns nothing
    cv::Mat roi = m(cv::Rect(5, 6, 20, 10));
    const cv::cuda::GpuMat hr = cvzc::gpu_header(roi);
    CHECK_EQ(hr.step, m.step[0]);  // the parent's row step
    CHECK(hr.data == h.data + 6 * m.step[0] + 5 * 3);
}

TEST_CASE(views_are_refused_for_unmapped_or_nd_memory) {
    require_gpu();
    cv::Mat pageable(16, 16, CV_8UC1);
    CHECK_THROWS(cvzc::gpu_header(pageable), cv::Exception, "not mapped host memory");
    CHECK_THROWS(cvzc::device_pointer(pageable), cv::Exception, "unregistered");
    {
        cvzc::DefaultAllocatorGuard guard;
        const int sizes[] = {2, 3, 4};
        cv::Mat cube(3, sizes, CV_32FC1);
        CHECK_THROWS(cvzc::gpu_header(cube), cv::Exception, "3-D");
        CHECK(cvzc::device_pointer(cube) != nullptr);  // n-D Mats still have an alias
    }
    void* page_locked = nullptr;
    REQUIRE(cudaHostAlloc(&page_locked, 4096, cudaHostAllocDefault) == cudaSuccess);
    // pinned without the mapped flag: under unified addressing CUDA maps it anyway; either way no crash
    try {
        void* alias = cvzc::device_pointer(page_locked);
        CHECK(alias != nullptr);
    } catch (const cv::Exception& e) {
        CHECK(std::string(e.what()).find("without a device alias") != std::string::npos);
    }
    cudaFreeHost(page_locked);
}

TEST_CASE(device_and_host_see_the_same_bytes) {
    require_gpu();
    require_opencv_cuda();
    cvzc::DefaultAllocatorGuard guard;
    cv::Mat m(120, 160, CV_8UC1, cv::Scalar(1));
    cv::cuda::GpuMat v = cvzc::gpu_view(m);
    v.setTo(cv::Scalar(42));  // a kernel writes through the alias
    cv::cuda::Stream::Null().waitForCompletion();
    CHECK_EQ(cv::countNonZero(m != 42), 0);
    m.setTo(cv::Scalar(9));  // the host writes; the device reads it back
    cv::Mat back;
    v.download(back);
    CHECK_EQ(cv::countNonZero(back != 9), 0);
}

TEST_CASE(view_keeps_the_host_memory_alive) {
    require_gpu();
    require_opencv_cuda();
    const auto pool_ptr = std::make_shared<cvzc::HostPool>();  // allocators share it
    cvzc::HostPool& pool = *pool_ptr;
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool_ptr);
    cv::Mat m;
    m.allocator = &alloc;
    m.create(64, 64, CV_8UC1);
    REQUIRE(cvzc::allocated_by_plugin(m));
    const size_t in_use = pool.stats().bytes_in_use;
    CHECK(in_use > 0);
    cv::cuda::GpuMat view = cvzc::gpu_view(m);
    REQUIRE(view.refcount != nullptr);
    m.release();  // the view still holds the memory
    CHECK_EQ(pool.stats().bytes_in_use, in_use);
    cv::cuda::GpuMat copy = view;
    cv::cuda::GpuMat roi = copy(cv::Rect(8, 8, 16, 16));
    view.release();
    copy.release();
    CHECK_EQ(pool.stats().bytes_in_use, in_use);  // the ROI still holds it
    roi.setTo(cv::Scalar(5));                     // and it is still valid memory for a kernel
    cv::cuda::Stream::Null().waitForCompletion();
    roi.release();  // the last reference: back to the pool
    CHECK_EQ(pool.stats().bytes_in_use, size_t(0));
    pool.synchronize_pending();
    CHECK_EQ(pool.stats().blocks_cached, size_t(1));
}

TEST_CASE(reallocating_a_view_falls_back_to_device_memory) {
    require_gpu();
    require_opencv_cuda();
    const auto pool_ptr = std::make_shared<cvzc::HostPool>();  // allocators share it
    cvzc::HostPool& pool = *pool_ptr;
    cvzc::MappedAllocator alloc(cvzc::kMapped, true, pool_ptr);
    cv::Mat m;
    m.allocator = &alloc;
    m.create(32, 32, CV_8UC1);
    cv::cuda::GpuMat view = cvzc::gpu_view(m);
    m.release();
    view.create(64, 64, CV_8UC1);  // a different size: the view lets go, the default allocator takes over
    CHECK_EQ(pool.stats().bytes_in_use, size_t(0));
    CHECK(view.allocator == cv::cuda::GpuMat::defaultAllocator());
    void* alias = nullptr;
    CHECK(!cvzc_test::raw_is_mapped(view.data, &alias));  // plain device memory now
    view.setTo(cv::Scalar(1));
    cv::cuda::Stream::Null().waitForCompletion();
}

TEST_CASE(views_without_cuda_opencv_are_refused) {
    require_gpu();
    if (cvzc::opencv_has_cuda()) SKIP("this OpenCV has CUDA; the refusal is for CPU-only builds");
    cvzc::DefaultAllocatorGuard guard;
    cv::Mat m(8, 8, CV_8UC1);
    CHECK_THROWS(cvzc::gpu_view(m), cv::Exception, "without CUDA");
    CHECK(cvzc::gpu_header(m).data != nullptr);
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
