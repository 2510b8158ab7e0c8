// Layout reorders of a whole model, from what its lone bricks show (kernel-time construction).
// ONNX Runtime at level `all` runs convolutions and pools in a blocked layout (NCHWc) and
// reorders where data enters and leaves it. A lone brick reorders at its own boundaries on
// every call; the model only where a blocked tensor meets an op that reads the plain layout.
// The brick profiles say which bricks take or produce the blocked layout, so the model's
// reorders can be placed without knowing the runtime's conditions for converting an op.
#include <algorithm>
#include <set>

#include "dlbricks/estimate.h"

namespace dlbricks {
namespace {

// Ops the NchwcTransformer keeps in the blocked layout when every input already is, and
// HardSigmoid: x * HardSigmoid(x) after a convolution runs inside the blocked convolution
// (mobilenet_v3's profile has no HardSigmoid, Mul or reorder after those convolutions).
bool LayoutTransparent(const std::string& op) {
  static const std::set<std::string> kOps = {"Add",     "Sum",  "Mul",         "Concat",
                                             "Relu",    "Sigmoid", "Tanh",     "HardSigmoid",
                                             "BatchNormalization", "GlobalAveragePool", "GlobalMaxPool",
                                             "Resize",  "Upsample"};
  return kOps.count(op) > 0;
}

// Whether `layer` keeps a blocked input blocked: a transparent op, and for Add/Sum/Mul/Concat
// only activation operands (no constant), for Add/Sum/Mul also of one shape (no broadcast).
bool KeepsBlockedLayout(const Graph& g, const Layer& layer) {
  const std::string& op = layer.op_type;
  if (!LayoutTransparent(op)) return false;
  const bool binary = op == "Add" || op == "Sum" || op == "Mul";
  if (!binary && op != "Concat") return true;
  const std::vector<int> act = layer.DataInputs(g);
  if (act.size() != layer.inputs.size()) return false;
  for (int v : act)
    if (binary && g.values[static_cast<size_t>(v)].type.dims != g.values[static_cast<size_t>(act[0])].type.dims)
      return false;
  return true;
}

int Owner(const std::vector<int>& owner, const Graph& g, int v) {
  const int p = g.values[static_cast<size_t>(v)].producer;
  return p < 0 ? -1 : owner[static_cast<size_t>(p)];
}

}  // namespace

std::vector<double> ModelReorders(const Graph& g, const std::vector<BrickInstance>& bricks,
                                  const BrickLatencies& latencies) {
  const size_t k = bricks.size();
  std::vector<double> extra(k, 0);
  std::vector<int> owner(g.layers.size(), -1);
  for (size_t b = 0; b < k; ++b)
    for (int i = bricks[b].begin; i < bricks[b].end; ++i) owner[static_cast<size_t>(i)] = static_cast<int>(b);
  auto info = [&](size_t b) -> const BrickLatency* {
    auto it = latencies.find(bricks[b].id);
    return it == latencies.end() ? nullptr : &it->second;
  };
  std::vector<BrickInterface> io(k);
  for (size_t b = 0; b < k; ++b) io[b] = WindowInterface(g, bricks[b].begin, bricks[b].end);

  // The model's reorder cost per byte: its bricks' measured ReorderOutputs, ratio of sums (the
  // large tensors that matter set it; small ones are dominated by a per-call cost).
  double reorder_ms = 0, reorder_bytes = 0;
  for (size_t b = 0; b < k; ++b) {
    const BrickLatency* l = info(b);
    if (!l || !l->blocked_out) continue;
    for (int v : io[b].outputs) reorder_bytes += static_cast<double>(g.values[static_cast<size_t>(v)].type.Bytes());
    reorder_ms += l->reorder_out_ms;
  }
  const double rate = reorder_bytes > 0 ? reorder_ms / reorder_bytes : 0;

  std::vector<char> blocked(g.values.size(), 0);  // value is in the blocked layout in the model
  std::vector<char> reordered(g.values.size(), 0);
  // Book one ReorderOutput for blocked value v (on its producer brick).
  auto reorder_output = [&](int v) {
    if (!blocked[static_cast<size_t>(v)] || reordered[static_cast<size_t>(v)]) return;
    reordered[static_cast<size_t>(v)] = 1;
    const int p = Owner(owner, g, v);
    if (p < 0) return;
    const BrickLatency* l = info(static_cast<size_t>(p));
    extra[static_cast<size_t>(p)] += l && l->blocked_out
                                         ? l->reorder_out_ms
                                         : rate * static_cast<double>(g.values[static_cast<size_t>(v)].type.Bytes());
  };

  for (size_t b = 0; b < k; ++b) {
    const BrickLatency* l = info(b);
    std::vector<int> data_in;  // activations and graph inputs fed to the brick
    for (int v : io[b].inputs) {
      const ValueKind kind = g.values[static_cast<size_t>(v)].kind;
      if (kind == ValueKind::kActivation || kind == ValueKind::kGraphInput) data_in.push_back(v);
    }
    const bool all_blocked = !data_in.empty() && std::all_of(data_in.begin(), data_in.end(), [&](int v) {
      return blocked[static_cast<size_t>(v)] != 0;
    });
    bool transparent = all_blocked;
    for (int i = bricks[b].begin; i < bricks[b].end && transparent; ++i)
      transparent = KeepsBlockedLayout(g, g.layers[static_cast<size_t>(i)]);

    bool out_blocked = false;
    if (l && (l->blocked_in || l->blocked_out)) {
      // A converting brick: blocked input is used as is, a plain one reordered on entry.
      if (l->blocked_in && !all_blocked) extra[b] += l->reorder_in_ms;
      if (!l->blocked_in)
        for (int v : data_in) reorder_output(v);
      out_blocked = l->blocked_out;
    } else if (transparent) {
      out_blocked = true;
    } else {
      for (int v : data_in) reorder_output(v);
    }
    if (out_blocked)
      for (int v : io[b].outputs) blocked[static_cast<size_t>(v)] = 1;
  }
  for (int v : g.outputs) reorder_output(v);
  return extra;
}

}  // namespace dlbricks
