// Bricks load and run in ONNX Runtime, and with source weights they reproduce the original
// model's intermediate tensors (CONVENTIONS.md 7: test decomposed results against the whole).
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <set>

#include "dlbricks/suite.h"
#include "ort_test_util.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::FloatTensor;
using testing::TensorMap;

Graph Load(const testing::ModelBuilder& b, const testing::TempDir& dir, const std::string& file) {
  Graph g;
  Status st = LoadGraph(b.Write(dir.path(), file), IngestOptions{}, &g);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return g;
}

// Every window any mode produces for any G, once.
std::set<std::pair<int, int>> AllWindows(const Graph& g) {
  std::set<std::pair<int, int>> windows;
  const int n = static_cast<int>(g.layers.size());
  for (int G = 1; G <= n; ++G) {
    for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag, DecomposeMode::kOverlap}) {
      for (auto w : FindModelSubgraphs(g, DecomposeOptions{G, mode})) windows.insert(w);
    }
  }
  return windows;
}

// SmallConvNet plus a branchy tail (two parallel convs into a Concat), so dag windows with
// several inputs and chain splits both occur.
testing::ModelBuilder BranchyNet() {
  testing::ModelBuilder b = testing::SmallConvNet(3);
  testing::ModelBuilder m;
  m.Input("x", {1, 4, 8, 8});
  m.Weight("wa", {6, 4, 1, 1}).Weight("wb", {6, 4, 3, 3}).Weight("wc", {5, 12, 1, 1});
  m.Node("Conv", {"x", "wa"}, {"a"});
  auto& cb = m.Node("Conv", {"x", "wb"}, {"b"});
  testing::AttrInts(cb, "pads", {1, 1, 1, 1});
  m.Node("Relu", {"b"}, {"br"});
  auto& cat = m.Node("Concat", {"a", "br"}, {"cat"});
  testing::AttrInt(cat, "axis", 1);
  m.Node("Conv", {"cat", "wc"}, {"y"});
  m.Node("Sigmoid", {"y"}, {"out"});
  m.Output("out");
  return m;
}

TEST(BuildBrickModel, EveryBrickRunsInOnnxRuntime) {
  testing::TempDir dir;
  for (const auto& [file, builder] : {std::pair{"small.onnx", testing::SmallConvNet()}, {"branchy.onnx", BranchyNet()}}) {
    Graph g = Load(builder, dir, file);
    std::set<std::pair<int, int>> windows = AllWindows(g);
    ASSERT_GT(windows.size(), g.layers.size());
    for (auto [begin, end] : windows) {
      SCOPED_TRACE(BrickSignatureText(g, begin, end));
      onnx::ModelProto model;
      ASSERT_TRUE(BuildBrickModel(g, begin, end, BrickExportOptions{}, &model).ok());
      EXPECT_NO_THROW(onnx::checker::check_model(model));
      BrickInterface io = WindowInterface(g, begin, end);
      TensorMap out;
      ASSERT_NO_THROW(out = testing::RunOrt(model, testing::RandomInputs(model)));
      ASSERT_EQ(out.size(), io.outputs.size());
      for (size_t k = 0; k < io.outputs.size(); ++k) {
        const FloatTensor& t = out["output_" + std::to_string(k)];
        EXPECT_EQ(t.dims, g.values[static_cast<size_t>(io.outputs[k])].type.dims);
        EXPECT_TRUE(testing::AllFinite(t.data));
      }
    }
  }
}

TEST(BuildBrickModel, SourceWeightsReproduceTheModel) {
  testing::TempDir dir;
  for (const auto& [file, builder] : {std::pair{"small.onnx", testing::SmallConvNet()}, {"branchy.onnx", BranchyNet()}}) {
    Graph g = Load(builder, dir, file);
    onnx::ModelProto original = builder.Build();
    TensorMap tensors = testing::RunWithIntermediates(original, testing::RandomInputs(original, 42));
    for (auto [begin, end] : AllWindows(g)) {
      SCOPED_TRACE(BrickSignatureText(g, begin, end));
      onnx::ModelProto brick;
      ASSERT_TRUE(BuildBrickModel(g, begin, end, BrickExportOptions{.use_source_weights = true}, &brick).ok());
      BrickInterface io = WindowInterface(g, begin, end);
      TensorMap feed;
      for (size_t k = 0; k < io.inputs.size(); ++k) {
        const std::string& source = g.values[static_cast<size_t>(io.inputs[k])].name;
        ASSERT_TRUE(tensors.count(source)) << source;
        feed["input_" + std::to_string(k)] = tensors[source];
      }
      TensorMap out = testing::RunOrt(brick, feed);
      for (size_t k = 0; k < io.outputs.size(); ++k) {
        const std::string& source = g.values[static_cast<size_t>(io.outputs[k])].name;
        ASSERT_TRUE(tensors.count(source)) << source;
        const FloatTensor& got = out["output_" + std::to_string(k)];
        EXPECT_EQ(got.dims, tensors[source].dims);
        EXPECT_LE(testing::RelativeError(got.data, tensors[source].data), 1e-4) << source;
      }
    }
  }
}

