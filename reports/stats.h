// Small-sample statistics for comparing repeated runs: median, quartiles, spread, and the two-sided
// Mann-Whitney U test (the rank test benchstat uses), exact for small samples, ties included.
#pragma once

#include <cstddef>
#include <vector>

namespace gomalloc::reports::stats {

double median(std::vector<double> xs);  // NaN for an empty sample
// The q-quantile (0 <= q <= 1) with linear interpolation between order statistics; NaN when empty.
double quantile(std::vector<double> xs, double q);

struct Spread {
  size_t n = 0;
  double median = 0, min = 0, max = 0, q1 = 0, q3 = 0;
  // Half the min-max range relative to the median (benchstat's "± x%"); 0 when the median is 0.
  double relativeHalfRange() const;
};
Spread spread(const std::vector<double>& xs);

struct UTest {
  double u = 0;       // U of the first sample: pairs (a, b) with a > b, ties counting one half
  double p = 1;       // two-sided p-value
  bool exact = false; // from the exact distribution of the rank sum (false: normal approximation)
};
// Two-sided Mann-Whitney U test of a against b. Ties get mid-ranks. When n1 + n2 <= kExactLimit the p-value is
// exact: the share of all C(n1+n2, n1) ways to split the pooled (tied) ranks whose rank sum is at least as far
// from its mean as the observed one. Otherwise the normal approximation with the ties correction and a
// continuity correction. An empty sample, or both samples made of one and the same value, gives p = 1.
UTest mannWhitney(const std::vector<double>& a, const std::vector<double>& b);
inline constexpr size_t kExactLimit = 60;

}  // namespace gomalloc::reports::stats
