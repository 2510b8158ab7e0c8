// Algorithms 1-2 on hand-built graphs (exact topologies), then on ingested ModelBuilder models.
#include "dlbricks/decompose.h"

#include <gtest/gtest.h>

#include <set>

#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using Windows = std::vector<std::pair<int, int>>;

// Builds a Graph directly: each layer's signature is its op name (+ a tag), topology explicit.
class Sketch {
 public:
  explicit Sketch(std::string name = "sketch") { g_.name = std::move(name); }
  int Input(const std::string& name) {
    int v = NewValue(name, ValueKind::kGraphInput);
    g_.inputs.push_back(v);
    return v;
  }
  int Weight(const std::string& name) { return NewValue(name, ValueKind::kWeight); }
  // Adds a layer reading `inputs`; returns its (single) output value.
  int Layer(const std::string& op, std::vector<int> inputs, const std::string& tag = "") {
    dlbricks::Layer layer;
    layer.name = op + std::to_string(g_.layers.size()) + g_.name;
    layer.op_type = op;
    layer.inputs = inputs;
    layer.signature_text = op + "|" + tag;
    layer.signature = HashBytes(layer.signature_text);
    int index = static_cast<int>(g_.layers.size());
    for (int v : inputs) g_.values[static_cast<size_t>(v)].consumers.push_back(index);
    int out = NewValue(layer.name + "_out", ValueKind::kActivation);
    g_.values[static_cast<size_t>(out)].producer = index;
    layer.outputs = {out};
    g_.layers.push_back(layer);
    return out;
  }
  // A float attribute on the last layer added.
  void Attr(const std::string& name, float value) {
    auto* a = g_.layers.back().node.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  const Graph& Done(int output) {
    g_.values[static_cast<size_t>(output)].is_graph_output = true;
    g_.outputs.push_back(output);
    return g_;
  }

 private:
  int NewValue(const std::string& name, ValueKind kind) {
    Value v;
    v.name = name;
    v.kind = kind;
    v.type.dtype = 1;
    v.type.dims = {1, 8};
    g_.values.push_back(v);
    return static_cast<int>(g_.values.size()) - 1;
  }
  Graph g_;
};

Windows Find(const Graph& g, int G, DecomposeMode mode = DecomposeMode::kChain) {
  return FindModelSubgraphs(g, DecomposeOptions{G, mode});
}

// x -> a -> {b1, b2} -> concat -> d
const Graph& Branchy(Sketch& s) {
  int x = s.Input("x");
  int a = s.Layer("Conv", {x});
  int b1 = s.Layer("Relu", {a});
  int b2 = s.Layer("Sigmoid", {a});
  int cat = s.Layer("Concat", {b1, b2});
  return s.Done(s.Layer("Relu", {cat}, "d"));
}

TEST(FindModelSubgraphs, G1GivesOneBrickPerLayer) {
  Sketch s;
  const Graph& g = Branchy(s);
  for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag, DecomposeMode::kOverlap}) {
    EXPECT_EQ(Find(g, 1, mode), (Windows{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}}));
  }
}

TEST(FindModelSubgraphs, WholeChainIsOneBrick) {
  Sketch s;
  int v = s.Input("x");
  for (int i = 0; i < 7; ++i) v = s.Layer(i % 2 ? "Relu" : "Conv", {v});
  const Graph& g = s.Done(v);
  EXPECT_EQ(Find(g, 7), (Windows{{0, 7}}));
  EXPECT_EQ(Find(g, 100), (Windows{{0, 7}}));
  // Non-overlapping cover continues at `end` (not end + 1, the paper's off-by-one).
  EXPECT_EQ(Find(g, 3), (Windows{{0, 3}, {3, 6}, {6, 7}}));
}

