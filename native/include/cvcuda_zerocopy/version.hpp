// The plugin's version (kept equal to project(VERSION) in native/CMakeLists.txt and native/pyproject.toml).
#pragma once

#define CVCUDA_ZEROCOPY_VERSION_MAJOR 0
#define CVCUDA_ZEROCOPY_VERSION_MINOR 1
#define CVCUDA_ZEROCOPY_VERSION_PATCH 0
#define CVCUDA_ZEROCOPY_VERSION "0.1.0"

namespace cvcuda_zerocopy {

/// ``"cvcuda_zerocopy 0.1.0 (CUDA runtime 13000, OpenCV 5.1.0)"``: the versions this library was built with.
const char* describe() noexcept;

}  // namespace cvcuda_zerocopy
