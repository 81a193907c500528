#include "reports/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gomalloc::reports::stats {

double quantile(std::vector<double> xs, double q) {
  if (xs.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(xs.begin(), xs.end());
  const double pos = std::clamp(q, 0.0, 1.0) * double(xs.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, xs.size() - 1);
  const double frac = pos - double(lo);
  return xs[lo] + (xs[hi] - xs[lo]) * frac;
}

double median(std::vector<double> xs) { return quantile(std::move(xs), 0.5); }

double Spread::relativeHalfRange() const {
  if (median == 0) return 0;
  return (max - min) / 2 / std::fabs(median);
}

Spread spread(const std::vector<double>& xs) {
  Spread s;
  s.n = xs.size();
  if (xs.empty()) return s;
  s.median = quantile(xs, 0.5);
  s.q1 = quantile(xs, 0.25);
  s.q3 = quantile(xs, 0.75);
  s.min = *std::min_element(xs.begin(), xs.end());
  s.max = *std::max_element(xs.begin(), xs.end());
  return s;
}

UTest mannWhitney(const std::vector<double>& a, const std::vector<double>& b) {
  UTest t;
  const size_t n1 = a.size(), n2 = b.size(), n = n1 + n2;
  if (n1 == 0 || n2 == 0) return t;

  // Pool, sort, and give each value its mid-rank, doubled so that it is an integer.
  struct Item {
    double v;
    bool first;
  };
  std::vector<Item> pool;
  pool.reserve(n);
  for (double v : a) pool.push_back({v, true});
  for (double v : b) pool.push_back({v, false});
  std::sort(pool.begin(), pool.end(), [](const Item& x, const Item& y) { return x.v < y.v; });
  std::vector<long> rank2(n);
  double tieTerm = 0;  // sum of t^3 - t over groups of ties
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && pool[j].v == pool[i].v) j++;
    // ranks i+1 .. j share their mean (i+1+j)/2; doubled: i+1+j.
    for (size_t k = i; k < j; k++) rank2[k] = long(i + 1 + j);
    const double tsize = double(j - i);
    tieTerm += tsize * tsize * tsize - tsize;
    i = j;
  }
  long w2 = 0;
  for (size_t k = 0; k < n; k++)
    if (pool[k].first) w2 += rank2[k];
  t.u = double(w2) / 2 - double(n1 * (n1 + 1)) / 2;

  if (tieTerm == double(n) * double(n) * double(n) - double(n)) return t;  // one value throughout: p = 1

  const long mean2 = long(n1 * (n + 1));  // doubled mean of the rank sum
  const long observed = std::labs(w2 - mean2);
  if (n <= kExactLimit) {
    // ways[k][s]: subsets of k pooled items whose doubled ranks sum to s.
    const size_t maxSum = n * (n + 1);
    std::vector<std::vector<double>> ways(n1 + 1, std::vector<double>(maxSum + 1, 0.0));
    ways[0][0] = 1;
    for (size_t i = 0; i < n; i++) {
      const size_t r = size_t(rank2[i]);
      for (size_t k = std::min(i + 1, n1); k >= 1; k--)
        for (size_t s = maxSum; s >= r; s--) ways[k][s] += ways[k - 1][s - r];
    }
    double total = 0, extreme = 0;
    for (size_t s = 0; s <= maxSum; s++) {
      total += ways[n1][s];
      if (std::labs(long(s) - mean2) >= observed) extreme += ways[n1][s];
    }
    t.p = std::min(1.0, extreme / total);
    t.exact = true;
    return t;
  }
  const double dn1 = double(n1), dn2 = double(n2), dn = double(n);
  const double meanU = dn1 * dn2 / 2;
  const double var = dn1 * dn2 / 12 * ((dn + 1) - tieTerm / (dn * (dn - 1)));
  if (var <= 0) return t;
  const double z = std::max(0.0, std::fabs(t.u - meanU) - 0.5) / std::sqrt(var);
  t.p = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return t;
}

}  // namespace gomalloc::reports::stats
