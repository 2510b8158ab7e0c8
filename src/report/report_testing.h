// Test-only: a results store filled through the real pipeline with the fake backend (generate,
// run, measure, validate), shared by the report, compare and browser tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dlbricks/estimate.h"
#include "dlbricks/measure.h"
#include "dlbricks/store.h"
#include "dlbricks/suite.h"
#include "testing/model_builder.h"

namespace dlbricks::report_testing {

// A small MLP: Gemm-Relu-Gemm, layers unlike SmallConvNet's (Jaccard 0 with it).
inline testing::ModelBuilder TinyMlp() {
  testing::ModelBuilder b;
  b.Input("x", {1, 32}).Weight("w1", {64, 32}).Weight("b1", {64}).Weight("w2", {10, 64}).Weight("b2", {10});
  auto& g1 = b.Node("Gemm", {"x", "w1", "b1"}, {"h"});
  testing::AttrInt(g1, "transB", 1);
  b.Node("Relu", {"h"}, {"r"});
  auto& g2 = b.Node("Gemm", {"r", "w2", "b2"}, {"y"});
  testing::AttrInt(g2, "transB", 1);
  b.Output("y");
  return b;
}

inline RunOptions FakeRun(double latency_scale) {
  RunOptions o;
  o.backend = "fake";
  o.isolate = false;
  o.progress = false;
  o.backend_options.extra["latency_scale"] = std::to_string(latency_scale);
  return o;  // the dlbricks preset: protocol key "dlbricks"
}

struct FakeWorld {
  std::vector<std::string> models;
  std::string db, suite, validation_json;
  std::string fast_system, slow_system;  // fast: bricks + models measured; slow: bricks only
};

// Fills `dir` with two models, a G=1 suite, and a store in which:
// - the fast system (latency_scale 1) has run the suite, measured the models at batch 1, 2, 4
//   and validated G=1,2 (validation JSON written to dir/validation.json), and has op profiles
//   and per-layer predictions of one predictor;
// - the slow system (latency_scale 4) has only run the suite.
inline void BuildFakeWorld(const std::string& dir, FakeWorld* w) {
  w->models = {testing::SmallConvNet(1).Write(dir, "convnet.onnx"), TinyMlp().Write(dir, "mlp.onnx")};
  w->db = dir + "/results.db";
  w->suite = dir + "/suite";
  SuiteOptions so;
  so.out_dir = w->suite;
  SuiteSummary ss;
  Status st = GenerateSuite(w->models, so, &ss);
  ASSERT_TRUE(st.ok()) << st.message();
  std::unique_ptr<Store> store;
  st = OpenStore(w->db, {}, &store);
  ASSERT_TRUE(st.ok()) << st.message();

  RunSummary fast, slow, measured;
  st = RunSuite(w->suite, FakeRun(1), store.get(), &fast);
  ASSERT_TRUE(st.ok()) << st.message();
  st = RunSuite(w->suite, FakeRun(4), store.get(), &slow);
  ASSERT_TRUE(st.ok()) << st.message();
  w->fast_system = fast.system_id;
  w->slow_system = slow.system_id;
  RunOptions mo = FakeRun(1);
  mo.batches = {1, 2, 4};
  mo.work_dir = dir;
  st = MeasureModels(w->models, mo, store.get(), &measured);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(measured.system_id, w->fast_system);

  ValidateOptions vo;
  vo.granularities = {1, 2};
  vo.run = FakeRun(1);
  vo.work_dir = dir + "/validate";
  ValidationReport report;
  st = Validate(w->models, {}, vo, store.get(), &report);
  ASSERT_TRUE(st.ok()) << st.message();
  w->validation_json = dir + "/validation.json";
  testing::WriteFile(w->validation_json, ValidationJson(report));

  // Per-operator profiles (the fake backend cannot profile): as `measure --profile-ops` stores them.
  std::vector<OpProfileRow> rows = {{w->fast_system, "model", "sigconv", 1, "convnet", "Conv", 0.30, 2},
                                    {w->fast_system, "model", "sigconv", 1, "convnet", "Relu", 0.05, 2},
                                    {w->fast_system, "model", "sigconv", 1, "convnet", "Gemm", 0.15, 1}};
  st = store->PutOpProfile(rows);
  ASSERT_TRUE(st.ok()) << st.message();

  // Per-layer predictions, as `dlbricks predictor eval` stores them. Absolute percentage
  // errors: test conv 20% and 10%, test gemm 0% (+ one unmeasured layer), train conv 10%.
  auto prediction = [&](const char* item, const char* family, const char* split, double predicted,
                        std::optional<double> measured) {
    PredictionRow r;
    r.system_id = w->fast_system;
    r.item_id = item;
    r.predictor_id = "feedface0123456789abcdef01234567";
    r.predictor_kind = "xgboost";
    r.family = family;
    r.split = split;
    r.protocol = "dlbricks";
    r.predicted_ms = predicted;
    r.measured_ms = measured;
    r.uncertainty_ms = predicted * 0.1;
    return r;
  };
  st = store->PutPredictions({prediction("01", "conv", "test", 1.2, 1.0), prediction("02", "conv", "test", 1.8, 2.0),
                              prediction("03", "gemm", "test", 0.5, 0.5), prediction("04", "gemm", "test", 0.3, {}),
                              prediction("05", "conv", "train", 4.4, 4.0)});
  ASSERT_TRUE(st.ok()) << st.message();
}

// One FakeWorld per test suite (building it measures bricks and models with the fake backend).
class FakeWorldTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    world_ = new FakeWorld();
    BuildFakeWorld(dir_->path(), world_);
  }
  static void TearDownTestSuite() {
    delete world_;
    delete dir_;
  }
  static inline testing::TempDir* dir_ = nullptr;
  static inline FakeWorld* world_ = nullptr;
};

}  // namespace dlbricks::report_testing
