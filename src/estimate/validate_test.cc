#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "dlbricks/estimate.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

ValidateOptions FakeOptions(const std::string& work_dir) {
  ValidateOptions o;
  o.granularities = {1, 3};
  o.run.backend = "fake";
  o.run.isolate = false;
  o.run.progress = false;
  o.run.protocol.warmup_runs = 1;
  o.run.protocol.min_runs = o.run.protocol.max_runs = 3;
  o.work_dir = work_dir;
  return o;
}

TEST(Validate, FakeBackendEndToEnd) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::string b = testing::SmallConvNet(50).Write(dir.path(), "b.onnx");  // same layers, other weights
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  ValidationReport rep;
  Status st = Validate({a, b}, {}, FakeOptions(dir.File("work")), store.get(), &rep);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(rep.summaries.size(), 2u);
  ASSERT_EQ(rep.rows.size(), 4u);
  for (const ValidationRow& row : rep.rows) {
    EXPECT_EQ(row.missing, 0);
    EXPECT_GT(row.measured_ms, 0);
    EXPECT_GT(row.constructed_ms, 0);
    EXPECT_NEAR(row.normalised, row.constructed_ms / row.measured_ms, 1e-12);
  }
  const GranularitySummary& g1 = rep.summaries[0];
  EXPECT_EQ(g1.models, 2);
  // Both models have the same 9 layers (two Relus alike), so G=1 dedupes 18 instances to 8.
  EXPECT_EQ(g1.instances, 18);
  EXPECT_EQ(g1.unique_bricks, 8);
  // Every instance of model a is a brick of the store: constructed = sum over its instances.
  BrickLatencies lat;
  StoreQuery q{rep.system_id, rep.protocol, 1};
  ASSERT_TRUE(LoadBrickLatencies(store.get(), q, &lat).ok());
  // Every unique brick of both G values was measured (single-layer bricks are shared by both).
  EXPECT_GE(static_cast<int64_t>(lat.size()), std::max(rep.summaries[0].unique_bricks, rep.summaries[1].unique_bricks));
  EXPECT_LE(static_cast<int64_t>(lat.size()), rep.summaries[0].unique_bricks + rep.summaries[1].unique_bricks);
  EXPECT_LT(rep.summaries[1].instances, g1.instances);
  EXPECT_GT(g1.speedup_latency, 0);
  EXPECT_GT(g1.speedup_wall, 0);
  auto j = nlohmann::json::parse(ValidationJson(rep));
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["granularities"].size(), 2u);
  EXPECT_NE(ValidationCsv(rep).find("a,1,"), std::string::npos);
}

TEST(Validate, ReadOnlyWithEmptyStoreReportsMissing) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  ValidateOptions o = FakeOptions(dir.File("work"));
  o.measure_missing = false;
  ValidationReport rep;
  ASSERT_TRUE(Validate({a}, {}, o, store.get(), &rep).ok());
  ASSERT_FALSE(rep.rows.empty());
  EXPECT_GT(rep.rows[0].missing, 0);
  EXPECT_EQ(rep.summaries[0].models, 0);
}

TEST(Validate, RejectsBadGranularity) {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  ValidateOptions o = FakeOptions(dir.File("work"));
  o.granularities = {0};
  ValidationReport rep;
  Status st = Validate({dir.File("none.onnx")}, {}, o, store.get(), &rep);
  EXPECT_EQ(st.ExitCode(), 2);
}

}  // namespace
}  // namespace dlbricks
