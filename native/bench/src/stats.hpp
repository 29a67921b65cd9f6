// Summary statistics of timing samples: median, p10/p90 (linear interpolation, as numpy's default), min, max.
#pragma once

#include "cvzc_json.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace bench {

using cvzc_json::Json;

struct Summary {
    int runs = 0;
    double median = std::numeric_limits<double>::quiet_NaN();
    double p10 = std::numeric_limits<double>::quiet_NaN();
    double p90 = std::numeric_limits<double>::quiet_NaN();
    double min = std::numeric_limits<double>::quiet_NaN();
    double max = std::numeric_limits<double>::quiet_NaN();
    double mean = std::numeric_limits<double>::quiet_NaN();
};

/// The q-quantile (0..1) of sorted samples, linearly interpolated between closest ranks.
inline double quantile_sorted(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, sorted.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

inline Summary summarize(std::vector<double> samples) {
    Summary s;
    s.runs = static_cast<int>(samples.size());
    if (samples.empty()) return s;
    std::sort(samples.begin(), samples.end());
    s.median = quantile_sorted(samples, 0.5);
    s.p10 = quantile_sorted(samples, 0.1);
    s.p90 = quantile_sorted(samples, 0.9);
    s.min = samples.front();
    s.max = samples.back();
    s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
    return s;
}

/// ``{"runs", "median_ms", "p10_ms", "p90_ms", "min_ms", "max_ms", "mean_ms"}`` into ``object``.
inline void put_summary_ms(Json& object, const Summary& s, const std::string& prefix = "") {
    object.set(prefix + "runs", s.runs);
    object.set(prefix + "median_ms", s.median);
    object.set(prefix + "p10_ms", s.p10);
    object.set(prefix + "p90_ms", s.p90);
    object.set(prefix + "min_ms", s.min);
    object.set(prefix + "max_ms", s.max);
    object.set(prefix + "mean_ms", s.mean);
}

}  // namespace bench
