// Layer descriptors, feature vectors and the Box-Cox + z-score normaliser (ResPerfNet
// Appendixes C and D).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "dlbricks/predict.h"

namespace dlbricks {
namespace {

using json = nlohmann::json;

const std::vector<std::string>& ModelledOps() {
  static const std::vector<std::string> ops = {
      "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "BatchNormalization", "Relu",
      "Sigmoid", "Clip", "Erf", "Add", "Mul", "Concat", "MatMul", "Softmax", "LayerNormalization",
      // Since format 2: the data-movement, reduction and elementwise ops of the corpus.
      "Transpose", "Slice", "Pad", "ReduceMean", "Div", "Sub", "Pow", "Sqrt", "Gather", "HardSigmoid",
      "HardSwish"};
  return ops;
}

std::vector<int64_t> IntsAttr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

int64_t IntAttr(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

double Product(const std::vector<int64_t>& v) {
  double p = 1;
  for (int64_t x : v) p *= static_cast<double>(x);
  return p;
}

// dims[i], or 1 past the end; the trailing spatial extent folds dims 3.. together.
double Dim(const std::vector<int64_t>& d, size_t i) { return i < d.size() ? static_cast<double>(d[i]) : 1.0; }
double Tail(const std::vector<int64_t>& d, size_t from) {
  double p = 1;
  for (size_t i = from; i < d.size(); ++i) p *= static_cast<double>(d[i]);
  return p;
}

// 1 when x is a whole number of blocks.
double Multiple(double x, double block) { return std::fmod(x, block) == 0 ? 1.0 : 0.0; }

double Sum(const std::vector<int64_t>& v) {
  double s = 0;
  for (int64_t x : v) s += static_cast<double>(x);
  return s;
}

// Features numbered after the one-hot op block.
const std::vector<std::string>& NumericFeatureNames() {
  static const std::vector<std::string> names = {
      "batch", "in_channels", "in_h", "in_w", "out_channels", "out_h", "out_w", "rank", "num_inputs",
      "in_elements", "out_elements", "kernel_h", "kernel_w", "kernel_area", "stride_h", "stride_w",
      "pad_total", "dilation", "groups", "channels_per_group", "depthwise", "has_bias", "gemm_m",
      "gemm_k", "gemm_n", "broadcast", "last_axis", "macs", "flops", "params", "bytes_read",
      "bytes_written", "macs_per_output", "arithmetic_intensity",
      // Since format 2: how the data moves (Transpose, Slice, Pad, Gather, Reduce*).
      "num_outputs", "contiguous_run", "moves_last_axis", "in_out_ratio",
      // Since format 3: channel and GEMM alignment to the SIMD block (8 floats AVX2, 16 AVX-512).
      // ONNX Runtime runs a Conv or pool in its blocked NCHWc layout only when the channels are
      // whole blocks; otherwise it takes a slower path (in the sweep a depthwise 7x7 over 570
      // channels measured 1.02 ms, 14x the one over 512).
      "in_channels_x8", "in_channels_x16", "out_channels_x8", "out_channels_x16", "gemm_k_x16",
      "gemm_n_x16",
      // Since format 4: a MatMul by a weight that ONNX Runtime fuses with its bias Add into a Gemm.
      "fused_bias",
      // Since format 5: the Conv or pool runs in ONNX Runtime's NCHWc layout (RunsNchwc).
      "nchwc_layout",
      // Since format 6: the same decision as ONNX Runtime 1.30 makes it, read off the sweep's
      // own profiles (RunsNchwc); format 5's rule was wrong for 242 of 2,247 Convs.
      "nchwc_measured"};
  return names;
}

// How a data-movement op walks memory: the elements of its longest contiguous copy (the whole
// output for ops that stream) and whether the innermost axis is reordered, cut or reduced.
struct Movement {
  double run = 1;
  bool moves_last = false;
};

Movement DataMovement(const LayerDescriptor& d) {
  Movement m;
  if (d.inputs.empty() || d.outputs.empty()) return m;
  const std::vector<int64_t>& in = d.inputs[0];
  const std::vector<int64_t>& out = d.outputs[0];
  m.run = Product(out);
  if (d.op_type == "Transpose" && d.perm.size() == in.size()) {
    // Ignoring size-1 axes, the input axes that stay innermost and in order are one run.
    std::vector<int64_t> src, dst;
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] != 1) src.push_back(static_cast<int64_t>(i));
    for (int64_t p : d.perm)
      if (p >= 0 && p < static_cast<int64_t>(in.size()) && in[static_cast<size_t>(p)] != 1) dst.push_back(p);
    m.run = 1;
    for (size_t k = 1; k <= std::min(src.size(), dst.size()) && src[src.size() - k] == dst[dst.size() - k]; ++k)
      m.run *= static_cast<double>(in[static_cast<size_t>(src[src.size() - k])]);
    m.moves_last = !src.empty() && (dst.empty() || dst.back() != src.back());
  } else if (d.op_type == "Gather") {
    m.run = Tail(in, static_cast<size_t>(d.axis) + 1);
    m.moves_last = d.axis + 1 >= static_cast<int64_t>(in.size());
  } else if (d.op_type.rfind("Reduce", 0) == 0 && !d.axes.empty()) {
    m.run = Tail(in, static_cast<size_t>(d.axes.back()) + 1);
    m.moves_last = d.axes.back() + 1 == static_cast<int64_t>(in.size());
  } else if ((d.op_type == "Slice" || d.op_type == "Pad") && in.size() == out.size()) {
    // The innermost axis whose extent changes bounds the contiguous pieces.
    for (size_t i = in.size(); i-- > 0;)
      if (in[i] != out[i]) {
        m.run = std::min(Tail(in, i), Tail(out, i));
        m.moves_last = i + 1 == in.size();
        break;
      }
  }
  return m;
}

// Which Convs and pools run in ONNX Runtime's blocked NCHWc layout (block = 16 floats on
// AVX-512). Both rules agree that a pool needs whole blocks of channels and that a grouped Conv
// (not depthwise) needs whole blocks of input and output channels per group (ResNeXt's 512/32 = 16
// does, RegNet's 168/7 = 24 does not).
// kFormat5 (feature nchwc_layout): a group-1 Conv over whole blocks or fewer channels than a
// block (a first 3-channel Conv reads its NCHW input directly), a depthwise Conv over whole blocks.
// kMeasured (feature nchwc_measured, format 6): the rule as ONNX Runtime 1.30's profiles show it
// (a lone layer that runs blocked is wrapped in ReorderInput/ReorderOutput), with no exception
// over the 2,247 Convs and 1,306 pools of the session-6 sweep: a group-1 Conv over a multiple of
// 4 input channels or fewer than a block (its output is padded to blocks), a depthwise Conv over
// a multiple of 4 channels. kFormat5 read 187 group-1 Convs over 24, 40, 152, ... channels and 55
// depthwise ones over 24, 76, 124, ... as unblocked; they run blocked, 3-10x faster.
enum class NchwcRule { kFormat5, kMeasured };
bool RunsNchwc(const LayerDescriptor& d, NchwcRule rule) {
  constexpr int64_t kBlock = 16;
  const int64_t align = rule == NchwcRule::kMeasured ? 4 : kBlock;
  if (d.inputs.empty() || d.inputs[0].size() != 4) return false;
  if (d.op_type == "MaxPool" || d.op_type == "AveragePool" || d.op_type == "GlobalAveragePool")
    return d.inputs[0][1] % kBlock == 0;
  if (d.op_type != "Conv" || d.weights.empty() || d.weights[0].size() != 4) return false;
  const int64_t out = d.weights[0][0], in_per_group = d.weights[0][1], groups = std::max<int64_t>(1, d.group);
  if (groups == 1) return in_per_group < kBlock || in_per_group % align == 0;
  if (in_per_group == 1 && out == groups) return out % align == 0;  // depthwise
  return in_per_group % kBlock == 0 && out % groups == 0 && (out / groups) % kBlock == 0;
}

}  // namespace

