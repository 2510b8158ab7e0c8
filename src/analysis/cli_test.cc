// `dlbricks inspect` / `dlbricks analyze` end to end, including every bad-input case of issue 2:
// each must exit 2 with one stderr line naming the file and the problem, and print nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using ::testing::HasSubstr;
using testing::ModelBuilder;
using testing::RunCli;
using testing::TempDir;

void ExpectBadInput(const testing::CommandResult& r, const std::string& path, const std::string& problem) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("dlbricks: " + path + ": "));
  EXPECT_THAT(r.err, HasSubstr(problem));
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
}

TEST(InspectCli, SmallConvNetTableAndJson) {
  TempDir dir;
  std::string path = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  auto r = RunCli({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("BatchNormalization"));
  EXPECT_THAT(r.out, HasSubstr("totals: 9 layers, 914 params, 202.83 K MACs"));
  EXPECT_THAT(r.out, HasSubstr("ops without a cost rule (counted as 0): none"));
  r = RunCli({"inspect", path, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["totals"]["layers"], 9);
  EXPECT_EQ(j["totals"]["params"], 914);
  EXPECT_EQ(j["totals"]["macs"], 202832.0);
  ASSERT_EQ(j["layers"].size(), 9u);
  EXPECT_EQ(j["layers"][0]["op"], "Conv");
  EXPECT_EQ(j["layers"][0]["inputs"][0], "f32[1x3x16x16]");
  EXPECT_EQ(j["layers"][0]["outputs"][0], "f32[1x8x16x16]");
  EXPECT_EQ(j["layers"][0]["signature"].get<std::string>().size(), 32u);
}

// Golden console output (signature prefixes pinned: stable across runs, machines and builds).
TEST(InspectCli, GoldenTable) {
  ModelBuilder b;
  b.Input("x", {1, 3, 8, 8});
  b.Weight("w", {4, 3, 3, 3});
  auto& c = b.Node("Conv", {"x", "w"}, {"y"}, "conv");
  testing::AttrInts(c, "pads", {1, 1, 1, 1});
  b.Node("Hardmax", {"y"}, {"z"}, "hardmax");
  b.Output("z");
  TempDir dir;
  std::string path = b.Write(dir.path(), "golden.onnx");
  auto r = RunCli({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string expected =
      "model golden (" + path + "), opset 17, 2 layers\n"
      "  input  x f32[1x3x8x8]\n"
      "  output z f32[1x4x8x8]\n"
      "   #  op                   inputs                               outputs                            params"
      "        MACs  signature     name\n"
      "   0  Conv                 f32[1x3x8x8] w:f32[4x3x3x3]          f32[1x4x8x8]                          108"
      "      6.91 K  4ce70c243599  conv\n"
      "   1  Hardmax              f32[1x4x8x8]                         f32[1x4x8x8]                            0"
      "           0  8772110b41c2  hardmax  (no cost rule)\n"
      "totals: 2 layers, 108 params, 6.91 K MACs, 13.82 K FLOPs, 432 weight bytes\n"
      "ops without a cost rule (counted as 0): Hardmax\n";
  EXPECT_EQ(r.out, expected);
}

TEST(BadInput, DataDependentShape) {
  ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("NonZero", {"x"}, {"idx"}, "nz");
  b.Output("idx", onnx::TensorProto::INT64);
  TempDir dir;
  std::string path = b.Write(dir.path(), "nonzero.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "cannot infer a static shape for 'idx' (output of node 'nz' (NonZero))");
}

TEST(InspectCli, BatchFlagRebatches) {
  TempDir dir;
  std::string path = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  auto r = RunCli({"inspect", path, "--batch", "4", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["outputs"][0]["type"], "f32[4x10]");
  EXPECT_EQ(j["totals"]["macs"], 4 * 202832.0);
}

TEST(AnalyzeCli, SameArchitectureDifferentWeightsIsFullyShared) {
  TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::string b = testing::SmallConvNet(50).Write(dir.path(), "b.onnx");
  auto r = RunCli({"analyze", a, b, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["corpus"]["total_layers"], 18);
  // Relu after BN and after Conv2 have the same signature: 8 unique per model, 8 in the corpus.
  EXPECT_EQ(j["models"][0]["unique_layers"], 8);
  EXPECT_EQ(j["corpus"]["unique_layers"], 8);
  EXPECT_EQ(j["models"][0]["repeated_by_op"]["Relu"], 1);
  EXPECT_EQ(j["jaccard"]["matrix"][0][1], 1.0);
  r = RunCli({"analyze", a, b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Corpus: 2 models, 18 layers, 8 unique (44.4% unique)"));
}

TEST(BadInput, TruncatedFile) {
  TempDir dir;
  std::string bytes = testing::SmallConvNet().Build().SerializeAsString();
  std::string path = dir.File("truncated.onnx");
  testing::WriteFile(path, bytes.substr(0, bytes.size() / 2));
  ExpectBadInput(RunCli({"inspect", path}), path, "not an ONNX model");
}

TEST(BadInput, RandomBytes) {
  TempDir dir;
  std::mt19937 rng(7767517);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  std::string path = dir.File("random.onnx");
  testing::WriteFile(path, bytes);
  ExpectBadInput(RunCli({"inspect", path}), path, "not an ONNX model");
}

TEST(BadInput, EmptyFile) {
  TempDir dir;
  std::string path = dir.File("empty.onnx");
  testing::WriteFile(path, "");
  ExpectBadInput(RunCli({"inspect", path}), path, "not an ONNX model (empty file)");
  ExpectBadInput(RunCli({"analyze", path}), path, "empty file");
}

TEST(BadInput, Directory) {
  TempDir dir;
  ExpectBadInput(RunCli({"inspect", dir.path()}), dir.path(), "is a directory");
}

TEST(BadInput, MissingFile) {
  TempDir dir;
  ExpectBadInput(RunCli({"inspect", dir.File("nope.onnx")}), dir.File("nope.onnx"), "no such file");
}

TEST(BadInput, CyclicGraph) {
  ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("Add", {"x", "loop_b"}, {"loop_a"}, "add_a");
  b.Node("Relu", {"loop_a"}, {"loop_b"}, "relu_b");
  b.Node("Sigmoid", {"loop_b"}, {"y"}, "out");
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "cycle.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "graph has a cycle through node");
}

TEST(BadInput, InputNothingProduces) {
  ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("Add", {"x", "ghost"}, {"y"}, "add");
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "dangling.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "reads 'ghost', which no node, graph input or initializer produces");
}

TEST(BadInput, UnknownOp) {
  ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("FrobnicateTensor", {"x"}, {"y"});
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "unknown.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "unknown op 'FrobnicateTensor'");
}

TEST(BadInput, DeclaredShapeOfTenToTheTwelveElements) {
  ModelBuilder b;
  b.Input("x", {1000000, 1000000});
  b.Node("Relu", {"x"}, {"y"});
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "huge.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "1000000000000 elements");
}

TEST(BadInput, InferredShapeOfTenToTheTwelveElements) {
  // Declared inputs are small; the Expand target makes the output huge.
  ModelBuilder b;
  b.Input("x", {1, 1});
  b.Int64s("shape", {1000000, 1000000});
  b.Node("Expand", {"x", "shape"}, {"y"});
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "huge2.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "1000000000000 elements");
}

TEST(BadInput, AttributeOfTheWrongType) {
  ModelBuilder b;
  b.Input("x", {1, 3, 8, 8});
  b.Weight("w", {4, 3, 3, 3});
  auto& conv = b.Node("Conv", {"x", "w"}, {"y"}, "bad_conv");
  testing::AttrString(conv, "strides", "two");
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "badattr.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "node 'bad_conv' (Conv) fails the ONNX checker");
}

void WriteExternalModel(const TempDir& dir, const std::string& location) {
  ModelBuilder b;
  b.Input("x", {1, 4});
  b.Weight("w", {4, 4});
  b.Node("MatMul", {"x", "w"}, {"y"});
  b.Output("y");
  onnx::ModelProto m = b.Build();
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value(location);
  testing::WriteFile(dir.File("ext.onnx"), m.SerializeAsString());
}

TEST(BadInput, ExternalDataAbsolutePath) {
  TempDir dir;
  WriteExternalModel(dir, "/etc/passwd");
  ExpectBadInput(RunCli({"inspect", dir.File("ext.onnx")}), dir.File("ext.onnx"), "is an absolute path");
}

TEST(BadInput, ExternalDataEscapesFolder) {
  TempDir dir;
  WriteExternalModel(dir, "sub/../../secret.bin");
  ExpectBadInput(RunCli({"inspect", dir.File("ext.onnx")}), dir.File("ext.onnx"), "escapes the model's folder");
}

TEST(BadInput, DynamicInputNeedsInputShapeFlag) {
  ModelBuilder b;
  b.Input("image", {-1, 3, 8, 8});
  b.Node("Relu", {"image"}, {"y"});
  b.Output("y");
  TempDir dir;
  std::string path = b.Write(dir.path(), "dynamic.onnx");
  ExpectBadInput(RunCli({"inspect", path}), path, "pass --input-shape image=1x3x8x8");
  auto r = RunCli({"inspect", path, "--input-shape", "image=1x3x8x8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("f32[1x3x8x8]"));
  r = RunCli({"inspect", path, "--input-shape", "nosuch=1x3x8x8"});
  ExpectBadInput(r, path, "not a graph input");
}

}  // namespace
}  // namespace dlbricks
