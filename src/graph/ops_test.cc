// Cost rules against hand-computed numbers.
#include <gtest/gtest.h>

#include "dlbricks/graph.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::AttrInt;
using testing::AttrInts;
using testing::ModelBuilder;
using testing::TempDir;

Graph MustLoad(const ModelBuilder& b) {
  TempDir dir;
  Graph g;
  Status st = LoadGraph(b.Write(dir.path(), "m.onnx"), IngestOptions{}, &g);
  EXPECT_TRUE(st.ok()) << st.message();
  return g;
}

TEST(LayerCost, SmallConvNetByHand) {
  Graph g = MustLoad(testing::SmallConvNet());
  ASSERT_EQ(g.layers.size(), 9u);
  // Conv1: 1x8x16x16 outputs (2048) x 3*3*3 = 55,296 MACs; params 8*27 + 8.
  EXPECT_EQ(g.layers[0].cost.macs, 55296);
  EXPECT_EQ(g.layers[0].cost.flops, 2 * 55296 + 2048);
  EXPECT_EQ(g.layers[0].cost.params, 224);
  // BN: scale + bias are parameters, running mean / var are not (torch convention).
  EXPECT_EQ(g.layers[1].cost.params, 16);
  EXPECT_EQ(g.layers[1].cost.macs, 0);
  // Conv2: 2048 x 8*3*3 = 147,456 MACs; params 8*72 + 8.
  EXPECT_EQ(g.layers[3].cost.macs, 147456);
  EXPECT_EQ(g.layers[3].cost.params, 584);
  // Gemm 1x8 * 8x10.
  EXPECT_EQ(g.layers[8].cost.macs, 80);
  EXPECT_EQ(g.layers[8].cost.params, 90);
  EXPECT_EQ(g.totals.params, 224 + 16 + 584 + 90);
  EXPECT_EQ(g.totals.macs, 55296 + 147456 + 80);
  // Bytes: Conv1 reads the image and its weights, writes its output.
  EXPECT_EQ(g.layers[0].cost.bytes_read, (3 * 16 * 16 + 224) * 4);
  EXPECT_EQ(g.layers[0].cost.bytes_written, 2048 * 4);
  // Relu: one FLOP per element.
  EXPECT_EQ(g.layers[2].cost.flops, 2048);
}

TEST(LayerCost, DepthwiseAndGroupedConv) {
  ModelBuilder b;
  b.Input("x", {1, 8, 16, 16});
  b.Weight("dw", {8, 1, 3, 3});
  auto& dw = b.Node("Conv", {"x", "dw"}, {"y"});
  AttrInt(dw, "group", 8);
  AttrInts(dw, "pads", {1, 1, 1, 1});
  b.Weight("gw", {16, 4, 1, 1});
  auto& gc = b.Node("Conv", {"y", "gw"}, {"z"});
  AttrInt(gc, "group", 2);
  b.Output("z");
  Graph g = MustLoad(b);
  EXPECT_EQ(g.layers[0].cost.macs, 2048 * 9);
  EXPECT_EQ(g.layers[0].cost.params, 72);
  EXPECT_EQ(g.layers[1].cost.macs, 16 * 256 * 4);
}

TEST(LayerCost, ConvTransposeAndBatchedMatMul) {
  ModelBuilder b;
  b.Input("x", {1, 4, 8, 8});
  b.Weight("w", {4, 2, 2, 2});
  auto& ct = b.Node("ConvTranspose", {"x", "w"}, {"y"});
  AttrInts(ct, "strides", {2, 2});
  b.Output("y");
  Graph g = MustLoad(b);
  EXPECT_EQ(g.values[g.outputs[0]].type.ToString(), "f32[1x2x16x16]");
  EXPECT_EQ(g.layers[0].cost.macs, 256 * 8);

  ModelBuilder m;
  m.Input("a", {2, 3, 4, 5});
  m.Input("b", {2, 3, 5, 6});
  m.Node("MatMul", {"a", "b"}, {"c"});
  m.Output("c");
  Graph gm = MustLoad(m);
  EXPECT_EQ(gm.layers[0].cost.macs, 2 * 3 * 4 * 6 * 5);
  EXPECT_EQ(gm.layers[0].cost.params, 0);
}

TEST(LayerCost, PoolingCountsWindow) {
  ModelBuilder b;
  b.Input("x", {1, 2, 8, 8});
  auto& p = b.Node("MaxPool", {"x"}, {"y"});
  AttrInts(p, "kernel_shape", {2, 2});
  AttrInts(p, "strides", {2, 2});
  b.Node("GlobalAveragePool", {"y"}, {"z"});
  b.Output("z");
  Graph g = MustLoad(b);
  EXPECT_EQ(g.layers[0].cost.flops, 2 * 4 * 4 * 4);
  EXPECT_EQ(g.layers[1].cost.flops, 2 * 4 * 4);
}

TEST(LayerCost, OpWithoutRuleIsReported) {
  ModelBuilder b;
  b.Input("x", {1, 10});
  b.Node("Hardmax", {"x"}, {"y"});
  b.Output("y");
  Graph g = MustLoad(b);
  EXPECT_FALSE(g.layers[0].cost.has_rule);
  EXPECT_EQ(g.ops_without_rule, std::vector<std::string>{"Hardmax"});
  EXPECT_FALSE(g.totals.has_rule);
}

}  // namespace
}  // namespace dlbricks
