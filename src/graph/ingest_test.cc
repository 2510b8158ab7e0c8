#include <gtest/gtest.h>

#include <random>

#include "dlbricks/graph.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::AttrInt;
using testing::AttrInts;
using testing::ModelBuilder;
using testing::TempDir;

std::vector<std::string> OpTypes(const Graph& g) {
  std::vector<std::string> ops;
  for (const auto& l : g.layers) ops.push_back(l.op_type);
  return ops;
}

TEST(LoadGraph, SmallConvNet) {
  TempDir dir;
  std::string path = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  Graph g;
  Status st = LoadGraph(path, IngestOptions{}, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(g.name, "net");
  EXPECT_EQ(g.opset, 17);
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Conv", "BatchNormalization", "Relu", "Conv", "Relu", "Add",
                                                   "GlobalAveragePool", "Flatten", "Gemm"}));
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.values[g.inputs[0]].kind, ValueKind::kGraphInput);
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.values[g.outputs[0]].type.ToString(), "f32[1x10]");
  EXPECT_TRUE(g.values[g.outputs[0]].is_graph_output);
  // BN's 8-element scale/bias/mean/var are weights (parameter slots), not semantic constants.
  const Layer& bn = g.layers[1];
  for (size_t k = 1; k < 5; ++k) EXPECT_EQ(g.values[bn.inputs[k]].kind, ValueKind::kWeight) << k;
  EXPECT_EQ(g.values[bn.outputs[0]].type.ToString(), "f32[1x8x16x16]");
  // Producer / consumer links: r1 feeds the second Conv and the Add.
  int r1 = g.FindValue("r1");
  ASSERT_GE(r1, 0);
  EXPECT_EQ(g.values[r1].producer, 2);
  EXPECT_EQ(g.values[r1].consumers, (std::vector<int>{3, 5}));
  EXPECT_EQ(g.layers[5].DataInputs(g).size(), 2u);
  EXPECT_EQ(g.layers[0].DataInputs(g).size(), 1u);
  // Defaults are filled in: Conv gets strides/dilations/group/auto_pad.
  bool has_group = false;
  for (const auto& a : g.layers[0].node.attribute()) has_group |= a.name() == "group";
  EXPECT_TRUE(has_group);
  EXPECT_TRUE(g.ops_without_rule.empty());
  EXPECT_GT(g.weight_bytes, 0);
}

// Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Identity and Constant are folded away.
ModelBuilder ShapeChainNet() {
  ModelBuilder b(13);
  b.Input("x", {1, 4, 6, 6});
  b.Node("Relu", {"x"}, {"r"});
  b.Node("Identity", {"r"}, {"r_id"});
  b.Node("Shape", {"r_id"}, {"shape"});
  b.Int64s("zero", {0}, {});
  b.Node("Gather", {"shape", "zero"}, {"batch"});
  b.Int64s("axes", {0});
  b.Node("Unsqueeze", {"batch", "axes"}, {"batch1"});
  auto& c = b.Node("Constant", {}, {"minus1"});
  auto* a = c.add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(-1);
  auto& cat = b.Node("Concat", {"batch1", "minus1"}, {"target"});
  AttrInt(cat, "axis", 0);
  b.Node("Reshape", {"r_id", "target"}, {"flat"});
  b.Output("flat");
  return b;
}

