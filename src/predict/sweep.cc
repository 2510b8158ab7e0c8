// Sweep generator: random single-layer networks over ResPerfNet's Appendix A ranges (plus the
// other op types that dominate the corpus), skewed toward shapes torchvision models use,
// measured with a short protocol and stored with the system fingerprint.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "dlbricks/decompose.h"
#include "dlbricks/predict.h"
#include "dlbricks/suite.h"

namespace dlbricks {
namespace {

// splitmix64: the whole network is a function of (seed, index).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  int64_t Int(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1)); }
  bool Chance(double p) { return Uniform() < p; }
  template <typename T>
  T Pick(const std::vector<T>& v) { return v[Next() % v.size()]; }

 private:
  uint64_t s_;
};

// Channel counts: mostly the widths of real CNNs, some multiples of 8, a few arbitrary.
int64_t Channels(Rng& r, int64_t max = 2048) {
  int64_t c;
  const double u = r.Uniform();
  if (u < 0.7)
    c = r.Pick<int64_t>({16, 24, 32, 48, 64, 64, 96, 128, 128, 160, 192, 256, 256, 320, 384, 512, 512, 576, 768,
                         960, 1024, 1280, 2048});
  else if (u < 0.85)
    c = 8 * r.Int(1, 128);
  else
    c = r.Int(1, 1024);
  return std::min(c, max);
}

int64_t Spatial(Rng& r) {
  const double u = r.Uniform();
  if (u < 0.65) return r.Pick<int64_t>({7, 7, 14, 14, 28, 28, 56, 56, 112, 224});
  if (u < 0.75) return r.Pick<int64_t>({13, 27, 35, 55, 17, 8, 299});
  return r.Int(7, 224);
}

int64_t Batch(Rng& r) { return r.Chance(0.8) ? 1 : r.Pick<int64_t>({2, 4, 8}); }
int64_t SeqLen(Rng& r) { return r.Pick<int64_t>({49, 50, 64, 128, 196, 197, 256}); }
int64_t Hidden(Rng& r) { return r.Pick<int64_t>({256, 384, 512, 768, 768, 1024, 3072}); }

double Elements(const std::vector<int64_t>& d) {
  double p = 1;
  for (int64_t x : d) p *= static_cast<double>(x);
  return p;
}

// A tiny single-layer ONNX builder (weights deterministic, values irrelevant to latency).
class NetBuilder {
 public:
  NetBuilder() {
    model_.set_ir_version(8);
    model_.set_producer_name("dlbricks-predictor-sweep");
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(17);
    model_.mutable_graph()->set_name("sweep");
  }
  std::string Input(const std::vector<int64_t>& dims) {
    const std::string name = "input_" + std::to_string(inputs_++);
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    elements_ = std::max(elements_, Elements(dims));
    return name;
  }
  std::string Weight(const std::vector<int64_t>& dims, float value = 0.01f) {
    const std::string name = "w" + std::to_string(weights_++);
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    std::vector<float> v(static_cast<size_t>(Elements(dims)), value);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    return name;
  }
  onnx::NodeProto& Node(const std::string& op, const std::vector<std::string>& inputs) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name("n" + std::to_string(model_.graph().node_size() - 1));
    for (const auto& i : inputs) n->add_input(i);
    n->add_output("output_0");
    auto* vi = model_.mutable_graph()->add_output();
    vi->set_name("output_0");
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    return *n;
  }
  static void Ints(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Int(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  // A constant int64 input (Slice starts/ends/axes, Pad pads, Gather indices).
  std::string Int64s(const std::vector<int64_t>& dims, const std::vector<int64_t>& values) {
    const std::string name = "w" + std::to_string(weights_++);
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }
  // Adds a bias of `n` values to the last node's output, which becomes an intermediate.
  void BiasAdd(int64_t n) {
    auto* g = model_.mutable_graph();
    g->mutable_node(g->node_size() - 1)->set_output(0, "unbiased");
    g->mutable_output()->RemoveLast();
    const std::string bias = Weight({n});
    Node("Add", {"unbiased", bias});
  }
  void NoteElements(double e) { elements_ = std::max(elements_, e); }
  double elements() const { return elements_; }
  onnx::ModelProto& model() { return model_; }

 private:
  onnx::ModelProto model_;
  int inputs_ = 0, weights_ = 0;
  double elements_ = 0;
};

int64_t OutSize(int64_t in, int64_t k, int64_t s, int64_t pad_total, int64_t dil = 1) {
  return (in + pad_total - dil * (k - 1) - 1) / s + 1;
}

// Each Make* returns the layer's MACs (0 for non-GEMM ops) or -1 when the draw is invalid.
double MakeConv(Rng& r, NetBuilder& b) {
  const int64_t n = Batch(r), hw = Spatial(r);
  int64_t cin = r.Chance(0.08) ? 3 : Channels(r), cout = Channels(r);
  const int64_t k = r.Chance(0.85) ? r.Pick<int64_t>({1, 1, 3, 3, 3, 5, 7}) : r.Int(1, 7);
  const int64_t s = r.Chance(0.9) ? r.Pick<int64_t>({1, 1, 1, 2, 2}) : r.Int(1, 4);
  const int64_t pad = r.Chance(0.8) ? k / 2 : 0;
  int64_t g = 1;
  const double u = r.Uniform();
  if (u < 0.15) {
    g = cin = cout = Channels(r, 1280);  // depthwise
  } else if (u < 0.25) {
    g = r.Pick<int64_t>({2, 4, 8, 16, 32, 64});
    cin = g * std::max<int64_t>(1, cin / g);
    cout = g * std::max<int64_t>(1, cout / g);
  }
  const int64_t oh = OutSize(hw, k, s, 2 * pad);
  if (oh < 1 || k > hw + 2 * pad) return -1;
  const std::string x = b.Input({n, cin, hw, hw});
  std::vector<std::string> ins = {x, b.Weight({cout, cin / g, k, k})};
  if (r.Chance(0.85)) ins.push_back(b.Weight({cout}));
  auto& node = b.Node("Conv", ins);
  NetBuilder::Ints(node, "kernel_shape", {k, k});
  NetBuilder::Ints(node, "strides", {s, s});
  NetBuilder::Ints(node, "pads", {pad, pad, pad, pad});
  NetBuilder::Ints(node, "dilations", {1, 1});
  NetBuilder::Int(node, "group", g);
  b.NoteElements(static_cast<double>(n * cout * oh * oh));
  return static_cast<double>(n * cout * oh * oh) * static_cast<double>(cin / g * k * k);
}

double MakePool(Rng& r, NetBuilder& b) {
  const int64_t n = Batch(r), hw = Spatial(r), c = Channels(r);
  const double u = r.Uniform();
  const std::string x = b.Input({n, c, hw, hw});
  if (u < 0.2) {
    b.Node("GlobalAveragePool", {x});
    return 0;
  }
  const int64_t k = r.Chance(0.8) ? r.Pick<int64_t>({2, 3, 3}) : r.Int(1, 7);
  const int64_t s = r.Chance(0.85) ? r.Pick<int64_t>({1, 2, 2}) : r.Int(1, 4);
  const int64_t pad = r.Chance(0.5) ? k / 2 : 0;
  if (k > hw || OutSize(hw, k, s, 2 * pad) < 1) return -1;
  auto& node = b.Node(u < 0.65 ? "MaxPool" : "AveragePool", {x});
  NetBuilder::Ints(node, "kernel_shape", {k, k});
  NetBuilder::Ints(node, "strides", {s, s});
  NetBuilder::Ints(node, "pads", {pad, pad, pad, pad});
  return 0;
}

double MakeGemm(Rng& r, NetBuilder& b) {
  const int64_t n = r.Chance(0.6) ? 1 : r.Pick<int64_t>({2, 4, 8, 16, 32, 64});
  auto dim = [&r]() -> int64_t {
    const double u = r.Uniform();
    if (u < 0.6) return r.Pick<int64_t>({128, 256, 512, 576, 768, 1000, 1024, 1280, 2048, 4096, 9216, 25088});
    if (u < 0.8) return 8 * r.Int(1, 512);
    return r.Int(1, 4096);
  };
  const int64_t k = dim(), m = dim();
  std::vector<std::string> ins = {b.Input({n, k}), b.Weight({m, k})};
  if (r.Chance(0.9)) ins.push_back(b.Weight({m}));
  auto& node = b.Node("Gemm", ins);
  NetBuilder::Int(node, "transB", 1);
  b.NoteElements(static_cast<double>(m * k));
  return static_cast<double>(n * m * k);
}

// An NCHW activation (80%) or a transformer [N, seq, hidden] one.
std::vector<int64_t> ActivationShape(Rng& r) {
  if (r.Chance(0.8)) return {Batch(r), Channels(r), Spatial(r), 0};
  return {Batch(r), SeqLen(r), Hidden(r)};
}
std::vector<int64_t> Square(std::vector<int64_t> d) {
  if (d.size() == 4) d[3] = d[2];
  return d;
}

int64_t Heads(Rng& r) { return r.Pick<int64_t>({3, 4, 6, 8, 12, 12, 16, 24}); }
int64_t HeadDim(Rng& r) { return r.Pick<int64_t>({32, 32, 64, 64, 128}); }
// Windows (Swin) or batch: the leading dim of attention tensors.
int64_t Windows(Rng& r) { return r.Pick<int64_t>({1, 1, 1, 4, 16, 64}); }
// A channels-last activation: NHWC (Swin, ConvNeXt) or [N, seq, hidden] (ViT).
std::vector<int64_t> ChannelsLast(Rng& r) {
  if (r.Chance(0.6)) {
    const int64_t hw = r.Chance(0.7) ? r.Pick<int64_t>({7, 14, 28, 56}) : Spatial(r);
    return {Batch(r), hw, hw, r.Chance(0.7) ? r.Pick<int64_t>({96, 192, 384, 768}) : Channels(r)};
  }
  return {Batch(r), SeqLen(r), Hidden(r)};
}

double MakeBn(Rng& r, NetBuilder& b) {
  const int64_t c = Channels(r), hw = Spatial(r);
  const std::string x = b.Input({Batch(r), c, hw, hw});
  b.Node("BatchNormalization", {x, b.Weight({c}, 1.0f), b.Weight({c}), b.Weight({c}), b.Weight({c}, 1.0f)});
  return 0;
}

double MakeAct(Rng& r, NetBuilder& b) {
  const std::string op =
      r.Pick<std::string>({"Relu", "Relu", "Sigmoid", "Clip", "Erf", "Relu", "Relu", "Sigmoid", "Clip", "Erf",
                           "HardSigmoid", "HardSwish"});
  const std::string x = b.Input(Square(ActivationShape(r)));
  if (op == "Clip") {
    b.Node(op, {x, b.Weight({}, 0.0f), b.Weight({}, 6.0f)});
  } else {
    b.Node(op, {x});
  }
  return 0;
}

double MakeBinary(Rng& r, NetBuilder& b, const std::string& op) {
  std::vector<int64_t> shape = Square(ActivationShape(r));
  const std::string x = b.Input(shape);
  const double u = r.Uniform();
  if (u < 0.65) {
    b.Node(op, {x, b.Input(shape)});
  } else if (u < 0.85 && shape.size() == 4) {
    b.Node(op, {x, b.Input({shape[0], shape[1], 1, 1})});  // squeeze-excitation scale
  } else {
    b.Node(op, {x, b.Weight({shape.back()})});  // bias / layer scale
  }
  return 0;
}

double MakeConcat(Rng& r, NetBuilder& b) {
  const int64_t n = Batch(r);
  const int parts = static_cast<int>(r.Int(2, 4));
  std::vector<std::string> ins;
  if (r.Chance(0.8)) {
    const int64_t hw = Spatial(r);
    for (int i = 0; i < parts; ++i) ins.push_back(b.Input({n, Channels(r, 512), hw, hw}));
  } else {
    const int64_t h = Hidden(r);
    ins.push_back(b.Input({n, 1, h}));
    ins.push_back(b.Input({n, SeqLen(r), h}));
  }
  auto& node = b.Node("Concat", ins);
  NetBuilder::Int(node, "axis", 1);
  return 0;
}

// A MatMul by a weight as the corpus has it: [N, seq, K] (ViT; Swin's windows [windows, 49, C])
// or a channels-last map [N, H, W, K] (ConvNeXt, Swin), mostly followed by the Add of its bias,
// which ONNX Runtime fuses with the MatMul into one Gemm (through Reshapes for N-D inputs).
double MakeWeightMatMul(Rng& r, NetBuilder& b) {
  std::vector<int64_t> in;
  int64_t k = 0, m = 0;
  if (r.Chance(0.4)) {
    const int64_t hw = r.Chance(0.8) ? r.Pick<int64_t>({7, 14, 28, 56}) : Spatial(r);
    const int64_t c = r.Chance(0.8) ? r.Pick<int64_t>({96, 128, 192, 256, 384, 512, 768, 1024}) : Channels(r);
    // MLP expansion and contraction (x4), qkv (x3), patch merging (4C -> 2C), same width.
    const double v = r.Uniform();
    if (v < 0.35) k = c, m = 4 * c;
    else if (v < 0.7) k = 4 * c, m = c;
    else if (v < 0.8) k = c, m = 3 * c;
    else if (v < 0.9) k = 2 * c, m = c;
    else k = m = c;
    in = {Batch(r), hw, hw, k};
  } else {
    k = Hidden(r);
    m = r.Chance(0.25) ? 3 * k : Hidden(r);
    in = {r.Chance(0.25) ? Windows(r) : Batch(r), SeqLen(r), k};
  }
  b.Node("MatMul", {b.Input(in), b.Weight({k, m})});
  const double out = Elements(in) / static_cast<double>(k) * static_cast<double>(m);
  b.NoteElements(out);
  if (r.Chance(0.75)) b.BiasAdd(m);
  return out * static_cast<double>(k);
}

double MakeMatMul(Rng& r, NetBuilder& b) {
  const int64_t n = Batch(r), seq = SeqLen(r);
  if (r.Chance(0.5)) return MakeWeightMatMul(r, b);
  const int64_t heads = r.Pick<int64_t>({4, 8, 12, 16}), d = r.Pick<int64_t>({32, 64, 64, 128});
  if (r.Chance(0.5)) {
    b.Node("MatMul", {b.Input({n, heads, seq, d}), b.Input({n, heads, d, seq})});
    return static_cast<double>(n * heads * seq * seq * d);
  }
  b.Node("MatMul", {b.Input({n, heads, seq, seq}), b.Input({n, heads, seq, d})});
  return static_cast<double>(n * heads * seq * seq * d);
}

double MakeSoftmax(Rng& r, NetBuilder& b) {
  std::string x;
  if (r.Chance(0.7)) {
    const int64_t seq = SeqLen(r);
    x = b.Input({Batch(r), r.Pick<int64_t>({4, 8, 12, 16}), seq, seq});
  } else {
    x = b.Input({r.Chance(0.6) ? 1 : r.Pick<int64_t>({2, 4, 8, 16, 32, 64}), r.Pick<int64_t>({10, 100, 1000, 21843})});
  }
  auto& node = b.Node("Softmax", {x});
  NetBuilder::Int(node, "axis", -1);
  return 0;
}

// Transformer [N, seq, hidden] or, since format 2, the NHWC maps of ConvNeXt and Swin.
double MakeLayerNorm(Rng& r, NetBuilder& b) {
  const std::vector<int64_t> shape = ChannelsLast(r);
  const int64_t h = shape.back();
  auto& node = b.Node("LayerNormalization", {b.Input(shape), b.Weight({h}, 1.0f), b.Weight({h})});
  NetBuilder::Int(node, "axis", -1);
  return 0;
}

// ---- Data movement, reductions and the remaining elementwise ops (format 2) ------------

double MakeTranspose(Rng& r, NetBuilder& b) {
  std::vector<int64_t> shape, perm;
  const double u = r.Uniform();
  const int64_t n = Batch(r);
  if (u < 0.3) {  // NCHW <-> NHWC (ConvNeXt, Swin)
    const int64_t c = Channels(r), hw = Spatial(r);
    if (r.Chance(0.5)) {
      shape = {n, c, hw, hw}, perm = {0, 2, 3, 1};
    } else {
      shape = {n, hw, hw, c}, perm = {0, 3, 1, 2};
    }
  } else if (u < 0.45) {  // channel shuffle (ShuffleNet): [N, g, C/g, H, W] -> [N, C/g, g, H, W]
    const int64_t g = r.Pick<int64_t>({2, 2, 2, 3, 4, 8}), hw = Spatial(r);
    shape = {n, g, std::max<int64_t>(1, Channels(r, 1024) / g), hw, hw}, perm = {0, 2, 1, 3, 4};
  } else if (u < 0.75) {  // attention head split / merge / K^T
    const int64_t w = Windows(r), seq = SeqLen(r), h = Heads(r), dh = HeadDim(r);
    switch (r.Int(0, 4)) {
      case 0: shape = {w, seq, h, dh}, perm = {0, 2, 1, 3}; break;
      case 1: shape = {w, h, seq, dh}, perm = {0, 2, 1, 3}; break;
      case 2: shape = {w, h, seq, dh}, perm = {0, 1, 3, 2}; break;
      case 3: shape = {w, seq, 3, h, dh}, perm = {2, 0, 3, 1, 4}; break;
      default: shape = {seq, w, h * dh}, perm = {1, 0, 2}; break;  // ViT: seq-first <-> batch-first
    }
  } else if (u < 0.9) {  // Swin window partition / reverse: [N, H/7, 7, W/7, 7, C]
    const int64_t hw = r.Pick<int64_t>({7, 14, 28, 56}), c = r.Chance(0.8) ? r.Pick<int64_t>({96, 192, 384, 768}) : Channels(r);
    shape = {n, hw / 7, 7, hw / 7, 7, c}, perm = {0, 1, 3, 2, 4, 5};
    if (r.Chance(0.5)) shape = {n, hw / 7, hw / 7, 7, 7, c};  // the reverse: same perm
  } else {  // any permutation of a random 3-5-D tensor
    const int64_t rank = r.Int(3, 5);
    for (int64_t i = 0; i < rank; ++i) shape.push_back(r.Pick<int64_t>({1, 2, 3, 7, 8, 14, 16, 32, 49, 64, 96, 128}));
    for (int64_t i = 0; i < rank; ++i) perm.push_back(i);
    for (int64_t i = rank - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(r.Int(0, i))]);
  }
  auto& node = b.Node("Transpose", {b.Input(shape)});
  NetBuilder::Ints(node, "perm", perm);
  return 0;
}

double MakeSlice(Rng& r, NetBuilder& b) {
  std::vector<int64_t> shape;
  int64_t axis = 0, start = 0, end = 0;
  const double u = r.Uniform();
  if (u < 0.4) {  // channel split (ShuffleNet): one half of the channels
    const int64_t hw = Spatial(r), c = 2 * std::max<int64_t>(1, Channels(r, 1024) / 2);
    shape = {Batch(r), c, hw, hw}, axis = 1;
    start = r.Chance(0.5) ? 0 : c / 2, end = start + c / 2;
  } else if (u < 0.65) {  // Swin: the pieces torch.roll cuts from an NHWC map (a full-extent
    // slice is a no-op ONNX Runtime removes from a model: PredictModel counts it free)
    const int64_t hw = r.Pick<int64_t>({7, 14, 28, 56});
    shape = {Batch(r), hw, hw, r.Pick<int64_t>({96, 192, 384, 768})}, axis = r.Int(1, 2);
    start = r.Int(0, hw - 1), end = r.Int(start + 1, hw);
    if (start == 0 && end == hw) end = hw - 1;
  } else if (u < 0.85) {  // ViT: q, k or v out of the fused projection, or the class token
    const int64_t seq = SeqLen(r), h = Hidden(r);
    if (r.Chance(0.7)) {
      const int64_t k = r.Int(0, 2);
      shape = {seq, Batch(r), 3 * h}, axis = 2, start = k * h, end = (k + 1) * h;
    } else {
      shape = {Batch(r), seq, h}, axis = 1, start = 0, end = 1;
    }
  } else {  // any axis of an NCHW map
    const int64_t hw = Spatial(r);
    shape = {Batch(r), Channels(r), hw, hw}, axis = r.Int(1, 3);
    start = r.Int(0, shape[static_cast<size_t>(axis)] - 1), end = r.Int(start + 1, shape[static_cast<size_t>(axis)]);
    if (start == 0 && end == shape[static_cast<size_t>(axis)]) return -1;  // a no-op: redraw
  }
  b.Node("Slice", {b.Input(shape), b.Int64s({1}, {start}), b.Int64s({1}, {end}), b.Int64s({1}, {axis})});
  return 0;
}

double MakePad(Rng& r, NetBuilder& b) {
  // H and W of NHWC (Swin: axes 1, 2) or NCHW (axes 2, 3).
  const bool nhwc = r.Chance(0.5);
  const int64_t hw = nhwc && r.Chance(0.7) ? r.Pick<int64_t>({7, 14, 28, 56}) : Spatial(r);
  const std::vector<int64_t> shape = nhwc ? std::vector<int64_t>{Batch(r), hw, hw, Channels(r)}
                                          : std::vector<int64_t>{Batch(r), Channels(r), hw, hw};
  const size_t h_axis = nhwc ? 1 : 2;
  std::vector<int64_t> pads(8, 0);
  const double u = r.Uniform();
  if (u < 0.3) {
    // Swin pads to a multiple of the window: zero when the map already is one.
  } else if (u < 0.7) {  // symmetric, as before a pool (Inception)
    const int64_t p = r.Pick<int64_t>({1, 1, 2, 3});
    pads[h_axis] = pads[h_axis + 1] = pads[h_axis + 4] = pads[h_axis + 5] = p;
  } else {  // at the end only
    pads[h_axis + 4] = r.Int(0, 6), pads[h_axis + 5] = r.Int(0, 6);
  }
  b.Node("Pad", {b.Input(shape), b.Int64s({8}, pads)});
  std::vector<int64_t> out = shape;
  for (size_t i = 0; i < 4; ++i) out[i] += pads[i] + pads[i + 4];
  b.NoteElements(Elements(out));
  return 0;
}

double MakeReduce(Rng& r, NetBuilder& b) {
  std::vector<int64_t> shape, axes;
  int64_t keepdims = 1;
  const double u = r.Uniform();
  if (u < 0.65) {  // LayerNorm statistics: the channels-last last axis
    shape = ChannelsLast(r), axes = {static_cast<int64_t>(shape.size()) - 1};
  } else if (u < 0.9) {  // spatial mean of an NCHW map (MnasNet, squeeze-excitation)
    const int64_t hw = Spatial(r);
    shape = {Batch(r), Channels(r), hw, hw}, axes = {2, 3}, keepdims = r.Chance(0.5) ? 1 : 0;
  } else {  // channel mean
    const int64_t hw = Spatial(r);
    shape = {Batch(r), Channels(r), hw, hw}, axes = {1};
  }
  auto& node = b.Node("ReduceMean", {b.Input(shape)});
  NetBuilder::Ints(node, "axes", axes);
  NetBuilder::Int(node, "keepdims", keepdims);
  return 0;
}

// Div, Sub, Pow, Sqrt as the decomposed LayerNorm and GELU of ConvNeXt, Swin and ViT use them.
double MakeEltwise(Rng& r, NetBuilder& b) {
  const std::string op = r.Pick<std::string>({"Div", "Div", "Sub", "Sub", "Pow", "Sqrt"});
  std::vector<int64_t> shape = r.Chance(0.6) ? ChannelsLast(r) : Square(ActivationShape(r));
  std::vector<int64_t> stat = shape;  // the per-position statistic of a LayerNorm: last dim 1
  stat.back() = 1;
  if (op == "Sqrt") {
    b.Node(op, {b.Input(r.Chance(0.5) ? stat : shape)});
  } else if (op == "Pow") {
    b.Node(op, {b.Input(shape), b.Weight({}, 2.0f)});
  } else {
    const std::string x = b.Input(shape);
    const double v = r.Uniform();
    if (v < 0.3) {
      b.Node(op, {x, b.Input(shape)});
    } else if (v < 0.75) {
      b.Node(op, {x, b.Input(stat)});  // x - mean, (x - mean) / std
    } else {
      b.Node(op, {x, b.Weight({}, 1.4142135f)});  // GELU's x / sqrt(2)
    }
  }
  return 0;
}

double MakeGather(Rng& r, NetBuilder& b) {
  std::vector<int64_t> shape;
  std::string indices;
  int64_t axis = 0;
  const double u = r.Uniform();
  if (u < 0.7) {  // q, k or v out of [3, windows, heads, seq, head_dim] (Swin)
    shape = {3, Windows(r), Heads(r), SeqLen(r), HeadDim(r)};
    indices = b.Int64s({}, {r.Int(0, 2)});
  } else if (u < 0.85) {  // the class token of [N, seq, hidden] (ViT)
    shape = {Batch(r), SeqLen(r), Hidden(r)}, axis = 1;
    indices = b.Int64s({}, {0});
  } else {  // a few channels of an NCHW map
    const int64_t hw = Spatial(r), c = Channels(r);
    shape = {Batch(r), c, hw, hw}, axis = 1;
    const int64_t k = r.Int(1, std::min<int64_t>(c, 64));
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < k; ++i) idx.push_back(r.Int(0, c - 1));
    indices = b.Int64s({k}, idx);
  }
  auto& node = b.Node("Gather", {b.Input(shape), indices});
  NetBuilder::Int(node, "axis", axis);
  return 0;
}

