#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>

#include "dlbricks/backend.h"
#include "model_inputs.h"
#include "opencv_import.h"
#include "profile_loop.h"
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

// A profile as ONNX Runtime writes it: a warm-up inference, then three; one of the three
// hit by a 1 ms preemption. Each kernel counts with its median, so the hiccup is not a cost.
TEST(BackendTest, ProfileSumsEachKernelsMedian) {
  TempDir dir;
  const std::string path = dir.File("trace.json");
  std::string events;
  auto add = [&](const std::string& e) { events += (events.empty() ? "" : ",\n") + e; };
  auto node = [&](const std::string& name, const std::string& op, double ts, double dur) {
    add("{\"cat\":\"Node\",\"name\":\"" + name + "_kernel_time\",\"ts\":" + std::to_string(ts) +
        ",\"dur\":" + std::to_string(dur) + ",\"args\":{\"op_name\":\"" + op + "\"}}");
  };
  const double conv_us[] = {500, 40, 40, 1040};  // warm-up, then 40, 40, 1040 (preempted)
  for (int r = 0; r < 4; ++r) {
    const double t0 = 10000.0 * r;
    add("{\"cat\":\"Session\",\"name\":\"model_run\",\"ts\":" + std::to_string(t0) + ",\"dur\":5000}");
    node("conv", "Conv", t0 + 10, conv_us[r]);
    node("reorder", "ReorderOutput", t0 + 2000, 8);
  }
  std::ofstream(path) << "[" << events << "]";
  std::vector<NodeTime> nodes;
  ASSERT_TRUE(backend_internal::ProfileNodeMedians(path, 1, &nodes).ok());
  std::map<std::string, OpTypeTime> by;
  for (const OpTypeTime& t : SumNodesByOpType(nodes)) by[t.op_type] = t;
  ASSERT_EQ(by.size(), 2u);
  // The trace's whole microseconds, interpolated (TruncatedMicrosecondMedian): two of three
  // samples in [40, 41) put the median 1.5 / 2 of the way into it.
  EXPECT_NEAR(by["Conv"].ms, 0.04075, 1e-12);
  EXPECT_NEAR(by["Conv"].calls, 1.0, 1e-12);
  EXPECT_NEAR(by["ReorderOutput"].ms, 0.0085, 1e-12);
  // Not a trace: a one-line error naming the file.
  std::ofstream(path) << "{}";
  Status st = backend_internal::ProfileNodeMedians(path, 1, &nodes);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path), std::string::npos);
}

// ONNX Runtime truncates each kernel's duration to whole microseconds. A 2.6 us kernel whose
// runs spread evenly over [2.1, 3.1) reads 2 in 9 runs of 10 and 3 in one: the plain median
// says 2 (23% low), the interpolated one 2 + 0.5 / 0.9.
TEST(BackendTest, TruncatedMicrosecondMedianReadsBetweenTheMicroseconds) {
  std::vector<double> us(90, 2.0);
  us.insert(us.end(), 10, 3.0);
  EXPECT_EQ(backend_internal::KernelMedian(us), 2.0);
  EXPECT_NEAR(backend_internal::TruncatedMicrosecondMedian(us), 2.0 + 0.5 / 0.9, 1e-12);
  // Every run in one microsecond: its middle, not its floor.
  EXPECT_NEAR(backend_internal::TruncatedMicrosecondMedian({5, 5, 5, 5}), 5.5, 1e-12);
  // Preemptions in a third of the runs move it within its microsecond only.
  EXPECT_NEAR(backend_internal::TruncatedMicrosecondMedian({7, 7, 7, 7, 900, 1200}), 7.75, 1e-12);
  EXPECT_NEAR(backend_internal::TruncatedMicrosecondMedian({0}), 0.5, 1e-12);
}

