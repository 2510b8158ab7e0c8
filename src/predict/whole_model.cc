// Whole models from per-layer predictions (ResPerfNet section 5.3), composed per fused
// kernel as nn-Meter does, and their validation against measured end-to-end latency,
// including the leave-one-family-out split.
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <optional>
#include <set>

#include "dlbricks/predict.h"

namespace dlbricks {

bool IsViewOp(const std::string& op) {
  static const std::set<std::string> kViews = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  return kViews.count(op) > 0;
}

namespace {

Status OpenExistingReadOnly(const std::string& path, std::unique_ptr<Store>* store) {
  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  return OpenStore(path, so, store);
}

// Mean |ratio - 1| in percent; ratios are predicted / measured.
double MapeOfRatios(const std::vector<double>& ratios) {
  double ape = 0;
  for (double r : ratios) ape += std::abs(r - 1);
  return ratios.empty() ? 0 : 100 * ape / static_cast<double>(ratios.size());
}

}  // namespace

Status LoadRunOverhead(const std::string& db_path, const std::string& system_id, double* overhead_ms) {
  *overhead_ms = 0;
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenExistingReadOnly(db_path, &store));
  for (const std::string& protocol : {ProtocolKey(SweepProtocol()), std::string("dlbricks")}) {
    std::optional<double> have;
    DLB_RETURN_IF_ERROR(LookupRunOverhead(store.get(), system_id, protocol, &have));
    if (have) {
      *overhead_ms = *have;
      break;
    }
  }
  return Status::OK();
}

namespace {

// The one layer that reads layer `i`'s only output, or -1.
int SoleConsumer(const Graph& g, int i) {
  const Layer& l = g.layers[static_cast<size_t>(i)];
  if (l.outputs.size() != 1 || l.outputs[0] < 0) return -1;
  const Value& v = g.values[static_cast<size_t>(l.outputs[0])];
  return v.consumers.size() == 1 && !v.is_graph_output ? v.consumers[0] : -1;
}

bool ReadsFrom(const Graph& g, int consumer, int producer) {
  for (int v : g.layers[static_cast<size_t>(consumer)].DataInputs(g))
    if (g.values[static_cast<size_t>(v)].producer == producer) return true;
  return false;
}

// Layers [h, h + ops.size()) have these op types, each reading the one before; returns the end.
int MatchChain(const Graph& g, int h, const std::vector<std::string>& ops) {
  const int n = static_cast<int>(g.layers.size());
  for (size_t k = 0; k < ops.size(); ++k) {
    const int i = h + static_cast<int>(k);
    if (i >= n || g.layers[static_cast<size_t>(i)].op_type != ops[k]) return -1;
    if (k > 0 && !ReadsFrom(g, i, i - 1)) return -1;
  }
  return h + static_cast<int>(ops.size());
}

}  // namespace

LayerDescriptor DescribeUnit(const Graph& g, int begin, int end) {
  LayerDescriptor d = DescribeLayer(g, begin);
  if (d.op_type != "MatMul" || end < begin + 2 || d.inputs.size() != 1 || d.weights.size() != 1 ||
      d.weights[0].size() != 2 || d.outputs.empty() || d.outputs[0].empty())
    return d;
  const int add = begin + 1;
  if (g.layers[static_cast<size_t>(add)].op_type != "Add" || SoleConsumer(g, begin) != add) return d;
  const LayerDescriptor a = DescribeLayer(g, add);
  if (a.inputs.size() != 1 || a.weights.size() != 1 || a.weights[0].empty()) return d;
  // [N] or [1, .., 1, N]: a Gemm's bias row.
  const std::vector<int64_t>& bias = a.weights[0];
  const bool row = bias.back() == d.outputs[0].back() &&
                   std::all_of(bias.begin(), bias.end() - 1, [](int64_t x) { return x == 1; });
  d.fused_bias = row;
  return d;
}

