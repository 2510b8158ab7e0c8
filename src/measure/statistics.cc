// Statistics over raw samples: robust location (median, trimmed mean; DLBricks section 4)
// and a distribution-free confidence interval of the median.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "dlbricks/measure.h"

namespace dlbricks {
double Quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double MedianCiRanks(int64_t n, double level, int64_t* lo, int64_t* hi) {
  *lo = 0;
  *hi = n > 0 ? n - 1 : 0;
  if (n <= 0) return 0;
  // With B ~ Binomial(n, 1/2), [x_(l), x_(n+1-l)] (1-based) covers the median with
  // probability 1 - 2 P(B <= l-1): take the largest l with P(B <= l-1) <= (1-level)/2.
  const double alpha_half = (1.0 - level) / 2.0;
  const double nd = static_cast<double>(n);
  const double log_norm = std::lgamma(nd + 1) + nd * std::log(0.5);
  double cdf = 0;       // P(B <= k)
  double tail = 0;      // P(B <= l-1) for the best l so far
  int64_t l = 0;
  for (int64_t k = 0; k < (n + 1) / 2; ++k) {
    const double kd = static_cast<double>(k);
    cdf += std::exp(log_norm - std::lgamma(kd + 1) - std::lgamma(nd - kd + 1));
    if (cdf > alpha_half) break;
    l = k + 1;
    tail = cdf;
  }
  if (l < 1) return 1.0 - 2.0 * std::pow(0.5, nd);  // [min, max]
  *lo = l - 1;
  *hi = n - l;
  return 1.0 - 2.0 * tail;
}

SampleStats ComputeStats(const std::vector<double>& samples, double trim) {
  SampleStats s;
  s.n = static_cast<int64_t>(samples.size());
  if (samples.empty()) return s;
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  s.min = sorted.front();
  s.max = sorted.back();
  s.median = Quantile(sorted, 0.5);
  s.p90 = Quantile(sorted, 0.90);
  s.p99 = Quantile(sorted, 0.99);
  s.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(n);
  double ss = 0;
  for (double v : sorted) ss += (v - s.mean) * (v - s.mean);
  s.stddev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  s.cv = s.mean > 0 ? s.stddev / s.mean : 0.0;
  const size_t k = static_cast<size_t>(std::floor(trim * static_cast<double>(n)));
  if (2 * k < n) {
    s.trimmed_mean = std::accumulate(sorted.begin() + static_cast<std::ptrdiff_t>(k),
                                     sorted.end() - static_cast<std::ptrdiff_t>(k), 0.0) /
                     static_cast<double>(n - 2 * k);
  } else {
    s.trimmed_mean = s.median;
  }
  int64_t lo = 0, hi = 0;
  s.ci_coverage = MedianCiRanks(s.n, 0.95, &lo, &hi);
  s.ci_low = sorted[static_cast<size_t>(lo)];
  s.ci_high = sorted[static_cast<size_t>(hi)];
  return s;
}

}  // namespace dlbricks