TEST(SplitModel, ConcatWithoutItsProducersIsSplit) {
  // x -> a -> {b1, b2, b3} -> concat
  Sketch s;
  int x = s.Input("x");
  int a = s.Layer("Conv", {x});
  int b1 = s.Layer("Relu", {a});
  int b2 = s.Layer("Sigmoid", {a});
  int b3 = s.Layer("Tanh", {a});
  const Graph& g = s.Done(s.Layer("Concat", {b1, b2, b3}));
  // [1,4): b2 reads a from outside -> split off b1, retry [2,5): b3 reads a from outside ->
  // split off b2, retry [3,5) (clamped): the Concat reads b1, b2 from outside -> split off b3.
  EXPECT_FALSE(IsRunnableChain(g, 1, 4));
  EXPECT_FALSE(IsRunnableChain(g, 2, 5));
  EXPECT_FALSE(IsRunnableChain(g, 3, 5));
  int next = -1;
  EXPECT_EQ(SplitModel(g, 1, 4, DecomposeMode::kChain, &next), (Windows{{1, 2}, {2, 3}, {3, 4}, {4, 5}}));
  EXPECT_EQ(next, 5);
  EXPECT_EQ(Find(g, 3), (Windows{{0, 3}, {3, 4}, {4, 5}}));
  // A Concat first in its window takes all of its inputs as brick inputs: runnable.
  EXPECT_TRUE(IsRunnableChain(g, 4, 5));
  // With all producers inside, it is runnable too.
  EXPECT_EQ(Find(g, 5), (Windows{{0, 5}}));
}

TEST(SplitModel, DagModeKeepsWindowsWithOutsideInputs) {
  Sketch s;
  const Graph& g = Branchy(s);
  EXPECT_TRUE(IsRunnableDag(g, 2, 4));  // b2 -> concat; a and b1 become brick inputs
  EXPECT_EQ(Find(g, 2, DecomposeMode::kDag), (Windows{{0, 2}, {2, 4}, {4, 5}}));
  EXPECT_EQ(Find(g, 2, DecomposeMode::kChain), (Windows{{0, 2}, {2, 3}, {3, 5}}));
  BrickInterface io = WindowInterface(g, 2, 4);
  EXPECT_EQ(io.inputs.size(), 2u);
  EXPECT_EQ(io.outputs.size(), 1u);
  // b1 and b2 only share an outside input: still one connected network.
  EXPECT_TRUE(IsRunnableDag(g, 1, 3));
  EXPECT_FALSE(IsRunnableChain(g, 1, 3));
}

TEST(SplitModel, DagModeSplitsDisconnectedWindows) {
  Sketch s;
  int x = s.Input("x");
  int y = s.Input("y");
  int a = s.Layer("Relu", {x});
  int b = s.Layer("Relu", {y});
  const Graph& g = s.Done(s.Layer("Add", {a, b}));
  EXPECT_FALSE(IsRunnableDag(g, 0, 2));
  EXPECT_EQ(Find(g, 2, DecomposeMode::kDag), (Windows{{0, 1}, {1, 3}}));
}

TEST(SplitModel, IterativeOnDeepModels) {
  // Every layer reads the graph input: each window of 2 fails, so the paper's recursion would
  // nest once per layer.
  Sketch s;
  int x = s.Input("x");
  int last = x;
  const int n = 200000;
  for (int i = 0; i < n; ++i) last = s.Layer("Relu", {x});
  const Graph& g = s.Done(last);
  Windows w = Find(g, 2);
  ASSERT_EQ(w.size(), static_cast<size_t>(n));
  EXPECT_EQ(w.back(), (std::pair<int, int>{n - 1, n}));
}

TEST(FindModelSubgraphs, OverlapListsEveryRunnableWindow) {
  Sketch s;
  const Graph& g = Branchy(s);
  Windows w = Find(g, 3, DecomposeMode::kOverlap);
  // [1,3) fails (b2 reads a from outside) and [2,4) fails (the Concat reads b1 from outside),
  // so growth stops there.
  EXPECT_EQ(w, (Windows{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {2, 3}, {3, 4}, {3, 5}, {4, 5}}));
  ModelDecomposition d;
  ASSERT_TRUE(DecomposeModel(g, DecomposeOptions{3, DecomposeMode::kOverlap}, &d).ok());
  EXPECT_TRUE(d.edges.empty());
}

StitchedCover Stitch(const Graph& g, int G, DecomposeMode mode = DecomposeMode::kChain) {
  DecomposeOptions o{G, mode};
  o.stitch = true;
  return StitchModelSubgraphs(g, o);
}

