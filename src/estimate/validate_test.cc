#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

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

// --context lofo: each model's construction times the scale fitted, in relative error, on the
// other families' constructions and references (s = sum r / sum r^2): neither its own reference
// nor its family's enters its scale.
TEST(Validate, ContextLeaveFamilyOutScalesByTheOtherFamilies) {
  testing::TempDir dir;
  std::vector<std::string> models;
  for (auto [seed, name] : std::vector<std::pair<int, std::string>>{
           {1, "alpha.onnx"}, {50, "beta1.onnx"}, {99, "beta2.onnx"}, {7, "gamma.onnx"}})
    models.push_back(testing::SmallConvNet(seed).Write(dir.path(), name));
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  ValidateOptions o = FakeOptions(dir.File("work"));
  o.granularities = {1};
  ValidationReport plain, ctx;
  Status st = Validate(models, {}, o, store.get(), &plain);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(plain.context_lofo);
  o.measure_missing = false;  // the same bricks and references, read again
  o.context_lofo = true;
  st = Validate(models, {}, o, store.get(), &ctx);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(ctx.context_lofo);
  ASSERT_EQ(ctx.rows.size(), 4u);
  std::vector<double> norms;
  for (size_t i = 0; i < ctx.rows.size(); ++i) {
    const ValidationRow& row = ctx.rows[i];
    EXPECT_EQ(plain.rows[i].context_scale, 1);
    EXPECT_DOUBLE_EQ(row.bricks_ms, plain.rows[i].constructed_ms);
    double sum_r = 0, sum_r2 = 0;
    for (const ValidationRow& other : plain.rows) {
      if (ModelFamilyOf(other.model) == ModelFamilyOf(row.model)) continue;
      sum_r += other.normalised, sum_r2 += other.normalised * other.normalised;
    }
    EXPECT_NEAR(row.context_scale, sum_r / sum_r2, 1e-12) << row.model;
    EXPECT_NEAR(row.constructed_ms, row.context_scale * row.bricks_ms, 1e-12);
    EXPECT_NEAR(row.normalised, row.context_scale * plain.rows[i].normalised, 1e-12);
    norms.push_back(row.normalised);
  }
  EXPECT_EQ(ModelFamilyOf(ctx.rows[1].model), "beta");
  EXPECT_DOUBLE_EQ(ctx.rows[1].context_scale, ctx.rows[2].context_scale);  // one family, one fit
  EXPECT_NEAR(ctx.summaries.at(0).geomean_normalised, GeoMean(norms), 1e-12);
  auto j = nlohmann::json::parse(ValidationJson(ctx));
  EXPECT_EQ(j["context"], "lofo");
  EXPECT_NEAR(j["models"][0]["context_scale"].get<double>(), ctx.rows[0].context_scale, 1e-12);
  EXPECT_NEAR(j["models"][0]["bricks_ms"].get<double>(), ctx.rows[0].bricks_ms, 1e-12);
  EXPECT_NE(ValidationTable(ctx).find("in-model scale"), std::string::npos);
  // Two families of one model each: each has a single other model to fit on.
  ValidationReport two;
  st = Validate({models[0], models[3]}, {}, o, store.get(), &two);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("alpha has 1 referenced model outside its family 'alpha'; needs 2"), std::string::npos)
      << st.message();
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

TEST(LoadBrickKernelTimes, SubtractsTheProfilerBiasPerKernelCall) {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  const std::string sys(32, 'a');
  ASSERT_TRUE(store->PutSystem({sys, "{}"}).ok());
  const Hash128 a = HashBytes("brick a");
  ASSERT_TRUE(store->PutOpProfile({{sys, "brick", a.Hex(), 1, "a", "Conv", 0.5, 1},
                                   {sys, "brick", a.Hex(), 1, "a", "ReorderInput", 0.07, 1},
                                   {sys, "brick", a.Hex(), 1, "a", "ReorderOutput", 0.42, 1},
                                   {sys, "brick", a.Hex(), 1, "a", "Relu", 0.25, 2}}).ok());
  BrickLatencies lat;
  ASSERT_TRUE(LoadBrickKernelTimes(store.get(), StoreQuery{sys, "dlbricks", 1}, &lat, 0.1).ok());
  const BrickLatency& l = lat.at(a);
  EXPECT_NEAR(l.ms, 0.4 + 0.05, 1e-12);     // Relu runs twice per inference: 2 x 0.1 off
  EXPECT_NEAR(l.reorder_in_ms, 0, 1e-12);   // floored at 0, never negative
  EXPECT_NEAR(l.reorder_out_ms, 0.32, 1e-12);
  EXPECT_TRUE(l.blocked_in);
}

