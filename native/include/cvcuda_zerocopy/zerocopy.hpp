// cvcuda_zerocopy: pinned, GPU-mapped host memory for OpenCV (the umbrella header).
//
//   find_package(cvcuda_zerocopy CONFIG REQUIRED)
//   target_link_libraries(app PRIVATE cvcuda_zerocopy::cvcuda_zerocopy)
//
//   #include <cvcuda_zerocopy/zerocopy.hpp>
#pragma once

#include "cvcuda_zerocopy/allocator.hpp"
#include "cvcuda_zerocopy/device.hpp"
#include "cvcuda_zerocopy/error.hpp"
#include "cvcuda_zerocopy/flags.hpp"
#include "cvcuda_zerocopy/pool.hpp"
#include "cvcuda_zerocopy/registration.hpp"
#include "cvcuda_zerocopy/stream.hpp"
#include "cvcuda_zerocopy/version.hpp"
#include "cvcuda_zerocopy/view.hpp"