TEST(StitchModelSubgraphs, ChainBricksShareOneLayer) {
  Sketch s;
  int v = s.Input("x");
  for (int i = 0; i < 7; ++i) v = s.Layer(i % 2 ? "Relu" : "Conv", {v});
  const Graph& g = s.Done(v);
  StitchedCover c = Stitch(g, 3);
  EXPECT_EQ(c.windows, (Windows{{0, 3}, {2, 5}, {4, 7}}));
  EXPECT_EQ(c.seams, (Windows{{2, 3}, {4, 5}}));
  // G=2: every adjacent pair once, every inner layer a seam (inclusion-exclusion over pairs).
  c = Stitch(g, 2);
  EXPECT_EQ(c.windows, (Windows{{0, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}}));
  EXPECT_EQ(c.seams, (Windows{{1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}}));
  // G=1 has no pairs to share: the paper's cover.
  c = Stitch(g, 1);
  EXPECT_EQ(c.windows, Find(g, 1));
  EXPECT_TRUE(c.seams.empty());
  // The whole model in one brick needs no seam.
  c = Stitch(g, 7);
  EXPECT_EQ(c.windows, (Windows{{0, 7}}));
  EXPECT_TRUE(c.seams.empty());
}

TEST(StitchModelSubgraphs, UnrunnableSeamWindowFallsBackToAPlainCut) {
  Sketch s;
  const Graph& g = Branchy(s);  // x -> a -> {b1, b2} -> concat -> d
  // chain, G=2: [0,2) a,b1; the seam window [1,3) b1,b2 is not a chain (b2 reads a from
  // outside): plain cut at 2, Algorithm 2 from there: [2,4) fails, single b2, then [3,5).
  StitchedCover c = Stitch(g, 2);
  EXPECT_EQ(c.windows, (Windows{{0, 2}, {2, 3}, {3, 5}}));
  EXPECT_TRUE(c.seams.empty());
  // dag keeps [1,3) (b1 and b2 share a), then stitches on.
  c = Stitch(g, 2, DecomposeMode::kDag);
  EXPECT_EQ(c.windows, (Windows{{0, 2}, {1, 3}, {2, 4}, {3, 5}}));
  EXPECT_EQ(c.seams, (Windows{{1, 2}, {2, 3}, {3, 4}}));
}

TEST(DecomposeModel, StitchedSeamsAreBricksOfTheCorpus) {
  Sketch s;
  int v = s.Input("x");
  for (int i = 0; i < 5; ++i) v = s.Layer(i % 2 ? "Relu" : "Conv", {v});
  const Graph& g = s.Done(v);
  DecomposeOptions o{3, DecomposeMode::kChain};
  o.stitch = true;
  CorpusDecomposition c;
  ASSERT_TRUE(DecomposeCorpus({&g}, o, &c).ok());
  ASSERT_EQ(c.models.size(), 1u);
  const ModelDecomposition& d = c.models[0];
  ASSERT_EQ(d.bricks.size(), 2u);  // [0,3) [2,5)
  ASSERT_EQ(d.seams.size(), 1u);   // [2,3)
  EXPECT_EQ(d.seams[0].id, BrickSignature(g, 2, 3));
  EXPECT_TRUE(d.edges.empty());
  EXPECT_EQ(c.instances, 3);
  std::set<Hash128> ids;
  for (const UniqueBrick& b : c.bricks) ids.insert(b.id);
  EXPECT_TRUE(ids.count(d.seams[0].id));
  o.mode = DecomposeMode::kOverlap;
  EXPECT_FALSE(DecomposeModel(g, o, &c.models[0]).ok());
}

TEST(BrickSignature, IgnoresNamesAndSeesTopology) {
  Sketch s1("first"), s2("second");
  const Graph& g1 = Branchy(s1);
  const Graph& g2 = Branchy(s2);
  EXPECT_NE(g1.layers[0].name, g2.layers[0].name);
  EXPECT_EQ(BrickSignature(g1, 0, 5), BrickSignature(g2, 0, 5));
  EXPECT_EQ(BrickSignatureText(g1, 0, 5).find("first"), std::string::npos);

  // Same layer signatures, different wiring: Add(a, b) of (Relu->Relu) vs (Relu, Relu) in parallel.
  Sketch c, p;
  int cx = c.Input("x");
  int c1 = c.Layer("Relu", {cx});
  int c2 = c.Layer("Relu", {c1});
  const Graph& chain = c.Done(c.Layer("Add", {c1, c2}));
  int px = p.Input("x");
  int p1 = p.Layer("Relu", {px});
  int p2 = p.Layer("Relu", {px});
  const Graph& par = p.Done(p.Layer("Add", {p1, p2}));
  EXPECT_NE(BrickSignature(chain, 0, 3), BrickSignature(par, 0, 3));
  // Single layers are equal.
  EXPECT_EQ(BrickSignature(chain, 0, 1), BrickSignature(par, 0, 1));
}