std::string OpFamily(const std::string& op) {
  if (op == "Conv") return "conv";
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") return "pool";
  if (op == "Gemm") return "gemm";
  if (op == "BatchNormalization") return "bn";
  if (op == "Relu" || op == "Sigmoid" || op == "Clip" || op == "Erf" || op == "HardSigmoid" || op == "HardSwish")
    return "act";
  if (op == "Add") return "add";
  if (op == "Mul") return "mul";
  if (op == "Concat") return "concat";
  if (op == "MatMul") return "matmul";
  if (op == "Softmax") return "softmax";
  if (op == "LayerNormalization") return "layernorm";
  if (op == "Transpose") return "transpose";
  if (op == "Slice") return "slice";
  if (op == "Pad") return "pad";
  if (op == "ReduceMean") return "reduce";
  if (op == "Div" || op == "Sub" || op == "Pow" || op == "Sqrt") return "eltwise";
  if (op == "Gather") return "gather";
  return "";
}

const std::vector<std::string>& PredictorFamilies() {
  static const std::vector<std::string> f = {"conv",   "pool",      "gemm",      "bn",    "act",   "add",
                                             "mul",    "concat",    "matmul",    "softmax", "layernorm",
                                             "transpose", "slice", "pad", "reduce", "eltwise", "gather"};
  return f;
}