namespace {

// A layer the sweep measures standing in for a kernel ONNX Runtime builds out of several
// (cost conventions of the graph module: FLOPs per output element, bytes of every input).
LayerDescriptor StandIn(const std::string& op, const std::vector<int64_t>& in, std::vector<std::vector<int64_t>> weights,
                        double flops_per_element) {
  LayerDescriptor d;
  d.op_type = op;
  d.inputs = {in};
  d.weights = std::move(weights);
  d.outputs = {in};
  d.axis = static_cast<int64_t>(in.size()) - 1;
  double elements = 1;
  for (int64_t x : in) elements *= static_cast<double>(x);
  d.flops = flops_per_element * elements;
  d.bytes_read = d.bytes_written = static_cast<int64_t>(4 * elements);
  for (const auto& w : d.weights) {
    int64_t e = 1;
    for (int64_t x : w) e *= x;
    d.params += e;
    d.bytes_read += 4 * e;
  }
  return d;
}

// How ONNX Runtime (level all) runs the layers from `head` on, where its graph rewrites go
// beyond the epilogue fusions of FusionUnits. false: as written (the head layer's kernel).
struct OrtKernel {
  int end = 0;       // first layer not covered
  bool free = false;  // no kernel of its own
  LayerDescriptor layer;
};
bool OrtRewrite(const Graph& g, const std::vector<int>& units, int head, int unit_end, OrtKernel* out) {
  const Layer& l = g.layers[static_cast<size_t>(head)];
  const std::string& op = l.op_type;
  OrtKernel& k = *out;
  k.end = unit_end;
  k.free = true;
  // EliminateSlice: a Slice that keeps the whole tensor.
  if (op == "Slice" && l.inputs.size() > 0 && l.outputs.size() == 1 && l.inputs[0] >= 0 && l.outputs[0] >= 0 &&
      g.values[static_cast<size_t>(l.inputs[0])].type.dims == g.values[static_cast<size_t>(l.outputs[0])].type.dims)
    return true;
  // PadFusion: a constant Pad becomes the pads of the Conv or pool reading it.
  if (op == "Pad") {
    const int c = SoleConsumer(g, head);
    if (c >= 0) {
      const std::string& next = g.layers[static_cast<size_t>(c)].op_type;
      if (next == "Conv" || next == "MaxPool" || next == "AveragePool") return true;
    }
  }
  // x * HardSigmoid(x) on the output of a convolution's unit (Conv, BatchNormalization): the
  // NCHWc convolution runs it in its epilogue (no HardSigmoid kernel is left in mobilenet_v3's
  // profile but the one after a pool).
  if (op == "HardSigmoid" && unit_end == head + 2 && g.layers[static_cast<size_t>(head + 1)].op_type == "Mul") {
    const std::vector<int> in = l.DataInputs(g);
    const int p = in.size() == 1 ? g.values[static_cast<size_t>(in[0])].producer : -1;
    const auto unit = std::upper_bound(units.begin(), units.end(), p);
    if (p >= 0 && unit != units.begin() && g.layers[static_cast<size_t>(*(unit - 1))].op_type == "Conv") return true;
  }
  k.free = false;
  // SimplifiedLayerNormFusion: Pow, ReduceMean, Add, Sqrt, Div (and the scale Mul) are one
  // kernel; the sweep's LayerNormalization of the same tensor stands in for it.
  if (op == "Pow") {
    int end = MatchChain(g, head, {"Pow", "ReduceMean", "Add", "Sqrt", "Div"});
    if (end > 0) {
      const LayerDescriptor x = DescribeLayer(g, head);
      std::vector<std::vector<int64_t>> scale;
      if (MatchChain(g, end - 1, {"Div", "Mul"}) > 0) {
        const LayerDescriptor mul = DescribeLayer(g, end);
        if (mul.inputs.size() == 1 && mul.weights.size() == 1) scale = mul.weights, ++end;
      }
      if (!x.inputs.empty()) {
        k.end = end;
        k.layer = StandIn("LayerNormalization", x.inputs[0], scale, 8);
        return true;
      }
    }
  }
  // GeluFusion: x / sqrt(2), Erf, + 1, * x, * 0.5 are one elementwise kernel; an Erf of the
  // same tensor stands in for it (the ONNX this tool builds with predates a Gelu op).
  if (op == "Div") {
    const int end = MatchChain(g, head, {"Div", "Erf", "Add", "Mul", "Mul"});
    const LayerDescriptor x = end > 0 ? DescribeLayer(g, head) : LayerDescriptor{};
    if (!x.inputs.empty()) {
      k.end = end;
      k.layer = StandIn("Erf", x.inputs[0], {}, 4);
      return true;
    }
  }
  return false;
}

}  // namespace