// --backend-option entries are ONNX Runtime session config entries, recorded in the fingerprint.
TEST(BackendTest, OnnxRuntimeTakesSessionConfigEntries) {
  TempDir dir;
  const std::string path = WriteSmallConvNet(dir);
  std::unique_ptr<Backend> ort;
  ASSERT_TRUE(BackendRegistry::Create("onnxruntime", &ort).ok());
  BackendOptions o;
  o.extra["session.set_denormal_as_zero"] = "1";
  std::unique_ptr<PreparedModel> m;
  ASSERT_TRUE(ort->Prepare(path, o, &m).ok());
  ASSERT_TRUE(m->Run().ok());
  auto rec = ort->RecordOptions(o);
  EXPECT_EQ(rec["config.session.set_denormal_as_zero"], "1");
  EXPECT_EQ(ort->RecordOptions(BackendOptions{}).count("config.session.set_denormal_as_zero"), 0u);
}

TEST(BackendTest, OnnxRuntimeProfilesOpTypes) {
  TempDir dir;
  const std::string path = WriteSmallConvNet(dir);
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("onnxruntime", &b).ok());
  BackendOptions o;
  o.opt_level = "disable";  // keep Conv/BN/Relu separate so each type shows up
  std::vector<OpTypeTime> times;
  std::vector<bool> next_profiled;  // one per inference
  Status st = b->ProfileOps(path, o, 5, [&](bool next, PreparedModel&) { next_profiled.push_back(next); }, &times);
  ASSERT_TRUE(st.ok()) << st.message();
  std::map<std::string, OpTypeTime> by;
  for (const auto& t : times) by[t.op_type] = t;
  ASSERT_TRUE(by.count("Conv"));
  EXPECT_NEAR(by["Conv"].calls, 2.0, 1e-9);  // two Conv nodes per inference
  EXPECT_GT(by["Conv"].ms, 0.0);
  EXPECT_TRUE(by.count("Gemm"));
  // A call per inference: warm-ups, the last one announcing the profiled ones, then >= 5 profiled.
  const auto first = std::find(next_profiled.begin(), next_profiled.end(), true);
  ASSERT_NE(first, next_profiled.end());
  EXPECT_TRUE(std::all_of(first, next_profiled.end(), [](bool next) { return next; }));
  EXPECT_GE(next_profiled.end() - first, 6);
}

// TouchInputs reads every input buffer whole, and a profiling hook can call it on the model
// being profiled (what a flushed, re-warmed profile does between inferences).
TEST(BackendTest, OnnxRuntimeTouchesEveryInputByte) {
  TempDir dir;
  const std::string path = WriteSmallConvNet(dir);
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("onnxruntime", &b).ok());
  std::unique_ptr<PreparedModel> m;
  ASSERT_TRUE(b->Prepare(path, BackendOptions{}, &m).ok());
  int64_t bytes = 0;
  for (const TensorInfo& in : m->inputs()) bytes += 4 * std::accumulate(in.dims.begin(), in.dims.end(), int64_t{1}, std::multiplies<>());
  ASSERT_GT(bytes, 0);
  EXPECT_EQ(m->TouchInputs(), bytes);
  std::vector<OpTypeTime> times;
  std::vector<int64_t> touched;
  ASSERT_TRUE(b->ProfileOps(path, BackendOptions{}, 3, [&](bool, PreparedModel& p) { touched.push_back(p.TouchInputs()); },
                            &times).ok());
  ASSERT_FALSE(touched.empty());
  for (int64_t t : touched) EXPECT_EQ(t, bytes);
}

