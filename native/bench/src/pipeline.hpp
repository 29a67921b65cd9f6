// The blur (Gaussian 5x5, sigma 1.2) + Canny (50/150) pipeline benchmark: one strategy per way of getting an
// 8-bit gray frame to the GPU and the edges back. See docs/benchmarks.md for the method and the JSON shape.
#pragma once

#include "cvzc_json.hpp"
#include "options.hpp"

namespace bench {

using cvzc_json::Json;

/// Runs every selected strategy at every size; returns the document printed on stdout.
Json run_pipeline(const PipelineOptions& options);

/// Names of the strategies, in report order.
const std::vector<std::string>& pipeline_strategy_names();

/// Device and library facts shared by both benchmarks.
Json device_info(int device);

/// Selects ``device`` (throws NoDeviceError without one, UsageError for an index out of range).
void select_device(int device);

}  // namespace bench