LayerDescriptor DescribeLayer(const Graph& graph, int index) {
  const Layer& l = graph.layers[index];
  LayerDescriptor d;
  d.op_type = l.op_type;
  for (int v : l.inputs) {
    if (v < 0) continue;
    const Value& val = graph.values[v];
    if (val.kind == ValueKind::kGraphInput || val.kind == ValueKind::kActivation)
      d.inputs.push_back(val.type.dims);
    else if (val.kind == ValueKind::kWeight)
      d.weights.push_back(val.type.dims);
  }
  for (int v : l.outputs)
    if (v >= 0) d.outputs.push_back(graph.values[v].type.dims);
  const onnx::NodeProto& n = l.node;
  d.kernel = IntsAttr(n, "kernel_shape");
  if (d.kernel.empty() && l.op_type == "Conv" && !d.weights.empty() && d.weights[0].size() > 2)
    d.kernel.assign(d.weights[0].begin() + 2, d.weights[0].end());
  if (l.op_type == "GlobalAveragePool" && !d.inputs.empty() && d.inputs[0].size() > 2)
    d.kernel.assign(d.inputs[0].begin() + 2, d.inputs[0].end());
  d.strides = IntsAttr(n, "strides");
  d.pads = IntsAttr(n, "pads");
  d.dilations = IntsAttr(n, "dilations");
  d.group = IntAttr(n, "group", 1);
  d.trans_b = IntAttr(n, "transB", 0);
  int64_t axis = IntAttr(n, "axis", l.op_type == "Softmax" || l.op_type == "LayerNormalization" ? -1 : 0);
  const size_t rank = d.inputs.empty() ? 0 : d.inputs[0].size();
  if (axis < 0) axis += static_cast<int64_t>(rank);
  d.axis = axis;
  if (l.op_type == "Transpose") {
    d.perm = IntsAttr(n, "perm");
    if (d.perm.empty())  // default: reverse the axes
      for (size_t i = rank; i-- > 0;) d.perm.push_back(static_cast<int64_t>(i));
  }
  if (l.op_type.rfind("Reduce", 0) == 0) {
    d.axes = IntsAttr(n, "axes");
    for (int64_t& a : d.axes)
      if (a < 0) a += static_cast<int64_t>(rank);
    // Opset 18 passes axes as an input: the shapes tell which axes shrank.
    if (d.axes.empty() && !d.outputs.empty() && d.outputs[0].size() == rank)
      for (size_t i = 0; i < rank; ++i)
        if (d.inputs[0][i] != d.outputs[0][i]) d.axes.push_back(static_cast<int64_t>(i));
    std::sort(d.axes.begin(), d.axes.end());
    if (!d.axes.empty()) d.axis = d.axes.back();
  }
  d.macs = l.cost.macs;
  d.flops = l.cost.flops;
  d.params = l.cost.params;
  d.bytes_read = l.cost.bytes_read;
  d.bytes_written = l.cost.bytes_written;
  return d;
}

std::string DescriptorToJson(const LayerDescriptor& d) {
  json j = {{"op", d.op_type},       {"inputs", d.inputs},   {"weights", d.weights},
            {"outputs", d.outputs},  {"kernel", d.kernel},   {"strides", d.strides},
            {"pads", d.pads},        {"dilations", d.dilations}, {"group", d.group},
            {"axis", d.axis},        {"trans_b", d.trans_b}, {"perm", d.perm},
            {"axes", d.axes},        {"fused_bias", d.fused_bias}, {"macs", d.macs},
            {"flops", d.flops},      {"params", d.params},   {"bytes_read", d.bytes_read},
            {"bytes_written", d.bytes_written}};
  return j.dump();
}