// A brick file, ingested again, has the brick's id: identity survives export.
TEST(BuildBrickModel, ExportedBrickReingestsToTheSameSignature) {
  testing::TempDir dir;
  for (const auto& [file, builder] : {std::pair{"small.onnx", testing::SmallConvNet()}, {"branchy.onnx", BranchyNet()}}) {
    Graph g = Load(builder, dir, file);
    for (auto [begin, end] : AllWindows(g)) {
      SCOPED_TRACE(BrickSignatureText(g, begin, end));
      onnx::ModelProto model;
      ASSERT_TRUE(BuildBrickModel(g, begin, end, BrickExportOptions{}, &model).ok());
      const std::string path = dir.File("brick.onnx");
      testing::WriteFile(path, model.SerializeAsString());
      Graph brick;
      Status st = LoadGraph(path, IngestOptions{}, &brick);
      ASSERT_TRUE(st.ok()) << st.ToString();
      const int n = static_cast<int>(brick.layers.size());
      ASSERT_EQ(n, end - begin);
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(brick.layers[static_cast<size_t>(i)].signature, g.layers[static_cast<size_t>(begin + i)].signature);
      }
      EXPECT_EQ(BrickSignature(brick, 0, n), BrickSignature(g, begin, end));
    }
  }
}

TEST(BuildBrickModel, CanonicalNamesAndDeterministicSyntheticWeights) {
  testing::TempDir dir;
  Graph g1 = Load(testing::SmallConvNet(1), dir, "one.onnx");
  Graph g2 = Load(testing::SmallConvNet(9), dir, "two.onnx");  // other weights, same bricks
  const int n = static_cast<int>(g1.layers.size());
  for (int begin = 0; begin < n; ++begin) {
    onnx::ModelProto m1, m2;
    ASSERT_TRUE(BuildBrickModel(g1, begin, begin + 1, BrickExportOptions{}, &m1).ok());
    ASSERT_TRUE(BuildBrickModel(g2, begin, begin + 1, BrickExportOptions{}, &m2).ok());
    EXPECT_EQ(m1.SerializeAsString(), m2.SerializeAsString());
    for (int i = 0; i < m1.graph().input_size(); ++i) EXPECT_EQ(m1.graph().input(i).name(), "input_" + std::to_string(i));
    for (int i = 0; i < m1.graph().output_size(); ++i) EXPECT_EQ(m1.graph().output(i).name(), "output_" + std::to_string(i));
    EXPECT_EQ(m1.graph().node(0).name(), "n0");
    for (const auto& init : m1.graph().initializer()) {
      EXPECT_TRUE(init.name()[0] == 'w' || init.name()[0] == 'c') << init.name();
      if (g1.layers[static_cast<size_t>(begin)].op_type == "BatchNormalization" && init.name() == "w3") {
        const float* v = reinterpret_cast<const float*>(init.raw_data().data());
        for (int64_t k = 0; k < init.dims(0); ++k) EXPECT_GT(v[k], 0.0f);  // variance
      }
    }
  }
}

TEST(DescribeBrick, SumsCostsAndListsTypes) {
  testing::TempDir dir;
  Graph g = Load(testing::SmallConvNet(), dir, "net.onnx");
  const int n = static_cast<int>(g.layers.size());
  BrickInfo all = DescribeBrick(g, 0, n);
  EXPECT_EQ(all.layers, n);
  EXPECT_EQ(all.op_types.front(), "Conv");
  EXPECT_DOUBLE_EQ(all.cost.macs, g.totals.macs);
  ASSERT_EQ(all.inputs.size(), 1u);
  EXPECT_EQ(all.inputs[0].dims, (std::vector<int64_t>{1, 3, 16, 16}));
  ASSERT_EQ(all.outputs.size(), 1u);
  EXPECT_EQ(all.outputs[0].dims, (std::vector<int64_t>{1, 10}));
}

TEST(MakeDecoyModel, LoadsAndIsDeterministic) {
  testing::TempDir dir;
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    onnx::ModelProto m = MakeDecoyModel(seed);
    EXPECT_EQ(m.SerializeAsString(), MakeDecoyModel(seed).SerializeAsString());
    std::string path = dir.File("decoy" + std::to_string(seed) + ".onnx");
    testing::WriteFile(path, m.SerializeAsString());
    Graph g;
    Status st = LoadGraph(path, IngestOptions{}, &g);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_GE(g.layers.size(), 8u);
    EXPECT_GT(g.totals.macs, 0);
  }
  EXPECT_NE(MakeDecoyModel(1).SerializeAsString(), MakeDecoyModel(2).SerializeAsString());
}

}  // namespace
}  // namespace dlbricks