double MakeFamily(const std::string& family, Rng& r, NetBuilder& b) {
  if (family == "conv") return MakeConv(r, b);
  if (family == "pool") return MakePool(r, b);
  if (family == "gemm") return MakeGemm(r, b);
  if (family == "bn") return MakeBn(r, b);
  if (family == "act") return MakeAct(r, b);
  if (family == "add") return MakeBinary(r, b, "Add");
  if (family == "mul") return MakeBinary(r, b, "Mul");
  if (family == "concat") return MakeConcat(r, b);
  if (family == "matmul") return MakeMatMul(r, b);
  if (family == "softmax") return MakeSoftmax(r, b);
  if (family == "layernorm") return MakeLayerNorm(r, b);
  if (family == "transpose") return MakeTranspose(r, b);
  if (family == "slice") return MakeSlice(r, b);
  if (family == "pad") return MakePad(r, b);
  if (family == "reduce") return MakeReduce(r, b);
  if (family == "eltwise") return MakeEltwise(r, b);
  if (family == "gather") return MakeGather(r, b);
  return -1;
}

}  // namespace

ProtocolOptions SweepProtocol() {
  ProtocolOptions p;
  p.preset = "sweep";
  p.warmup_runs = 2;
  p.min_runs = 15;
  p.max_runs = 15;
  p.max_time_s = 0.25;
  p.headline = Headline::kMedian;
  return p;
}