TEST(DecomposeModel, EdgesFollowDataFlow) {
  Sketch s;
  const Graph& g = Branchy(s);
  ModelDecomposition d;
  ASSERT_TRUE(DecomposeModel(g, DecomposeOptions{2, DecomposeMode::kChain}, &d).ok());
  ASSERT_EQ(d.bricks.size(), 3u);  // [0,2) [2,3) [3,5)
  EXPECT_EQ(d.edges, (Windows{{0, 1}, {0, 2}, {1, 2}}));
  EXPECT_EQ(d.layers, 5);
}

TEST(DecomposeModel, RejectsGranularityBelowOne) {
  Sketch s;
  const Graph& g = Branchy(s);
  ModelDecomposition d;
  Status st = DecomposeModel(g, DecomposeOptions{0, DecomposeMode::kChain}, &d);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("G"), std::string::npos);
}

TEST(DecomposeCorpus, DedupesAcrossModels) {
  Sketch s1("one"), s2("two");
  const Graph& g1 = Branchy(s1);
  const Graph& g2 = Branchy(s2);
  CorpusDecomposition c;
  ASSERT_TRUE(DecomposeCorpus({&g1, &g2}, DecomposeOptions{1, DecomposeMode::kChain}, &c).ok());
  EXPECT_EQ(c.instances, 10);
  // Relu (b1) and Relu "d" differ by tag; so 5 distinct layer signatures, shared by both models.
  EXPECT_EQ(c.bricks.size(), 5u);
  for (const UniqueBrick& b : c.bricks) EXPECT_EQ(b.instances, 2);
  for (size_t i = 1; i < c.bricks.size(); ++i) EXPECT_LT(c.bricks[i - 1].id, c.bricks[i].id);
}

// ---- Ingested models (graph module) ----

Graph Load(const testing::ModelBuilder& b, const testing::TempDir& dir, const std::string& file) {
  Graph g;
  Status st = LoadGraph(b.Write(dir.path(), file), IngestOptions{}, &g);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return g;
}

TEST(DecomposeIngested, SmallConvNet) {
  testing::TempDir dir;
  Graph g = Load(testing::SmallConvNet(), dir, "net.onnx");
  const int n = static_cast<int>(g.layers.size());
  ASSERT_GT(n, 5);
  ModelDecomposition d;
  ASSERT_TRUE(DecomposeModel(g, DecomposeOptions{1, DecomposeMode::kChain}, &d).ok());
  EXPECT_EQ(static_cast<int>(d.bricks.size()), n);
  ASSERT_TRUE(DecomposeModel(g, DecomposeOptions{n, DecomposeMode::kChain}, &d).ok());
  ASSERT_EQ(d.bricks.size(), 1u);  // the residual Add's producers are all inside
  EXPECT_EQ(d.bricks[0].id, BrickSignature(g, 0, n));
  // Every G: a cover of all layers, windows of at most G layers.
  for (int G = 1; G <= n; ++G) {
    for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag}) {
      ASSERT_TRUE(DecomposeModel(g, DecomposeOptions{G, mode}, &d).ok());
      int at = 0;
      for (const BrickInstance& b : d.bricks) {
        EXPECT_EQ(b.begin, at);
        EXPECT_LE(b.size(), G);
        at = b.end;
      }
      EXPECT_EQ(at, n);
    }
  }
}

TEST(DecomposeIngested, SameLayerInTwoModelsIsOneBrick) {
  testing::TempDir dir;
  auto model = [](const std::string& prefix, uint32_t seed) {
    testing::ModelBuilder b;
    b.Input(prefix + "in", {1, 4, 8, 8});
    b.Weight(prefix + "w", {4, 4, 3, 3}, seed);
    auto& conv = b.Node("Conv", {prefix + "in", prefix + "w"}, {prefix + "c"}, prefix + "conv");
    testing::AttrInts(conv, "pads", {1, 1, 1, 1});
    b.Node("Relu", {prefix + "c"}, {prefix + "out"}, prefix + "relu");
    b.Output(prefix + "out");
    return b;
  };
  Graph g1 = Load(model("alpha_", 11), dir, "a.onnx");
  Graph g2 = Load(model("beta_", 99), dir, "b.onnx");
  for (int G : {1, 2}) {
    CorpusDecomposition c;
    ASSERT_TRUE(DecomposeCorpus({&g1, &g2}, DecomposeOptions{G, DecomposeMode::kChain}, &c).ok());
    EXPECT_EQ(c.instances, G == 1 ? 4 : 2);
    EXPECT_EQ(c.bricks.size(), G == 1 ? 2u : 1u);
  }
}

