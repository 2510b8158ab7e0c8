// The timing protocol: presets, the stopping rule and the timed loop.
#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include <vector>

#include "dlbricks/measure.h"

namespace dlbricks {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

double ToMs(Clock::rep ticks) { return std::chrono::duration<double, std::milli>(Clock::duration(ticks)).count(); }

const char* HeadlineName(Headline h) {
  switch (h) {
    case Headline::kTrimmedMean: return "trimmed_mean";
    case Headline::kMin: return "min";
    case Headline::kMedian: return "median";
    case Headline::kMean: return "mean";
  }
  return "?";
}

// Every field that changes what is measured, in a fixed order (the preset name excluded).
std::string CanonicalText(const ProtocolOptions& o) {
  return fmt::format("warmup_runs={};warmup_s={};min_runs={};min_time_s={};ci_target={};max_runs={};"
                     "max_time_s={};cool_off_s={};headline={};trim={}",
                     o.warmup_runs, o.warmup_s, o.min_runs, o.min_time_s, o.ci_target, o.max_runs, o.max_time_s,
                     o.cool_off_s, HeadlineName(o.headline), o.trim) +
         (o.cache_flush_bytes > 0 ? fmt::format(";cache_flush_bytes={}", o.cache_flush_bytes) : "") +
         (o.rewarm_inputs ? ";rewarm_inputs" : "") +
         (o.rounds != 1 ? fmt::format(";rounds={}", o.rounds) : "") + (o.fastest_round ? ";fastest_round" : "");
}

}  // namespace

void FlushCaches(int64_t bytes) {
  static std::vector<unsigned char> buffer;
  if (static_cast<int64_t>(buffer.size()) < bytes) buffer.assign(static_cast<size_t>(bytes), 0);
  for (int64_t i = 0; i < bytes; i += 64) buffer[static_cast<size_t>(i)] += 1;
}

void PrepareCaches(const ProtocolOptions& o, PreparedModel& model) {
  if (o.cache_flush_bytes <= 0) return;
  FlushCaches(o.cache_flush_bytes);
  if (o.rewarm_inputs) model.TouchInputs();
}

double HeadlineValue(const ProtocolOptions& o, const SampleStats& s) {
  switch (o.headline) {
    case Headline::kTrimmedMean: return s.trimmed_mean;
    case Headline::kMin: return s.min;
    case Headline::kMedian: return s.median;
    case Headline::kMean: return s.mean;
  }
  return s.median;
}

Status ProtocolPreset(const std::string& name, ProtocolOptions* o) {
  *o = ProtocolOptions{};
  o->preset = name;
  if (name == "dlbricks") return Status::OK();  // the struct defaults
  if (name == "embench") {
    o->warmup_runs = 10;
    o->min_runs = o->max_runs = 50;
    o->cool_off_s = 2;
    o->headline = Headline::kMin;
    return Status::OK();
  }
  if (name == "auto") {
    o->warmup_runs = 3;
    o->warmup_s = 0.2;
    o->min_runs = 10;
    o->min_time_s = 0.5;
    o->ci_target = 0.02;
    o->max_runs = 10000;
    o->max_time_s = 20;
    o->headline = Headline::kMedian;
    return Status::OK();
  }
  return Status::InvalidArgument("unknown protocol '" + name + "' (known: dlbricks, embench, auto)");
}

std::string ProtocolKey(const ProtocolOptions& o) {
  ProtocolOptions preset;
  if (ProtocolPreset(o.preset, &preset).ok() && CanonicalText(preset) == CanonicalText(o)) return o.preset;
  return "custom:" + HashBytes(CanonicalText(o)).Hex().substr(0, 12);
}

Status ValidateProtocol(const ProtocolOptions& o) {
  if (o.warmup_runs < 1) return Status::InvalidArgument("warm-up runs must be >= 1 (the first run is one)");
  if (o.min_runs < 1) return Status::InvalidArgument("--min-runs must be >= 1");
  if (o.max_runs < o.min_runs) return Status::InvalidArgument("--max-runs must be >= --min-runs");
  if (o.warmup_s < 0 || o.min_time_s < 0 || o.cool_off_s < 0 || o.ci_target < 0)
    return Status::InvalidArgument("protocol times and the CI target must be >= 0");
  if (!(o.max_time_s > 0)) return Status::InvalidArgument("--max-time must be > 0");
  if (o.trim < 0 || o.trim >= 0.5) return Status::InvalidArgument("trim must be in [0, 0.5)");
  if (o.cache_flush_bytes < 0 || o.cache_flush_bytes > (int64_t{1} << 33))
    return Status::InvalidArgument("--cache-flush must be between 0 and 8192 MiB");
  if (o.rewarm_inputs && o.cache_flush_bytes == 0) return Status::InvalidArgument("--rewarm-inputs needs --cache-flush");
  if (o.rounds < 1) return Status::InvalidArgument(fmt::format("--rounds must be >= 1 (got {})", o.rounds));
  if (o.fastest_round && o.rounds < 2) return Status::InvalidArgument("--fastest-round needs --rounds >= 2");
  return Status::OK();
}