TEST(LoadGraph, FoldsShapeChainsIdentityAndConstant) {
  TempDir dir;
  std::string path = ShapeChainNet().Write(dir.path(), "chain.onnx");
  Graph g;
  Status st = LoadGraph(path, IngestOptions{}, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Relu", "Reshape"}));
  const Layer& reshape = g.layers[1];
  EXPECT_EQ(g.values[reshape.inputs[0]].name, "r");  // Identity rewired
  const Value& target = g.values[reshape.inputs[1]];
  EXPECT_EQ(target.kind, ValueKind::kConstant);
  EXPECT_EQ(target.type.ToString(), "i64[2]");
  EXPECT_NE(reshape.signature_text.find("const:i64[2]{1,-1}"), std::string::npos) << reshape.signature_text;
  EXPECT_EQ(g.values[reshape.outputs[0]].type.ToString(), "f32[1x144]");
}

TEST(LoadGraph, BatchOverrideReinfersShapes) {
  TempDir dir;
  std::string path = ShapeChainNet().Write(dir.path(), "chain.onnx");
  IngestOptions opt;
  opt.batch = 4;
  Graph g;
  Status st = LoadGraph(path, opt, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(g.values[g.outputs[0]].type.ToString(), "f32[4x144]");
  EXPECT_NE(g.layers[1].signature_text.find("{4,-1}"), std::string::npos);
}

TEST(LoadGraph, ConstantOfShapeProducesAWeight) {
  ModelBuilder b;
  b.Input("x", {1, 16});
  b.Int64s("shape", {1, 16});
  auto& cos = b.Node("ConstantOfShape", {"shape"}, {"ones"});
  auto* a = cos.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_dims(1);
  a->mutable_t()->add_float_data(1.0f);
  b.Node("Mul", {"x", "ones"}, {"y"});
  b.Output("y");
  TempDir dir;
  Graph g;
  Status st = LoadGraph(b.Write(dir.path(), "cos.onnx"), IngestOptions{}, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(OpTypes(g), std::vector<std::string>{"Mul"});
  EXPECT_EQ(g.values[g.layers[0].inputs[1]].kind, ValueKind::kWeight);
  EXPECT_EQ(g.layers[0].cost.params, 16);
}

TEST(LoadGraph, SmallFloatConstantsAreSemantic) {
  ModelBuilder b;
  b.Input("x", {1, 16});
  b.WeightValues("half", {}, {0.5f});
  b.Node("Mul", {"x", "half"}, {"y"});
  b.Output("y");
  TempDir dir;
  Graph g;
  ASSERT_TRUE(LoadGraph(b.Write(dir.path(), "m.onnx"), IngestOptions{}, &g).ok());
  EXPECT_EQ(g.values[g.layers[0].inputs[1]].kind, ValueKind::kConstant);
  EXPECT_NE(g.layers[0].signature_text.find("const:f32[]{0.5}"), std::string::npos) << g.layers[0].signature_text;
  EXPECT_EQ(g.layers[0].cost.params, 0);
}

TEST(LoadGraph, StableTopologicalOrderForUnsortedNodes) {
  ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("Relu", {"a"}, {"b"}, "second");
  b.Node("Sigmoid", {"x"}, {"a"}, "first");
  b.Node("Tanh", {"x"}, {"c"}, "independent");
  b.Node("Add", {"b", "c"}, {"y"}, "last");
  b.Output("y");
  TempDir dir;
  Graph g;
  Status st = LoadGraph(b.Write(dir.path(), "u.onnx"), IngestOptions{}, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  std::vector<std::string> names;
  for (const auto& l : g.layers) names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"first", "second", "independent", "last"}));
}

TEST(LoadGraph, DynamicInputNeedsInputShape) {
  ModelBuilder b;
  b.Input("image", {-1, 3, 8, 8});
  b.Node("Relu", {"image"}, {"y"});
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "dyn.onnx");
  Graph g;
  Status st = LoadGraph(path, IngestOptions{}, &g);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find(path), std::string::npos);
  EXPECT_NE(st.message().find("--input-shape image=1x3x8x8"), std::string::npos) << st.message();
  IngestOptions opt;
  ASSERT_TRUE(ParseInputShape("image=2x3x8x8", &opt).ok());
  st = LoadGraph(path, opt, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(g.values[g.outputs[0]].type.ToString(), "f32[2x3x8x8]");
}

TEST(ParseInputShape, RejectsMalformed) {
  IngestOptions opt;
  EXPECT_TRUE(ParseInputShape("a=1x3x224x224", &opt).ok());
  EXPECT_EQ(opt.input_shapes["a"], (std::vector<int64_t>{1, 3, 224, 224}));
  EXPECT_FALSE(ParseInputShape("1x3", &opt).ok());
  EXPECT_FALSE(ParseInputShape("a=", &opt).ok());
  EXPECT_FALSE(ParseInputShape("a=1xx3", &opt).ok());
  EXPECT_FALSE(ParseInputShape("a=1x-3", &opt).ok());
}

TEST(LoadGraph, ExternalDataInsideFolderLoads) {
  ModelBuilder b;
  b.Input("x", {1, 16});
  b.Weight("w", {16, 16});
  b.Node("MatMul", {"x", "w"}, {"y"});
  b.Output("y");
  onnx::ModelProto m = b.Build();
  auto* t = m.mutable_graph()->mutable_initializer(0);
  TempDir dir;
  testing::WriteFile(dir.File("w.bin"), "pad!" + t->raw_data());
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", "w.bin");
  add("offset", "4");
  add("length", std::to_string(16 * 16 * 4));
  testing::WriteFile(dir.File("ext.onnx"), m.SerializeAsString());
  Graph g;
  Status st = LoadGraph(dir.File("ext.onnx"), IngestOptions{}, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  const Value& w = g.values[g.layers[0].inputs[1]];
  ASSERT_NE(w.data, nullptr);
  EXPECT_EQ(w.data->raw_data(), b.Build().graph().initializer(0).raw_data());
}

}  // namespace
}  // namespace dlbricks