TEST(CalibrateProfilerBias, MedianOverBricksBothTimedAndProfiled) {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
  const std::string sys(32, 'a');
  ASSERT_TRUE(store->PutSystem({sys, "{}"}).ok());
  const double overhead = 0.01;
  auto put = [&](const std::string& name, double timed_ms, const std::string& protocol, const std::string& status,
                 std::vector<OpTypeTime> ops) {
    const std::string id = HashBytes(name).Hex();
    Measurement m;
    m.key = {sys, "brick", id, 1, protocol};
    m.name = name;
    m.status = status;
    m.value_ms = timed_ms;
    ASSERT_TRUE(store->Put(m).ok());
    ASSERT_TRUE(store->PutOpProfile(OpProfileRows({sys, "brick", id, 1, protocol}, name, ops)).ok());
  };
  // Per kernel call, profiled - (timed - overhead): 0.001, 0.002, 0.003, 0.004, 0.005.
  for (int i = 1; i <= 5; ++i) {
    const double bias = 0.001 * i;
    put("b" + std::to_string(i), 0.1 + overhead, "dlbricks", "ok",
        {{"Conv", 0.08 + bias, 1}, {"ReorderInput", 0.02 + bias, 1}});
  }
  // Left out: a failed timing, a timing under another protocol, a brick profiled only.
  put("failed", 0.001, "dlbricks", "failed", {{"Conv", 9.0, 1}});
  put("other", 0.001, "custom:1", "ok", {{"Conv", 9.0, 1}});
  ASSERT_TRUE(store->PutOpProfile({{sys, "brick", HashBytes("lone").Hex(), 1, "lone", "Conv", 9.0, 1}}).ok());
  ProfilerBias bias;
  Status st = CalibrateProfilerBias(store.get(), StoreQuery{sys, "dlbricks", 1}, overhead, &bias);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(bias.bricks, 5);
  EXPECT_NEAR(bias.per_kernel_ms, 0.003, 1e-12);
  EXPECT_NEAR(bias.q1_ms, 0.002, 1e-12);
  EXPECT_NEAR(bias.q3_ms, 0.004, 1e-12);
  // Too few bricks: an error, not a guess.
  st = CalibrateProfilerBias(store.get(), StoreQuery{sys, "custom:1", 1}, overhead, &bias);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("1 brick(s) both timed"), std::string::npos) << st.message();
}

TEST(SelectCalibrationBricks, LowestIdsAmongTheCheaperHalfThenTheCheapest) {
  std::vector<SuiteBrick> bricks;
  for (int i = 0; i < 10; ++i) bricks.push_back({fmt::format("{:032x}", 9 - i), "", {}, static_cast<double>(i)});
  // FLOPs 0..9 with ids 9..0: the cheaper half (FLOPs <= the median, 5) holds ids 4..9.
  EXPECT_EQ(SelectCalibrationBricks(bricks, 3),
            (std::set<std::string>{fmt::format("{:032x}", 4), fmt::format("{:032x}", 5), fmt::format("{:032x}", 6)}));
  // Past the cheaper half: the next cheapest (FLOPs 6 and 7: ids 3 and 2), then everything.
  const std::set<std::string> eight = SelectCalibrationBricks(bricks, 8);
  EXPECT_EQ(eight.size(), 8u);
  EXPECT_TRUE(eight.count(fmt::format("{:032x}", 3)) && eight.count(fmt::format("{:032x}", 2)));
  EXPECT_EQ(SelectCalibrationBricks(bricks, 100).size(), 10u);
  EXPECT_TRUE(SelectCalibrationBricks(bricks, 0).empty());
  EXPECT_TRUE(SelectCalibrationBricks({}, 3).empty());
}

// One model, a store and G=1 kernel-time options on the fake backend.
struct KernelTimeSetup {
  KernelTimeSetup() {
    EXPECT_TRUE(OpenStore(dir.File("r.db"), {}, &store).ok());
    options.granularities = {1};
    options.estimate.kernel_times = true;
    options.run.profile_runs = 2;
  }
  testing::TempDir dir;
  std::string model = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::unique_ptr<Store> store;
  ValidateOptions options = FakeOptions(dir.File("work"));
};

