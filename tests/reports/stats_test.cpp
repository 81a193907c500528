// Small-sample statistics: quantiles and the Mann-Whitney U test against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "reports/stats.h"

namespace gomalloc::reports::stats {
namespace {

TEST(Stats, MedianAndQuartiles) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_TRUE(std::isnan(median({})));
  const Spread s = spread({5, 1, 4, 2, 3});
  EXPECT_EQ(s.n, 5u);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_DOUBLE_EQ(s.q1, 2);
  EXPECT_DOUBLE_EQ(s.q3, 4);
  EXPECT_DOUBLE_EQ(s.relativeHalfRange(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(Spread{}.relativeHalfRange(), 0);
}

TEST(MannWhitney, SeparatedSamplesOfFiveGiveTheSmallestExactP) {
  // All C(10,5) = 252 splits are equally likely; only the two extreme ones are as far from the mean.
  const UTest t = mannWhitney({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_TRUE(t.exact);
  EXPECT_DOUBLE_EQ(t.u, 0);
  EXPECT_NEAR(t.p, 2.0 / 252.0, 1e-12);
  const UTest r = mannWhitney({6, 7, 8, 9, 10}, {1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(r.u, 25);
  EXPECT_NEAR(r.p, t.p, 1e-12);
}

TEST(MannWhitney, ThreeRunsEachCanNeverBeSignificantAtFivePercent) {
  EXPECT_NEAR(mannWhitney({1, 2, 3}, {4, 5, 6}).p, 2.0 / 20.0, 1e-12);
  EXPECT_NEAR(mannWhitney({1, 2, 3, 4}, {5, 6, 7, 8}).p, 2.0 / 70.0, 1e-12);
}

TEST(MannWhitney, TiesGetMidRanksInTheExactTest) {
  // Pooled mid-ranks 1.5 1.5 3.5 3.5 | 5.5 5.5 7.5 7.5: one split of 70 at each extreme.
  const UTest t = mannWhitney({1, 1, 2, 2}, {3, 3, 4, 4});
  EXPECT_TRUE(t.exact);
  EXPECT_NEAR(t.p, 2.0 / 70.0, 1e-12);
  // Ties across the samples: U counts them one half.
  EXPECT_DOUBLE_EQ(mannWhitney({1, 2}, {2, 3}).u, 0.5);
}

TEST(MannWhitney, IdenticalOrEmptySamplesGiveOne) {
  EXPECT_DOUBLE_EQ(mannWhitney({7, 7, 7}, {7, 7, 7}).p, 1);
  EXPECT_DOUBLE_EQ(mannWhitney({}, {1, 2}).p, 1);
  EXPECT_DOUBLE_EQ(mannWhitney({1, 2, 3}, {1, 2, 3}).p, 1);
}

TEST(MannWhitney, OverlappingSamplesAreNotSignificant) {
  const UTest t = mannWhitney({10, 12, 11, 14, 13}, {11, 13, 12, 15, 10});
  EXPECT_GT(t.p, 0.3);
}

TEST(MannWhitney, LargeSamplesUseTheNormalApproximationWithTiesCorrection) {
  std::vector<double> a(40), b(40);
  std::iota(a.begin(), a.end(), 1.0);   // 1..40
  std::iota(b.begin(), b.end(), 21.0);  // 21..60: 20 values tied across the samples
  const UTest t = mannWhitney(a, b);
  EXPECT_FALSE(t.exact);
  EXPECT_DOUBLE_EQ(t.u, 200);
  // mean 800, variance 1600/12 * (81 - 120/6320), continuity correction 0.5.
  EXPECT_NEAR(t.p / 7.956952562825313e-09, 1.0, 1e-6);
}

TEST(MannWhitney, ExactAndNormalAgreeAtTheBoundary) {
  // 30 + 30 values: exact; the normal approximation (computed here) must be close.
  std::vector<double> a, b;
  for (int i = 0; i < 30; i++) a.push_back(i * 2.0), b.push_back(i * 2.0 + 7);
  const UTest t = mannWhitney(a, b);
  ASSERT_TRUE(t.exact);
  const double meanU = 450, sd = std::sqrt(30.0 * 30 * 61 / 12);
  const double z = (std::fabs(t.u - meanU) - 0.5) / sd;
  EXPECT_NEAR(t.p, std::erfc(z / std::sqrt(2.0)), 0.01);
}

}  // namespace
}  // namespace gomalloc::reports::stats