Status MakeSweepNetwork(uint64_t seed, int64_t index, const std::vector<std::string>& families,
                        const SweepOptions& options, SweepNetwork* net) {
  const std::vector<std::string>& fams = families.empty() ? PredictorFamilies() : families;
  // Conv is the largest and hardest family: weight it 3, pool and gemm 2, the rest 1.
  std::vector<std::string> slots;
  for (const std::string& f : fams) {
    const auto& all = PredictorFamilies();
    if (std::find(all.begin(), all.end(), f) == all.end())
      return Status::InvalidArgument("unknown op family '" + f + "'");
    const int weight = f == "conv" ? 3 : (f == "pool" || f == "gemm") ? 2 : 1;
    for (int i = 0; i < weight; ++i) slots.push_back(f);
  }
  Rng r(seed * 0x2545f4914f6cdd1dULL + static_cast<uint64_t>(index));
  net->family = slots[static_cast<size_t>(index) % slots.size()];
  // A high min_macs rejects most draws of a family.
  for (int attempt = 0; attempt < (options.min_macs > 0 ? 100000 : 1000); ++attempt) {
    NetBuilder b;
    const double macs = MakeFamily(net->family, r, b);
    if (macs < 0 || macs < options.min_macs || macs > options.max_macs || b.elements() > options.max_elements) continue;
    net->model = std::move(b.model());
    return Status::OK();
  }
  return Status::Internal("sweep: no valid '" + net->family + "' network within the cost caps");
}

