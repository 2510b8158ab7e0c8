// Learned per-layer latency predictor (ResPerfNet, ../shared/papers/resperfnet.txt).
// A sweep of random single-layer networks is measured into the results store; features of
// each layer (op, shapes, attributes, MACs, bytes) are Box-Cox + z-score normalised and
// regressors (ResPerfNet, a PerfNet MLP, XGBoost, linear) learn latency from them. The
// trained predictor is a self-describing file (docs/predictor.md) that fills bricks a store
// lacks, so a model can be estimated with no new measurement.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dlbricks/backend.h"
#include "dlbricks/decompose.h"
#include "dlbricks/estimate.h"
#include "dlbricks/graph.h"
#include "dlbricks/measure.h"
#include "dlbricks/status.h"
#include "dlbricks/store.h"

namespace dlbricks {

// ---- Layer description and features ----------------------------------------------------

// What the predictor knows about one layer: enough to recompute every feature, so the
// sweep sidecar stays valid when the feature list changes.
struct LayerDescriptor {
  std::string op_type;
  std::vector<std::vector<int64_t>> inputs;   // data-input dims, node input order
  std::vector<std::vector<int64_t>> weights;  // weight-input dims (Conv W/B, Gemm B/C, ...)
  std::vector<std::vector<int64_t>> outputs;
  std::vector<int64_t> kernel, strides, pads, dilations;  // empty when the op has none
  int64_t group = 1;
  int64_t axis = 0;         // Concat / Softmax axis (normalised to >= 0)
  int64_t trans_b = 0;      // Gemm
  std::vector<int64_t> perm;  // Transpose (the default reversal made explicit)
  std::vector<int64_t> axes;  // Reduce*: reduced axes, normalised to >= 0 and sorted
  // MatMul by a weight followed by the Add of a bias vector: ONNX Runtime runs the pair as one
  // Gemm (MatMulAddFusion; N-D inputs through Reshapes). Not a property of the layer alone: set
  // by the sweep and PredictModel when the unit has that Add.
  bool fused_bias = false;
  double macs = 0, flops = 0;
  int64_t params = 0, bytes_read = 0, bytes_written = 0;
};

// Op families the predictor models ("conv", "pool", "gemm", "bn", "act", "add", "mul",
// "concat", "matmul", "softmax", "layernorm", and since format 2 "transpose", "slice", "pad",
// "reduce", "eltwise" (Div, Sub, Pow, Sqrt), "gather"); "" when the op is not modelled.
std::string OpFamily(const std::string& op_type);
const std::vector<std::string>& PredictorFamilies();
// REQUIRES: 0 <= layer < graph.layers.size().
LayerDescriptor DescribeLayer(const Graph& graph, int layer);
// The descriptor of the fused unit of layers [begin, end): its first layer's, with fused_bias
// set when the unit is a MatMul by a 2-D weight whose only reader, the next layer, adds a
// bias of one value per output column. REQUIRES: 0 <= begin < end <= graph.layers.size().
LayerDescriptor DescribeUnit(const Graph& graph, int begin, int end);
std::string DescriptorToJson(const LayerDescriptor& d);
Status DescriptorFromJson(const std::string& json, LayerDescriptor* d);

// The feature vector (names from FeatureNames(), same order).
const std::vector<std::string>& FeatureNames();
std::vector<double> LayerFeatures(const LayerDescriptor& d);

// Box-Cox (ResPerfNet Appendix D, lambda by maximum likelihood on a grid, applied to x+1)
// then z-score (Appendix C) per feature. One-hot features are only z-scored.
struct FeatureNormalizer {
  std::vector<bool> box_cox;   // per feature
  std::vector<double> lambda;  // Box-Cox lambda per feature (unused when !box_cox)
  std::vector<double> mean, stddev;
  void Fit(const std::vector<std::vector<double>>& rows);
  std::vector<double> Apply(const std::vector<double>& x) const;
  // Inverse of Apply (for tests and debugging).
  std::vector<double> Invert(const std::vector<double>& z) const;
};
double BoxCox(double x, double lambda);
double InverseBoxCox(double y, double lambda);

// ---- Sweep (data collection) -----------------------------------------------------------

// "sweep" protocol: 2 warm-ups, 15 timed runs capped at 0.25 s, median. The median of 15
// is robust to the scheduler noise of a shared machine at 1/7 of the dlbricks cost.
ProtocolOptions SweepProtocol();

struct SweepOptions {
  std::string backend = "onnxruntime";
  BackendOptions backend_options;   // Default: 1 intra-op thread
  int samples = 1000;               // networks to build and measure
  uint64_t seed = 1;                // the networks are a function of (seed, index)
  std::vector<std::string> families;  // Default: all PredictorFamilies()
  ProtocolOptions protocol = SweepProtocol();
  double max_macs = 4e8;            // resample layers costlier than this (keeps a sample < ~0.3 s)
  double max_elements = 1.6e7;      // resample layers whose largest tensor is bigger
  // Resample layers cheaper than this: a targeted sweep of the large layers real models have
  // (VGG's 1.8-GMAC convolutions, ViT's 0.47-GMAC MatMuls) above the default cap. Default: 0.
  double min_macs = 0;
  bool progress = true;             // one line per 100 samples on stderr
  std::string work_dir;             // temp ONNX files. Default: system temp
  // Time each network in a fresh child process (RunIsolated), as `dlbricks run` times bricks,
  // so a layer measures the same in the sweep as in a suite. Default: true.
  bool isolate = true;
  double timeout_s = 60;            // isolate: seconds without progress before the child is killed
  // Also profile each network (ONNX Runtime's profiler, a separate run of profile_runs
  // inferences) into the store's op-profile table, so its kernel time can be learned: the
  // time of its kernels without the call overhead and the NCHWc ReorderInput/ReorderOutput a
  // lone layer pays and a whole model pays once. Networks already timed are only profiled.
  // Default: false.
  bool kernel_times = false;
  int profile_runs = 20;
  // > 0: profile the networks packed, this many side by side per ONNX Runtime session
  // (ProfileSuitePacked, as `dlbricks run --pack`), instead of timing and profiling each alone:
  // the sweep stores op profiles only (kernel times, no latency rows; implies kernel_times).
  // Default: 0 (each network timed and profiled alone)
  int pack = 0;
  // With pack: visits per pack, each profiling ceil(profile_runs / R) inferences; a network
  // keeps its fastest visit (`run --pack-rounds R --fastest-round`). Default: 1
  int pack_rounds = 1;
  // With pack: networks written out and profiled as one suite folder at a time (disk: a
  // network's weights are written twice, in its file and in its pack's). A pack's visits are
  // spread over its chunk. Default: 512
  int pack_chunk = 512;
};

// One random single-layer network: (seed, index) → the same model every time.
struct SweepNetwork {
  std::string family;
  onnx::ModelProto model;
};
Status MakeSweepNetwork(uint64_t seed, int64_t index, const std::vector<std::string>& families,
                        const SweepOptions& options, SweepNetwork* net);

struct SweepSummary {
  std::string system_id, protocol, sidecar;
  int measured = 0, failed = 0, skipped = 0;  // skipped: already stored (packed: already profiled)
  int profiled = 0, profile_failed = 0;        // kernel_times: op profiles stored / failed
  double wall_s = 0;
  std::map<std::string, int> per_family;
};

// The sidecar of a store: one JSON line per layer sample (docs/predictor.md).
std::string SidecarPath(const std::string& db_path);

// Builds, measures (a fresh session per network, in a child process unless !isolate) and stores `samples`
// networks: Store::Put under kind "brick", item_id = the G=1 brick signature of the layer;
// the layer descriptor goes to SidecarPath(db_path). With options.pack the networks are written
// as suite folders of options.pack_chunk networks and profiled by ProfileSuitePacked: op
// profiles under the same item ids, no latency rows (per-family counts are profiled networks).
Status RunSweep(const std::string& db_path, const SweepOptions& options, SweepSummary* summary);

// Adds the layers of real models to the sidecar (their G=1 bricks measured by `dlbricks run`
// become training/test data). `source` tags them (e.g. the model name).
Status HarvestModelLayers(const std::vector<std::string>& model_paths, const std::string& db_path,
                          int* added);

// ---- Dataset ---------------------------------------------------------------------------

struct Sample {
  std::string item_id, family, source;  // source: "sweep" or the model name
  LayerDescriptor layer;
  std::vector<double> features;
  double ms = 0;  // measured headline latency
  std::string protocol;  // protocol key of the store row `ms` comes from
};

struct DatasetQuery {
  StoreQuery store;  // system (default: the store's only one), batch 1
  // Protocol keys tried in order per item. Default: the sweep protocol, then "dlbricks"
  // (real-model bricks measured by `dlbricks run`).
  std::vector<std::string> protocols;
  // Which statistic of a row is the target: "value" (the protocol's headline; sweep: median),
  // "min" (robust to preemption on a loaded machine, as EmBench) or "kernel" (KernelMs of the
  // item's op profile in the store, SweepOptions::kernel_times; no latency row needed, as a
  // packed sweep stores none). Default: value.
  std::string statistic = "value";
};

// Samples with an ok measurement for the query's system and protocol (kernel target: with an
// op profile of the system).
Status LoadDataset(const std::string& db_path, const DatasetQuery& query, std::vector<Sample>* samples,
                   std::string* system_id);
// Deterministic 80/20 split by item id hash (stable when the store grows).
bool IsTestSample(const std::string& item_id);

// ---- Label calibration (session 8) -------------------------------------------------------
// This host slows down by 1.2-1.8x in stretches of seconds (issue 5), so one profile of a sweep
// network may come from a slow stretch, and a whole sweep from a slow hour, while references
// are the fastest of several rounds. Calibration stores re-measure some of the same sweep
// networks (`predictor sweep` with the same seeds, one store per round, rounds apart in time);
// per item the fastest round counts, and every label of a group (op family; conv and matmul
// split at 3e8 MACs, where the targeted sweep of large layers starts) is scaled by the group's
// median of fastest / stored label. No corpus layer is involved.
struct LabelCalibration {
  std::map<std::string, double> scale;  // group -> factor applied to its labels
  std::map<std::string, int> items;     // group -> matched items the factor comes from
  int stores = 0;
};
struct CalibrationOptions {
  std::vector<std::string> dbs;  // calibration stores (rounds). Empty: no calibration
  int min_items = 20;            // a group with fewer matched items takes the all-group median
};
// The calibration group of a sample ("conv", "conv:large", ...).
std::string CalibrationGroup(const Sample& s);
// Scales `samples` (loaded with `query`, system `system_id`) by the calibration stores' fastest
// rounds. Fails when no calibration item matches a sample.
Status CalibrateLabels(const CalibrationOptions& options, const DatasetQuery& query, const std::string& system_id,
                       std::vector<Sample>* samples, LabelCalibration* calibration);

// The empty-network probe of the system (sweep protocol, then "dlbricks"); 0 when none.
Status LoadRunOverhead(const std::string& db_path, const std::string& system_id, double* overhead_ms);

// ---- Regressors ------------------------------------------------------------------------

enum class ModelKind { kResPerfNet, kMlp, kXgboost, kLinear };
std::string ModelKindName(ModelKind kind);
Status ParseModelKind(const std::string& text, ModelKind* kind);

struct TrainOptions {
  std::vector<ModelKind> kinds = {ModelKind::kResPerfNet, ModelKind::kMlp, ModelKind::kXgboost,
                                  ModelKind::kLinear};
  bool per_family = false;  // one regressor per op family instead of one with the op as feature
  // ResPerfNet Appendix E: Adam, step decay (eta epochs, gamma), L2 lambda2, batch 128.
  // Fewer epochs than the paper's 200 (2 shared cores); lr lower than its 0.1 (diverges here).
  int epochs = 40;
  double lr = 1e-3;
  int batch_size = 128;
  int decay_every = 10;      // eta
  double decay_gamma = 0.5;  // gamma
  double l2 = 1e-5;          // lambda2 (as Adam weight decay)
  double target_scale = 1000;  // Appendix B scalar: ms -> us so log(1+t) is informative
  // Session 10 (docs/results.md): 800 rounds of depth-10 trees at eta 0.04 against 400 of depth
  // 8 at 0.08: test-split MAPE 13.0-13.4% -> 11.8-12.3%, whole models 8.2-8.4% -> 7.5-7.6%.
  int xgb_rounds = 800;
  // XGBoost learns ln(ms / work), work = MACs + bytes read + bytes written, so predictions
  // scale with work past the sweep's largest layers; false: ln(ms). Default: true.
  bool xgb_per_work = true;
  // XGBoost's loss on the log target: "squared" (the conditional mean of ln ms), "huber"
  // (pseudo-Huber: squared within xgb_huber_slope of the target, linear beyond, so the labels
  // a shared host slowed down pull less) or "absolute" (the median). Default: huber (session 5,
  // docs/results.md: per corpus kernel predicted/measured 1.11 -> 1.07).
  std::string xgb_loss = "huber";
  double xgb_huber_slope = 0.1;  // in ln units: ~10% relative error
  int xgb_max_depth = 10;         // tree depth
  double xgb_eta = 0.04;          // learning rate (shrinkage per round)
  // Weight each sample by ms^p: a model's latency is the sum of its layers, so its relative
  // error is its layers' relative errors weighted by their share of the time. 0: unweighted.
  double xgb_weight_power = 0;
  uint64_t seed = 1;
  double max_train_s = 0;    // stop NN training after this long; 0 = no limit
  bool verbose = false;
};

// Error metrics of one model on one family (ResPerfNet Tables 1-2).
struct ErrorMetrics {
  int n = 0;
  double mape = 0, rmse_ms = 0, mae_ms = 0, r2 = 0;
};
ErrorMetrics ComputeErrors(const std::vector<double>& predicted_ms, const std::vector<double>& measured_ms);

// A trained regressor over normalised features (implementations in src/predict).
class Regressor {
 public:
  virtual ~Regressor() = default;
  virtual ModelKind kind() const = 0;
  // raw: LayerFeatures rows; z: the same rows normalised.
  virtual std::vector<double> PredictMs(const std::vector<std::vector<double>>& raw,
                                        const std::vector<std::vector<double>>& z) const = 0;
  // Parameters as JSON (small) plus float blobs, for the predictor file.
  virtual Status Save(std::string* json, std::vector<std::string>* blobs) const = 0;
};

// ---- In-model context (session 12) ------------------------------------------------------
// A lone layer is timed with its weights in cache: between two of its inferences nothing else
// runs. Inside a model every other layer runs in between, so its weights arrive from memory,
// and the model's own traffic slows it a little more. Fitted on whole models measured end to
// end (`dlbricks predictor context`), a kernel inside a model costs
//   kernel_scale x lone prediction + ms_per_mb x min(weight bytes, cache_bytes) / 1e6:
// weights larger than the last-level cache were streamed from memory in the lone label already.
struct ModelContext {
  double kernel_scale = 1;
  double ms_per_mb = 0;     // cold weights: ms per MB, the inverse of a memory bandwidth
  double cache_bytes = 0;   // last-level cache of the machine the context was fitted on
  std::vector<std::string> models;  // the models it was fitted on; empty: no context
  double mape_before = 0, mape_after = 0;  // whole-model MAPE (%) over those models
  bool fitted() const { return !models.empty(); }
  // The in-model time of a kernel predicted at `lone_ms` whose weights hold `weight_bytes`.
  double Apply(double lone_ms, double weight_bytes) const;
};

// One whole model for the context fit: its kernels' lone predictions summed (no call
// overhead), their weights capped at the cache summed (MB), and its measured latency less the
// call overhead.
struct ContextPoint {
  std::string model;
  double lone_ms = 0, cached_weight_mb = 0, measured_ms = 0;
};
// Least squares on relative errors, min sum ((s lone + b cached - measured) / measured)^2, with
// s > 0 and b >= 0 (refitted with b = 0, the scale alone, when the unconstrained fit leaves
// them). Fails with fewer than two points or one without a positive latency and prediction.
// Sets every field but cache_bytes.
Status FitModelContext(const std::vector<ContextPoint>& points, ModelContext* context);

// The loaded predictor: normaliser + regressors (one "*" or one per family).
struct Predictor {
  int format_version = 7;
  ModelKind kind = ModelKind::kXgboost;
  bool per_family = false;
  // The file's features, in its order: a subset of this build's FeatureNames() (a file from an
  // older build lacks the features added since), matched by name.
  std::vector<std::string> feature_names;
  // Op types the regressors were trained on; other ops are not predicted (a shared regressor
  // would extrapolate to an op it never saw). Files before format 2: their op_* features.
  std::set<std::string> ops;
  FeatureNormalizer normalizer;
  std::map<std::string, std::shared_ptr<Regressor>> models;  // family or "*"
  std::map<std::string, ErrorMetrics> test_errors;           // per family + "all"
  std::string system_id, protocol, created_at, tool_version;
  int train_samples = 0, test_samples = 0;
  double train_s = 0;
  // Fixed cost of one inference call on the training system (the sweep's empty-network
  // probe), inside every sample; 0 when the store had no probe.
  double run_overhead_ms = 0;
  // Trained on kernel times (no call overhead, no layout reorders) instead of latencies.
  bool kernel_times = false;
  LabelCalibration calibration;  // since format 5; empty: labels as stored
  ModelContext context;          // since format 7; not fitted: kernels as lone layers
  std::string file_id;  // 32 hex: HashBytes of the file it was loaded from (set by LoadPredictor)