ModelPrediction PredictModel(const Predictor& p, const Graph& graph, const ModelPredictionOptions& o) {
  ModelPrediction out;
  // Kernel-time predictions hold no call overhead: the model pays it once on top.
  const double overhead = o.overhead_correction || p.kernel_times ? p.run_overhead_ms : 0;
  const double per_unit = p.kernel_times ? 0 : overhead;
  const std::vector<int> units = FusionUnits(graph, o.fusion);
  const bool context = o.model_context && p.context.fitted();
  for (size_t u = 0; u + 1 < units.size();) {
    const int head = units[u];
    PredictedKernel kernel;
    kernel.begin = head;
    kernel.end = units[u + 1];
    kernel.op_type = graph.layers[static_cast<size_t>(head)].op_type;
    OrtKernel rewrite;
    // A rewrite covers whole units only.
    const bool rewritten = o.fusion == FusionRules::kOnnxRuntime && OrtRewrite(graph, units, head, kernel.end, &rewrite) &&
                           std::binary_search(units.begin(), units.end(), rewrite.end);
    if (rewritten) kernel.end = rewrite.end;
    while (u + 1 < units.size() && units[u] < kernel.end) ++u, ++out.units;
    if (IsViewOp(kernel.op_type) || (rewritten && rewrite.free)) {
      kernel.free = true;
      out.kernels.push_back(std::move(kernel));
      continue;
    }
    const LayerDescriptor d = rewritten ? rewrite.layer : DescribeUnit(graph, head, kernel.end);
    kernel.predicted_as = d.fused_bias ? d.op_type + "+bias" : d.op_type;
    kernel.lone_ms = p.PredictLayer(d);
    kernel.weight_bytes = 4.0 * static_cast<double>(d.params);
    if (!kernel.lone_ms) {
      ++out.unmodelled;
      ++out.unmodelled_ops[kernel.op_type];
    } else {
      kernel.lone_ms = std::max(0.0, *kernel.lone_ms - per_unit);
      kernel.ms = context ? p.context.Apply(*kernel.lone_ms, kernel.weight_bytes) : *kernel.lone_ms;
      out.lone_ms += *kernel.lone_ms;
      out.ms += *kernel.ms;
      out.uncertainty_ms += *kernel.ms * p.RelativeError(OpFamily(d.op_type));
    }
    out.kernels.push_back(std::move(kernel));
  }
  out.ms += overhead;
  out.lone_ms += overhead;
  return out;
}

double ModelContext::Apply(double lone_ms, double weight_bytes) const {
  return kernel_scale * lone_ms + ms_per_mb * std::min(weight_bytes, cache_bytes) / 1e6;
}

ContextPoint ContextPointOf(const std::string& model, const ModelPrediction& lone, double run_overhead_ms,
                            double measured_ms, double cache_bytes) {
  ContextPoint point;
  point.model = model;
  point.lone_ms = lone.lone_ms - run_overhead_ms;
  point.measured_ms = measured_ms - run_overhead_ms;
  for (const PredictedKernel& k : lone.kernels)
    if (k.lone_ms) point.cached_weight_mb += std::min(k.weight_bytes, cache_bytes) / 1e6;
  return point;
}

Status FitModelContext(const std::vector<ContextPoint>& points, ModelContext* c) {
  if (points.size() < 2)
    return Status::InvalidArgument(
        fmt::format("in-model context: needs end-to-end references of at least 2 models, found {}", points.size()));
  for (const ContextPoint& p : points)
    if (!(p.measured_ms > 0) || !(p.lone_ms > 0))
      return Status::InvalidArgument("in-model context: " + p.model + " has no positive latency or prediction");
  // Normal equations of the relative residuals: x = (lone, cached) / measured, target 1.
  double aa = 0, ab = 0, bb = 0, a1 = 0, b1 = 0;
  for (const ContextPoint& p : points) {
    const double a = p.lone_ms / p.measured_ms, b = p.cached_weight_mb / p.measured_ms;
    aa += a * a, ab += a * b, bb += b * b, a1 += a, b1 += b;
  }
  const double det = aa * bb - ab * ab;
  double scale = 0, per_mb = -1;
  if (det > 1e-12 * aa * bb) {
    scale = (a1 * bb - b1 * ab) / det;
    per_mb = (b1 * aa - a1 * ab) / det;
  }
  if (per_mb < 0 || scale <= 0) scale = a1 / aa, per_mb = 0;  // on the boundary: the scale alone
  if (!(scale > 0)) return Status::InvalidArgument("in-model context: the fit gave a non-positive kernel scale");
  c->kernel_scale = scale;
  c->ms_per_mb = per_mb;
  c->models.clear();
  std::vector<double> before, after;
  for (const ContextPoint& p : points) {
    c->models.push_back(p.model);
    before.push_back(p.lone_ms / p.measured_ms);
    after.push_back((scale * p.lone_ms + per_mb * p.cached_weight_mb) / p.measured_ms);
  }
  c->mape_before = MapeOfRatios(before);
  c->mape_after = MapeOfRatios(after);
  return Status::OK();
}