std::string SidecarPath(const std::string& db_path) { return db_path + ".layers.jsonl"; }

namespace {

std::string SidecarLine(const std::string& item_id, const std::string& source, const LayerDescriptor& d) {
  nlohmann::json j = {{"item_id", item_id}, {"source", source}, {"family", OpFamily(d.op_type)},
                      {"layer", nlohmann::json::parse(DescriptorToJson(d))}};
  return j.dump();
}

// The item ids the sidecar of `db_path` already describes (none when it does not exist).
std::set<std::string> SidecarIds(const std::string& db_path) {
  std::set<std::string> ids;
  std::ifstream in(SidecarPath(db_path));
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("item_id") && j["item_id"].is_string()) ids.insert(j["item_id"].get<std::string>());
  }
  return ids;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Sweep network `index`, written to `path` and ingested: what the store and the sidecar need.
struct SweepItem {
  std::string family;     // the family drawn
  Measurement m;          // key (G=1 brick signature) and name "sweep:<seed>:<index>:<op>"
  LayerDescriptor desc;   // the layer (a MatMul with its fused bias: the unit)
  BrickInfo brick;        // the manifest's view of the network (packed sweeps)
};

Status BuildSweepItem(const SweepOptions& options, int index, const std::string& path, const MeasurementKey& key,
                      SweepItem* item) {
  SweepNetwork net;
  DLB_RETURN_IF_ERROR(MakeSweepNetwork(options.seed, index, options.families, options, &net));
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!net.model.SerializeToOstream(&f)) return Status::IOError(path + ": cannot write");
  }
  Graph graph;
  IngestOptions ingest;
  ingest.check = false;  // built by us; shape inference still runs
  DLB_RETURN_IF_ERROR(LoadGraph(path, ingest, &graph));
  const int layers = static_cast<int>(graph.layers.size());
  // One layer, or a MatMul with the bias Add ONNX Runtime runs inside its Gemm.
  item->desc = layers > 0 ? DescribeUnit(graph, 0, layers) : LayerDescriptor{};
  if (!(layers == 1 || (layers == 2 && item->desc.fused_bias)))
    return Status::Internal("sweep network " + std::to_string(index) + " has " + std::to_string(layers) +
                            " layers after ingest");
  item->family = net.family;
  item->m = Measurement{};
  item->m.key = key;
  item->m.key.item_id = BrickSignature(graph, 0, layers).Hex();
  item->m.name = "sweep:" + std::to_string(options.seed) + ":" + std::to_string(index) + ":" + item->desc.op_type;
  item->brick = DescribeBrick(graph, 0, layers);
  return Status::OK();
}

