// Stage 5: performance construction and validation (DLBricks sections 3.2 and 4).
// A model's latency is constructed from its bricks' latencies: sequentially (sum over a
// cover of the layers) or in parallel (longest path through the brick DAG).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dlbricks/decompose.h"
#include "dlbricks/graph.h"
#include "dlbricks/measure.h"
#include "dlbricks/status.h"
#include "dlbricks/store.h"

namespace dlbricks {

enum class ConstructionMode {
  kSequential,  // sum of brick latencies (DLBricks default: frameworks run layers in order)
  kParallel,    // sum along the critical path of the brick DAG
};
std::string ConstructionName(ConstructionMode mode);
Status ParseConstruction(const std::string& text, ConstructionMode* mode);

enum class BrickSource { kMeasured, kPredicted, kMissing };
std::string BrickSourceName(BrickSource source);

// What construction knows about one brick.
struct BrickLatency {
  double ms = 0;
  BrickSource source = BrickSource::kMeasured;
  double uncertainty_ms = 0;  // predicted bricks: from the predictor's test error
  // Kernel times only (LoadBrickKernelTimes): the brick's layout reorders, which its kernel
  // time leaves out. blocked_in: the runtime converted the brick's input to its blocked
  // layout (ONNX Runtime's NCHWc ReorderInput, reorder_in_ms); blocked_out: the brick's
  // output left the blocked layout (ReorderOutput, reorder_out_ms).
  bool blocked_in = false, blocked_out = false;
  double reorder_in_ms = 0, reorder_out_ms = 0;
};
using BrickLatencies = std::unordered_map<Hash128, BrickLatency, Hash128Hasher>;

struct EstimateOptions {
  ConstructionMode construction = ConstructionMode::kSequential;  // Default: sequential
  bool allow_partial = false;  // a missing brick is an error unless true. Default: false
  // Fixed cost of one inference call on an empty network: subtracted from every brick and
  // added once per model, so G=1 does not pay it once per layer. Default: 0 (the paper).
  double run_overhead_ms = 0;
  // Brick times are kernel times (KernelMs of their op profiles, LoadBrickKernelTimes): they
  // hold no call overhead, so nothing is subtracted per brick; run_overhead_ms is still added
  // once per model. Default: false (latencies).
  bool kernel_times = false;
  // Kernel times: add the layout reorders the whole model performs (ModelReorders), not the
  // ones each lone brick pays. Needs the graph; without it no reorder is added. Default: true.
  bool model_reorders = true;
  // Kernel times: subtracted from every profiled kernel call, reorders included (the
  // profiler's own cost, CalibrateProfilerBias; LoadBrickKernelTimes applies it). Default: 0
  double profiler_bias_ms = 0;
};

// One brick of the cover construction used.
struct BrickEstimate {
  Hash128 id;
  int begin = 0, end = 0;  // layers [begin, end)
  BrickSource source = BrickSource::kMissing;
  double ms = 0;           // after the overhead correction; 0 when missing
};

struct ModelEstimate {
  std::string model;
  double latency_ms = 0;
  double reorder_ms = 0;            // kernel times: of latency_ms, the model's layout reorders
  ConstructionMode construction = ConstructionMode::kSequential;
  int measured = 0, predicted = 0, missing = 0;
  double uncertainty_ms = 0;        // sum over predicted bricks
  std::vector<BrickEstimate> bricks;  // the cover, in layer order
  std::vector<BrickEstimate> seams;   // stitched decompositions: subtracted (DecomposeOptions::stitch)
  std::vector<int> critical_path;     // parallel: indices into bricks
};

// Constructs one model. Overlapping instances (overlap mode) are resolved by choosing the
// cover of the layers with the fewest missing bricks, then the smallest latency (DLBricks
// section 6: "pick the layer sequence resulting in the smallest latency"); for a partition
// that cover is the partition itself. A stitched decomposition (seams present) is its own
// cover: the sum of its bricks minus its seams, each brick that starts at a seam adding at
// least 0 (sequential only). Parallel construction needs the graph when the cover
// is not the decomposition's own instance list.
// REQUIRES: decomposition covers layers [0, decomposition.layers).
Status ConstructModel(const Graph* graph, const ModelDecomposition& decomposition,
                      const BrickLatencies& latencies, const EstimateOptions& options,
                      ModelEstimate* estimate);

// Where the whole model changes layout (ONNX Runtime's NchwcTransformer, applied over bricks):
// a brick with blocked_out produces the blocked layout; a brick of layout-transparent ops
// (Add, Sum, Mul, Concat, Relu, Sigmoid, Tanh, HardSigmoid, BatchNormalization,
// GlobalAveragePool, GlobalMaxPool, Resize) whose inputs all arrive blocked stays blocked
// (Add/Sum/Mul only on equal shapes; Add/Sum/Mul/Concat without constant inputs); every other
// brick reads the plain layout. A blocked_in brick fed a plain tensor pays its ReorderInput; a
// blocked tensor read by a plain-layout brick or leaving the model pays one ReorderOutput: its
// producer's measured one, or (producer transparent) the model's measured reorder cost per
// byte (all its ReorderOutputs over all their bytes) times its size.
// Returns the extra ms per cover brick (same order as `bricks`).
// REQUIRES: bricks are a cover of graph's layers in layer order.
std::vector<double> ModelReorders(const Graph& graph, const std::vector<BrickInstance>& bricks,
                                  const BrickLatencies& latencies);

// Which measurements in a store to construct from.
struct StoreQuery {
  std::string system_id;             // full id or unique prefix; empty = the store's only system
  std::string protocol = "dlbricks"; // protocol key of the brick runs. Default: dlbricks
  int64_t batch = 1;                 // Default: 1
};

// Resolves query.system_id against the store (unique prefix, or the only system).
Status ResolveSystem(Store* store, StoreQuery* query);
// Brick latencies of one system from the store (status ok rows only).
Status LoadBrickLatencies(Store* store, const StoreQuery& query, BrickLatencies* latencies);
// Brick kernel times of one system: KernelMs of each brick's op profile at query.batch
// (`dlbricks run --profile-ops`; any protocol), each op type less profiler_bias_ms per call
// (floored at 0). A brick without a profile is absent (missing).
Status LoadBrickKernelTimes(Store* store, const StoreQuery& query, BrickLatencies* latencies,
                            double profiler_bias_ms = 0);

// ---- Profiler bias (kernel times) ------------------------------------------------------
// ONNX Runtime's profiler times every kernel a few µs longer than the kernel runs unprofiled
// (2.5-4 µs on the 2-core VM, about the same for every op type: docs/results.md, issue 5), so
// summed profiles over-estimate models made of many small kernels. A brick that is both timed
// and profiled measures it: (its profiled kernels, reorders included, minus its latency net of
// the empty-network overhead) / its kernel calls.
struct ProfilerBias {
  double per_kernel_ms = 0;     // median over the calibration bricks
  double q1_ms = 0, q3_ms = 0;  // quartiles
  int bricks = 0;               // bricks both timed (query.protocol) and profiled
};
inline constexpr int kMinProfilerBiasBricks = 5;
// Over every brick of the system with an ok timed row under query.protocol and an op profile
// at query.batch. Fewer than kMinProfilerBiasBricks → NotFound.
Status CalibrateProfilerBias(Store* store, const StoreQuery& query, double run_overhead_ms, ProfilerBias* bias);
// The measured end-to-end latency of a model, if stored (status ok).
Status LookupModelLatency(Store* store, const StoreQuery& query, const Graph& graph,
                          std::optional<Measurement>* measurement);

// ---- Validation (DLBricks section 4, Fig. 10-12) ----------------------------------------

// Store item id of the empty-network probe (kind "brick"): its latency is the fixed cost of
// an inference call (session bookkeeping, input binding, output allocation).
extern const char kEmptyNetworkId[];
// Writes the smallest network a backend will run: one Relu on one float.
Status WriteEmptyNetwork(const std::string& path);
// The stored empty-network probe of a system under a protocol (status ok), if any.
Status LookupRunOverhead(Store* store, const std::string& system_id, const std::string& protocol,
                         std::optional<double>* overhead_ms);
// The probe under run's backend, options and protocol: read from the store unless run.force,
// else timed in an isolated child (its model written to work_dir) and stored.
Status MeasureRunOverhead(const RunOptions& run, const std::string& work_dir, const std::string& system_id,
                          Store* store, double* overhead_ms);
// Geometric mean; 0 when empty. REQUIRES: every x > 0.
double GeoMean(const std::vector<double>& xs);

// The torchvision family of a model name: its leading letters ("resnet50" -> "resnet",
// "mobilenet_v3_small" -> "mobilenet"). Leave-one-family-out splits group models by it.
std::string ModelFamilyOf(const std::string& model_name);

// The in-model scale of ValidateOptions::context_lofo, for models[i]: s = sum r / sum r^2 over
// the referenced models j of other families (r_j = constructed_ms[j] / measured_ms[j]; a
// measured_ms of 0 means no reference), the least-squares fit of s * r_j to 1. `others` counts
// those models; scale is empty when there are fewer than two.
struct ContextScale {
  std::optional<double> scale;
  int others = 0;
};
std::vector<ContextScale> ContextScalesLeaveFamilyOut(const std::vector<std::string>& models,
                                                      const std::vector<double>& constructed_ms,
                                                      const std::vector<double>& measured_ms);
// "<command> --context lofo: M has N referenced models outside its family 'F'; needs 2".
Status ContextScaleMissing(const std::string& command, const std::string& model, const ContextScale& c);

struct ValidateOptions {
  std::vector<int> granularities = {1};  // G values to validate. Default: {1}
  // Mode, fusion rules and stitching (its granularity is ignored: see granularities).
  // Default: chain, no fusion, no stitching (the paper).
  DecomposeOptions decompose;
  // Construction and overhead correction. estimate.kernel_times: bricks are also profiled
  // (run.profile_ops), the empty-network probe is measured as with overhead_correction, and
  // models are constructed from kernel times; the profiling runs count in brick_wall_s.
  EstimateOptions estimate;
  RunOptions run;                        // backend, options and protocol for bricks and models
  bool measure_missing = true;           // run what the store lacks; false: read only
  // End-to-end references measured here are timed in this many passes, interleaved with the
  // brick runs (one before the bricks, the rest after each G's bricks); the store keeps the
  // pass with the lowest headline value, since a transient load only slows a pass down and
  // one disturbed pass would otherwise skew every G of that model. Default: 2.
  int reference_passes = 2;
  // With run.protocol.rounds R > 1, the first reference pass is spread over the first G's
  // brick run: reference round r runs once r/R of the brick visits are done (with as many
  // brick rounds: bricks round 1, references round 1, bricks round 2, ...; with
  // run.pack_rounds 1: after each third of the packs), so the references and the bricks
  // sample the same stretch of the host's drift. Default: true
  bool interleave_references = true;
  std::string work_dir;                  // suites are generated here (required when measuring)
  // Measure the empty-network overhead and apply it (EstimateOptions::run_overhead_ms).
  bool overhead_correction = false;      // Default: false (the paper)
  // Kernel times: with run.pack, time this many bricks of the first G during its packs
  // (RunOptions::calibration_bricks; a lone run times every brick anyway); then calibrate the profiler's per-kernel bias on every brick the store holds both timed and
  // profiled (CalibrateProfilerBias) and subtract it (EstimateOptions::profiler_bias_ms).
  // Read-only: calibrate on what the store holds. 0 = off. Default: 0
  int profiler_bias_bricks = 0;
  // In-model context, leave one family out: a lone brick runs with its weights and activations
  // in cache, inside a model the other layers evict them, so constructions fall short by a few
  // percent (docs/results.md issue 5, session 13). With this set, each model's construction is
  // multiplied by the scale s that best fits, in relative error, the constructions of the
  // referenced models of *other* families to their end-to-end references
  // (s = sum r / sum r^2, r = construction / measured): its own family's latencies never
  // calibrate it. Needs two referenced models outside each referenced model's family.
  // Default: false (the paper)
  bool context_lofo = false;
};

struct ValidationRow {
  std::string model;
  int granularity = 1;
  double constructed_ms = 0, measured_ms = 0;
  double normalised = 0;  // constructed / measured (Fig. 10)
  double bricks_ms = 0;   // the construction from bricks alone
  double context_scale = 1;  // context_lofo: constructed_ms = context_scale x bricks_ms; else 1
  double reorder_ms = 0;  // kernel times: the model's layout reorders in bricks_ms
  int bricks = 0, missing = 0;
};

struct GranularitySummary {
  int granularity = 1;
  int models = 0;
  int64_t instances = 0, unique_bricks = 0;
  double geomean_normalised = 0;  // Fig. 11
  double geomean_abs_error = 0;   // geomean over models of |normalised - 1| (floored at 1e-4)
  double within_10pct = 0;        // share of models with |normalised - 1| <= 0.10
  double sum_model_ms = 0, sum_brick_ms = 0;      // paper's speedup terms (Fig. 12)
  double speedup_latency = 0;     // sum_model_ms / sum_brick_ms
  double model_wall_s = 0, brick_wall_s = 0;      // benchmarking wall clock, sessions included
  double profile_wall_s = 0;      // kernel_times: profiling runs of this call (in brick_wall_s)
  double speedup_wall = 0;        // model_wall_s / brick_wall_s
};

struct ValidationReport {
  std::string system_id, fingerprint_json, protocol, backend;
  std::string construction, mode, fusion;
  bool stitch = false;
  bool kernel_times = false;  // constructed from kernel times (EstimateOptions::kernel_times)
  bool model_reorders = false;  // kernel times plus the model's layout reorders
  bool context_lofo = false;    // ValidateOptions::context_lofo
  double run_overhead_ms = 0;
  ProfilerBias profiler_bias;  // profiler_bias_bricks > 0: the calibration applied
  std::vector<ValidationRow> rows;
  std::vector<GranularitySummary> summaries;
};

Status Validate(const std::vector<std::string>& model_paths, const IngestOptions& ingest,
                const ValidateOptions& options, Store* store, ValidationReport* report);
// JSON (schema_version 1, keys in docs/json.md) and CSV renderings of one report.
std::string ValidationJson(const ValidationReport& report);
std::string ValidationCsv(const ValidationReport& report);
std::string ValidationTable(const ValidationReport& report);

}  // namespace dlbricks
