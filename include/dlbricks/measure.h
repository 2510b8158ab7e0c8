// Stage 4: measurement. A timing protocol (warm-up, stopping rules, raw samples, robust
// statistics), a system fingerprint, crash/hang isolation, and the runners behind
// `dlbricks run` (suite bricks) and `dlbricks measure` (whole models, batch sweeps).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "dlbricks/backend.h"
#include "dlbricks/hash.h"
#include "dlbricks/status.h"
#include "dlbricks/store.h"

namespace dlbricks {

struct Graph;

// ---- Statistics over raw samples ------------------------------------------------------

struct SampleStats {
  int64_t n = 0;
  double min = 0, max = 0, median = 0, mean = 0, stddev = 0;  // stddev: sample (n-1)
  double trimmed_mean = 0;  // mean after dropping floor(trim*n) samples at each end
  double cv = 0;            // stddev / mean
  double p90 = 0, p99 = 0;  // linear interpolation between order statistics
  // Distribution-free CI of the median from order statistics (binomial(n, 1/2));
  // ci_coverage is the exact coverage achieved (< 0.95 when n < 6: then [min, max]).
  double ci_low = 0, ci_high = 0, ci_coverage = 0;
};

// REQUIRES: 0 <= trim < 0.5. Empty input → all zero.
SampleStats ComputeStats(const std::vector<double>& samples, double trim = 0.2);
// Type-7 quantile (linear interpolation). REQUIRES: sorted ascending, not empty.
double Quantile(const std::vector<double>& sorted, double q);
// 0-based ranks [lo, hi] into the sorted samples bounding the median with >= `level`
// coverage; returns the achieved coverage (falls back to [0, n-1]).
double MedianCiRanks(int64_t n, double level, int64_t* lo, int64_t* hi);

// ---- Protocol -------------------------------------------------------------------------

enum class Headline { kTrimmedMean, kMin, kMedian, kMean };

// How one item is timed. Warm-up, then timed runs until the stopping rule holds:
//   n >= max_runs or timed time >= max_time_s (hard caps), else
//   n >= min_runs and timed time >= min_time_s and (ci_target == 0 or the 95% CI of the
//   median is within ±ci_target of it).
// Fixed-count mode: min_runs == max_runs and ci_target == 0.
struct ProtocolOptions {
  std::string preset = "dlbricks";  // the preset these values started from
  int warmup_runs = 5;       // untimed runs before sampling; the first is reported as first_run
  double warmup_s = 0;       // keep warming up until this much time has passed. Default: 0
  int min_runs = 100;        // DLBricks section 4: each benchmark runs 100 times
  double min_time_s = 0;     // Default: 0
  double ci_target = 0;      // relative half-width of the median's 95% CI; 0 = off. auto: 0.02
  int max_runs = 100;        // hard cap
  double max_time_s = 300;   // hard cap on the timed loop
  double cool_off_s = 0;     // idle before each item (EmBench section 4: 2 s)
  Headline headline = Headline::kTrimmedMean;  // the value stored as value_ms
  double trim = 0.2;         // trimmed-mean fraction per end (DLBricks: 20%)
  // Bytes of a buffer rewritten before every timed run (outside the timed region), so each run
  // starts with caches as cold as inside a whole model, where the layers before evict a
  // layer's weights. 0 = off (default; the paper's protocol runs hot).
  int64_t cache_flush_bytes = 0;
  // With cache_flush_bytes: re-read the inputs after every flush (PreparedModel::TouchInputs),
  // so a layer starts as it does inside a model, its weights evicted by the layers before but
  // its input just written by its producer. Alone, flushed layers read their input from memory
  // too, and activation-heavy ones run slower than in the model. In the protocol key only when
  // set. Default: false
  bool rewarm_inputs = false;
  // Rounds per item: a runner visits its whole item list this many times and pools each item's
  // samples, so every item averages over the same drift of the host; each visit gets
  // RoundProtocol's share of the run budget. In the protocol key only when != 1. Default: 1
  int rounds = 1;
  // With rounds > 1: the headline is the fastest round's (each round's own statistic), not the
  // pooled samples'. This host slows by 1.2-1.8x in regimes of 1-4 s that can cover a whole
  // round (docs/results.md, session 7); the fastest round is the uncontended latency, the reason
  // Python's timeit reports the best of its repeats. Pack visits follow it (the fastest visit per
  // brick instead of the median). Default: false (pooled)
  bool fastest_round = false;
};

// Presets: "dlbricks" (5 warm-ups, 100 runs, 20% trimmed mean; DLBricks section 4),
// "embench" (10 warm-ups, 50 runs, 2 s cool-off, minimum; EmBench section 4),
// "auto" (warm-up 3 runs + 0.2 s, >= 10 runs and 0.5 s, CI of the median within 2%,
// caps 10000 runs / 20 s; median).
Status ProtocolPreset(const std::string& name, ProtocolOptions* options);
// The store's protocol key: the preset name if the options equal that preset, else
// "custom:<12 hex>" of the canonical option text.
std::string ProtocolKey(const ProtocolOptions& options);
Status ValidateProtocol(const ProtocolOptions& options);
// The budget of one round: ceil(min_runs/R), ceil(max_runs/R), min_time_s/R, max_time_s/R,
// warm-ups unchanged, rounds = 1. `options` itself when rounds == 1.
// REQUIRES: ValidateProtocol(options).ok()
ProtocolOptions RoundProtocol(const ProtocolOptions& options);
// The stopping rule above; `samples_ms` are the timed runs so far.
bool ShouldStop(const ProtocolOptions& options, const std::vector<double>& samples_ms, double timed_s);
// The statistic the protocol reports (options.headline).
double HeadlineValue(const ProtocolOptions& options, const SampleStats& stats);
// Rewrites one byte per cache line of a buffer of `bytes` (outside any timed region), evicting
// what the caches held (ProtocolOptions::cache_flush_bytes).
void FlushCaches(int64_t bytes);
// The caches before a timed or profiled run of `model`: flushed (options.cache_flush_bytes),
// then its inputs re-read if options.rewarm_inputs; nothing when cache_flush_bytes is 0.
void PrepareCaches(const ProtocolOptions& options, PreparedModel& model);

// Result of timing one item.
struct ItemTiming {
  std::vector<double> samples_ms;
  SampleStats stats;
  double value_ms = 0;          // the protocol's headline statistic
  double session_create_ms = 0; // Backend::Prepare
  double first_run_ms = 0;
  double wall_s = 0;            // everything, session creation included
  std::vector<OpTypeTime> op_times;  // only from a profiling run
  std::vector<NodeTime> node_times;  // only from a per-kernel profiling run (kProfileNodes)
};

// Called at most every 250 ms while an item is being timed (isolation uses it to tell a
// slow item from a hung one).
using Heartbeat = std::function<void()>;

// Times a prepared model in this process: warm-up (first run timed apart) and the timed
// loop, which does nothing but steady_clock reads, Run(), a push_back and one comparison
// per iteration.
Status TimePreparedModel(PreparedModel& model, const ProtocolOptions& protocol, ItemTiming* timing,
                         const Heartbeat& heartbeat = {});
// Prepare + TimePreparedModel in this process (no isolation).
Status TimeModelFile(Backend& backend, const std::string& path, const BackendOptions& options,
                     const ProtocolOptions& protocol, ItemTiming* timing, const Heartbeat& heartbeat = {});

// Copies the statistics, raw samples and times of `timing` into the store row `m`
// (key, name, status and error are left as they are).
void SetMeasurementTiming(const ItemTiming& timing, Measurement* m);

// The op-profile store rows of one profiled item (key: system, kind, item, batch).
std::vector<OpProfileRow> OpProfileRows(const MeasurementKey& key, const std::string& name,
                                        const std::vector<OpTypeTime>& op_times);
// Stored op-profile rows grouped by item: (kind, item_id, batch) -> its op times.
using OpProfileKey = std::tuple<std::string, std::string, int64_t>;
std::map<OpProfileKey, std::vector<OpTypeTime>> GroupOpProfiles(const std::vector<OpProfileRow>& rows);
// Kernel time of one inference from its op profile (ms per op type): the sum over op types
// except ONNX Runtime's layout reorders (Reorder*), which a lone brick pays around every call
// and a whole model only where its layout changes.
double KernelMs(const std::vector<OpTypeTime>& op_times);

// ---- Isolation ------------------------------------------------------------------------

struct IsolatedResult {
  std::string status = "ok";  // ok | failed | timeout | crashed
  std::string error;
  ItemTiming timing;
};

enum class IsolatedTask { kTime, kProfileOps, kProfileNodes };

// Runs one item in a forked child (fresh backend session) so a segfault, abort or hang in
// the engine cannot end the run: no progress for timeout_s (session creation, one inference,
// or the profiling run) → the child is killed (status timeout); the timed loop as a whole
// is bounded by protocol.max_time_s. Death by a signal → crashed; a Status error → failed.
IsolatedResult RunIsolated(const std::string& backend_name, const std::string& path, const BackendOptions& options,
                           const ProtocolOptions& protocol, IsolatedTask task, int profile_runs, double timeout_s);

// ---- System fingerprint and noise checks ----------------------------------------------

// Canonical JSON (sorted keys): CPU model, logical cores, ISA flags, memory, kernel,
// backend name + version + every recorded option. The id is HashBytes of this text.
std::string SystemFingerprintJson(const Backend& backend, const BackendOptions& options);
SystemRecord MakeSystemRecord(const Backend& backend, const BackendOptions& options);
// Warnings (never errors) about a noisy machine: frequency governor other than
// "performance", a 1-minute load average above half the cores.
std::vector<std::string> SystemNoiseWarnings();
// The largest CPU cache's size from sysfs (cpu0), 0 when unknown.
int64_t LastLevelCacheBytes();

// ---- Model signature ------------------------------------------------------------------

// HashBytes over the ordered layer signatures plus the topology (which layer output or graph
// input feeds every layer input, and the graph outputs). Names and weight values are ignored.
Hash128 ModelSignature(const Graph& graph);

// ---- Suite manifest (the fields `run` needs; format in docs/suite.md) --------------------

struct SuiteBrick {
  std::string id;    // 32 hex
  std::string path;  // absolute path of the brick's ONNX file
  std::vector<std::string> op_types;
  double flops = 0;  // manifest "flops" (0 when absent)
};
// Bad or missing manifest, or a brick file that is missing → InvalidArgument/Corruption
// naming the file.
Status ReadSuiteBricks(const std::string& suite_dir, std::vector<SuiteBrick>* bricks);
// Up to n bricks to time for the profiler-bias calibration: a deterministic sample (lowest
// ids; ids are hashes) of those at or below the suite's median FLOPs, where a few µs per kernel
// matter and timing is cheap; a suite with fewer such bricks than n adds its next cheapest.
std::set<std::string> SelectCalibrationBricks(const std::vector<SuiteBrick>& bricks, int n);

// ---- Runners ---------------------------------------------------------------------------

// One timed visit of an item (a round), as reported to RunOptions::on_visit.
struct RunVisit {
  std::string kind, item_id;
  int64_t batch = 1;
  int round = 1;            // 1-based
  std::string status;       // ok | failed | timeout | crashed
  size_t samples = 0;       // timed runs of this visit
};

struct RunOptions {
  std::string backend = "onnxruntime";
  BackendOptions backend_options;
  ProtocolOptions protocol;        // Default: the dlbricks preset
  double timeout_s = 60;           // per item: longest time without progress (see RunIsolated)
  bool force = false;              // re-measure items already in the store
  bool isolate = true;             // fork a child per item (tests may turn it off)
  bool progress = true;            // progress on stderr (bar on a terminal, lines otherwise)
  std::vector<int64_t> batches = {1};  // measure: batch sizes (EmBench Fig. 2)
  // An extra, separate per-operator profiling run per item, after its timing, into the store's
  // op-profile table; items whose profile is stored for this system are not profiled again
  // (unless force). Default: false.
  bool profile_ops = false;
  int profile_runs = 20;           // inferences in the profiling run
  // > 0: profile bricks only, this many side by side per engine session (ProfileSuitePacked;
  // `run --pack`, `validate --kernel-times --pack`). Default: 0 (off)
  int pack = 0;
  // With pack: visits per pack (each brick keeps its per-op median over them); 0: the
  // protocol's rounds. Op profiles have no protocol key, so this leaves the references' key
  // alone. Default: 0
  int pack_rounds = 0;
  // With pack: a brick holding more weight bytes than this is profiled in a pack of its own
  // with the caches flushed before every inference (1.5x the last-level cache, 512 MiB if
  // unknown). Inside a model the layers between two runs of such a layer evict its weights;
  // alone they stay cached: alexnet's fc6 (151 MB) took 5.5 ms alone, 9.5 ms flushed and
  // 9.6 ms in the model (docs/results.md, session 7). 0 = off. Default: 0
  int64_t cold_weight_bytes = 0;
  // With pack: also time this many bricks (SelectCalibrationBricks) under the protocol, in
  // four chunks at 0, 1/4, 1/2 and 3/4 of the pack visits, so one slow stretch of the host
  // cannot skew them all. They calibrate the profiler's own cost per kernel
  // (CalibrateProfilerBias; `--profiler-bias N`). Default: 0 (off)
  int calibration_bricks = 0;
  std::string work_dir;            // measure: temp files (re-batched models). Default: system temp
  // measure: fixed graph-input shapes (--input-shape NAME=1x3x224x224, see ParseInputShape),
  // applied before re-batching; they change the model signature, so the store key. Default: none.
  std::map<std::string, std::vector<int64_t>> input_shapes;
  // run: only the bricks with these ids (validate times its profiler-bias calibration bricks
  // this way). Default: empty = every brick of the suite
  std::set<std::string> only_bricks;
  // Called after every timed visit, in visit order (tests observe round interleaving). Default: none
  std::function<void(const RunVisit&)> on_visit;
  // Called after every visit of a brick run (RunSuite, ProfileSuitePacked) with the share of
  // its visits done (1 after the last); an error stops the run. validate times its reference
  // rounds here, spread over the bricks. Default: none
  std::function<Status(double done)> after_visit;
};

// One item of a run, as reported (skipped items come from the store).
struct RunItem {
  Measurement m;
  bool skipped = false;            // already in the store (or claimed by a concurrent run)
  double throughput_per_s = 0;     // batch / value (measure)
  std::vector<OpTypeTime> op_times;  // profile_ops: profiled now, or read from the store
  double profile_wall_s = 0;         // wall clock of this run's profiling child (0: none run)
};

struct RunSummary {
  std::string system_id;
  std::string fingerprint_json;
  std::string protocol;
  std::vector<RunItem> items;
  int measured = 0, skipped = 0, failed = 0;
  int profiled = 0;                // profile_ops: items profiled by this run
  double wall_s = 0;
  double profile_wall_s = 0;       // profile_ops: wall clock of the profiling runs (in wall_s)
  int calibrated = 0;              // pack with calibration_bricks: bricks timed now (in wall_s)
  std::vector<std::string> warnings;
};

// `dlbricks run`: measures every brick of the suite that the store lacks for this system
// and protocol (and with profile_ops, profiles every brick whose op profile it lacks); each
// result is committed as soon as it is done. With protocol.rounds R > 1
// the pending items are visited R times in order (A, B, ..., A, B, ...), each visit timing
// RoundProtocol's budget in the isolated worker; an item's row holds the pooled samples of
// its rounds (statistics and headline over the pool, session/first run from round 1, wall
// summed) and is written after its last round, so a killed run re-measures the items it had
// not finished. A failed round stores the item as failed at once; it gets no later rounds.
Status RunSuite(const std::string& suite_dir, const RunOptions& options, Store* store, RunSummary* summary);
// `dlbricks measure`: whole models (item_id = ModelSignature), per batch size; rounds as RunSuite.
Status MeasureModels(const std::vector<std::string>& model_paths, const RunOptions& options, Store* store,
                     RunSummary* summary);
// MeasureModels a round at a time, so a caller can run other work between the rounds
// (validate spreads the references' rounds over the brick run, so both see the same stretch
// of the host's drift). MeasureModels is Start, then RunUntil(rounds()). A row is stored when
// its model's last round ends; the summary is complete once every round ran.
class ModelRounds {
 public:
  static Status Start(const std::vector<std::string>& model_paths, const RunOptions& options, Store* store,
                      RunSummary* summary, std::unique_ptr<ModelRounds>* out);
  ~ModelRounds();
  int rounds() const;  // options.protocol.rounds
  // Runs the rounds not yet run, up to round `last` (capped at rounds(); no-op below the
  // rounds already run), each a visit of every unfinished model.
  Status RunUntil(int last);