  // The model kind, "/per-family" appended when there is one regressor per family.
  std::string KindName() const;

  // ms per layer; nullopt when the op family is not modelled or the op not in `ops`.
  std::optional<double> PredictLayer(const LayerDescriptor& d) const;
  // LayerFeatures (FeatureNames() order) in the order of feature_names.
  std::vector<double> FileFeatures(const std::vector<double>& raw) const;
  // Relative uncertainty of a family (test MAPE; "all" when the family has none).
  double RelativeError(const std::string& family) const;
};

struct TrainReport {
  // kind name (+ "/per-family") → family → metrics on the test split
  std::map<std::string, std::map<std::string, ErrorMetrics>> errors;
  std::map<std::string, double> train_s;
  std::map<std::string, std::vector<double>> loss_curves;  // NN, shared scope: loss per epoch
  int train_samples = 0, test_samples = 0;
};

// Trains every kind in options.kinds on the 80% split, evaluates on the 20% split, and
// returns the predictors (kind name → predictor).
Status TrainPredictors(const std::vector<Sample>& samples, const TrainOptions& options,
                       std::map<std::string, Predictor>* predictors, TrainReport* report);

Status SavePredictor(const Predictor& p, const std::string& path);
Status LoadPredictor(const std::string& path, Predictor* p);
// Metrics of a predictor on samples, per family + "all".
std::map<std::string, ErrorMetrics> EvaluatePredictor(const Predictor& p, const std::vector<Sample>& samples);
// Markdown table in ResPerfNet Tables 1-2 layout.
std::string ErrorTable(const TrainReport& report);

// Writes p's per-layer predictions of `samples` (measured on `system_id`, target statistic
// `statistic`) next to the measured latencies into the store's predictions table, one row
// per sample, split "test" or "train" by IsTestSample. Replaces the rows an earlier
// evaluation of the same predictor file wrote for those splits (`dlbricks report` draws them
// as ResPerfNet Fig. 4). REQUIRES: p was loaded with LoadPredictor (its file_id is the
// predictor's identity).
Status RecordPredictions(const Predictor& p, const std::vector<Sample>& samples, const std::string& system_id,
                         const std::string& statistic, const std::string& db_path, int* recorded);

// ---- Integration with estimate -----------------------------------------------------------

struct PredictedLayer {
  int layer = 0;
  std::string op_type, family;
  Hash128 brick_id;            // G=1 brick signature
  std::optional<double> ms;    // nullopt: not modelled
};
std::vector<PredictedLayer> PredictGraphLayers(const Predictor& p, const Graph& graph);

// Fills every G=1 brick (single layer) of the decomposition that `latencies` lacks with a
// prediction: source kPredicted, uncertainty_ms = relative test error × prediction.
// Multi-layer bricks a store lacks are left missing. Returns how many were filled.
int FillPredictedBricks(const Predictor& p, const Graph& graph, const ModelDecomposition& decomposition,
                        BrickLatencies* latencies);

// ---- Whole models from predictions only (kernel-level composition) ----------------------

// Ops that only relabel a tensor (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout):
// ONNX Runtime runs them without touching the data, so they cost nothing in a model.
bool IsViewOp(const std::string& op_type);

struct ModelPredictionOptions {
  // A model's latency is composed per fused kernel (nn-Meter): a unit of `fusion` costs the
  // prediction of its first layer, since the layers it absorbs (a folded BatchNormalization,
  // an activation in the kernel's epilogue) run inside that kernel. kOnnxRuntime also applies
  // the runtime's graph rewrites that span units (docs/predictor.md): a no-op Slice and a Pad
  // folded into the next Conv/pool are free, x*HardSigmoid(x) after a Conv runs in it, the
  // decomposed LayerNorm's Pow..Div(..Mul) is one kernel (predicted as LayerNormalization) and
  // the decomposed GELU one (predicted as Erf). kNone: every layer counts (the sum of G=1
  // bricks, as DLBricks constructs). Default: ONNX Runtime's rules.
  FusionRules fusion = FusionRules::kOnnxRuntime;
  // Each sample contains one inference call's fixed cost (Predictor::run_overhead_ms): take
  // it out of every unit and add it once per model. Default: true.
  bool overhead_correction = true;
  // Apply the predictor's in-model context (Predictor::context) when it has one.
  bool model_context = true;
};

// One kernel of a composed model: layers [begin, end) of Graph::layers.
struct PredictedKernel {
  int begin = 0, end = 0;
  std::string op_type;        // of the first layer
  std::string predicted_as;   // the layer predicted ("" when free): op_type, or the stand-in
                              // for a kernel ONNX Runtime builds (LayerNormalization, Erf)
  bool free = false;          // view op or removed by ONNX Runtime: no kernel
  std::optional<double> ms;   // nullopt: free or not modelled; in-model context applied
  std::optional<double> lone_ms;  // the layer predictor's own prediction (no context)
  double weight_bytes = 0;    // of the predicted layer (float32 parameters)
};

struct ModelPrediction {
  double ms = 0;
  double lone_ms = 0;         // the same without the in-model context
  double uncertainty_ms = 0;  // sum of unit predictions x their family's test MAPE
  int units = 0;              // fused kernels (or layers with kNone)
  int unmodelled = 0;         // kernels neither modelled nor free (0 ms)
  std::map<std::string, int> unmodelled_ops;
  std::vector<PredictedKernel> kernels;  // in layer order
};
ModelPrediction PredictModel(const Predictor& p, const Graph& graph, const ModelPredictionOptions& options);
// The last-level cache of this machine (sysfs), 32 MiB when the kernel does not say.
double ContextCacheBytes();
// The context-fit point of a prediction made without context (options.model_context false).
ContextPoint ContextPointOf(const std::string& model, const ModelPrediction& lone, double run_overhead_ms,
                            double measured_ms, double cache_bytes);

struct WholeModelOptions {
  ModelPredictionOptions predict;
  DatasetQuery dataset;        // the samples (and system) predictors are trained on
  std::string e2e_db;          // store with the end-to-end references. Default: the sample store
  std::string e2e_protocol = "dlbricks";  // protocol of the references
  // Leave one family out: for each model family F, train a predictor (train.kinds[0]) on every
  // sample except the layers of F's models (G=1 brick ids, whichever source measured them),
  // and predict F's models with it. Otherwise `predictor` predicts every model.
  bool leave_family_out = false;
  CalibrationOptions calibration;  // leave-family-out: labels calibrated before training
  // The in-model context: kFile uses the predictor's own (none for a leave-family-out
  // predictor); kLeaveFamilyOut fits one per family on the other families' references (models
  // with a reference, at least two); kNone predicts kernels as lone layers.
  enum class Context { kFile, kLeaveFamilyOut, kNone };
  Context context = Context::kFile;
  TrainOptions train = [] {  // leave-family-out trains train.kinds[0]. Default: xgboost
    TrainOptions t;
    t.kinds = {ModelKind::kXgboost};
    return t;
  }();
};

struct WholeModelRow {
  std::string model, family;
  double measured_ms = 0, predicted_ms = 0, uncertainty_ms = 0;
  int units = 0, unmodelled = 0;
  std::string predictor;        // "given" or "lofo:<family>"
  int train_samples = 0;
  double lone_ms = 0;           // predicted without the in-model context
  std::string context;          // "none", "file" or "lofo:<family>"
};

struct WholeModelReport {
  std::string system_id;
  double run_overhead_ms = 0;
  std::vector<WholeModelRow> rows;  // models with a measured reference only
  std::vector<std::string> unmeasured;  // models without a reference (named, not scored)
  // Context::kFile: scored models the file's context was fitted on (in-sample for them).
  int context_in_sample = 0;
  double mape = 0;                  // mean |predicted / measured - 1| x 100 over rows
  double geomean_normalised = 0;    // geometric mean of predicted / measured
  double lone_mape = 0, lone_geomean_normalised = 0;  // the same without the in-model context
};

// Predicts whole models from per-layer predictions only (no measured brick) and scores them
// against measured end-to-end latencies of the same system (ResPerfNet section 5.3).
// `predictor` is required unless options.leave_family_out.
Status ValidateWholeModels(const std::vector<std::string>& model_paths, const std::string& db_path,
                           const Predictor* predictor, const WholeModelOptions& options, WholeModelReport* report);
// Fits p's in-model context on the models of `model_paths` that `db_path` holds an end-to-end
// reference of (system p.system_id, protocol options.e2e_protocol), composed with
// options.predict. `points` gets one per referenced model, `unmeasured` the others' names.
Status FitContextOnModels(const Predictor& p, const std::vector<std::string>& model_paths, const std::string& db_path,
                          const WholeModelOptions& options, ModelContext* context, std::vector<ContextPoint>* points,
                          std::vector<std::string>* unmeasured);
std::string WholeModelTable(const WholeModelReport& report);
std::string WholeModelJson(const WholeModelReport& report);

}  // namespace dlbricks