// Profiles the network at `path` (item of `m`) into the store's op-profile table, unless
// `profiled` already holds the item.
Status ProfileKernels(const SweepOptions& options, const std::string& path, const Measurement& m, Store* store,
                      std::set<std::string>* profiled, SweepSummary* summary) {
  if (!profiled->insert(m.key.item_id).second) return Status::OK();
  IsolatedResult r = RunIsolated(options.backend, path, options.backend_options, options.protocol,
                                 IsolatedTask::kProfileOps, options.profile_runs, options.timeout_s);
  if (r.status != "ok" || r.timing.op_times.empty()) {
    ++summary->profile_failed;
    return Status::OK();
  }
  ++summary->profiled;
  return store->PutOpProfile(OpProfileRows(m.key, m.name, r.timing.op_times));
}

// Each network timed and profiled alone (a fresh session per network).
Status SweepAlone(const SweepOptions& options, const std::string& dir, Backend& backend, const MeasurementKey& key,
                  Store* store, std::set<std::string>* profiled, std::ostream& sidecar, SweepSummary* summary) {
  const auto start = std::chrono::steady_clock::now();
  const std::string path = dir + "/layer.onnx";
  for (int i = 0; i < options.samples; ++i) {
    SweepItem item;
    DLB_RETURN_IF_ERROR(BuildSweepItem(options, i, path, key, &item));
    Measurement& m = item.m;
    std::optional<Measurement> existing;
    DLB_RETURN_IF_ERROR(store->Lookup(m.key, &existing));
    if (existing && existing->status == "ok") {
      if (options.kernel_times) DLB_RETURN_IF_ERROR(ProfileKernels(options, path, m, store, profiled, summary));
      ++summary->skipped;
      continue;
    }
    ItemTiming timing;
    Status st;
    if (options.isolate) {
      IsolatedResult r = RunIsolated(options.backend, path, options.backend_options, options.protocol,
                                     IsolatedTask::kTime, 0, options.timeout_s);
      timing = std::move(r.timing);
      if (r.status != "ok") st = Status::Internal(r.status + ": " + r.error);
    } else {
      st = TimeModelFile(backend, path, options.backend_options, options.protocol, &timing);
    }
    if (st.ok()) {
      SetMeasurementTiming(timing, &m);
      ++summary->measured;
      ++summary->per_family[item.family];
    } else {
      m.status = "failed";
      m.error = st.message();
      ++summary->failed;
    }
    DLB_RETURN_IF_ERROR(store->Put(m));
    if (st.ok()) sidecar << SidecarLine(m.key.item_id, "sweep", item.desc) << "\n" << std::flush;
    if (st.ok() && options.kernel_times) DLB_RETURN_IF_ERROR(ProfileKernels(options, path, m, store, profiled, summary));
    if (options.progress && (i + 1) % 100 == 0)
      std::fprintf(stderr, "sweep: %d/%d networks, %.0f s\n", i + 1, options.samples, Seconds(start));
  }
  return Status::OK();
}

