#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

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

// The visit order of a validate run with --rounds 2: "kind round" per visit, consecutive
// visits of the same kind and round collapsed.
std::vector<std::string> VisitOrder(bool interleave, int reference_passes) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::unique_ptr<Store> store;
  EXPECT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  ValidateOptions o = FakeOptions(dir.File("work"));
  o.granularities = {1};
  o.run.protocol.rounds = 2;
  o.run.protocol.min_runs = o.run.protocol.max_runs = 4;
  o.interleave_references = interleave;
  o.reference_passes = reference_passes;
  std::vector<std::string> order;
  o.run.on_visit = [&](const RunVisit& v) {
    const std::string step = v.kind + " " + std::to_string(v.round);
    if (order.empty() || order.back() != step) order.push_back(step);
  };
  ValidationReport rep;
  Status st = Validate({a}, {}, o, store.get(), &rep);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(rep.summaries.at(0).models, 1);
  return order;
}

TEST(Validate, RoundsAlternateReferencesWithBricks) {
  // Bricks round 1, the model's round 1, bricks round 2, the model's round 2.
  EXPECT_EQ(VisitOrder(true, 1), (std::vector<std::string>{"brick 1", "model 1", "brick 2", "model 2"}));
  // A second pass comes after the bricks, as without rounds.
  EXPECT_EQ(VisitOrder(true, 2), (std::vector<std::string>{"brick 1", "model 1", "brick 2", "model 2", "model 1",
                                                           "model 2"}));
  // --no-interleave: the references' rounds first.
  EXPECT_EQ(VisitOrder(false, 1), (std::vector<std::string>{"model 1", "model 2", "brick 1", "brick 2"}));
}

TEST(LoadBrickKernelTimes, SumsEachBrickProfileWithoutReorders) {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  const std::string sys(32, 'a');
  ASSERT_TRUE(store->PutSystem({sys, "{}"}).ok());
  const Hash128 a = HashBytes("brick a"), b = HashBytes("brick b"), c = HashBytes("brick c");
  ASSERT_TRUE(store->PutOpProfile({{sys, "brick", a.Hex(), 1, "a", "Conv", 0.5, 1},
                                   {sys, "brick", a.Hex(), 1, "a", "ReorderInput", 0.07, 1},
                                   {sys, "brick", a.Hex(), 1, "a", "ReorderOutput", 0.42, 1},
                                   {sys, "brick", a.Hex(), 1, "a", "Relu", 0.25, 1}}).ok());
  ASSERT_TRUE(store->PutOpProfile({{sys, "brick", b.Hex(), 1, "b", "Gemm", 2.0, 1}}).ok());
  // Not bricks of this query: another batch, a model profile, another system.
  ASSERT_TRUE(store->PutOpProfile({{sys, "brick", c.Hex(), 4, "c", "Conv", 9.0, 1}}).ok());
  ASSERT_TRUE(store->PutOpProfile({{sys, "model", c.Hex(), 1, "m", "Conv", 9.0, 1}}).ok());
  BrickLatencies lat;
  ASSERT_TRUE(LoadBrickKernelTimes(store.get(), StoreQuery{sys, "dlbricks", 1}, &lat).ok());
  ASSERT_EQ(lat.size(), 2u);
  EXPECT_DOUBLE_EQ(lat.at(a).ms, 0.75);
  EXPECT_DOUBLE_EQ(lat.at(b).ms, 2.0);
  EXPECT_EQ(lat.count(c), 0u);  // no batch-1 brick profile: missing in construction
  // Exact construction: a, b, a and c (missing) in a chain, overhead once.
  ModelDecomposition d;
  d.model = "m";
  d.layers = 3;
  d.bricks = {{0, 1, a}, {1, 2, b}, {2, 3, a}};
  EstimateOptions opt;
  opt.kernel_times = true;
  opt.run_overhead_ms = 0.2;
  ModelEstimate e;
  Status st = ConstructModel(nullptr, d, lat, opt, &e);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_NEAR(e.latency_ms, 0.75 + 2.0 + 0.75 + 0.2, 1e-12);
  d.layers = 4;
  d.bricks.push_back({3, 4, c});
  st = ConstructModel(nullptr, d, lat, opt, &e);
  EXPECT_NE(st.message().find("1 brick(s) not profiled"), std::string::npos) << st.message();
  opt.allow_partial = true;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, opt, &e).ok());
  EXPECT_EQ(e.missing, 1);
}

TEST(Validate, KernelTimesProfileEveryBrickAndAddTheOverheadOnce) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  ValidateOptions o = FakeOptions(dir.File("work"));
  o.granularities = {1};
  o.estimate.kernel_times = true;
  o.run.profile_runs = 2;
  ValidationReport rep;
  Status st = Validate({a}, {}, o, store.get(), &rep);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(rep.kernel_times);
  EXPECT_GT(rep.run_overhead_ms, 0);  // the empty-network probe
  ASSERT_EQ(rep.rows.size(), 1u);
  EXPECT_EQ(rep.rows[0].missing, 0);
  // Constructed = sum of the instances' kernel times (the fake profiles 80% kernel, 20%
  // ReorderInput) + the overhead once + the model's reorders: no fake brick gives a blocked
  // output, so every brick converts its input again.
  Graph g;
  ASSERT_TRUE(LoadGraph(a, {}, &g).ok());
  ModelDecomposition d;
  DecomposeOptions dopt = o.decompose;
  ASSERT_TRUE(DecomposeModel(g, dopt, &d).ok());
  std::vector<OpProfileRow> rows;
  ASSERT_TRUE(store->ListOpProfiles(rep.system_id, &rows).ok());
  std::map<std::string, std::vector<OpTypeTime>> profiles;
  for (const OpProfileRow& r : rows) profiles[r.item_id].push_back({r.op_type, r.ms, r.calls});
  double expected = rep.run_overhead_ms, reorders = 0;
  for (const BrickInstance& inst : d.bricks) {
    const auto& ops = profiles.at(inst.id.Hex());
    ASSERT_EQ(ops.size(), 2u);
    expected += KernelMs(ops);
    EXPECT_LT(KernelMs(ops), ops[0].ms + ops[1].ms);
    for (const OpTypeTime& t : ops)
      if (t.op_type == "ReorderInput") reorders += t.ms;
  }
  EXPECT_GT(reorders, 0);
  EXPECT_NEAR(rep.rows[0].reorder_ms, reorders, 1e-9);
  EXPECT_NEAR(rep.rows[0].constructed_ms, expected + reorders, 1e-9);
  // The profiling runs are paid for in the benchmarking wall clock.
  const GranularitySummary& s = rep.summaries[0];
  EXPECT_GT(s.profile_wall_s, 0);
  EXPECT_GT(s.brick_wall_s, s.profile_wall_s);
  auto j = nlohmann::json::parse(ValidationJson(rep));
  EXPECT_TRUE(j["kernel_times"].get<bool>());
  EXPECT_GT(j["granularities"][0]["profile_wall_s"].get<double>(), 0);
  // The paper's path records no kernel times.
  ValidationReport plain;
  ASSERT_TRUE(Validate({a}, {}, FakeOptions(dir.File("work")), store.get(), &plain).ok());
  EXPECT_FALSE(nlohmann::json::parse(ValidationJson(plain))["kernel_times"].get<bool>());
  EXPECT_EQ(plain.summaries[0].profile_wall_s, 0);
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