TEST(Validate, ProfilerBiasIsCalibratedOnTimedBricksAndSubtracted) {
  KernelTimeSetup setup;
  testing::TempDir& dir = setup.dir;
  const std::string& a = setup.model;
  Store* store = setup.store.get();
  ValidateOptions& o = setup.options;
  o.estimate.model_reorders = false;
  o.run.backend_options.extra["profile_bias_us"] = "300";
  o.profiler_bias_bricks = 3;
  ValidationReport rep;
  Status st = Validate({a}, {}, o, store, &rep);
  ASSERT_TRUE(st.ok()) << st.message();
  // Lone profiles time every brick too, so every brick calibrates. The fake profiler adds
  // 300 us to each of a brick's two kernels, and the fake's empty network (the overhead taken
  // off each brick's latency) is itself a fake model, so the calibration reads 300 us plus half
  // its latency; the spin loop's timing error is a few us.
  EXPECT_EQ(rep.profiler_bias.bricks, rep.summaries[0].unique_bricks);
  EXPECT_NEAR(rep.profiler_bias.per_kernel_ms, 0.3 + rep.run_overhead_ms / 2, 0.02);
  EXPECT_LE(rep.profiler_bias.q1_ms, rep.profiler_bias.q3_ms);
  std::vector<SuiteBrick> suite;  // calibration picks bricks by their manifest FLOPs
  ASSERT_TRUE(ReadSuiteBricks(dir.File("work/suite-G1-chain-none"), &suite).ok());
  EXPECT_TRUE(std::any_of(suite.begin(), suite.end(), [](const SuiteBrick& b) { return b.flops > 0; }));
  // Constructed from each instance's kernel less the bias (floored at 0), plus the overhead.
  Graph g;
  ASSERT_TRUE(LoadGraph(a, {}, &g).ok());
  ModelDecomposition d;
  ASSERT_TRUE(DecomposeModel(g, o.decompose, &d).ok());
  std::vector<OpProfileRow> rows;
  ASSERT_TRUE(store->ListOpProfiles(rep.system_id, &rows).ok());
  std::map<std::string, double> kernel_ms;
  for (const OpProfileRow& r : rows)
    if (r.op_type == "FakeKernel") kernel_ms[r.item_id] = r.ms;
  double expected = rep.run_overhead_ms;
  for (const BrickInstance& inst : d.bricks)
    expected += std::max(0.0, kernel_ms.at(inst.id.Hex()) - rep.profiler_bias.per_kernel_ms);
  EXPECT_NEAR(rep.rows[0].constructed_ms, expected, 1e-9);
  auto j = nlohmann::json::parse(ValidationJson(rep));
  EXPECT_EQ(j["profiler_bias"]["bricks"], rep.profiler_bias.bricks);
  // Read back without the calibration: the plain profiles, no "profiler_bias" key.
  ValidateOptions read = o;
  read.measure_missing = false;
  read.profiler_bias_bricks = 0;
  ValidationReport plain;
  ASSERT_TRUE(Validate({a}, {}, read, store, &plain).ok());
  EXPECT_GT(plain.rows[0].constructed_ms, rep.rows[0].constructed_ms);
  EXPECT_EQ(nlohmann::json::parse(ValidationJson(plain)).count("profiler_bias"), 0u);
  // Without kernel times there is nothing to correct.
  o.estimate.kernel_times = false;
  EXPECT_EQ(Validate({a}, {}, o, store, &rep).ExitCode(), 2);
}

TEST(Validate, PackedRunTimesTheCalibrationBricksSpreadOverThePacks) {
  KernelTimeSetup setup;
  ValidateOptions& o = setup.options;
  o.run.backend = "onnxruntime";  // packs need ProfileNodes
  o.run.pack = 1;
  o.run.protocol.rounds = 2;      // references: round 1 at half the pack visits, round 2 after
  o.reference_passes = 1;
  o.profiler_bias_bricks = 5;
  std::vector<std::string> visits;  // the kind of every timed visit, in order
  o.run.on_visit = [&](const RunVisit& v) { visits.push_back(v.kind); };
  ValidationReport rep;
  Status st = Validate({setup.model}, {}, o, setup.store.get(), &rep);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(rep.profiler_bias.bricks, 5);
  std::vector<Measurement> timed;
  ASSERT_TRUE(setup.store->List(rep.system_id, "brick", &timed).ok());
  EXPECT_EQ(timed.size(), 6u);  // the 5 calibration bricks and the empty-network probe
  // Four chunks at 0, 1/4, 1/2 and 3/4 of the pack visits: calibration timing before the
  // references' first round and after it, not in one burst at the end.
  const auto first_model = std::find(visits.begin(), visits.end(), "model");
  ASSERT_NE(first_model, visits.end());
  EXPECT_NE(std::find(visits.begin(), first_model, "brick"), first_model);
  EXPECT_NE(std::find(first_model, visits.end(), "brick"), visits.end());
}

TEST(Validate, KernelTimesProfileEveryBrickAndAddTheOverheadOnce) {
  KernelTimeSetup setup;
  testing::TempDir& dir = setup.dir;
  const std::string& a = setup.model;
  Store* store = setup.store.get();
  const ValidateOptions& o = setup.options;
  ValidationReport rep;
  Status st = Validate({a}, {}, o, store, &rep);
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
  ASSERT_TRUE(Validate({a}, {}, FakeOptions(dir.File("work")), store, &plain).ok());
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