 private:
  ModelRounds();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
// `dlbricks run --pack`: a profile-only run for kernel-time construction. Every brick whose
// op profile the store lacks for this system is profiled, without a latency run, in packs of
// up to options.pack bricks that one engine session runs side by side (names prefixed "b<k>/"); each
// kernel is attributed to its brick through the rewritten graph (AttributePackNodes) and each
// brick's op profile is stored as a lone profile would be. A pack that fails is profiled brick
// by brick. Items carry op_times and a share of their pack's wall clock (by kernel time).
// Needs a backend with ProfileNodes (onnxruntime). No claims: a concurrent run may profile a
// brick twice (the later profile replaces the earlier).
Status ProfileSuitePacked(const std::string& suite_dir, const RunOptions& options, Store* store, RunSummary* summary);
// Splits a packed profile by brick: the kernels of each connected component of the rewritten
// graph belong to the brick whose tensors (prefix "b<k>/") the component holds.
Status AttributePackNodes(const std::vector<NodeTime>& nodes, size_t brick_count,
                          std::vector<std::vector<NodeTime>>* per_brick);
// A brick's op-type times over its pack visits: per op type the median (an op type a visit
// lacks counts as 0 there), or with `fastest` the visit whose kernels took least in total.
// REQUIRES: !visits.empty()
std::vector<OpTypeTime> CombineVisits(const std::vector<std::vector<OpTypeTime>>& visits, bool fastest);

// The `--json` summary (schema_version 1; docs/store.md lists the keys).
std::string RunSummaryJson(const RunSummary& summary);

}  // namespace dlbricks
