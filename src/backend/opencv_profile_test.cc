// OpenCV DNN's per-layer profiler (Backend::ProfileOps / ProfileNodes on opencv): real OpenCV,
// small models; packed profiling through measure's WriteBrickPack and AttributePackNodes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "dlbricks/backend.h"
#include "dlbricks/measure.h"
#include "dlbricks/suite.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::SmallConvNet;
using testing::TempDir;

std::unique_ptr<Backend> OpenCv() {
  std::unique_ptr<Backend> b;
  EXPECT_TRUE(BackendRegistry::Create("opencv", &b).ok());
  return b;
}

// SmallConvNet: Conv+BN+Relu, Conv+Relu, Add, GlobalAveragePool, Flatten, Gemm. OpenCV fuses
// the BN and both Relus into their Convs; every other layer is a kernel under its ONNX op type.
TEST(OpenCvProfileTest, ProfileOpsReportsOnnxOpTypesWithoutFusedLayers) {
  TempDir dir;
  const std::string path = SmallConvNet().Write(dir.path(), "net.onnx");
  std::vector<OpTypeTime> times;
  std::vector<bool> next_profiled;  // one per inference
  Status st = OpenCv()->ProfileOps(path, BackendOptions{}, 5, [&](bool next, PreparedModel&) { next_profiled.push_back(next); },
                                   &times);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, OpTypeTime> by;
  for (const OpTypeTime& t : times) {
    by[t.op_type] = t;
    EXPECT_GT(t.ms, 0) << t.op_type;
  }
  std::set<std::string> types;
  for (const auto& [op, t] : by) types.insert(op);
  EXPECT_EQ(types, (std::set<std::string>{"Add", "Conv", "Flatten", "Gemm", "GlobalAveragePool"}));
  EXPECT_DOUBLE_EQ(by["Conv"].calls, 2.0);
  EXPECT_DOUBLE_EQ(by["Gemm"].calls, 1.0);
  // The warm-ups, the last one announcing the profiled inferences, then >= 5 profiled ones.
  const auto first = std::find(next_profiled.begin(), next_profiled.end(), true);
  ASSERT_NE(first, next_profiled.end());
  EXPECT_TRUE(std::all_of(first, next_profiled.end(), [](bool next) { return next; }));
  EXPECT_GE(next_profiled.end() - first, 6);
}

// A BN that follows no Conv is not fused: it is a kernel of its own, and a Conv's BN is not.
TEST(OpenCvProfileTest, OnlyTheBatchNormAfterAConvIsFusedAway) {
  testing::ModelBuilder b;
  b.Input("x", {1, 4, 32, 32});
  b.Weight("s0", {4}, 1).Weight("o0", {4}, 2).Weight("m0", {4}, 3);
  b.WeightValues("v0", {4}, std::vector<float>(4, 1.0f));
  b.Node("BatchNormalization", {"x", "s0", "o0", "m0", "v0"}, {"bn0"}, "lone_bn");
  b.Weight("w", {8, 4, 3, 3}, 4);
  auto& conv = b.Node("Conv", {"bn0", "w"}, {"c"}, "conv");
  testing::AttrInts(conv, "pads", {1, 1, 1, 1});
  testing::AttrInts(conv, "kernel_shape", {3, 3});
  b.Weight("s1", {8}, 5).Weight("o1", {8}, 6).Weight("m1", {8}, 7);
  b.WeightValues("v1", {8}, std::vector<float>(8, 1.0f));
  b.Node("BatchNormalization", {"c", "s1", "o1", "m1", "v1"}, {"y"}, "conv_bn");
  b.Output("y");
  TempDir dir;
  const std::string path = b.Write(dir.path(), "bn.onnx");
  std::vector<NodeTime> nodes;
  Status st = OpenCv()->ProfileNodes(path, BackendOptions{}, 3, {}, &nodes);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, NodeTime> by_name;
  for (const NodeTime& n : nodes) by_name[n.name] = n;
  ASSERT_EQ(by_name.size(), 2u);
  ASSERT_TRUE(by_name.count("lone_bn"));
  ASSERT_TRUE(by_name.count("conv"));
  EXPECT_EQ(by_name["lone_bn"].op_type, "BatchNormalization");
  EXPECT_EQ(by_name["conv"].op_type, "Conv");
  EXPECT_GT(by_name["conv"].ms, 0);
  // The conv kernel now writes what its fused BN wrote; the graph input is no kernel's output.
  EXPECT_EQ(by_name["lone_bn"].inputs, (std::vector<std::string>{"x"}));
  const std::vector<std::string>& out = by_name["conv"].outputs;
  EXPECT_NE(std::find(out.begin(), out.end(), "c"), out.end());
  EXPECT_NE(std::find(out.begin(), out.end(), "y"), out.end());
}

