// DLBricks section 3.1: Algorithm 1 (FindModelSubgraphs), Algorithm 2 (SplitModel), brick
// signatures and corpus-wide dedupe. The rules are documented in include/dlbricks/decompose.h.
#include "dlbricks/decompose.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

namespace dlbricks {

std::string DecomposeModeName(DecomposeMode mode) {
  switch (mode) {
    case DecomposeMode::kChain: return "chain";
    case DecomposeMode::kDag: return "dag";
    case DecomposeMode::kOverlap: return "overlap";
  }
  return "chain";
}

Status ParseDecomposeMode(const std::string& text, DecomposeMode* mode) {
  for (DecomposeMode m : {DecomposeMode::kChain, DecomposeMode::kDag, DecomposeMode::kOverlap}) {
    if (text == DecomposeModeName(m)) {
      *mode = m;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(fmt::format("unknown mode '{}' (expected chain, dag or overlap)", text));
}

std::string FusionRulesName(FusionRules rules) {
  return rules == FusionRules::kOnnxRuntime ? "onnxruntime" : "none";
}

Status ParseFusionRules(const std::string& text, FusionRules* rules) {
  for (FusionRules r : {FusionRules::kNone, FusionRules::kOnnxRuntime}) {
    if (text == FusionRulesName(r)) {
      *rules = r;
      return Status::OK();
    }
  }
  return Status::InvalidArgument(fmt::format("unknown fusion rules '{}' (expected none or onnxruntime)", text));
}

namespace {

bool Inside(int layer, int begin, int end) { return layer >= begin && layer < end; }

int ProducerOf(const Graph& g, int value) { return g.values[static_cast<size_t>(value)].producer; }

// Disjoint-set forest over window positions, for the dag connectivity test.
struct Components {
  std::vector<int> parent;
  explicit Components(int n) : parent(static_cast<size_t>(n)) { std::iota(parent.begin(), parent.end(), 0); }
  int Find(int x) {
    while (parent[static_cast<size_t>(x)] != x) x = parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    return x;
  }
  void Union(int a, int b) { parent[static_cast<size_t>(Find(a))] = Find(b); }
};

bool Runnable(const Graph& g, int begin, int end, DecomposeMode mode) {
  return mode == DecomposeMode::kDag ? IsRunnableDag(g, begin, end) : IsRunnableChain(g, begin, end);
}

}  // namespace

bool IsRunnableChain(const Graph& g, int begin, int end) {
  for (int i = begin + 1; i < end; ++i) {
    std::vector<int> data = g.layers[static_cast<size_t>(i)].DataInputs(g);
    if (data.empty()) return false;  // a source layer would make the brick multi-entry
    for (int v : data) {
      if (!Inside(ProducerOf(g, v), begin, end)) return false;
    }
  }
  return true;
}

bool IsRunnableDag(const Graph& g, int begin, int end) {
  Components comp(end - begin);
  std::unordered_map<int, int> first_reader;  // outside value -> first window position reading it
  for (int i = begin; i < end; ++i) {
    for (int v : g.layers[static_cast<size_t>(i)].DataInputs(g)) {
      int p = ProducerOf(g, v);
      if (Inside(p, begin, end)) {
        comp.Union(i - begin, p - begin);
      } else {
        auto [it, fresh] = first_reader.emplace(v, i - begin);
        if (!fresh) comp.Union(i - begin, it->second);
      }
    }
  }
  for (int i = 1; i < end - begin; ++i) {
    if (comp.Find(i) != comp.Find(0)) return false;
  }
  return true;
}

BrickInterface WindowInterface(const Graph& g, int begin, int end) {
  BrickInterface io;
  for (int i = begin; i < end; ++i) {
    for (int v : g.layers[static_cast<size_t>(i)].DataInputs(g)) {
      if (!Inside(ProducerOf(g, v), begin, end) &&
          std::find(io.inputs.begin(), io.inputs.end(), v) == io.inputs.end()) {
        io.inputs.push_back(v);
      }
    }
  }
  for (int i = begin; i < end; ++i) {
    for (int v : g.layers[static_cast<size_t>(i)].outputs) {
      if (v < 0) continue;
      const Value& val = g.values[static_cast<size_t>(v)];
      bool leaves = val.is_graph_output || val.consumers.empty() ||
                    std::any_of(val.consumers.begin(), val.consumers.end(),
                                [&](int c) { return !Inside(c, begin, end); });
      if (leaves) io.outputs.push_back(v);
    }
  }
  return io;
}

std::string BrickSignatureText(const Graph& g, int begin, int end) {
  BrickInterface io = WindowInterface(g, begin, end);
  auto index_in = [](const std::vector<int>& list, int v) {
    return static_cast<int>(std::find(list.begin(), list.end(), v) - list.begin());
  };
  auto slot_of = [&](int v) {  // "L<window position>.<output slot>" of a value made in the window
    int p = ProducerOf(g, v);
    return fmt::format("L{}.{}", p - begin, index_in(g.layers[static_cast<size_t>(p)].outputs, v));
  };
  std::vector<int> weights;  // shared weights keep one index, so sharing is part of the topology
  std::string text = fmt::format("brick v1 layers={} inputs={}\n", end - begin, io.inputs.size());
  for (int i = begin; i < end; ++i) {
    const Layer& layer = g.layers[static_cast<size_t>(i)];
    text += fmt::format("L{} {} <-", i - begin, layer.signature.Hex());
    for (int v : layer.inputs) {
      if (v < 0) {
        text += " -";
        continue;
      }
      const Value& val = g.values[static_cast<size_t>(v)];
      if (Inside(val.producer, begin, end)) {
        text += " " + slot_of(v);
      } else if (val.kind == ValueKind::kWeight) {
        if (std::find(weights.begin(), weights.end(), v) == weights.end()) weights.push_back(v);
        text += fmt::format(" W{}", index_in(weights, v));
      } else if (val.kind == ValueKind::kConstant) {
        text += " C";  // constant values are part of the layer signature
      } else {
        text += fmt::format(" I{}", index_in(io.inputs, v));
      }
    }
    text += "\n";
  }
  text += "out";
  for (int v : io.outputs) text += " " + slot_of(v);
  return text + "\n";
}

Hash128 BrickSignature(const Graph& g, int begin, int end) { return HashBytes(BrickSignatureText(g, begin, end)); }

namespace {

// What a unit headed by `head` may absorb next (ONNX Runtime's Conv/BN, Conv/Add, Conv/Mul,
// Conv/activation, Gemm/activation and MatMul/Add fusions on CPU).
bool OrtAbsorbs(const std::string& head, const std::vector<std::string>& absorbed, const std::string& op) {
  static const std::set<std::string> kActivations = {"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid"};
  const bool activated = std::any_of(absorbed.begin(), absorbed.end(),
                                     [](const std::string& a) { return kActivations.count(a) > 0; });
  if (activated) return false;  // an activation ends the fused kernel
  if (kActivations.count(op)) return head == "Conv" || head == "Gemm" || head == "MatMul";
  if (head == "Conv") return op == "BatchNormalization" || op == "Add" || op == "Mul";
  if (head == "MatMul") return op == "Add" && absorbed.empty();
  return false;
}

// x * Sigmoid(x) (SiLU/Swish) or x * HardSigmoid(x) (HardSwish): layer i is the Mul, layer
// i-1 the gate, whose output only the Mul reads. ONNX Runtime runs SiLU as one QuickGelu kernel
// (its profiler names it), and keeping the pair whole keeps x from leaving a brick twice.
bool IsGatedActivation(const Graph& g, int i) {
  const Layer& mul = g.layers[static_cast<size_t>(i)];
  const Layer& gate = g.layers[static_cast<size_t>(i - 1)];
  if (mul.op_type != "Mul" || (gate.op_type != "Sigmoid" && gate.op_type != "HardSigmoid")) return false;
  std::vector<int> gate_in = gate.DataInputs(g), data = mul.DataInputs(g);
  if (gate_in.size() != 1 || gate.outputs.size() != 1 || data.size() != 2) return false;
  const Value& gated = g.values[static_cast<size_t>(gate.outputs[0])];
  if (gated.consumers.size() != 1 || gated.is_graph_output) return false;
  return (data[0] == gate.outputs[0] && data[1] == gate_in[0]) || (data[1] == gate.outputs[0] && data[0] == gate_in[0]);
}

float FloatAttr(const Layer& l, const std::string& name, float fallback) {
  for (const auto& a : l.node.attribute()) {
    if (a.name() == name) return a.f();
  }
  return fallback;
}

// x * HardSigmoid(x) with HardSwish's constants (alpha 1/6, beta 1/2) on the output of a
// convolution's unit: ONNX Runtime fuses the pair into HardSwish and runs it as the NCHWc
// convolution's activation (mobilenet_v3's optimised graph: Conv activation="HardSwish"), so
// the three are one kernel although x has two readers. Layer i is the HardSigmoid.
bool IsConvHardSwish(const Graph& g, int i, const std::string& head, const std::vector<std::string>& absorbed) {
  if (i < 1 || i + 1 >= static_cast<int>(g.layers.size())) return false;
  const Layer& gate = g.layers[static_cast<size_t>(i)];
  if (gate.op_type != "HardSigmoid" || !OrtAbsorbs(head, absorbed, gate.op_type) || head != "Conv") return false;
  if (std::fabs(FloatAttr(gate, "alpha", 0.2f) - 1.0f / 6) > 1e-4f || std::fabs(FloatAttr(gate, "beta", 0.5f) - 0.5f) > 1e-4f)
    return false;
  if (!IsGatedActivation(g, i + 1)) return false;
  const std::vector<int> in = gate.DataInputs(g);
  if (in.size() != 1 || ProducerOf(g, in[0]) != i - 1) return false;
  const Value& x = g.values[static_cast<size_t>(in[0])];
  return x.consumers.size() == 2 && !x.is_graph_output;
}

}  // namespace

std::vector<int> FusionUnits(const Graph& g, FusionRules rules) {
  const int n = static_cast<int>(g.layers.size());
  std::vector<int> starts;
  std::string head;
  std::vector<std::string> absorbed;
  for (int i = 0; i < n; ++i) {
    const Layer& layer = g.layers[static_cast<size_t>(i)];
    bool glue = false;
    if (rules == FusionRules::kOnnxRuntime && i > 0) {
      std::vector<int> data = layer.DataInputs(g);
      const Layer& prev = g.layers[static_cast<size_t>(i - 1)];
      glue = data.size() == 1 && ProducerOf(g, data[0]) == i - 1 && prev.outputs.size() == 1 &&
             g.values[static_cast<size_t>(data[0])].consumers.size() == 1 &&
             !g.values[static_cast<size_t>(data[0])].is_graph_output && OrtAbsorbs(head, absorbed, layer.op_type);
      glue = glue || IsGatedActivation(g, i) || IsConvHardSwish(g, i, head, absorbed);
    }
    if (glue) {
      absorbed.push_back(layer.op_type);
    } else {
      starts.push_back(i);
      head = layer.op_type;
      absorbed.clear();
    }
  }
  starts.push_back(n);
  return starts;
}

std::vector<std::pair<int, int>> SplitModelUnits(const Graph& g, const std::vector<int>& units, int begin, int end,
                                                 DecomposeMode mode, int* next) {
  // Algorithm 2 recurses once per unrunnable window; a loop keeps deep models off the stack.
  const int n = static_cast<int>(units.size()) - 1;
  std::vector<std::pair<int, int>> windows;
  while (!Runnable(g, units[static_cast<size_t>(begin)], units[static_cast<size_t>(end)], mode)) {
    windows.emplace_back(units[static_cast<size_t>(begin)], units[static_cast<size_t>(begin + 1)]);  // CreateModel({verts[begin]})
    ++begin;
    end = std::min(end + 1, n);  // SplitModel(verts, begin + 1, end + 1)
  }
  windows.emplace_back(units[static_cast<size_t>(begin)], units[static_cast<size_t>(end)]);
  *next = end;
  return windows;
}

std::vector<std::pair<int, int>> SplitModel(const Graph& g, int begin, int end, DecomposeMode mode, int* next) {
  return SplitModelUnits(g, FusionUnits(g, FusionRules::kNone), begin, end, mode, next);
}

std::vector<std::pair<int, int>> FindModelSubgraphs(const Graph& g, const DecomposeOptions& options) {
  const std::vector<int> units = FusionUnits(g, options.fusion);
  const int n = static_cast<int>(units.size()) - 1;
  const int G = options.granularity;
  std::vector<std::pair<int, int>> windows;
  if (options.mode == DecomposeMode::kOverlap) {
    // Section 6: begin advances by 1 instead of to SplitModel's end. Chain runnability is
    // monotone in the window end, so growth stops at the first unrunnable window.
    for (int p = 0; p < n; ++p) {
      for (int e = p + 1; e <= std::min(p + G, n) && IsRunnableChain(g, units[static_cast<size_t>(p)], units[static_cast<size_t>(e)]); ++e) {
        windows.emplace_back(units[static_cast<size_t>(p)], units[static_cast<size_t>(e)]);
      }
    }
    return windows;
  }
  // Algorithm 1. The paper's line 7 (begin <- end + 1) with an exclusive end would skip the
  // unit at `end`; the intended non-overlapping cover continues at `end`.
  int begin = 0;
  while (begin < n) {
    int end = std::min(begin + G, n);
    std::vector<std::pair<int, int>> sm = SplitModelUnits(g, units, begin, end, options.mode, &begin);
    windows.insert(windows.end(), sm.begin(), sm.end());
  }
  return windows;
}

StitchedCover StitchModelSubgraphs(const Graph& g, const DecomposeOptions& options) {
  const std::vector<int> units = FusionUnits(g, options.fusion);
  const int n = static_cast<int>(units.size()) - 1;
  const int G = options.granularity;
  auto layer = [&](int unit) { return units[static_cast<size_t>(unit)]; };
  StitchedCover cover;
  int end = 0;   // unit after the last window
  int span = 0;  // units in the last window
  while (end < n) {
    if (span >= 2) {
      // Continue at the seam with the longest runnable window of 2..G units.
      const int seam = end - 1;
      int k = std::min(G, n - seam);
      while (k >= 2 && !Runnable(g, layer(seam), layer(seam + k), options.mode)) --k;
      if (k >= 2) {
        cover.seams.emplace_back(layer(seam), layer(seam + 1));
        cover.windows.emplace_back(layer(seam), layer(seam + k));
        end = seam + k;
        span = k;
        continue;
      }
    }
    // A plain cut: one step of Algorithm 1 (with Algorithm 2's single-unit fallbacks).
    int next = end;
    std::vector<std::pair<int, int>> sm = SplitModelUnits(g, units, end, std::min(end + G, n), options.mode, &next);
    cover.windows.insert(cover.windows.end(), sm.begin(), sm.end());
    const int last_begin = static_cast<int>(std::lower_bound(units.begin(), units.end(), sm.back().first) - units.begin());
    span = next - last_begin;
    end = next;
  }
  return cover;
}

std::vector<std::pair<int, int>> BrickEdges(const Graph& g, const std::vector<BrickInstance>& bricks) {
  std::vector<int> owner(g.layers.size(), -1);
  for (size_t b = 0; b < bricks.size(); ++b) {
    for (int i = bricks[b].begin; i < bricks[b].end; ++i) owner[static_cast<size_t>(i)] = static_cast<int>(b);
  }
  std::vector<std::pair<int, int>> edges;
  for (size_t b = 0; b < bricks.size(); ++b) {
    for (int i = bricks[b].begin; i < bricks[b].end; ++i) {
      for (int v : g.layers[static_cast<size_t>(i)].DataInputs(g)) {
        int p = ProducerOf(g, v);
        if (p >= 0 && owner[static_cast<size_t>(p)] >= 0 && owner[static_cast<size_t>(p)] != static_cast<int>(b)) {
          edges.emplace_back(owner[static_cast<size_t>(p)], static_cast<int>(b));
        }
      }
    }
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  return edges;
}

Status DecomposeModel(const Graph& g, const DecomposeOptions& options, ModelDecomposition* out) {
  if (options.granularity < 1) {
    return Status::InvalidArgument(fmt::format("granularity G must be >= 1 (got {})", options.granularity));
  }
  if (options.stitch && options.mode == DecomposeMode::kOverlap) {
    return Status::InvalidArgument("stitched bricks need mode chain or dag (overlap already lists every window)");
  }
  out->model = g.name;
  out->layers = static_cast<int>(g.layers.size());
  out->bricks.clear();
  out->seams.clear();
  out->edges.clear();
  auto instance = [&](std::pair<int, int> w) { return BrickInstance{w.first, w.second, BrickSignature(g, w.first, w.second)}; };
  if (options.stitch) {
    StitchedCover cover = StitchModelSubgraphs(g, options);
    for (auto w : cover.windows) out->bricks.push_back(instance(w));
    for (auto w : cover.seams) out->seams.push_back(instance(w));
    return Status::OK();  // bricks overlap: no partition edges
  }
  for (auto w : FindModelSubgraphs(g, options)) out->bricks.push_back(instance(w));
  if (options.mode != DecomposeMode::kOverlap) out->edges = BrickEdges(g, out->bricks);
  return Status::OK();
}

Status DecomposeCorpus(const std::vector<const Graph*>& graphs, const DecomposeOptions& options,
                       CorpusDecomposition* out) {
  out->models.assign(graphs.size(), ModelDecomposition{});
  out->bricks.clear();
  out->instances = 0;
  std::map<Hash128, UniqueBrick> unique;  // ordered by id
  for (size_t m = 0; m < graphs.size(); ++m) {
    DLB_RETURN_IF_ERROR(DecomposeModel(*graphs[m], options, &out->models[m]));
    for (const auto* list : {&out->models[m].bricks, &out->models[m].seams}) {
      for (const BrickInstance& b : *list) {
        auto [it, fresh] = unique.emplace(b.id, UniqueBrick{b.id, static_cast<int>(m), b.begin, b.end, 0});
        ++it->second.instances;
        ++out->instances;
      }
    }
  }
  for (auto& [id, brick] : unique) out->bricks.push_back(brick);
  return Status::OK();
}

}  // namespace dlbricks