double ContextCacheBytes() {
  const int64_t llc = LastLevelCacheBytes();
  return static_cast<double>(llc > 0 ? llc : int64_t{32} << 20);
}

namespace {

struct LoadedModel {
  std::string path, name, family;
  Graph graph;
  std::optional<Measurement> reference;
};

// Loads each model's graph (no weights) and its end-to-end reference in `store`, if any.
Status LoadReferencedModels(const std::vector<std::string>& paths, Store* store, const StoreQuery& query,
                            const std::string& store_path, std::vector<LoadedModel>* models) {
  models->clear();
  models->resize(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    LoadedModel& m = (*models)[i];
    m.path = paths[i];
    m.name = std::filesystem::path(m.path).stem().string();
    m.family = ModelFamilyOf(m.name);
    IngestOptions ingest;
    ingest.load_weights = false;
    DLB_RETURN_IF_ERROR(LoadGraph(m.path, ingest, &m.graph));
    DLB_RETURN_IF_ERROR(LookupModelLatency(store, query, m.graph, &m.reference).WithPrefix(store_path));
  }
  return Status::OK();
}

// Trains options.train.kinds[0] on every sample whose layer is not in `excluded`.
Status TrainWithout(const std::vector<Sample>& samples, const std::set<std::string>& excluded,
                    const WholeModelOptions& o, Predictor* out, int* train_samples) {
  std::vector<Sample> kept;
  for (const Sample& s : samples)
    if (!excluded.count(s.item_id)) kept.push_back(s);
  TrainOptions t = o.train;
  if (t.kinds.empty()) t.kinds = {ModelKind::kXgboost};
  t.kinds.resize(1);
  t.per_family = false;
  std::map<std::string, Predictor> trained;
  TrainReport report;
  DLB_RETURN_IF_ERROR(TrainPredictors(kept, t, &trained, &report));
  if (trained.empty()) return Status::Internal("leave-family-out: nothing trained");
  *out = std::move(trained.begin()->second);
  *train_samples = report.train_samples;
  return Status::OK();
}

}  // namespace

