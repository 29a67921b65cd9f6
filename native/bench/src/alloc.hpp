// Allocations per second of per-frame Mats for the plugin (pool on and off), OpenCV's SHARED HostMem
// allocator and the plain CPU allocator.
#pragma once

#include "json.hpp"
#include "options.hpp"

namespace bench {

Json run_alloc(const AllocOptions& options);

}  // namespace bench