// manifest.json of a suite folder holding sweep networks as G=1 bricks (docs/suite.md): the
// networks themselves, not re-exported, so a packed profile times what a lone one would.
Status WriteSweepManifest(const std::string& suite_dir, const std::vector<SweepItem>& items) {
  nlohmann::ordered_json bricks = nlohmann::ordered_json::array();
  for (const SweepItem& item : items) bricks.push_back(ManifestBrickJson(item.brick));
  const nlohmann::ordered_json manifest = {{"schema_version", kSuiteSchemaVersion}, {"tool_version", "0.1.0"},
                                           {"granularity", 1}, {"mode", "chain"}, {"bricks", bricks}, {"decoys", 0}};
  const std::string path = suite_dir + "/manifest.json";
  std::ofstream out(path, std::ios::trunc);
  if (!(out << manifest.dump(2) << "\n") || !out.flush()) return Status::IOError(path + ": cannot write");
  return Status::OK();
}

// The networks packed: suite folders of options.pack_chunk networks, each profiled by
// ProfileSuitePacked (R visits, the fastest kept). Networks already profiled are not written;
// any of them the sidecar lacks (a run killed between store and sidecar) gets its line.
Status SweepPacked(const std::string& db_path, const SweepOptions& options, const std::string& dir,
                   const MeasurementKey& key, Store* store, std::set<std::string>* profiled, std::ostream& sidecar,
                   SweepSummary* summary) {
  namespace fs = std::filesystem;
  const auto start = std::chrono::steady_clock::now();
  std::set<std::string> described = SidecarIds(db_path);
  auto describe = [&](const SweepItem& item) {
    if (described.insert(item.m.key.item_id).second)
      sidecar << SidecarLine(item.m.key.item_id, "sweep", item.desc) << "\n" << std::flush;
  };
  RunOptions run;
  run.backend = options.backend;
  run.backend_options = options.backend_options;
  run.protocol = options.protocol;  // its warm-ups precede every visit's profiled inferences
  run.protocol.fastest_round = true;
  run.timeout_s = options.timeout_s;
  run.progress = false;
  run.profile_runs = options.profile_runs;
  run.pack = options.pack;
  run.pack_rounds = options.pack_rounds;
  const std::string suite = dir + "/suite", path = dir + "/layer.onnx";
  std::vector<SweepItem> chunk;
  std::set<std::string> in_chunk;
  auto profile_chunk = [&](int done) -> Status {
    if (chunk.empty()) return Status::OK();
    DLB_RETURN_IF_ERROR(WriteSweepManifest(suite, chunk));
    RunSummary rs;
    DLB_RETURN_IF_ERROR(ProfileSuitePacked(suite, run, store, &rs));
    std::map<std::string, const SweepItem*> by_id;
    for (const SweepItem& item : chunk) by_id[item.m.key.item_id] = &item;
    for (const RunItem& r : rs.items) {
      auto it = by_id.find(r.m.key.item_id);
      if (it == by_id.end()) return Status::Internal("packed sweep: profiled an item it did not write: " + r.m.key.item_id);
      const SweepItem& item = *it->second;
      if (r.m.status != "ok") {
        ++summary->profile_failed;
        continue;
      }
      describe(item);
      profiled->insert(r.m.key.item_id);
      if (r.skipped) {  // profiled meanwhile by a concurrent run
        ++summary->skipped;
        continue;
      }
      ++summary->profiled;
      ++summary->per_family[item.family];
    }
    chunk.clear();
    in_chunk.clear();
    std::error_code ec;
    fs::remove_all(suite, ec);
    if (options.progress)
      std::fprintf(stderr, "sweep: %d/%d networks (%d profiled, %d skipped), %.0f s\n", done, options.samples,
                   summary->profiled, summary->skipped, Seconds(start));
    return Status::OK();
  };
  for (int i = 0; i < options.samples; ++i) {
    if (chunk.empty()) {
      std::error_code ec;
      fs::create_directories(suite + "/bricks", ec);
      if (ec) return Status::IOError(suite + ": cannot create: " + ec.message());
    }
    SweepItem item;
    DLB_RETURN_IF_ERROR(BuildSweepItem(options, i, path, key, &item));
    const std::string& id = item.m.key.item_id;
    if (profiled->count(id) || in_chunk.count(id)) {  // stored, or drawn twice
      if (profiled->count(id)) describe(item);
      ++summary->skipped;
      continue;
    }
    std::error_code ec;
    const std::string brick = suite + "/" + BrickFileName(item.brick.id);
    fs::rename(path, brick, ec);
    if (ec) return Status::IOError(brick + ": cannot move the network there: " + ec.message());
    in_chunk.insert(id);
    chunk.push_back(std::move(item));
    if (static_cast<int>(chunk.size()) >= options.pack_chunk) DLB_RETURN_IF_ERROR(profile_chunk(i + 1));
  }
  return profile_chunk(options.samples);
}

}  // namespace