namespace dlbricks {
namespace {

// 64x64 weights (16 KiB) are left on disk without load_weights; an Expand of a 32x32 float
// initializer must still fold by reading its bytes on demand.
testing::ModelBuilder BigWeightNet() {
  testing::ModelBuilder b;
  b.Input("x", {2, 64});
  b.Weight("w", {64, 64});
  b.Node("MatMul", {"x", "w"}, {"h"});
  b.Weight("table", {32, 32});
  b.Int64s("shape", {2, 32, 32});
  b.Node("Expand", {"table", "shape"}, {"table2"});
  b.Int64s("flat", {2, 1024});
  b.Node("Reshape", {"table2", "flat"}, {"t2"});
  b.Node("Concat", {"h", "t2"}, {"y"}).add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("axis");
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(1);
    return a;
  }());
  b.Output("y");
  return b;
}

TEST(LoadGraph, WithoutWeightsGivesTheSameGraph) {
  testing::TempDir dir;
  std::string path = BigWeightNet().Write(dir.path(), "big.onnx");
  Graph full, light;
  ASSERT_TRUE(LoadGraph(path, IngestOptions{}, &full).ok());
  IngestOptions opt;
  opt.load_weights = false;
  Status st = LoadGraph(path, opt, &light);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(full.layers.size(), light.layers.size());
  ASSERT_EQ(full.layers.size(), 2u);  // MatMul, Concat: Expand + Reshape folded
  for (size_t i = 0; i < full.layers.size(); ++i) {
    EXPECT_EQ(full.layers[i].signature, light.layers[i].signature) << i;
    EXPECT_EQ(full.layers[i].cost.params, light.layers[i].cost.params) << i;
  }
  const Value& w = light.values[light.layers[0].inputs[1]];
  ASSERT_NE(w.data, nullptr);
  EXPECT_EQ(w.data->data_location(), onnx::TensorProto::EXTERNAL);
  EXPECT_FALSE(w.data->has_raw_data());
  // The folded constant carries real values.
  const Value& folded = light.values[light.layers[1].inputs[1]];
  EXPECT_EQ(folded.type.ToString(), "f32[2x1024]");
  EXPECT_EQ(folded.data->raw_data(), full.values[full.layers[1].inputs[1]].data->raw_data());
  // The canonical model written from a weightless graph embeds the original bytes.
  ASSERT_TRUE(SaveCanonicalModel(light, dir.File("canon.onnx")).ok());
  Graph again;
  ASSERT_TRUE(LoadGraph(dir.File("canon.onnx"), IngestOptions{}, &again).ok());
  EXPECT_EQ(again.values[again.layers[0].inputs[1]].data->raw_data(),
            full.values[full.layers[0].inputs[1]].data->raw_data());
}

TEST(LoadGraph, TruncatedWeightBytesAreCorruption) {
  testing::TempDir dir;
  std::string bytes = BigWeightNet().Build().SerializeAsString();
  // Cut inside the 16 KiB weight: the wire walk sees a length beyond the end.
  testing::WriteFile(dir.File("cut.onnx"), bytes.substr(0, 9000));
  for (bool load : {true, false}) {
    IngestOptions opt;
    opt.load_weights = load;
    Graph g;
    Status st = LoadGraph(dir.File("cut.onnx"), opt, &g);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.message();
    EXPECT_NE(st.message().find("not an ONNX model"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace dlbricks

namespace dlbricks {
namespace {

// Mutated and truncated models must give a Status, never a crash or a hang.
TEST(LoadGraph, MutatedFilesNeverCrash) {
  testing::TempDir dir;
  const std::string original = testing::SmallConvNet().Build().SerializeAsString();
  std::mt19937 rng(7767517);
  int failures = 0;
  for (int i = 0; i < 400; ++i) {
    std::string bytes = original;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    if (i % 5 == 0) bytes.resize(rng() % bytes.size());
    std::string path = dir.File("m" + std::to_string(i) + ".onnx");
    testing::WriteFile(path, bytes);
    for (bool load : {true, false}) {
      IngestOptions opt;
      opt.load_weights = load;
      Graph g;
      Status st = LoadGraph(path, opt, &g);
      if (!st.ok()) {
        ++failures;
        EXPECT_EQ(st.message().rfind(path + ": ", 0), 0u) << st.message();
        EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
      }
    }
  }
  EXPECT_GT(failures, 0);
}

}  // namespace
}  // namespace dlbricks

namespace dlbricks {
namespace {

TEST(LoadGraph, ConsumersAreDistinct) {
  testing::ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("Relu", {"x"}, {"r"});
  b.Node("Add", {"r", "r"}, {"y"});
  b.Output("y");
  testing::TempDir dir;
  Graph g;
  ASSERT_TRUE(LoadGraph(b.Write(dir.path(), "m.onnx"), IngestOptions{}, &g).ok());
  EXPECT_EQ(g.values[g.FindValue("r")].consumers, std::vector<int>{1});
  EXPECT_EQ(g.layers[1].DataInputs(g).size(), 2u);  // both slots still listed
}

}  // namespace
}  // namespace dlbricks
