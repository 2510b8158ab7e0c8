#include <gtest/gtest.h>

#include <cmath>

#include "dlbricks/backend.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::SmallConvNet;
using testing::TempDir;

// SmallConvNet with its output shape and Conv kernel_shape explicit, as SaveCanonicalModel
// writes them (OpenCV's importer needs both).
std::string WriteSmallConvNet(const TempDir& dir) {
  onnx::ModelProto model = SmallConvNet().Build();
  for (auto& node : *model.mutable_graph()->mutable_node()) {
    bool has_kernel = false;
    for (const auto& a : node.attribute()) has_kernel |= a.name() == "kernel_shape";
    if (node.op_type() == "Conv" && !has_kernel) testing::AttrInts(node, "kernel_shape", {3, 3});
  }
  auto* shape = model.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->add_dim()->set_dim_value(1);
  shape->add_dim()->set_dim_value(10);
  const std::string path = dir.File("net.onnx");
  testing::WriteFile(path, model.SerializeAsString());
  return path;
}

void ExpectRunsFinite(const std::string& backend_name, const std::string& path) {
  std::unique_ptr<Backend> backend;
  ASSERT_TRUE(BackendRegistry::Create(backend_name, &backend).ok());
  EXPECT_FALSE(backend->version().empty());
  std::unique_ptr<PreparedModel> model;
  Status st = backend->Prepare(path, BackendOptions{}, &model);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(model->inputs().size(), 1u);
  EXPECT_EQ(model->inputs()[0].dims, (std::vector<int64_t>{1, 3, 16, 16}));
  ASSERT_TRUE(model->Run().ok());
  std::vector<std::vector<float>> outputs;
  ASSERT_TRUE(model->LastOutputs(&outputs).ok());
  ASSERT_EQ(outputs.size(), 1u);
  ASSERT_EQ(outputs[0].size(), 10u);
  bool any_nonzero = false;
  for (float v : outputs[0]) {
    EXPECT_TRUE(std::isfinite(v));
    any_nonzero |= v != 0.0f;
  }
  EXPECT_TRUE(any_nonzero);
}

TEST(BackendTest, OnnxRuntimeRunsSmallConvNet) {
  TempDir dir;
  ExpectRunsFinite("onnxruntime", WriteSmallConvNet(dir));
}

TEST(BackendTest, OpenCvRunsSmallConvNet) {
  TempDir dir;
  ExpectRunsFinite("opencv", WriteSmallConvNet(dir));
}

TEST(BackendTest, BackendsAgreeOnOutputs) {
  TempDir dir;
  const std::string path = WriteSmallConvNet(dir);
  std::vector<std::vector<float>> out[2];
  const char* names[2] = {"onnxruntime", "opencv"};
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<Backend> b;
    ASSERT_TRUE(BackendRegistry::Create(names[i], &b).ok());
    std::unique_ptr<PreparedModel> m;
    ASSERT_TRUE(b->Prepare(path, BackendOptions{}, &m).ok());
    ASSERT_TRUE(m->Run().ok());
    ASSERT_TRUE(m->LastOutputs(&out[i]).ok());
  }
  ASSERT_EQ(out[0][0].size(), out[1][0].size());
  for (size_t i = 0; i < out[0][0].size(); ++i) EXPECT_NEAR(out[0][0][i], out[1][0][i], 1e-3);
}

TEST(BackendTest, OnnxRuntimeRecordsEveryOption) {
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("onnxruntime", &b).ok());
  BackendOptions o;
  o.intra_op_threads = 2;
  o.opt_level = "basic";
  auto rec = b->RecordOptions(o);
  EXPECT_EQ(rec["intra_op_threads"], "2");
  EXPECT_EQ(rec["opt_level"], "basic");
  EXPECT_EQ(rec["execution_mode"], "sequential");
  EXPECT_TRUE(rec.count("inter_op_threads"));
  EXPECT_EQ(b->version().substr(0, 2), "1.");
}

TEST(BackendTest, OnnxRuntimeProfilesOpTypes) {
  TempDir dir;
  const std::string path = WriteSmallConvNet(dir);
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("onnxruntime", &b).ok());
  BackendOptions o;
  o.opt_level = "disable";  // keep Conv/BN/Relu separate so each type shows up
  std::vector<OpTypeTime> times;
  Status st = b->ProfileOps(path, o, 5, &times);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, OpTypeTime> by;
  for (const auto& t : times) by[t.op_type] = t;
  ASSERT_TRUE(by.count("Conv"));
  EXPECT_NEAR(by["Conv"].calls, 2.0, 1e-9);  // two Conv nodes per inference
  EXPECT_GT(by["Conv"].ms, 0.0);
  EXPECT_TRUE(by.count("Gemm"));
}

TEST(BackendTest, BadModelIsAStatusNamingTheFile) {
  TempDir dir;
  const std::string path = dir.File("junk.onnx");
  testing::WriteFile(path, "not a model at all");
  for (const char* name : {"onnxruntime", "opencv"}) {
    std::unique_ptr<Backend> b;
    ASSERT_TRUE(BackendRegistry::Create(name, &b).ok());
    std::unique_ptr<PreparedModel> m;
    Status st = b->Prepare(path, BackendOptions{}, &m);
    EXPECT_FALSE(st.ok()) << name;
    EXPECT_NE(st.message().find("junk.onnx"), std::string::npos) << st.message();
  }
}

TEST(BackendTest, UnknownBackendAndBadOptions) {
  std::unique_ptr<Backend> b;
  Status st = BackendRegistry::Create("tensorflow", &b);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("onnxruntime"), std::string::npos);
  BackendOptions o;
  o.opt_level = "max";
  EXPECT_FALSE(ValidateBackendOptions(o).ok());
  o = BackendOptions{};
  o.intra_op_threads = 0;
  EXPECT_FALSE(ValidateBackendOptions(o).ok());
}

TEST(BackendTest, FakeLatencyIsDeterministicPerModelBytes) {
  TempDir dir;
  testing::WriteFile(dir.File("a.onnx"), "model a");
  testing::WriteFile(dir.File("b.onnx"), "model b");
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("fake", &b).ok());
  auto time_one = [&](const std::string& p) {
    std::unique_ptr<PreparedModel> m;
    EXPECT_TRUE(b->Prepare(p, BackendOptions{}, &m).ok());
    double best = 1e9;
    for (int i = 0; i < 20; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      EXPECT_TRUE(m->Run().ok());
      best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  const double a1 = time_one(dir.File("a.onnx")), a2 = time_one(dir.File("a.onnx"));
  EXPECT_GE(a1, 50.0);
  EXPECT_NEAR(a1, a2, 0.1 * a1);
  EXPECT_GE(time_one(dir.File("b.onnx")), 50.0);
}

TEST(BackendTest, FakeCrashAborts) {
  TempDir dir;
  testing::WriteFile(dir.File("x.onnx"), "dlbricks-fake:crash");
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("fake", &b).ok());
  std::unique_ptr<PreparedModel> m;
  ASSERT_TRUE(b->Prepare(dir.File("x.onnx"), BackendOptions{}, &m).ok());
  EXPECT_DEATH(m->Run().ok(), "");
}

TEST(BackendTest, SyntheticFloatsAreFixedAndInRange) {
  std::vector<float> a(1000), b(1000);
  FillSyntheticFloats(1000, 5, a.data());
  FillSyntheticFloats(1000, 5, b.data());
  EXPECT_EQ(a, b);
  for (float v : a) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
}

}  // namespace
}  // namespace dlbricks