// ORT's telemetry recursed over /proc/self/cmdline and overflowed the stack on long command
// lines (issue 4): the backend turns it off before ORT's environment exists.
TEST(BackendTest, OnnxRuntimeRunsWithTelemetryOff) {
  TempDir dir;
  ExpectRunsFinite("onnxruntime", WriteSmallConvNet(dir));
  const char* off = std::getenv("ORT_DISABLE_TELEMETRY");
  ASSERT_NE(off, nullptr);
  EXPECT_STREQ(off, "1");
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


// ---- OpenCV: external data and importer rewrites (opencv_import.h) ----------------------

// One inference of `path` on a backend; its float outputs.
Status RunOutputs(const std::string& backend_name, const std::string& path,
                  std::vector<std::vector<float>>* outputs) {
  std::unique_ptr<Backend> backend;
  DLB_RETURN_IF_ERROR(BackendRegistry::Create(backend_name, &backend));
  std::unique_ptr<PreparedModel> model;
  DLB_RETURN_IF_ERROR(backend->Prepare(path, BackendOptions{}, &model));
  DLB_RETURN_IF_ERROR(model->Run());
  return model->LastOutputs(outputs);
}

// OpenCV and ONNX Runtime compute the same outputs on the same synthetic inputs: max |cv - ort|
// over max |ort|, per output, at most 1e-3.
void ExpectOpenCvMatchesOrt(const std::string& path) {
  std::vector<std::vector<float>> ort, cv;
  Status st = RunOutputs("onnxruntime", path, &ort);
  ASSERT_TRUE(st.ok()) << st.message();
  st = RunOutputs("opencv", path, &cv);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(cv.size(), ort.size());
  for (size_t i = 0; i < ort.size(); ++i) {
    ASSERT_EQ(cv[i].size(), ort[i].size()) << "output " << i;
    double diff = 0, scale = 0;
    for (size_t j = 0; j < ort[i].size(); ++j) {
      diff = std::max(diff, static_cast<double>(std::fabs(cv[i][j] - ort[i][j])));
      scale = std::max(scale, static_cast<double>(std::fabs(ort[i][j])));
    }
    ASSERT_GT(scale, 0.0) << "output " << i << " is all zeros: the comparison would prove nothing";
    EXPECT_LE(diff / scale, 1e-3) << "output " << i << " of " << path;
  }
}

// The rewrites RewriteForOpenCv applies to the model at `path`.
backend_internal::OpenCvRewrites RewritesOf(const std::string& path) {
  onnx::ModelProto proto;
  EXPECT_TRUE(backend_internal::ReadModelProto(path, &proto).ok());
  backend_internal::OpenCvRewrites done;
  EXPECT_TRUE(backend_internal::RewriteForOpenCv(path, &proto, &done).ok());
  return done;
}

// Writes the model (output "y"), checks that RewriteForOpenCv makes `count` rewrites of one
// kind, and that OpenCV then matches ONNX Runtime.
void ExpectRewriteMatchesOrt(testing::ModelBuilder& b, int backend_internal::OpenCvRewrites::*kind, int count) {
  TempDir dir;
  b.Output("y");
  const std::string path = b.Write(dir.path(), "model.onnx");
  EXPECT_EQ(RewritesOf(path).*kind, count);
  ExpectOpenCvMatchesOrt(path);
}

TEST(OpenCvImportTest, ReadsExternalDataFromASharedWeightFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("bricks"));
  // Two models share one pool; the second's tensors sit after the first's.
  onnx::ModelProto a = SmallConvNet(1).Build(), b = SmallConvNet(2).Build();
  testing::MoveInitializersToExternalFile(&a, dir.File("bricks"), "weights.bin");
  testing::MoveInitializersToExternalFile(&b, dir.File("bricks"), "weights.bin");
  for (const auto& t : b.graph().initializer()) ASSERT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL);
  testing::WriteFile(dir.File("bricks/a.onnx"), a.SerializeAsString());
  testing::WriteFile(dir.File("bricks/b.onnx"), b.SerializeAsString());
  ExpectRunsFinite("opencv", dir.File("bricks/b.onnx"));
  ExpectOpenCvMatchesOrt(dir.File("bricks/a.onnx"));
  ExpectOpenCvMatchesOrt(dir.File("bricks/b.onnx"));
  // Same outputs as the model with its weights inline.
  std::vector<std::vector<float>> inline_out, external_out;
  const std::string inline_path = dir.File("inline.onnx");
  testing::WriteFile(inline_path, SmallConvNet(2).Build().SerializeAsString());
  ASSERT_TRUE(RunOutputs("opencv", inline_path, &inline_out).ok());
  ASSERT_TRUE(RunOutputs("opencv", dir.File("bricks/b.onnx"), &external_out).ok());
  EXPECT_EQ(inline_out, external_out);
}

