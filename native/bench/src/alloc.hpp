// Allocations per second of per-frame Mats for the plugin (pool on and off), OpenCV's SHARED HostMem
// allocator and the plain CPU allocator.
#pragma once

#include "cvzc_json.hpp"
#include "options.hpp"

namespace bench {

using cvzc_json::Json;

Json run_alloc(const AllocOptions& options);

}  // namespace bench
