// Internal to the backend module: the inference loop every per-kernel profiler runs
// (Backend::ProfileOps / ProfileNodes), so that all backends profile under one protocol.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <vector>

#include "dlbricks/backend.h"

namespace dlbricks::backend_internal {

// Profiled inferences: at least the caller's count, spanning kMinProfileSeconds (so the
// medians outlast a host hiccup even for a brick of a few microseconds), at most kMaxProfileRuns.
inline constexpr double kMinProfileSeconds = 0.03;
inline constexpr int kMaxProfileRuns = 2000;
// Warm-up before profiling: kProfileWarmupRuns inferences, or fewer once they took
// kMaxProfileWarmupSeconds. A session's first inferences run slow for a while, not just once:
// a pack of 32 small bricks took 8.6, 6.8, 5.0, 4.9, ... ms on onnxruntime, and settled at
// 4.5 ms from its 8th inference on.
inline constexpr int kProfileWarmupRuns = 10;
inline constexpr double kMaxProfileWarmupSeconds = 1.0;

// A kernel's time over the profiled inferences: the median (the upper one of an even count), so a
// host preemption inflates the few inferences it hits, not the kernel's time.
// REQUIRES: !samples.empty().
inline double KernelMedian(std::vector<double> samples) {
  const auto mid = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), mid, samples.end());
  return *mid;
}

// The median of durations a profiler truncated to whole microseconds: ONNX Runtime writes each
// kernel's "dur" as a duration_cast to microseconds, so a kernel of 2.6 us reads 2 or 3 and the
// plain median of such samples is low by half a microsecond on average (a quarter of a 2 us
// kernel; half the sweep's Slice, Gather and ReduceMean layers run under 10 us). This is the
// grouped-data median: the median sample's microsecond [k, k+1) holds f samples and b lie below
// it, so the median of the untruncated times is read as k + (n/2 - b) / f, interpolated within
// that microsecond. Robust as KernelMedian is: the slowest half does not move it.
// REQUIRES: !us.empty(), each sample >= 0.
inline double TruncatedMicrosecondMedian(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  const double n = static_cast<double>(us.size());
  const double k = std::floor(us[us.size() / 2]);
  const auto below = std::lower_bound(us.begin(), us.end(), k);
  const auto above = std::lower_bound(below, us.end(), k + 1);
  const double b = static_cast<double>(below - us.begin());
  const double f = static_cast<double>(above - below);
  return k + std::clamp((n / 2 - b) / f, 0.0, 1.0);
}

// Runs the warm-up, then at least `runs` profiled inferences (above). on_run (may be empty)
// follows every inference as backend.h documents; after_profiled (may be empty) follows every
// profiled one, e.g. to read the engine's per-layer timings of that inference.
// *warmups: the warm-up inferences run. REQUIRES: runs >= 1.
inline Status RunProfileLoop(PreparedModel& model, int runs, const ProfileHook& on_run,
                             const std::function<Status()>& after_profiled, int* warmups) {
  auto start = std::chrono::steady_clock::now();
  auto elapsed_s = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  *warmups = 0;
  for (bool warm = false; !warm;) {
    DLB_RETURN_IF_ERROR(model.Run());
    warm = ++*warmups >= kProfileWarmupRuns || elapsed_s() >= kMaxProfileWarmupSeconds;
    if (on_run) on_run(warm, model);
  }
  start = std::chrono::steady_clock::now();
  for (int r = 0; r < runs || (r < kMaxProfileRuns && elapsed_s() < kMinProfileSeconds); ++r) {
    DLB_RETURN_IF_ERROR(model.Run());
    if (after_profiled) DLB_RETURN_IF_ERROR(after_profiled());
    if (on_run) on_run(true, model);
  }
  return Status::OK();
}

}  // namespace dlbricks::backend_internal