TEST(OpenCvImportTest, BadExternalDataIsAStatusNamingTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("m"));
  onnx::ModelProto base = SmallConvNet().Build();
  testing::MoveInitializersToExternalFile(&base, dir.File("m"), "weights.bin");
  testing::WriteFile(dir.File("outside.bin"), std::string(1 << 16, '\0'));
  // Sets the external data fields of the first initializer.
  auto with = [&](const std::string& location, const std::string& offset, const std::string& length) {
    onnx::ModelProto m = base;
    auto* kvs = m.mutable_graph()->mutable_initializer(0)->mutable_external_data();
    for (auto& kv : *kvs) {
      if (kv.key() == "location" && !location.empty()) kv.set_value(location);
      if (kv.key() == "offset" && !offset.empty()) kv.set_value(offset);
      if (kv.key() == "length" && !length.empty()) kv.set_value(length);
    }
    const std::string path = dir.File("m/model.onnx");
    testing::WriteFile(path, m.SerializeAsString());
    std::unique_ptr<PreparedModel> model;
    std::unique_ptr<Backend> backend;
    EXPECT_TRUE(BackendRegistry::Create("opencv", &backend).ok());
    return backend->Prepare(path, BackendOptions{}, &model);
  };
  ASSERT_TRUE(with("", "", "").ok());
  struct Case {
    std::string location, offset, length, needle;
  } cases[] = {
      {"../outside.bin", "", "", "inside the model's folder"},
      {dir.File("outside.bin"), "", "", "inside the model's folder"},
      {"sub/../../outside.bin", "", "", "inside the model's folder"},
      {"missing.bin", "", "", "missing.bin"},
      {"", "999999999", "", "weights.bin"},
      {"", "", "12", "weights.bin"},  // the tensor needs 8*3*3*3*4 bytes
      {"", "x1", "", "not a number"},
  };
  for (const Case& c : cases) {
    Status st = with(c.location, c.offset, c.length);
    EXPECT_FALSE(st.ok()) << c.location << c.offset << c.length;
    EXPECT_NE(st.message().find("model.onnx"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << st.message();
  }
  // A symlink inside the folder that points outside it is refused too.
  std::filesystem::create_symlink(dir.File("outside.bin"), dir.File("m/link.bin"));
  Status st = with("link.bin", "", "");
  EXPECT_NE(st.message().find("leaves the model's folder"), std::string::npos) << st.message();
}

// mobilenet_v2's ReLU6: Clip with min/max as constant inputs (opset >= 11), one bound absent.
TEST(OpenCvImportTest, ClipWithConstantInputsMatchesOrt) {
  testing::ModelBuilder b;
  b.Input("x", {1, 3, 8, 8});
  b.Weight("w", {4, 3, 3, 3}).Weight("bias", {4});
  auto& conv = b.Node("Conv", {"x", "w", "bias"}, {"c"});
  testing::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.WeightValues("lo", {}, {-0.1f}).WeightValues("hi", {}, {0.3f});
  b.Node("Clip", {"c", "lo", "hi"}, {"clipped"});
  auto& hi2 = b.Node("Constant", {}, {"hi2"});
  onnx::AttributeProto* value = hi2.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  value->mutable_t()->add_float_data(0.2f);
  b.Node("Clip", {"clipped", "", "hi2"}, {"y"});
  ExpectRewriteMatchesOrt(b, &backend_internal::OpenCvRewrites::clip_to_attributes, 2);
}

// swin_t's window padding: Pad(x, pads, "") with the optional constant_value left empty.
TEST(OpenCvImportTest, PadWithEmptyOptionalInputMatchesOrt) {
  testing::ModelBuilder b;
  b.Input("x", {1, 2, 5, 5});
  b.Int64s("pads", {0, 0, 1, 2, 0, 0, 2, 1});
  auto& pad = b.Node("Pad", {"x", "pads", ""}, {"p"});
  testing::AttrString(pad, "mode", "constant");
  b.Node("Relu", {"p"}, {"y"});
  ExpectRewriteMatchesOrt(b, &backend_internal::OpenCvRewrites::empty_inputs_dropped, 1);
}

// convnext_tiny's classifier LayerNorm2d on a 1x1 map: the mean and deviation are
// 1-element computed tensors that Div (and Mul) broadcast over [1,1,1,C].
TEST(OpenCvImportTest, BroadcastOfComputedScalarMatchesOrt) {
  testing::ModelBuilder b;
  b.Input("x", {1, 8, 1, 1});
  auto& tr = b.Node("Transpose", {"x"}, {"t"});
  testing::AttrInts(tr, "perm", {0, 2, 3, 1});
  auto& mean = b.Node("ReduceMean", {"t"}, {"mean"});
  testing::AttrInts(mean, "axes", {-1});
  b.Node("Sub", {"t", "mean"}, {"d"});
  b.Node("Mul", {"d", "d"}, {"d2"});
  auto& var = b.Node("ReduceMean", {"d2"}, {"var"});
  testing::AttrInts(var, "axes", {-1});
  b.WeightValues("eps", {}, {1e-6f});
  b.Node("Add", {"var", "eps"}, {"ve"});
  b.Node("Sqrt", {"ve"}, {"sd"});
  b.Node("Div", {"d", "sd"}, {"norm"});
  b.Node("Mul", {"sd", "norm"}, {"back"});  // the 1-element operand first
  b.Weight("gamma", {8});
  b.Node("Mul", {"back", "gamma"}, {"y"});
  ExpectRewriteMatchesOrt(b, &backend_internal::OpenCvRewrites::scalar_broadcasts, 2);
}

// vit_b_16's LayerNorm affine on [N, T, C]: Mul/Div by a constant [C] over trailing axes.
TEST(OpenCvImportTest, ScaleOverTrailingAxesMatchesOrt) {
  testing::ModelBuilder b;
  b.Input("x", {1, 6, 8});
  b.Weight("gamma", {8}).Weight("beta", {8});
  b.Node("Mul", {"x", "gamma"}, {"scaled"});
  b.WeightValues("d", {1, 8}, {1.5f, 2, 3, 4, 5, 6, 7, 8});
  b.Node("Div", {"scaled", "d"}, {"divided"});
  b.Node("Add", {"divided", "beta"}, {"y"});
  ExpectRewriteMatchesOrt(b, &backend_internal::OpenCvRewrites::trailing_scales, 2);
}

// swin_t's window attention: a {1, heads, w, w} position bias and a {1, windows, 1, w, w}
// shifted-window mask added to the scores.
TEST(OpenCvImportTest, BiasWithLeadingAndInteriorOnesMatchesOrt) {
  testing::ModelBuilder b;
  b.Input("scores", {4, 3, 5, 5});
  b.Weight("pos", {1, 3, 5, 5});
  b.Node("Add", {"scores", "pos"}, {"biased"});
  b.Int64s("split", {1, 4, 3, 5, 5});
  b.Node("Reshape", {"biased", "split"}, {"windows"});
  b.Weight("mask", {1, 4, 1, 5, 5});
  b.Node("Sub", {"windows", "mask"}, {"masked"});
  b.Int64s("merge", {4, 3, 5, 5});
  b.Node("Reshape", {"masked", "merge"}, {"merged"});
  auto& sm = b.Node("Softmax", {"merged"}, {"y"});
  testing::AttrInt(sm, "axis", -1);
  ExpectRewriteMatchesOrt(b, &backend_internal::OpenCvRewrites::bias_layouts, 2);
}

}  // namespace
}  // namespace dlbricks