TEST(FusionUnits, OnnxRuntimeRulesKeepFusedKernelsWhole) {
  testing::TempDir dir;
  Graph g = Load(testing::SmallConvNet(), dir, "net.onnx");
  // Conv BN Relu | Conv Relu | Add | GlobalAveragePool | Flatten | Gemm
  ASSERT_EQ(g.layers.size(), 9u);
  EXPECT_EQ(FusionUnits(g, FusionRules::kNone), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(FusionUnits(g, FusionRules::kOnnxRuntime), (std::vector<int>{0, 3, 5, 6, 7, 8, 9}));
  DecomposeOptions o{1, DecomposeMode::kChain, FusionRules::kOnnxRuntime};
  EXPECT_EQ(FindModelSubgraphs(g, o),
            (std::vector<std::pair<int, int>>{{0, 3}, {3, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}}));
  // G=2 over units: [Conv BN Relu Conv Relu] is a chain; the Add needs the first Relu too.
  o.granularity = 2;
  auto w = FindModelSubgraphs(g, o);
  ASSERT_FALSE(w.empty());
  EXPECT_EQ(w.front(), (std::pair<int, int>{0, 5}));
  FusionRules r;
  EXPECT_TRUE(ParseFusionRules("onnxruntime", &r).ok());
  EXPECT_EQ(ParseFusionRules("tvm", &r).ExitCode(), 2);
}

TEST(FusionUnits, SiluIsOneUnit) {
  // x -> Conv -> {Sigmoid, Mul(conv, sigmoid)} -> Conv -> Sigmoid -> Mul(sigmoid, other)
  Sketch s;
  int x = s.Input("x");
  int c = s.Layer("Conv", {x});
  int sig = s.Layer("Sigmoid", {c});
  int silu = s.Layer("Mul", {c, sig});
  int c2 = s.Layer("Conv", {silu});
  int gate = s.Layer("Sigmoid", {c2});
  const Graph& g = s.Done(s.Layer("Mul", {gate, silu}, "se"));  // a gate, not x * Sigmoid(x)
  // Conv | Sigmoid Mul | Conv Sigmoid (the activation fuses into the conv) | Mul
  EXPECT_EQ(FusionUnits(g, FusionRules::kOnnxRuntime), (std::vector<int>{0, 1, 3, 5, 6}));
  EXPECT_EQ(FusionUnits(g, FusionRules::kNone), (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(FusionUnits, ConvHardSwishIsOneUnit) {
  // x -> Conv -> BN -> {HardSigmoid(1/6), Mul} -> Conv -> {HardSigmoid(0.2), Mul}: the first
  // HardSwish joins its convolution's unit; a HardSigmoid with other constants does not.
  Sketch s;
  int x = s.Input("x");
  int bn = s.Layer("BatchNormalization", {s.Layer("Conv", {x})});
  int hs = s.Layer("HardSigmoid", {bn});
  s.Attr("alpha", 1.0f / 6);
  int y = s.Layer("Mul", {bn, hs});
  int c2 = s.Layer("Conv", {y});
  int hs2 = s.Layer("HardSigmoid", {c2});
  s.Attr("alpha", 0.2f);
  const Graph& g = s.Done(s.Layer("Mul", {c2, hs2}));
  // Conv BN HardSigmoid Mul | Conv | HardSigmoid Mul
  EXPECT_EQ(FusionUnits(g, FusionRules::kOnnxRuntime), (std::vector<int>{0, 4, 5, 7}));
}

TEST(FusionUnits, HardSwishWithAThirdReaderStaysApart) {
  // The convolution's output is also read by an Add: the Conv keeps a plain output.
  Sketch s;
  int x = s.Input("x");
  int c = s.Layer("Conv", {x});
  int hs = s.Layer("HardSigmoid", {c});
  s.Attr("alpha", 1.0f / 6);
  int y = s.Layer("Mul", {c, hs});
  const Graph& g = s.Done(s.Layer("Add", {y, c}));
  EXPECT_EQ(FusionUnits(g, FusionRules::kOnnxRuntime), (std::vector<int>{0, 1, 3, 4}));
}

}  // namespace
}  // namespace dlbricks
