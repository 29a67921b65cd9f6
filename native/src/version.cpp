#include "cvcuda_zerocopy/version.hpp"

#include <cuda_runtime_api.h>

#include <opencv2/core/version.hpp>

namespace cvcuda_zerocopy {

namespace {
#define CVZC_STR2(x) #x
#define CVZC_STR(x) CVZC_STR2(x)
constexpr const char kDescription[] = "cvcuda_zerocopy " CVCUDA_ZEROCOPY_VERSION " (CUDA runtime " CVZC_STR(
    CUDART_VERSION) ", OpenCV " CV_VERSION ")";
#undef CVZC_STR
#undef CVZC_STR2
}  // namespace

const char* describe() noexcept { return kDescription; }

}  // namespace cvcuda_zerocopy
