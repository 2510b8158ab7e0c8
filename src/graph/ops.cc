// The op table: one line per op registers its cost rule and which inputs are learned
// parameters (ncnn-style `ncnn_add_layer`). Adding an op touches only kOpTable.
//
// Counting conventions (docs/json.md):
// - MACs only for GEMM-like ops (Conv, ConvTranspose, Gemm, MatMul), as torchvision's
//   documented "GFLOPS" (which are MACs) count them.
// - FLOPs = 2*MACs (+1 per output for a bias) for GEMM-like ops; other ops count FLOPs per
//   element: 1 for arithmetic and simple activations, 4 for transcendental activations,
//   5 for Softmax, 8 for LayerNormalization, 2 for BatchNormalization (scale+shift), the
//   window size for pooling; data movement (Reshape, Concat, Gather ...) is 0 FLOPs.
// - params: elements of weight inputs, except BatchNormalization running mean/var.
#include <algorithm>
#include <string_view>

#include "internal.h"

namespace dlbricks::graph_internal {

namespace {

using CostRule = void (*)(const Graph&, const Layer&, LayerCost*);

const TensorType* In(const Graph& g, const Layer& l, size_t k) {
  if (k >= l.inputs.size() || l.inputs[k] < 0) return nullptr;
  return &g.values[l.inputs[k]].type;
}

const TensorType* Out(const Graph& g, const Layer& l, size_t k = 0) {
  if (k >= l.outputs.size() || l.outputs[k] < 0) return nullptr;
  return &g.values[l.outputs[k]].type;
}

double OutElements(const Graph& g, const Layer& l) {
  double n = 0;
  for (size_t k = 0; k < l.outputs.size(); ++k) {
    if (const auto* t = Out(g, l, k)) n += static_cast<double>(t->Elements());
  }
  return n;
}

int64_t AttrI(const Layer& l, std::string_view name, int64_t dflt) {
  for (const auto& a : l.node.attribute()) {
    if (a.name() == name) return a.i();
  }
  return dflt;
}

std::string AttrS(const Layer& l, std::string_view name) {
  for (const auto& a : l.node.attribute()) {
    if (a.name() == name) return a.s();
  }
  return "";
}

std::vector<int64_t> AttrInts(const Layer& l, std::string_view name) {
  for (const auto& a : l.node.attribute()) {
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  }
  return {};
}

double Product(const std::vector<int64_t>& dims, size_t from = 0) {
  double n = 1;
  for (size_t i = from; i < dims.size(); ++i) n *= static_cast<double>(dims[i]);
  return n;
}

void ConvCost(const Graph& g, const Layer& l, LayerCost* c) {
  const auto *w = In(g, l, 1), *y = Out(g, l);
  if (!w || !y || w->dims.size() < 2) return;
  // W is [M, C/group, k...]: each output element reads C/group * prod(k) inputs.
  c->macs = static_cast<double>(y->Elements()) * Product(w->dims, 1);
  c->flops = 2 * c->macs + (In(g, l, 2) ? static_cast<double>(y->Elements()) : 0);
}

void ConvTransposeCost(const Graph& g, const Layer& l, LayerCost* c) {
  const auto *x = In(g, l, 0), *w = In(g, l, 1), *y = Out(g, l);
  if (!x || !w || !y || w->dims.size() < 2) return;
  // W is [C, M/group, k...]: each input element scatters into M/group * prod(k) outputs.
  c->macs = static_cast<double>(x->Elements()) * Product(w->dims, 1);
  c->flops = 2 * c->macs + (In(g, l, 2) ? static_cast<double>(y->Elements()) : 0);
}

void GemmCost(const Graph& g, const Layer& l, LayerCost* c) {
  const auto *a = In(g, l, 0), *y = Out(g, l);
  if (!a || !y || a->dims.size() != 2) return;
  double k = static_cast<double>(AttrI(l, "transA", 0) ? a->dims[0] : a->dims[1]);
  c->macs = static_cast<double>(y->Elements()) * k;
  c->flops = 2 * c->macs + (In(g, l, 2) ? static_cast<double>(y->Elements()) : 0);
}

void MatMulCost(const Graph& g, const Layer& l, LayerCost* c) {
  const auto *a = In(g, l, 0), *y = Out(g, l);
  if (!a || !y || a->dims.empty()) return;
  c->macs = static_cast<double>(y->Elements()) * static_cast<double>(a->dims.back());
  c->flops = 2 * c->macs;
}

template <int kFlopsPerElement>
void PerOutputElement(const Graph& g, const Layer& l, LayerCost* c) {
  c->flops = kFlopsPerElement * OutElements(g, l);
}

template <int kFlopsPerElement>
void PerInputElement(const Graph& g, const Layer& l, LayerCost* c) {
  if (const auto* x = In(g, l, 0)) c->flops = kFlopsPerElement * static_cast<double>(x->Elements());
}

void PoolCost(const Graph& g, const Layer& l, LayerCost* c) {
  c->flops = OutElements(g, l) * Product(AttrInts(l, "kernel_shape"));
}

void ResizeCost(const Graph& g, const Layer& l, LayerCost* c) {
  // Nearest copies; (bi/tri)linear and cubic interpolate 2^d or 4^d neighbours.
  std::string mode = AttrS(l, "mode");
  const auto* y = Out(g, l);
  if (!y || mode == "nearest" || mode.empty()) return;
  int spatial = static_cast<int>(std::max<size_t>(y->dims.size(), 2) - 2);
  double taps = 1;
  for (int i = 0; i < spatial; ++i) taps *= mode == "cubic" ? 4 : 2;
  c->flops = 2 * taps * static_cast<double>(y->Elements());
}

void DataMovement(const Graph&, const Layer&, LayerCost*) {}

struct OpInfo {
  std::string_view op;
  CostRule cost;
  uint32_t param_slots;  // bit k: input k is a learned parameter
  uint32_t stat_slots;   // bit k: input k is a statistic, not counted as a parameter
};

constexpr uint32_t kIn1 = 1u << 1, kIn2 = 1u << 2, kIn3 = 1u << 3, kIn4 = 1u << 4;

// clang-format off
constexpr OpInfo kOpTable[] = {
    {"Conv",                  ConvCost,              kIn1 | kIn2, 0},
    {"ConvTranspose",         ConvTransposeCost,     kIn1 | kIn2, 0},
    {"Gemm",                  GemmCost,              kIn1 | kIn2, 0},
    {"MatMul",                MatMulCost,            kIn1, 0},
    {"BatchNormalization",    PerOutputElement<2>,   kIn1 | kIn2 | kIn3 | kIn4, kIn3 | kIn4},
    {"InstanceNormalization", PerOutputElement<8>,   kIn1 | kIn2, 0},
    {"LayerNormalization",    PerOutputElement<8>,   kIn1 | kIn2, 0},
    {"LRN",                   PerOutputElement<8>,   0, 0},
    {"PRelu",                 PerOutputElement<1>,   kIn1, 0},
    {"MaxPool",               PoolCost,              0, 0},
    {"AveragePool",           PoolCost,              0, 0},
    {"GlobalAveragePool",     PerInputElement<1>,    0, 0},
    {"GlobalMaxPool",         PerInputElement<1>,    0, 0},
    {"ReduceMean",            PerInputElement<1>,    0, 0},
    {"ReduceSum",             PerInputElement<1>,    0, 0},
    {"ReduceMax",             PerInputElement<1>,    0, 0},
    {"Add",                   PerOutputElement<1>,   0, 0},
    {"Sub",                   PerOutputElement<1>,   0, 0},
    {"Mul",                   PerOutputElement<1>,   0, 0},
    {"Div",                   PerOutputElement<1>,   0, 0},
    {"Pow",                   PerOutputElement<1>,   0, 0},
    {"Max",                   PerOutputElement<1>,   0, 0},
    {"Min",                   PerOutputElement<1>,   0, 0},
    {"Sum",                   PerOutputElement<1>,   0, 0},
    {"Equal",                 PerOutputElement<1>,   0, 0},
    {"Less",                  PerOutputElement<1>,   0, 0},
    {"Greater",               PerOutputElement<1>,   0, 0},
    {"Where",                 PerOutputElement<1>,   0, 0},
    {"Neg",                   PerOutputElement<1>,   0, 0},
    {"Abs",                   PerOutputElement<1>,   0, 0},
    {"Sqrt",                  PerOutputElement<1>,   0, 0},
    {"Reciprocal",            PerOutputElement<1>,   0, 0},
    {"Relu",                  PerOutputElement<1>,   0, 0},
    {"LeakyRelu",             PerOutputElement<1>,   0, 0},
    {"Clip",                  PerOutputElement<1>,   0, 0},
    {"HardSigmoid",           PerOutputElement<1>,   0, 0},
    {"HardSwish",             PerOutputElement<1>,   0, 0},
    {"Sigmoid",               PerOutputElement<4>,   0, 0},
    {"Tanh",                  PerOutputElement<4>,   0, 0},
    {"Erf",                   PerOutputElement<4>,   0, 0},
    {"Exp",                   PerOutputElement<4>,   0, 0},
    {"Log",                   PerOutputElement<4>,   0, 0},
    {"Elu",                   PerOutputElement<4>,   0, 0},
    {"Selu",                  PerOutputElement<4>,   0, 0},
    {"Softplus",              PerOutputElement<4>,   0, 0},
    {"Softmax",               PerOutputElement<5>,   0, 0},
    {"LogSoftmax",            PerOutputElement<5>,   0, 0},
    {"Resize",                ResizeCost,            0, 0},
    {"Upsample",              ResizeCost,            0, 0},
    {"Concat",                DataMovement,          0, 0},
    {"Split",                 DataMovement,          0, 0},
    {"Slice",                 DataMovement,          0, 0},
    {"Reshape",               DataMovement,          0, 0},
    {"Flatten",               DataMovement,          0, 0},
    {"Transpose",             DataMovement,          0, 0},
    {"Squeeze",               DataMovement,          0, 0},
    {"Unsqueeze",             DataMovement,          0, 0},
    {"Gather",                DataMovement,          0, 0},
    {"Expand",                DataMovement,          0, 0},
    {"Tile",                  DataMovement,          0, 0},
    {"Pad",                   DataMovement,          0, 0},
    {"Cast",                  DataMovement,          0, 0},
    {"Shape",                 DataMovement,          0, 0},
    {"Identity",              DataMovement,          0, 0},
    {"Dropout",               DataMovement,          0, 0},
    {"DepthToSpace",          DataMovement,          0, 0},
    {"SpaceToDepth",          DataMovement,          0, 0},
};
// clang-format on

const OpInfo* FindOp(const std::string& op) {
  for (const auto& info : kOpTable) {
    if (info.op == op) return &info;
  }
  return nullptr;
}

}  // namespace

bool IsParameterSlot(const std::string& op_type, int index) {
  const OpInfo* info = FindOp(op_type);
  return info && index < 32 && (info->param_slots >> index) & 1u;
}

bool IsStatisticsSlot(const std::string& op_type, int index) {
  const OpInfo* info = FindOp(op_type);
  return info && index < 32 && (info->stat_slots >> index) & 1u;
}

bool ComputeLayerCost(const Graph& g, Layer* layer) {
  LayerCost& c = layer->cost;
  c = LayerCost{};
  for (size_t k = 0; k < layer->inputs.size(); ++k) {
    int id = layer->inputs[k];
    if (id < 0) continue;
    const Value& v = g.values[id];
    c.bytes_read += v.type.Bytes();
    if (v.kind == ValueKind::kWeight && !IsStatisticsSlot(layer->op_type, static_cast<int>(k))) {
      c.params += v.type.Elements();
    }
  }
  for (int id : layer->outputs) {
    if (id >= 0) c.bytes_written += g.values[id].type.Bytes();
  }
  const OpInfo* info = layer->domain.empty() ? FindOp(layer->op_type) : nullptr;
  c.has_rule = info != nullptr;
  if (info) info->cost(g, *layer, &c);
  return c.has_rule;
}

}  // namespace dlbricks::graph_internal
