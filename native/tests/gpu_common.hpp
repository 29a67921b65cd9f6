// Shared by the GPU tests: skip (77) without a device; raw CUDA checks for test code.
#pragma once

#include <cuda_runtime_api.h>

#include <opencv2/core.hpp>

#include <string>

#include "check.hpp"
#include "cvcuda_zerocopy/zerocopy.hpp"

namespace cvzc_test {

/// Device 0 set up for mapped memory, or SKIP when there is no device.
inline const cvcuda_zerocopy::DeviceSetup& require_gpu() {
    std::string why;
    if (cvcuda_zerocopy::device_count(&why) <= 0) SKIP("no CUDA device: " + why);
    return cvcuda_zerocopy::setup_device(0);
}

inline void require_opencv_cuda() {
    if (!cvcuda_zerocopy::opencv_has_cuda()) SKIP("this OpenCV was built without CUDA: no kernel can touch the alias");
}

/// Mapped host memory with a device alias, checked with the raw runtime call (not through the library).
inline bool raw_is_mapped(const void* ptr, void** alias = nullptr) {
    cudaPointerAttributes attrs{};
    if (cudaPointerGetAttributes(&attrs, ptr) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    if (alias != nullptr) *alias = attrs.devicePointer;
    return attrs.type == cudaMemoryTypeHost && attrs.devicePointer != nullptr;
}

}  // namespace cvzc_test