Status RunSweep(const std::string& db_path, const SweepOptions& options_in, SweepSummary* summary) {
  const auto start = std::chrono::steady_clock::now();
  SweepOptions options = options_in;
  if (options.samples < 0) return Status::InvalidArgument("sweep: -n must be >= 0");
  if (options.pack < 0) return Status::InvalidArgument("sweep: --pack must be >= 0");
  if (options.pack_rounds < 1) return Status::InvalidArgument("sweep: --pack-rounds must be >= 1");
  if (options.pack == 0 && options.pack_rounds != 1) return Status::InvalidArgument("sweep: --pack-rounds needs --pack");
  if (options.pack > 0 && !options.isolate)
    return Status::InvalidArgument("sweep: --in-process cannot be combined with --pack (packs are profiled in a child)");
  if (options.pack > 0 && options.pack_chunk < 1) return Status::InvalidArgument("sweep: pack_chunk must be >= 1");
  if (options.pack > 0) options.kernel_times = true;
  if (options.kernel_times && options.profile_runs < 1) return Status::InvalidArgument("sweep: --profile-runs must be >= 1");
  if (options.min_macs > options.max_macs)
    return Status::InvalidArgument(fmt::format("sweep: --min-macs ({:g}) must be <= --max-macs ({:g})", options.min_macs,
                                               options.max_macs));
  DLB_RETURN_IF_ERROR(ValidateProtocol(options.protocol));
  DLB_RETURN_IF_ERROR(ValidateBackendOptions(options.backend_options));
  std::unique_ptr<Backend> backend;
  DLB_RETURN_IF_ERROR(BackendRegistry::Create(options.backend, &backend));
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenStore(db_path, StoreOptions{}, &store));
  const SystemRecord system = MakeSystemRecord(*backend, options.backend_options);
  DLB_RETURN_IF_ERROR(store->PutSystem(system));
  summary->system_id = system.id;
  summary->protocol = ProtocolKey(options.protocol);
  summary->sidecar = SidecarPath(db_path);

  std::error_code ec;
  const std::string dir = (options.work_dir.empty() ? std::filesystem::temp_directory_path().string() : options.work_dir) +
                          "/dlbricks-sweep-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError(dir + ": cannot create: " + ec.message());
  std::ofstream sidecar(summary->sidecar, std::ios::app);
  if (!sidecar) return Status::IOError(summary->sidecar + ": cannot open for appending");

  // The empty-network probe: the fixed cost of one inference call, inside every sample, which
  // a whole-model prediction pays once (PredictModel).
  {
    RunOptions probe;
    probe.backend = options.backend;
    probe.backend_options = options.backend_options;
    probe.protocol = options.protocol;
    probe.timeout_s = options.timeout_s;
    double overhead_ms = 0;
    DLB_RETURN_IF_ERROR(MeasureRunOverhead(probe, dir, system.id, store.get(), &overhead_ms));
  }

  std::set<std::string> profiled;  // items with op profiles of this system
  if (options.kernel_times) {
    std::vector<OpProfileRow> rows;
    DLB_RETURN_IF_ERROR(store->ListOpProfiles(system.id, &rows));
    for (const OpProfileRow& r : rows) profiled.insert(r.item_id);
  }

  const MeasurementKey key{system.id, "brick", "", 1, summary->protocol};
  const Status result =
      options.pack > 0 ? SweepPacked(db_path, options, dir, key, store.get(), &profiled, sidecar, summary)
                       : SweepAlone(options, dir, *backend, key, store.get(), &profiled, sidecar, summary);
  std::filesystem::remove_all(dir, ec);
  summary->wall_s = Seconds(start);
  return result;
}

Status HarvestModelLayers(const std::vector<std::string>& model_paths, const std::string& db_path, int* added) {
  *added = 0;
  std::set<std::string> seen = SidecarIds(db_path);
  std::ofstream sidecar(SidecarPath(db_path), std::ios::app);
  if (!sidecar) return Status::IOError(SidecarPath(db_path) + ": cannot open for appending");
  for (const std::string& path : model_paths) {
    Graph graph;
    IngestOptions ingest;
    ingest.load_weights = false;
    DLB_RETURN_IF_ERROR(LoadGraph(path, ingest, &graph));
    for (int i = 0; i < static_cast<int>(graph.layers.size()); ++i) {
      if (OpFamily(graph.layers[i].op_type).empty()) continue;
      const std::string id = BrickSignature(graph, i, i + 1).Hex();
      if (!seen.insert(id).second) continue;
      sidecar << SidecarLine(id, graph.name, DescribeLayer(graph, i)) << "\n";
      ++*added;
    }
  }
  sidecar.flush();
  if (!sidecar) return Status::IOError(SidecarPath(db_path) + ": write failed");
  return Status::OK();
}

}  // namespace dlbricks