// densenet's one-input Concat bricks: OpenCV runs no layer for them (the output is the input),
// yet the brick has a profile, a 0 ms Concat, so its construction is 0 rather than missing.
TEST(OpenCvProfileTest, AConcatSkippedInPlaceIsAZeroKernel) {
  testing::ModelBuilder b;
  b.Input("x", {1, 64, 28, 28});
  testing::AttrInt(b.Node("Concat", {"x"}, {"y"}, "cat"), "axis", 1);
  b.Output("y");
  TempDir dir;
  std::vector<OpTypeTime> times;
  Status st = OpenCv()->ProfileOps(b.Write(dir.path(), "cat.onnx"), BackendOptions{}, 3, {}, &times);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(times.size(), 1u);
  EXPECT_EQ(times[0].op_type, "Concat");
  EXPECT_DOUBLE_EQ(times[0].calls, 1.0);
  EXPECT_DOUBLE_EQ(times[0].ms, 0.0);
}

// Kernel times are the layers of one inference: their sum is of the order of the latency
// (loose bounds: shared machines are noisy, and a forward() costs more than its layers).
TEST(OpenCvProfileTest, KernelTimesAddUpToAboutTheLatency) {
  testing::ModelBuilder b;
  b.Input("x", {1, 8, 64, 64});
  b.Weight("w", {16, 8, 3, 3}, 1);
  auto& conv = b.Node("Conv", {"x", "w"}, {"c"});
  testing::AttrInts(conv, "pads", {1, 1, 1, 1});
  testing::AttrInts(conv, "kernel_shape", {3, 3});
  b.Node("Relu", {"c"}, {"y"});
  b.Output("y");
  TempDir dir;
  const std::string path = b.Write(dir.path(), "conv.onnx");
  std::unique_ptr<Backend> backend = OpenCv();
  std::vector<OpTypeTime> times;
  Status st = backend->ProfileOps(path, BackendOptions{}, 20, {}, &times);
  ASSERT_TRUE(st.ok()) << st.message();
  double kernels_ms = 0;
  for (const OpTypeTime& t : times) kernels_ms += t.ms;
  std::unique_ptr<PreparedModel> m;
  ASSERT_TRUE(backend->Prepare(path, BackendOptions{}, &m).ok());
  std::vector<double> ms;
  for (int i = 0; i < 25; ++i) {
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(m->Run().ok());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  const double latency = ms[ms.size() / 2];
  EXPECT_GT(kernels_ms, 0.2 * latency) << kernels_ms << " ms of kernels, " << latency << " ms latency";
  EXPECT_LT(kernels_ms, 3.0 * latency) << kernels_ms << " ms of kernels, " << latency << " ms latency";
}

TEST(OpenCvProfileTest, BadModelIsAStatusNamingTheFile) {
  TempDir dir;
  std::vector<OpTypeTime> times;
  Status missing = OpenCv()->ProfileOps(dir.File("none.onnx"), BackendOptions{}, 3, {}, &times);
  EXPECT_EQ(missing.ExitCode(), 2);
  EXPECT_NE(missing.message().find("none.onnx"), std::string::npos) << missing.message();
  testing::WriteFile(dir.File("junk.onnx"), "not a model at all");
  std::vector<NodeTime> nodes;
  Status junk = OpenCv()->ProfileNodes(dir.File("junk.onnx"), BackendOptions{}, 3, {}, &nodes);
  EXPECT_FALSE(junk.ok());
  EXPECT_NE(junk.message().find("junk.onnx"), std::string::npos) << junk.message();
  Status no_runs = OpenCv()->ProfileOps(SmallConvNet().Write(dir.path(), "net.onnx"), BackendOptions{}, 0, {}, &times);
  EXPECT_EQ(no_runs.ExitCode(), 2);
}

std::map<std::string, std::map<std::string, double>> CallsByBrick(const RunSummary& s) {
  std::map<std::string, std::map<std::string, double>> calls;
  for (const RunItem& item : s.items)
    for (const OpTypeTime& t : item.op_times) calls[item.m.key.item_id][t.op_type] = t.calls;
  return calls;
}

// Packs written by WriteBrickPack, profiled on OpenCV: AttributePackNodes gives every brick the
// kernels of its lone profile (the glue layers and the input layer join no two bricks).
TEST(OpenCvProfileTest, PackedBricksGetTheKernelsOfTheirLoneProfiles) {
  TempDir dir;
  SuiteOptions so;
  so.decompose.granularity = 1;
  so.decompose.fusion = FusionRules::kOnnxRuntime;
  so.out_dir = dir.File("suite");
  SuiteSummary suite;
  Status st = GenerateSuite(std::vector<std::string>{SmallConvNet().Write(dir.path(), "net.onnx")}, so, &suite);
  ASSERT_TRUE(st.ok()) << st.message();
  std::vector<SuiteBrick> bricks;
  ASSERT_TRUE(ReadSuiteBricks(so.out_dir, &bricks).ok());
  ASSERT_GE(bricks.size(), 4u);

  RunOptions o;
  o.backend = "opencv";
  ASSERT_TRUE(ProtocolPreset("dlbricks", &o.protocol).ok());
  o.protocol.min_runs = o.protocol.max_runs = 3;
  o.progress = false;
  o.profile_runs = 5;
  std::unique_ptr<Store> lone_store, packed_store;
  ASSERT_TRUE(OpenStore(dir.File("lone.db"), {}, &lone_store).ok());
  ASSERT_TRUE(OpenStore(dir.File("packed.db"), {}, &packed_store).ok());
  RunOptions lone = o;
  lone.profile_ops = true;
  RunSummary lone_summary;
  ASSERT_TRUE(RunSuite(so.out_dir, lone, lone_store.get(), &lone_summary).ok());
  EXPECT_EQ(lone_summary.profiled, static_cast<int>(bricks.size()));
  RunOptions packed = o;
  packed.pack = 2;
  RunSummary packed_summary;
  st = ProfileSuitePacked(so.out_dir, packed, packed_store.get(), &packed_summary);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(packed_summary.failed, 0);
  for (const std::string& w : packed_summary.warnings) EXPECT_EQ(w.find("pack"), std::string::npos) << w;
  EXPECT_EQ(packed_summary.profiled, static_cast<int>(bricks.size()));
  const auto lone_calls = CallsByBrick(lone_summary);
  EXPECT_EQ(CallsByBrick(packed_summary), lone_calls);
  std::set<std::string> types;
  for (const auto& [brick, calls] : lone_calls)
    for (const auto& [op, n] : calls) types.insert(op);
  EXPECT_TRUE(types.count("Conv") && types.count("Gemm") && types.count("Add"));
  EXPECT_FALSE(types.count("Convolution") || types.count("InnerProduct") || types.count("Relu"));
  for (const RunItem& item : packed_summary.items)
    for (const OpTypeTime& t : item.op_times) EXPECT_GT(t.ms, 0) << item.m.name << " " << t.op_type;
}

// The whole path through the CLI: validate constructs the model from packed OpenCV kernel times.
TEST(OpenCvProfileTest, ValidateConstructsFromPackedKernelTimes) {
  TempDir dir;
  const std::string model = SmallConvNet().Write(dir.path(), "net.onnx");
  auto r = testing::RunCli({"validate", model, "--backend", "opencv", "-G", "1", "--fusion", "onnxruntime",
                            "--kernel-times", "--pack", "4", "--min-runs", "3", "--profile-runs", "3", "--db",
                            dir.File("cv.db"), "--work", dir.File("w"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("profiling its bricks one by one"), std::string::npos) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["kernel_times"].get<bool>());
  ASSERT_EQ(j["models"].size(), 1u);
  EXPECT_GT(j["models"][0]["constructed_ms"].get<double>(), 0);
  EXPECT_GT(j["models"][0]["measured_ms"].get<double>(), 0);
}

}  // namespace
}  // namespace dlbricks
