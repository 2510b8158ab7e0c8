// Whole models from per-layer predictions (ResPerfNet section 5.3), composed per fused
// kernel as nn-Meter does, and their validation against measured end-to-end latency,
// including the leave-one-family-out split.
#include <cctype>
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

Status LoadRunOverhead(const std::string& db_path, const std::string& system_id, double* overhead_ms) {
  *overhead_ms = 0;
  std::unique_ptr<Store> store;
  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  DLB_RETURN_IF_ERROR(OpenStore(db_path, so, &store));
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
    kernel.ms = p.PredictLayer(d);
    if (!kernel.ms) {
      ++out.unmodelled;
      ++out.unmodelled_ops[kernel.op_type];
    } else {
      kernel.ms = std::max(0.0, *kernel.ms - per_unit);
      out.ms += *kernel.ms;
      out.uncertainty_ms += *kernel.ms * p.RelativeError(OpFamily(d.op_type));
    }
    out.kernels.push_back(std::move(kernel));
  }
  out.ms += overhead;
  return out;
}

std::string ModelFamilyOf(const std::string& name) {
  std::string family;
  for (char c : name) {
    if (!std::isalpha(static_cast<unsigned char>(c))) break;
    family += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return family.empty() ? name : family;
}

namespace {

struct LoadedModel {
  std::string path, name, family;
  Graph graph;
  std::optional<Measurement> reference;
};

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
  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  DLB_RETURN_IF_ERROR(OpenStore(e2e_path, so, &store));
  StoreQuery query;
  query.system_id = system_id;
  query.protocol = o.e2e_protocol;

  std::vector<LoadedModel> models(model_paths.size());
  std::map<std::string, std::set<std::string>> family_layers;  // family -> G=1 brick ids
  for (size_t i = 0; i < model_paths.size(); ++i) {
    LoadedModel& m = models[i];
    m.path = model_paths[i];
    m.name = std::filesystem::path(m.path).stem().string();
    m.family = ModelFamilyOf(m.name);
    IngestOptions ingest;
    ingest.load_weights = false;
    DLB_RETURN_IF_ERROR(LoadGraph(m.path, ingest, &m.graph));
    DLB_RETURN_IF_ERROR(LookupModelLatency(store.get(), query, m.graph, &m.reference).WithPrefix(e2e_path));
    if (o.leave_family_out)
      for (int l = 0; l < static_cast<int>(m.graph.layers.size()); ++l)
        family_layers[m.family].insert(BrickSignature(m.graph, l, l + 1).Hex());
  }

  std::map<std::string, Predictor> lofo;  // family -> predictor trained without it
  std::map<std::string, int> lofo_samples;
  for (LoadedModel& m : models) {
    if (!m.reference) {
      report->unmeasured.push_back(m.name);
      continue;
    }
    const Predictor* p = predictor;
    WholeModelRow row;
    row.predictor = "given";
    row.train_samples = predictor ? predictor->train_samples : 0;
    if (o.leave_family_out) {
      if (!lofo.count(m.family)) {
        Predictor trained;
        DLB_RETURN_IF_ERROR(TrainWithout(samples, family_layers[m.family], o, &trained, &lofo_samples[m.family])
                                .WithPrefix("leave-family-out " + m.family));
        trained.system_id = system_id;
        trained.run_overhead_ms = overhead;
        trained.kernel_times = o.dataset.statistic == "kernel";
        trained.calibration = calibration;
        lofo[m.family] = std::move(trained);
      }
      p = &lofo[m.family];
      row.predictor = "lofo:" + m.family;
      row.train_samples = lofo_samples[m.family];
    }
    const ModelPrediction pred = PredictModel(*p, m.graph, o.predict);
    row.model = m.name;
    row.family = m.family;
    row.measured_ms = m.reference->value_ms;
    row.predicted_ms = pred.ms;
    row.uncertainty_ms = pred.uncertainty_ms;
    row.units = pred.units;
    row.unmodelled = pred.unmodelled;
    report->rows.push_back(row);
  }
  if (report->rows.empty()) return Status::NotFound(e2e_path + ": no end-to-end reference of these models for system " + system_id);
  std::vector<double> ratios;
  double ape = 0;
  for (const WholeModelRow& r : report->rows) {
    ratios.push_back(std::max(r.predicted_ms, 1e-9) / r.measured_ms);
    ape += std::abs(r.predicted_ms / r.measured_ms - 1);
  }
  report->mape = 100 * ape / static_cast<double>(report->rows.size());
  report->geomean_normalised = GeoMean(ratios);
  return Status::OK();
}

std::string WholeModelTable(const WholeModelReport& r) {
  std::string out = fmt::format("system {}  run overhead {:.4f} ms\n", r.system_id, r.run_overhead_ms);
  out += fmt::format("{:<22} {:<14} {:>12} {:>12} {:>8} {:>6} {:>11}  {}\n", "model", "family", "measured_ms",
                     "predicted_ms", "error", "units", "unmodelled", "predictor");
  for (const WholeModelRow& row : r.rows)
    out += fmt::format("{:<22} {:<14} {:>12.3f} {:>12.3f} {:>+7.1f}% {:>6} {:>11}  {}\n", row.model, row.family,
                       row.measured_ms, row.predicted_ms, 100 * (row.predicted_ms / row.measured_ms - 1), row.units,
                       row.unmodelled, row.predictor);
  out += fmt::format("{} models: MAPE {:.2f}%, geomean predicted/measured {:.3f}\n", r.rows.size(), r.mape,
                     r.geomean_normalised);
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
                      {"unmeasured", r.unmeasured},
                      {"models", nlohmann::json::array()}};
  for (const WholeModelRow& row : r.rows)
    j["models"].push_back({{"model", row.model},
                           {"family", row.family},
                           {"measured_ms", row.measured_ms},
                           {"predicted_ms", row.predicted_ms},
                           {"uncertainty_ms", row.uncertainty_ms},
                           {"units", row.units},
                           {"unmodelled", row.unmodelled},
                           {"predictor", row.predictor},
                           {"train_samples", row.train_samples}});
  return j.dump(2) + "\n";
}

}  // namespace dlbricks