Status ValidateWholeModels(const std::vector<std::string>& model_paths, const std::string& db_path,
                           const Predictor* predictor, const WholeModelOptions& o, WholeModelReport* report) {
  if (!o.leave_family_out && predictor == nullptr)
    return Status::InvalidArgument("whole-model validation needs a predictor file or leave-family-out");
  *report = WholeModelReport{};
  std::vector<Sample> samples;
  std::string system_id = predictor ? predictor->system_id : "";
  LabelCalibration calibration;
  if (o.leave_family_out) {
    DLB_RETURN_IF_ERROR(LoadDataset(db_path, o.dataset, &samples, &system_id));
    DLB_RETURN_IF_ERROR(CalibrateLabels(o.calibration, o.dataset, system_id, &samples, &calibration));
  } else if (system_id.empty()) {
    return Status::InvalidArgument("predictor file names no system: retrain it with this version");
  }
  report->system_id = system_id;
  double overhead = predictor ? predictor->run_overhead_ms : 0;
  if (o.leave_family_out) DLB_RETURN_IF_ERROR(LoadRunOverhead(db_path, system_id, &overhead));
  report->run_overhead_ms = overhead;

  const std::string e2e_path = o.e2e_db.empty() ? db_path : o.e2e_db;
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenExistingReadOnly(e2e_path, &store));
  StoreQuery query;
  query.system_id = system_id;
  query.protocol = o.e2e_protocol;

  std::vector<LoadedModel> models;
  DLB_RETURN_IF_ERROR(LoadReferencedModels(model_paths, store.get(), query, e2e_path, &models));
  std::map<std::string, std::set<std::string>> family_layers;  // family -> G=1 brick ids
  if (o.leave_family_out)
    for (const LoadedModel& m : models)
      for (int l = 0; l < static_cast<int>(m.graph.layers.size()); ++l)
        family_layers[m.family].insert(BrickSignature(m.graph, l, l + 1).Hex());

  std::map<std::string, Predictor> lofo;  // family -> predictor trained without it
  std::map<std::string, int> lofo_samples;
  // The predictor of a family's models: the given one, or one trained without the family.
  auto predictor_for = [&](const std::string& family, const Predictor** out) -> Status {
    *out = predictor;
    if (!o.leave_family_out) return Status::OK();
    if (!lofo.count(family)) {
      Predictor trained;
      DLB_RETURN_IF_ERROR(TrainWithout(samples, family_layers[family], o, &trained, &lofo_samples[family])
                              .WithPrefix("leave-family-out " + family));
      trained.system_id = system_id;
      trained.run_overhead_ms = overhead;
      trained.kernel_times = o.dataset.statistic == "kernel";
      trained.calibration = calibration;
      lofo[family] = std::move(trained);
    }
    *out = &lofo[family];
    return Status::OK();
  };
  std::map<std::string, ModelContext> lofo_context;  // family -> context fitted without it
  const double cache_bytes = ContextCacheBytes();
  ModelPredictionOptions lone_options = o.predict;
  lone_options.model_context = false;
  // A model's context-fit point under a predictor; the given predictor's are the same for every
  // held-out family, so they are predicted once.
  std::map<std::string, ContextPoint> given_points;
  auto lone_point = [&](const Predictor& p, const LoadedModel& m) {
    auto point = [&] {
      return ContextPointOf(m.name, PredictModel(p, m.graph, lone_options), p.run_overhead_ms,
                            m.reference->value_ms, cache_bytes);
    };
    if (&p != predictor) return point();
    auto it = given_points.find(m.name);
    if (it == given_points.end()) it = given_points.emplace(m.name, point()).first;
    return it->second;
  };
  for (LoadedModel& m : models) {
    if (!m.reference) {
      report->unmeasured.push_back(m.name);
      continue;
    }
    const Predictor* p = nullptr;
    DLB_RETURN_IF_ERROR(predictor_for(m.family, &p));
    WholeModelRow row;
    row.predictor = o.leave_family_out ? "lofo:" + m.family : "given";
    row.train_samples = o.leave_family_out ? lofo_samples[m.family] : p->train_samples;
    Predictor with_context;
    ModelPredictionOptions po = o.predict;
    po.model_context = o.context != WholeModelOptions::Context::kNone;
    row.context = po.model_context && p->context.fitted() ? "file" : "none";
    if (o.context == WholeModelOptions::Context::kFile && p->context.fitted())
      report->context_in_sample += static_cast<int>(
          std::count(p->context.models.begin(), p->context.models.end(), m.name));
    if (o.context == WholeModelOptions::Context::kLeaveFamilyOut) {
      if (!lofo_context.count(m.family)) {
        std::vector<ContextPoint> points;
        for (const LoadedModel& other : models)
          if (other.reference && other.family != m.family) points.push_back(lone_point(*p, other));
        ModelContext fitted;
        const Status fit = FitModelContext(points, &fitted);
        if (!fit.ok())
          return Status::InvalidArgument("leave-family-out " + m.family + ": " + fit.message() +
                                         " of other families (or validate without the context)");
        fitted.cache_bytes = cache_bytes;
        lofo_context[m.family] = fitted;
      }
      with_context = *p;
      with_context.context = lofo_context[m.family];
      p = &with_context;
      row.context = "lofo:" + m.family;
    }
    const ModelPrediction pred = PredictModel(*p, m.graph, po);
    row.model = m.name;
    row.family = m.family;
    row.measured_ms = m.reference->value_ms;
    row.predicted_ms = pred.ms;
    row.lone_ms = pred.lone_ms;
    row.uncertainty_ms = pred.uncertainty_ms;
    row.units = pred.units;
    row.unmodelled = pred.unmodelled;
    report->rows.push_back(row);
  }
  if (report->rows.empty()) return Status::NotFound(e2e_path + ": no end-to-end reference of these models for system " + system_id);
  std::vector<double> ratios, lone_ratios;
  for (const WholeModelRow& r : report->rows) {
    ratios.push_back(std::max(r.predicted_ms, 1e-9) / r.measured_ms);
    lone_ratios.push_back(std::max(r.lone_ms, 1e-9) / r.measured_ms);
  }
  report->mape = MapeOfRatios(ratios);
  report->geomean_normalised = GeoMean(ratios);
  report->lone_mape = MapeOfRatios(lone_ratios);
  report->lone_geomean_normalised = GeoMean(lone_ratios);
  return Status::OK();
}

