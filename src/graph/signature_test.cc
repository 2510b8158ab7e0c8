#include <gtest/gtest.h>

#include "dlbricks/graph.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::ModelBuilder;
using testing::TempDir;

std::vector<Hash128> Signatures(const Graph& g) {
  std::vector<Hash128> s;
  for (const auto& l : g.layers) s.push_back(l.signature);
  return s;
}

Graph MustLoad(const std::string& path, const IngestOptions& opt = {}) {
  Graph g;
  Status st = LoadGraph(path, opt, &g);
  EXPECT_TRUE(st.ok()) << st.message();
  return g;
}

// Renames every node and tensor: signatures must not see names.
onnx::ModelProto Renamed(onnx::ModelProto m) {
  auto rn = [](const std::string& s) { return s.empty() ? s : "other/" + s + "_renamed"; };
  auto* g = m.mutable_graph();
  for (auto& vi : *g->mutable_input()) vi.set_name(rn(vi.name()));
  for (auto& vi : *g->mutable_output()) vi.set_name(rn(vi.name()));
  for (auto& t : *g->mutable_initializer()) t.set_name(rn(t.name()));
  for (auto& n : *g->mutable_node()) {
    n.set_name(rn(n.name()));
    for (auto& i : *n.mutable_input()) i = rn(i);
    for (auto& o : *n.mutable_output()) o = rn(o);
  }
  return m;
}

TEST(LayerSignature, IgnoresNamesAndWeightValues) {
  TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  testing::WriteFile(dir.File("b.onnx"), Renamed(testing::SmallConvNet(999).Build()).SerializeAsString());
  Graph ga = MustLoad(a);
  Graph gb = MustLoad(dir.File("b.onnx"));
  ASSERT_EQ(ga.layers.size(), gb.layers.size());
  EXPECT_NE(ga.layers[0].name, gb.layers[0].name);
  EXPECT_NE(ga.values[ga.layers[0].inputs[1]].data->raw_data(), gb.values[gb.layers[0].inputs[1]].data->raw_data());
  EXPECT_EQ(Signatures(ga), Signatures(gb));
  for (const auto& l : ga.layers) EXPECT_EQ(l.signature, HashBytes(l.signature_text));
}

TEST(LayerSignature, StrideChangesTheSignature) {
  auto conv_net = [](int64_t stride) {
    ModelBuilder b;
    b.Input("x", {1, 3, 16, 16});
    b.Weight("w", {4, 3, 3, 3});
    auto& c = b.Node("Conv", {"x", "w"}, {"y"});
    testing::AttrInts(c, "strides", {stride, stride});
    b.Output("y");
    return b;
  };
  TempDir dir;
  Graph g1 = MustLoad(conv_net(1).Write(dir.path(), "s1.onnx"));
  Graph g2 = MustLoad(conv_net(2).Write(dir.path(), "s2.onnx"));
  EXPECT_NE(g1.layers[0].signature, g2.layers[0].signature);
  EXPECT_NE(g1.layers[0].signature_text.find("strides=[1,1]"), std::string::npos);
}

TEST(LayerSignature, DefaultsFilledSoExplicitDefaultsMatch) {
  auto conv_net = [](bool explicit_defaults) {
    ModelBuilder b;
    b.Input("x", {1, 3, 8, 8});
    b.Weight("w", {4, 3, 3, 3});
    auto& c = b.Node("Conv", {"x", "w"}, {"y"});
    if (explicit_defaults) {
      testing::AttrInt(c, "group", 1);
      testing::AttrString(c, "auto_pad", "NOTSET");
    }
    b.Output("y");
    return b;
  };
  TempDir dir;
  Graph g1 = MustLoad(conv_net(false).Write(dir.path(), "a.onnx"));
  Graph g2 = MustLoad(conv_net(true).Write(dir.path(), "b.onnx"));
  EXPECT_EQ(g1.layers[0].signature, g2.layers[0].signature);
}

// Pinned text and hash: equal across runs, machines and builds.
TEST(LayerSignature, GoldenRelu) {
  ModelBuilder b;
  b.Input("x", {1, 8, 4, 4});
  b.Node("Relu", {"x"}, {"y"});
  b.Output("y");
  TempDir dir;
  Graph g = MustLoad(b.Write(dir.path(), "relu.onnx"));
  ASSERT_EQ(g.layers.size(), 1u);
  EXPECT_EQ(g.layers[0].signature_text, "op=Relu;domain=;since=14;in0=f32[1x8x4x4];out0=f32[1x8x4x4];");
  EXPECT_EQ(g.layers[0].signature.Hex(), HashBytes("op=Relu;domain=;since=14;in0=f32[1x8x4x4];out0=f32[1x8x4x4];").Hex());
}

TEST(SaveCanonicalModel, ReloadGivesIdenticalSignatures) {
  TempDir dir;
  Graph g = MustLoad(testing::SmallConvNet().Write(dir.path(), "net.onnx"));
  ASSERT_TRUE(SaveCanonicalModel(g, dir.File("canon.onnx")).ok());
  Graph again = MustLoad(dir.File("canon.onnx"));
  EXPECT_EQ(Signatures(g), Signatures(again));
  EXPECT_EQ(g.totals.params, again.totals.params);
  // Weights are the originals.
  EXPECT_EQ(g.values[g.layers[0].inputs[1]].data->raw_data(), again.values[again.layers[0].inputs[1]].data->raw_data());
}

TEST(SaveCanonicalModel, FoldedModelHasNoShapeOps) {
  ModelBuilder b(13);
  b.Input("x", {1, 4, 6, 6});
  b.Node("Shape", {"x"}, {"s"});
  b.Int64s("i0", {0}, {});
  b.Node("Gather", {"s", "i0"}, {"n"});
  b.Int64s("axes", {0});
  b.Node("Unsqueeze", {"n", "axes"}, {"n1"});
  b.Int64s("rest", {-1});
  auto& cat = b.Node("Concat", {"n1", "rest"}, {"target"});
  testing::AttrInt(cat, "axis", 0);
  b.Node("Reshape", {"x", "target"}, {"y"});
  b.Output("y");
  TempDir dir;
  Graph g = MustLoad(b.Write(dir.path(), "m.onnx"));
  ASSERT_TRUE(SaveCanonicalModel(g, dir.File("canon.onnx")).ok());
  onnx::ModelProto saved;
  ASSERT_TRUE(saved.ParseFromString(testing::ReadFile(dir.File("canon.onnx"))));
  ASSERT_EQ(saved.graph().node_size(), 1);
  EXPECT_EQ(saved.graph().node(0).op_type(), "Reshape");
  Graph again = MustLoad(dir.File("canon.onnx"));
  EXPECT_EQ(Signatures(g), Signatures(again));
}

}  // namespace
}  // namespace dlbricks