ProtocolOptions RoundProtocol(const ProtocolOptions& o) {
  if (o.rounds <= 1) return o;
  ProtocolOptions r = o;
  const int n = o.rounds;
  r.min_runs = static_cast<int>((int64_t{o.min_runs} + n - 1) / n);
  r.max_runs = static_cast<int>((int64_t{o.max_runs} + n - 1) / n);
  r.min_time_s = o.min_time_s / n;
  r.max_time_s = o.max_time_s / n;
  r.rounds = 1;
  r.fastest_round = false;
  return r;
}

bool ShouldStop(const ProtocolOptions& o, const std::vector<double>& samples_ms, double timed_s) {
  const int64_t n = static_cast<int64_t>(samples_ms.size());
  if (n >= o.max_runs || timed_s >= o.max_time_s) return true;
  if (n < o.min_runs || timed_s < o.min_time_s) return false;
  if (o.ci_target <= 0) return true;
  const SampleStats s = ComputeStats(samples_ms, o.trim);
  return s.ci_coverage >= 0.95 && s.median > 0 && (s.ci_high - s.ci_low) / 2.0 <= o.ci_target * s.median;
}

Status TimePreparedModel(PreparedModel& model, const ProtocolOptions& o, ItemTiming* t, const Heartbeat& heartbeat) {
  DLB_RETURN_IF_ERROR(ValidateProtocol(o));
  constexpr auto kBeatEvery = std::chrono::milliseconds(250);
  Clock::time_point next_beat = heartbeat ? Clock::now() + kBeatEvery : Clock::time_point::max();
  // Warm-up: the first run is reported on its own (lazy allocation, kernel selection).
  const Clock::time_point w0 = Clock::now();
  DLB_RETURN_IF_ERROR(model.Run());
  Clock::time_point now = Clock::now();
  t->first_run_ms = MsSince(w0, now);
  for (int i = 1; i < o.warmup_runs || MsSince(w0, now) < o.warmup_s * 1000.0; ++i) {
    DLB_RETURN_IF_ERROR(model.Run());
    now = Clock::now();
    if (now >= next_beat) {
      heartbeat();
      next_beat = now + kBeatEvery;
    }
  }

  std::vector<Clock::rep> ns;
  ns.reserve(static_cast<size_t>(std::min(o.max_runs, 1 << 16)));
  std::vector<double> ms;  // filled only when the CI rule needs it
  const auto max_ns = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.max_time_s));
  const auto min_ns = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.min_time_s));
  int64_t next_ci_check = o.min_runs;
  Clock::duration timed{0};
  for (;;) {
    PrepareCaches(o, model);
    const Clock::time_point t0 = Clock::now();
    Status st = model.Run();
    const Clock::time_point t1 = Clock::now();
    if (!st.ok()) return st;
    ns.push_back((t1 - t0).count());
    timed += t1 - t0;
    if (t1 >= next_beat) {
      heartbeat();
      next_beat = t1 + kBeatEvery;
    }
    // Cheap checks each iteration; the CI rule (a sort) only at geometric-ish intervals.
    const int64_t n = static_cast<int64_t>(ns.size());
    if (n >= o.max_runs || timed >= max_ns) break;
    if (n < o.min_runs || timed < min_ns) continue;
    if (o.ci_target <= 0) break;
    if (n < next_ci_check) continue;
    next_ci_check = n + std::max<int64_t>(1, n / 10);
    ms.clear();
    for (Clock::rep v : ns) ms.push_back(ToMs(v));
    if (ShouldStop(o, ms, std::chrono::duration<double>(timed).count())) break;
  }
  t->samples_ms.clear();
  t->samples_ms.reserve(ns.size());
  for (Clock::rep v : ns) t->samples_ms.push_back(ToMs(v));
  t->stats = ComputeStats(t->samples_ms, o.trim);
  t->value_ms = HeadlineValue(o, t->stats);
  return Status::OK();
}

Status TimeModelFile(Backend& backend, const std::string& path, const BackendOptions& options,
                     const ProtocolOptions& protocol, ItemTiming* t, const Heartbeat& heartbeat) {
  const Clock::time_point start = Clock::now();
  std::unique_ptr<PreparedModel> model;
  DLB_RETURN_IF_ERROR(backend.Prepare(path, options, &model));
  t->session_create_ms = MsSince(start, Clock::now());
  if (heartbeat) heartbeat();
  Status st = TimePreparedModel(*model, protocol, t, heartbeat);
  t->wall_s = MsSince(start, Clock::now()) / 1000.0;
  return st;
}

void SetMeasurementTiming(const ItemTiming& t, Measurement* m) {
  const SampleStats& s = t.stats;
  m->value_ms = t.value_ms;
  m->min_ms = s.min;
  m->median_ms = s.median;
  m->trimmed_mean_ms = s.trimmed_mean;
  m->mean_ms = s.mean;
  m->stddev_ms = s.stddev;
  m->cv = s.cv;
  m->p90_ms = s.p90;
  m->p99_ms = s.p99;
  m->ci_low_ms = s.ci_low;
  m->ci_high_ms = s.ci_high;
  m->samples_ms = t.samples_ms;
  m->session_create_ms = t.session_create_ms;
  m->first_run_ms = t.first_run_ms;
  m->wall_s = t.wall_s;
}

}  // namespace dlbricks
