// GPU, two or more devices: host memory allocated with kPortable while device 0 is current is mapped for
// every device's context, and the blur + Canny pipeline runs on GPU 1 straight over such buffers (no copy),
// matching the CPU reference. Skips (77) with the reason on a host with fewer than two devices.
#include <cuda_runtime_api.h>

#include <opencv2/core.hpp>
#include <opencv2/core/cuda.hpp>
#include <opencv2/imgproc.hpp>
#if defined(CVZC_HAVE_CUDAFILTERS) && defined(CVZC_HAVE_CUDAIMGPROC)
#include <opencv2/cudafilters.hpp>
#include <opencv2/cudaimgproc.hpp>
#endif

#include <string>

#include "gpu_common.hpp"

namespace cvzc = cvcuda_zerocopy;
using cvzc_test::require_gpu;
using cvzc_test::require_opencv_cuda;

namespace {

int require_two_devices() {
    require_gpu();
    std::string why;
    const int count = cvzc::device_count(&why);
    if (count < 2) SKIP("needs two CUDA devices, " + std::to_string(count) + " visible");
    return count;
}

/// A Mat in portable mapped memory, allocated while ``device`` is current (unpooled: a fresh allocation).
cv::Mat portable_mat(int device, int rows, int cols) {
    REQUIRE(cudaSetDevice(device) == cudaSuccess);
    cvzc::setup_device(device);
    cv::Mat m;
    m.allocator = cvzc::mapped_allocator(cvzc::kMapped | cvzc::kPortable, false);
    m.create(rows, cols, CV_8UC1);
    REQUIRE(cvzc::allocated_by_plugin(m));
    return m;
}

/// A header over ``m``'s device alias as the current device's context sees it.
[[maybe_unused]] cv::cuda::GpuMat alias_on_current_device(const cv::Mat& m) {
    void* alias = nullptr;
    REQUIRE(cudaHostGetDevicePointer(&alias, m.data, 0) == cudaSuccess);
    REQUIRE(alias != nullptr);
    return cv::cuda::GpuMat(m.rows, m.cols, m.type(), alias, m.step[0]);
}

}  // namespace

TEST_CASE(portable_buffer_is_mapped_for_every_device) {
    const int count = require_two_devices();
    cv::Mat m = portable_mat(0, 256, 320);
    // (cudaHostGetFlags need not report Portable: test_gpu_alloc. Portability is what every device can do.)
    for (int d = 0; d < count; ++d) {
        REQUIRE(cudaSetDevice(d) == cudaSuccess);
        cvzc::setup_device(d);
        void* alias = nullptr;
        CHECK_EQ(cudaHostGetDevicePointer(&alias, m.data, 0), cudaSuccess);
        CHECK(alias != nullptr);
    }
}

TEST_CASE(pipeline_on_device_1_over_buffers_allocated_on_device_0) {
    require_two_devices();
    require_opencv_cuda();
#if defined(CVZC_HAVE_CUDAFILTERS) && defined(CVZC_HAVE_CUDAIMGPROC)
    const int rows = 720, cols = 1283;  // an odd width: rows are not 4-byte aligned
    cv::Mat src = portable_mat(0, rows, cols), blur = portable_mat(0, rows, cols), edges = portable_mat(0, rows, cols);
    src.setTo(cv::Scalar(20));
    cv::RNG rng(7);
    for (int i = 0; i < 40; ++i) {
        cv::circle(src, {rng.uniform(0, cols), rng.uniform(0, rows)}, rng.uniform(10, 160),
                   cv::Scalar(rng.uniform(60, 255)), cv::FILLED);
    }
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    cv::cuda::setDevice(1);
    cvzc::setup_device(1);
    cv::cuda::GpuMat g_src = alias_on_current_device(src), g_blur = alias_on_current_device(blur);
    cv::cuda::GpuMat g_edges = alias_on_current_device(edges);
    const uchar* blur_alias = g_blur.data;
    const uchar* edges_alias = g_edges.data;
    auto gauss = cv::cuda::createGaussianFilter(CV_8UC1, CV_8UC1, cv::Size(5, 5), 1.2);
    auto canny = cv::cuda::createCannyEdgeDetector(50.0, 150.0);
    gauss->apply(g_src, g_blur);
    canny->detect(g_blur, g_edges);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(g_blur.data == blur_alias);  // written in place, not into a new device buffer
    CHECK(g_edges.data == edges_alias);

    cv::Mat ref_blur, ref_edges;
    cv::GaussianBlur(src, ref_blur, cv::Size(5, 5), 1.2, 1.2, cv::BORDER_REFLECT_101);
    cv::Canny(ref_blur, ref_edges, 50.0, 150.0);
    CHECK(cv::norm(blur, ref_blur, cv::NORM_INF) <= 1.0);
    const double differing = static_cast<double>(cv::countNonZero(edges != ref_edges)) / (rows * cols);
    CHECK(differing < 0.001);  // CUDA Canny differs from the CPU's in a few pixels
    CHECK(cv::countNonZero(edges) > 1000);
#else
    SKIP("this OpenCV has no cudafilters/cudaimgproc: the pipeline cannot run");
#endif
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
