#include <gtest/gtest.h>

#include <cmath>

#include "dlbricks/measure.h"

namespace dlbricks {
namespace {

TEST(StatisticsTest, KnownSamples) {
  const SampleStats s = ComputeStats({4, 100, 2, 3, 1}, 0.2);
  EXPECT_EQ(s.n, 5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 100);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.mean, 22);
  EXPECT_DOUBLE_EQ(s.trimmed_mean, 3);  // drops 1 and 100
  EXPECT_NEAR(s.stddev, std::sqrt(7610.0 / 4), 1e-12);
  EXPECT_NEAR(s.cv, std::sqrt(7610.0 / 4) / 22, 1e-12);
}

TEST(StatisticsTest, TrimmedMeanDropsTwentyPercentEachEnd) {
  std::vector<double> v;
  for (int i = 1; i <= 10; ++i) v.push_back(i);
  v.back() = 1000;  // an outlier inside the trimmed tail
  const SampleStats s = ComputeStats(v, 0.2);
  EXPECT_DOUBLE_EQ(s.trimmed_mean, (3 + 4 + 5 + 6 + 7 + 8) / 6.0);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_NEAR(s.p90, 9 + 0.1 * (1000 - 9), 1e-9);  // type-7 interpolation
  EXPECT_DOUBLE_EQ(ComputeStats(v, 0.0).trimmed_mean, ComputeStats(v, 0.0).mean);
}

TEST(StatisticsTest, MedianCiOrderStatistics) {
  int64_t lo = 0, hi = 0;
  // n = 100: the classical ranks 40 and 61 (1-based), coverage 96.48%.
  EXPECT_NEAR(MedianCiRanks(100, 0.95, &lo, &hi), 0.9648, 1e-4);
  EXPECT_EQ(lo, 39);
  EXPECT_EQ(hi, 60);
  // n = 6: [min, max] already covers 1 - 2/64.
  EXPECT_NEAR(MedianCiRanks(6, 0.95, &lo, &hi), 1 - 2.0 / 64, 1e-12);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 5);
  // n = 5 cannot reach 95%: [min, max] with its true coverage.
  EXPECT_NEAR(MedianCiRanks(5, 0.95, &lo, &hi), 1 - 2.0 / 32, 1e-12);
  EXPECT_EQ(hi, 4);
  // Large n stays near the normal approximation and symmetric.
  MedianCiRanks(10000, 0.95, &lo, &hi);
  EXPECT_NEAR(static_cast<double>(lo), 4900, 3);
  EXPECT_EQ(lo + hi, 9999);
}

TEST(StatisticsTest, CiBoundsComeFromSortedSamples) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i * 0.5);
  const SampleStats s = ComputeStats(v);
  EXPECT_DOUBLE_EQ(s.ci_low, 40 * 0.5);
  EXPECT_DOUBLE_EQ(s.ci_high, 61 * 0.5);
  EXPECT_LE(s.ci_low, s.median);
  EXPECT_GE(s.ci_high, s.median);
}

TEST(StatisticsTest, EmptyAndSingle) {
  EXPECT_EQ(ComputeStats({}).n, 0);
  const SampleStats one = ComputeStats({2.5});
  EXPECT_DOUBLE_EQ(one.median, 2.5);
  EXPECT_DOUBLE_EQ(one.trimmed_mean, 2.5);
  EXPECT_DOUBLE_EQ(one.stddev, 0);
  EXPECT_DOUBLE_EQ(one.ci_low, 2.5);
}

}  // namespace
}  // namespace dlbricks