Status FitContextOnModels(const Predictor& p, const std::vector<std::string>& model_paths, const std::string& db_path,
                          const WholeModelOptions& o, ModelContext* context, std::vector<ContextPoint>* points,
                          std::vector<std::string>* unmeasured) {
  if (p.system_id.empty()) return Status::InvalidArgument("predictor file names no system: retrain it with this version");
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenExistingReadOnly(db_path, &store));
  StoreQuery query;
  query.system_id = p.system_id;
  query.protocol = o.e2e_protocol;
  ModelPredictionOptions lone = o.predict;
  lone.model_context = false;
  const double cache_bytes = ContextCacheBytes();
  std::vector<LoadedModel> models;
  DLB_RETURN_IF_ERROR(LoadReferencedModels(model_paths, store.get(), query, db_path, &models));
  points->clear();
  for (const LoadedModel& m : models) {
    if (!m.reference) {
      unmeasured->push_back(m.name);
      continue;
    }
    points->push_back(
        ContextPointOf(m.name, PredictModel(p, m.graph, lone), p.run_overhead_ms, m.reference->value_ms, cache_bytes));
  }
  DLB_RETURN_IF_ERROR(FitModelContext(*points, context).WithPrefix(db_path));
  context->cache_bytes = cache_bytes;
  return Status::OK();
}

std::string WholeModelTable(const WholeModelReport& r) {
  std::string out = fmt::format("system {}  run overhead {:.4f} ms\n", r.system_id, r.run_overhead_ms);
  out += fmt::format("{:<22} {:<14} {:>12} {:>12} {:>8} {:>12} {:>6} {:>11}  {:<18} {}\n", "model", "family",
                     "measured_ms", "predicted_ms", "error", "lone_ms", "units", "unmodelled", "predictor", "context");
  for (const WholeModelRow& row : r.rows)
    out += fmt::format("{:<22} {:<14} {:>12.3f} {:>12.3f} {:>+7.1f}% {:>12.3f} {:>6} {:>11}  {:<18} {}\n", row.model,
                       row.family, row.measured_ms, row.predicted_ms, 100 * (row.predicted_ms / row.measured_ms - 1),
                       row.lone_ms, row.units, row.unmodelled, row.predictor, row.context);
  out += fmt::format("{} models: MAPE {:.2f}%, geomean predicted/measured {:.3f}", r.rows.size(), r.mape,
                     r.geomean_normalised);
  out += fmt::format(" (kernels as lone layers: {:.2f}%, {:.3f})\n", r.lone_mape, r.lone_geomean_normalised);
  if (r.context_in_sample > 0)
    out += fmt::format(
        "the file's in-model context was fitted on {} of these models: in-sample for them (--context lofo refits it "
        "without each family)\n",
        r.context_in_sample);
  if (!r.unmeasured.empty()) {
    out += "no end-to-end reference (not scored):";
    for (const std::string& m : r.unmeasured) out += " " + m;
    out += "\n";
  }
  return out;
}

std::string WholeModelJson(const WholeModelReport& r) {
  nlohmann::json j = {{"schema_version", 1},
                      {"system_id", r.system_id},
                      {"run_overhead_ms", r.run_overhead_ms},
                      {"mape", r.mape},
                      {"geomean_normalised", r.geomean_normalised},
                      {"lone_mape", r.lone_mape},
                      {"lone_geomean_normalised", r.lone_geomean_normalised},
                      {"context_in_sample", r.context_in_sample},
                      {"unmeasured", r.unmeasured},
                      {"models", nlohmann::json::array()}};
  for (const WholeModelRow& row : r.rows)
    j["models"].push_back({{"model", row.model},
                           {"family", row.family},
                           {"measured_ms", row.measured_ms},
                           {"predicted_ms", row.predicted_ms},
                           {"lone_ms", row.lone_ms},
                           {"uncertainty_ms", row.uncertainty_ms},
                           {"units", row.units},
                           {"unmodelled", row.unmodelled},
                           {"predictor", row.predictor},
                           {"context", row.context},
                           {"train_samples", row.train_samples}});
  return j.dump(2) + "\n";
}

}  // namespace dlbricks