Status DescriptorFromJson(const std::string& text, LayerDescriptor* d) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("layer descriptor is not a JSON object");
  try {
    d->op_type = j.at("op").get<std::string>();
    d->inputs = j.at("inputs").get<std::vector<std::vector<int64_t>>>();
    d->weights = j.value("weights", std::vector<std::vector<int64_t>>{});
    d->outputs = j.at("outputs").get<std::vector<std::vector<int64_t>>>();
    d->kernel = j.value("kernel", std::vector<int64_t>{});
    d->strides = j.value("strides", std::vector<int64_t>{});
    d->pads = j.value("pads", std::vector<int64_t>{});
    d->dilations = j.value("dilations", std::vector<int64_t>{});
    d->group = j.value("group", int64_t{1});
    d->axis = j.value("axis", int64_t{0});
    d->trans_b = j.value("trans_b", int64_t{0});
    d->perm = j.value("perm", std::vector<int64_t>{});  // absent in sidecars before format 2
    d->axes = j.value("axes", std::vector<int64_t>{});
    d->fused_bias = j.value("fused_bias", false);  // absent before format 4
    d->macs = j.value("macs", 0.0);
    d->flops = j.value("flops", 0.0);
    d->params = j.value("params", int64_t{0});
    d->bytes_read = j.value("bytes_read", int64_t{0});
    d->bytes_written = j.value("bytes_written", int64_t{0});
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("layer descriptor: ") + e.what());
  }
  if (d->inputs.empty() || d->outputs.empty()) return Status::Corruption("layer descriptor without inputs or outputs");
  return Status::OK();
}

const std::vector<std::string>& FeatureNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const std::string& op : ModelledOps()) n.push_back("op_" + op);
    for (const std::string& f : NumericFeatureNames()) n.push_back(f);
    return n;
  }();
  return names;
}

std::vector<double> LayerFeatures(const LayerDescriptor& d) {
  std::vector<double> f;
  f.reserve(FeatureNames().size());
  for (const std::string& op : ModelledOps()) f.push_back(d.op_type == op ? 1.0 : 0.0);
  static const std::vector<int64_t> kNone;
  const std::vector<int64_t>& in = d.inputs.empty() ? kNone : d.inputs[0];
  const std::vector<int64_t>& out = d.outputs.empty() ? kNone : d.outputs[0];
  double in_elements = 0;
  for (const auto& i : d.inputs) in_elements += Product(i);
  const double out_elements = Product(out);
  const double kh = d.kernel.empty() ? 1 : static_cast<double>(d.kernel[0]);
  const double kw = d.kernel.size() < 2 ? 1 : static_cast<double>(d.kernel[1]);
  const double sh = d.strides.empty() ? 1 : static_cast<double>(d.strides[0]);
  const double sw = d.strides.size() < 2 ? sh : static_cast<double>(d.strides[1]);
  const double dil = d.dilations.empty() ? 1 : static_cast<double>(*std::max_element(d.dilations.begin(), d.dilations.end()));
  const double cin = Dim(in, 1);
  const double groups = static_cast<double>(std::max<int64_t>(1, d.group));
  // GEMM view: Gemm/MatMul [.., M, K] x [K, N]; other ops leave it at 1.
  double m = 1, k = 1, n = 1;
  if ((d.op_type == "Gemm" || d.op_type == "MatMul") && !in.empty()) {
    k = static_cast<double>(in.back());
    m = Product(in) / std::max(1.0, k);
    n = out.empty() ? 1 : static_cast<double>(out.back());
  }
  bool broadcast = false;
  for (const auto& i : d.inputs)
    if (Product(i) != out_elements) broadcast = true;
  const bool has_bias = (d.op_type == "Conv" && d.weights.size() > 1) || (d.op_type == "Gemm" && d.weights.size() > 1);
  const double bytes = static_cast<double>(d.bytes_read + d.bytes_written);
  double all_out = 0;
  for (const auto& o : d.outputs) all_out += Product(o);
  const Movement move = DataMovement(d);
  const std::vector<double> numeric = {
      Dim(in, 0), cin, Dim(in, 2), Tail(in, 3), Dim(out, 1), Dim(out, 2), Tail(out, 3),
      static_cast<double>(in.size()), static_cast<double>(d.inputs.size()), in_elements, out_elements, kh, kw,
      Product(d.kernel), sh, sw, Sum(d.pads), dil, groups, cin / groups,
      (d.op_type == "Conv" && groups > 1 && groups == cin) ? 1.0 : 0.0, has_bias ? 1.0 : 0.0, m, k, n,
      broadcast ? 1.0 : 0.0,
      (!in.empty() && d.axis == static_cast<int64_t>(in.size()) - 1) ? 1.0 : 0.0, d.macs, d.flops,
      static_cast<double>(d.params), static_cast<double>(d.bytes_read), static_cast<double>(d.bytes_written),
      d.macs / std::max(1.0, out_elements), d.flops / std::max(1.0, bytes),
      static_cast<double>(d.outputs.size()), move.run, move.moves_last ? 1.0 : 0.0,
      Product(in) / std::max(1.0, all_out), Multiple(cin, 8), Multiple(cin, 16),
      Multiple(Dim(out, 1), 8), Multiple(Dim(out, 1), 16), Multiple(k, 16), Multiple(n, 16),
      d.op_type == "MatMul" && d.fused_bias ? 1.0 : 0.0, RunsNchwc(d, NchwcRule::kFormat5) ? 1.0 : 0.0,
      RunsNchwc(d, NchwcRule::kMeasured) ? 1.0 : 0.0};
  f.insert(f.end(), numeric.begin(), numeric.end());
  return f;
}

// ---- Box-Cox + z-score -------------------------------------------------------------------

double BoxCox(double x, double lambda) {
  return std::abs(lambda) < 1e-9 ? std::log(x) : (std::pow(x, lambda) - 1) / lambda;
}

double InverseBoxCox(double y, double lambda) {
  if (std::abs(lambda) < 1e-9) return std::exp(y);
  return std::pow(std::max(lambda * y + 1, 1e-300), 1 / lambda);
}

namespace {

// Profile log-likelihood of Box-Cox lambda (normal model), up to a constant.
double BoxCoxLogLikelihood(const std::vector<double>& x, double lambda, double sum_log) {
  const double n = static_cast<double>(x.size());
  double mean = 0;
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) mean += (y[i] = BoxCox(x[i], lambda));
  mean /= n;
  double var = 0;
  for (double v : y) var += (v - mean) * (v - mean);
  var /= n;
  if (!(var > 0) || !std::isfinite(var)) return -1e300;
  return -n / 2 * std::log(var) + (lambda - 1) * sum_log;
}

}  // namespace

void FeatureNormalizer::Fit(const std::vector<std::vector<double>>& rows) {
  const size_t f = rows.empty() ? 0 : rows[0].size();
  box_cox.assign(f, false);
  lambda.assign(f, 1.0);
  mean.assign(f, 0.0);
  stddev.assign(f, 1.0);
  for (size_t j = 0; j < f; ++j) {
    std::vector<double> col(rows.size());
    bool binary = true;
    for (size_t i = 0; i < rows.size(); ++i) {
      col[i] = rows[i][j];
      if (col[i] != 0 && col[i] != 1) binary = false;
    }
    if (!binary) {
      // Features are non-negative counts and sizes: transform x+1 so zeros are allowed.
      double sum_log = 0;
      for (double& v : col) sum_log += std::log(v = std::max(0.0, v) + 1);
      double best = 1, best_ll = -1e301;
      for (double l = -2; l <= 2.0001; l += 0.1) {
        const double ll = BoxCoxLogLikelihood(col, l, sum_log);
        if (ll > best_ll) best_ll = ll, best = l;
      }
      box_cox[j] = true;
      lambda[j] = std::abs(best) < 1e-6 ? 0.0 : best;
      for (double& v : col) v = BoxCox(v, lambda[j]);
    }
    double s = 0, ss = 0;
    for (double v : col) s += v;
    mean[j] = col.empty() ? 0 : s / static_cast<double>(col.size());
    for (double v : col) ss += (v - mean[j]) * (v - mean[j]);
    const double sd = col.size() > 1 ? std::sqrt(ss / static_cast<double>(col.size() - 1)) : 0;
    stddev[j] = sd > 1e-12 ? sd : 1.0;
  }
}

std::vector<double> FeatureNormalizer::Apply(const std::vector<double>& x) const {
  std::vector<double> z(x.size());
  for (size_t j = 0; j < x.size() && j < mean.size(); ++j) {
    double v = x[j];
    if (box_cox[j]) v = BoxCox(std::max(0.0, v) + 1, lambda[j]);
    z[j] = (v - mean[j]) / stddev[j];
  }
  return z;
}

std::vector<double> FeatureNormalizer::Invert(const std::vector<double>& z) const {
  std::vector<double> x(z.size());
  for (size_t j = 0; j < z.size() && j < mean.size(); ++j) {
    double v = z[j] * stddev[j] + mean[j];
    if (box_cox[j]) v = InverseBoxCox(v, lambda[j]) - 1;
    x[j] = v;
  }
  return x;
}

}  // namespace dlbricks
