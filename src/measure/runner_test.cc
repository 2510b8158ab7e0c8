#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>

#include "dlbricks/graph.h"
#include "dlbricks/measure.h"
#include "fake_suite.h"

namespace dlbricks {
namespace {

using testing::TempDir;
using testing::WriteFakeSuite;

RunOptions FakeOptions() {
  RunOptions o;
  o.backend = "fake";
  EXPECT_TRUE(ProtocolPreset("dlbricks", &o.protocol).ok());
  o.protocol.warmup_runs = 2;
  o.protocol.min_runs = o.protocol.max_runs = 20;
  o.timeout_s = 3;
  o.progress = false;
  return o;
}

std::unique_ptr<Store> OpenDb(const std::string& path) {
  std::unique_ptr<Store> s;
  EXPECT_TRUE(OpenStore(path, {}, &s).ok());
  return s;
}

TEST(RunnerTest, CrashAndHangAreIsolatedAndStored) {
  TempDir dir;
  const auto ids = WriteFakeSuite(dir.File("suite"), {"brick a", "dlbricks-fake:crash", "brick b",
                                                      "dlbricks-fake:hang", "brick c"});
  auto store = OpenDb(dir.File("r.db"));
  RunSummary summary;
  RunOptions o = FakeOptions();
  Status st = RunSuite(dir.File("suite"), o, store.get(), &summary);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(summary.measured, 3);
  EXPECT_EQ(summary.failed, 2);
  ASSERT_EQ(summary.items.size(), 5u);
  EXPECT_EQ(summary.items[1].m.status, "crashed");
  EXPECT_NE(summary.items[1].m.error.find("signal 6"), std::string::npos) << summary.items[1].m.error;
  EXPECT_EQ(summary.items[3].m.status, "timeout");
  EXPECT_GE(summary.items[3].m.wall_s, 3.0);
  EXPECT_LT(summary.items[3].m.wall_s, 10.0);
  // Items after the failures still ran.
  EXPECT_EQ(summary.items[4].m.status, "ok");
  EXPECT_EQ(summary.items[4].m.samples_ms.size(), 20u);

  std::vector<Measurement> rows;
  ASSERT_TRUE(store->List(summary.system_id, "brick", &rows).ok());
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.key.protocol, ProtocolKey(o.protocol));
    if (r.status == "ok") {
      EXPECT_GE(r.value_ms, 0.05);
      EXPECT_LE(r.min_ms, r.median_ms);
      EXPECT_LE(r.ci_low_ms, r.median_ms);
      EXPECT_GE(r.ci_high_ms, r.median_ms);
    }
  }
}

TEST(RunnerTest, ProfileOpsStoresEveryBrickOnceAndForceRedoes) {
  TempDir dir;
  const auto ids = WriteFakeSuite(dir.File("suite"), {"brick a", "brick b", "dlbricks-fake:crash", "brick c"});
  auto store = OpenDb(dir.File("r.db"));
  RunOptions o = FakeOptions();
  o.profile_ops = true;
  o.profile_runs = 3;
  RunSummary first;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &first).ok());
  EXPECT_EQ(first.profiled, 3);  // the crashed brick has no latency, so no profile
  EXPECT_GT(first.profile_wall_s, 0);
  std::vector<OpProfileRow> rows;
  ASSERT_TRUE(store->ListOpProfiles(first.system_id, &rows).ok());
  std::map<std::string, std::vector<OpTypeTime>> by_brick;
  for (const OpProfileRow& r : rows) {
    EXPECT_EQ(r.kind, "brick");
    EXPECT_EQ(r.batch, 1);
    by_brick[r.item_id].push_back({r.op_type, r.ms, r.calls});
  }
  ASSERT_EQ(by_brick.size(), 3u);
  EXPECT_EQ(by_brick.count(ids[2]), 0u);
  for (size_t i : {0u, 1u, 3u}) {
    const RunItem& item = first.items[i];
    EXPECT_GT(item.profile_wall_s, 0);
    ASSERT_EQ(by_brick[ids[i]].size(), 2u);  // fake: FakeKernel + ReorderInput
    // Kernel time leaves the reorder out: 80% of the fake latency.
    EXPECT_NEAR(KernelMs(by_brick[ids[i]]), 0.8 * (item.op_times[0].ms + item.op_times[1].ms), 1e-12);
  }
  // Rerun: latencies and profiles come from the store; nothing is profiled again.
  RunSummary again;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &again).ok());
  EXPECT_EQ(again.profiled, 0);
  EXPECT_EQ(again.profile_wall_s, 0);
  EXPECT_EQ(again.items[0].op_times.size(), 2u);
  // --force profiles again (and replaces, never duplicates, the rows).
  o.force = true;
  RunSummary forced;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &forced).ok());
  EXPECT_EQ(forced.profiled, 3);
  std::vector<OpProfileRow> after;
  ASSERT_TRUE(store->ListOpProfiles(first.system_id, &after).ok());
  EXPECT_EQ(after.size(), rows.size());
  // Latency rows are as without profiling: one per brick.
  std::vector<Measurement> latency_rows;
  ASSERT_TRUE(store->List(first.system_id, "brick", &latency_rows).ok());
  EXPECT_EQ(latency_rows.size(), 4u);
  o.profile_runs = 0;
  EXPECT_EQ(RunSuite(dir.File("suite"), o, store.get(), &forced).ExitCode(), 2);
}

TEST(KernelMsTest, SumsEveryOpButTheReorders) {
  // Only a leading "Reorder" marks a layout reorder.
  EXPECT_DOUBLE_EQ(KernelMs({{"FusedConv", 1.0, 2}, {"ReorderOutput", 0.5, 1}, {"NotReorder", 0.25, 1}}), 1.25);
  EXPECT_DOUBLE_EQ(KernelMs({}), 0);
}

TEST(RunnerTest, SlowItemWithProgressIsNotKilled) {
  // A payload the fake runs for >= 300 us; x1000 → >= 0.3 s per inference, 8 inferences.
  std::string slow;
  for (int i = 0; slow.empty(); ++i) {
    const std::string p = "slow " + std::to_string(i);
    if (50 + HashBytes(p).lo % 451 >= 300) slow = p;
  }
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), {slow});
  auto store = OpenDb(dir.File("r.db"));
  RunOptions o = FakeOptions();
  o.backend_options.extra["latency_scale"] = "1000";
  o.protocol.warmup_runs = 2;
  o.protocol.min_runs = o.protocol.max_runs = 6;
  o.timeout_s = 1.5;  // less than the item's total, more than one inference
  RunSummary s;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &s).ok());
  ASSERT_EQ(s.items.size(), 1u);
  EXPECT_EQ(s.items[0].m.status, "ok") << s.items[0].m.error;
  EXPECT_GT(s.items[0].m.wall_s, 2.0);
  EXPECT_GE(s.items[0].m.min_ms, 300.0);
}

TEST(RunnerTest, LongProfileWithProgressIsNotKilled) {
  // One 3x3 convolution over 32x224x224 (0.46 GMAC, milliseconds per inference): 10 warm-ups
  // and 150 profiled inferences outlast the timeout, but each inference is a heartbeat.
  TempDir dir;
  testing::ModelBuilder b;
  b.Input("x", {1, 32, 224, 224}).Weight("w", {32, 32, 3, 3});
  testing::AttrInts(b.Node("Conv", {"x", "w"}, {"y"}), "pads", {1, 1, 1, 1});
  b.Output("y");
  const std::string path = b.Write(dir.path(), "conv.onnx");
  const auto t0 = std::chrono::steady_clock::now();
  IsolatedResult r = RunIsolated("onnxruntime", path, {}, ProtocolOptions{}, IsolatedTask::kProfileOps, 150, 0.5);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.status, "ok") << r.error;
  EXPECT_FALSE(r.timing.op_times.empty());
  EXPECT_GT(wall_s, 0.5);  // the profile did outlast the timeout
}

TEST(RunnerTest, ResumeSkipsMeasuredAndForceRedoes) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), {"x1", "x2", "x3"});
  auto store = OpenDb(dir.File("r.db"));
  RunOptions o = FakeOptions();
  RunSummary first, second, third;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &first).ok());
  EXPECT_EQ(first.measured, 3);
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &second).ok());
  EXPECT_EQ(second.measured, 0);
  EXPECT_EQ(second.skipped, 3);
  EXPECT_DOUBLE_EQ(second.items[0].m.value_ms, first.items[0].m.value_ms);  // from the store
  // Another protocol is another key: measured again.
  RunOptions other = o;
  other.protocol.min_runs = other.protocol.max_runs = 10;
  ASSERT_TRUE(RunSuite(dir.File("suite"), other, store.get(), &third).ok());
  EXPECT_EQ(third.measured, 3);
  RunSummary forced;
  o.force = true;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &forced).ok());
  EXPECT_EQ(forced.measured, 3);
  std::vector<Measurement> rows;
  ASSERT_TRUE(store->List(first.system_id, "brick", &rows).ok());
  EXPECT_EQ(rows.size(), 6u);  // 3 bricks x 2 protocols, no duplicates
}

TEST(RunnerTest, OnlyBricksRestrictsTheRun) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), {"x1", "x2", "x3"});
  auto store = OpenDb(dir.File("r.db"));
  std::vector<SuiteBrick> bricks;
  ASSERT_TRUE(ReadSuiteBricks(dir.File("suite"), &bricks).ok());
  ASSERT_EQ(bricks.size(), 3u);
  RunOptions o = FakeOptions();
  o.only_bricks = {bricks[0].id, bricks[2].id};
  RunSummary s;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &s).ok());
  EXPECT_EQ(s.measured, 2);
  std::vector<Measurement> rows;
  ASSERT_TRUE(store->List(s.system_id, "brick", &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  for (const Measurement& m : rows) EXPECT_NE(m.key.item_id, bricks[1].id);
}

TEST(RunnerTest, RoundsInterleaveAndPoolTheirSamples) {
  TempDir dir;
  const auto ids = WriteFakeSuite(dir.File("suite"), {"round a", "dlbricks-fake:crash", "round b"});
  auto store = OpenDb(dir.File("r.db"));
  RunOptions o = FakeOptions();
  o.protocol.rounds = 3;  // 20 runs → 7 per round (ceil), 21 pooled
  std::vector<std::pair<std::string, int>> visits;
  o.on_visit = [&](const RunVisit& v) {
    visits.emplace_back(v.item_id, v.round);
    if (v.status == "ok") {
      EXPECT_EQ(v.samples, 7u);
    }
  };
  RunSummary s;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &s).ok());
  // Round after round over the whole list; the crashed item gets no later rounds.
  const std::vector<std::pair<std::string, int>> order = {{ids[0], 1}, {ids[1], 1}, {ids[2], 1}, {ids[0], 2},
                                                          {ids[2], 2}, {ids[0], 3}, {ids[2], 3}};
  EXPECT_EQ(visits, order);
  EXPECT_EQ(s.measured, 2);
  EXPECT_EQ(s.failed, 1);
  ASSERT_EQ(s.items.size(), 3u);  // in suite order
  EXPECT_EQ(s.items[1].m.status, "crashed");
  EXPECT_EQ(s.items[1].m.error.rfind("round 1 of 3: ", 0), 0u) << s.items[1].m.error;
  EXPECT_EQ(s.protocol, ProtocolKey(o.protocol));
  RunOptions one = o;
  one.protocol.rounds = 1;
  EXPECT_NE(s.protocol, ProtocolKey(one.protocol));
  for (size_t i : {size_t{0}, size_t{2}}) {
    std::optional<Measurement> row;
    ASSERT_TRUE(store->Lookup({s.system_id, "brick", ids[i], 1, s.protocol}, &row).ok());
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->status, "ok");
    ASSERT_EQ(row->samples_ms.size(), 21u);
    // Statistics and headline over the pooled samples.
    const SampleStats pooled = ComputeStats(row->samples_ms, o.protocol.trim);
    EXPECT_DOUBLE_EQ(row->value_ms, pooled.trimmed_mean);
    EXPECT_DOUBLE_EQ(row->median_ms, pooled.median);
    EXPECT_DOUBLE_EQ(row->stddev_ms, pooled.stddev);
    EXPECT_GT(row->first_run_ms, 0);
    EXPECT_DOUBLE_EQ(s.items[i].m.value_ms, row->value_ms);
  }
  std::optional<Measurement> crashed;
  ASSERT_TRUE(store->Lookup({s.system_id, "brick", ids[1], 1, s.protocol}, &crashed).ok());
  ASSERT_TRUE(crashed.has_value());
  EXPECT_EQ(crashed->status, "crashed");

  // Resumed: nothing visited again, nothing duplicated.
  visits.clear();
  RunSummary again;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &again).ok());
  EXPECT_TRUE(visits.empty());
  EXPECT_EQ(again.skipped, 3);
  std::vector<Measurement> rows;
  ASSERT_TRUE(store->List(s.system_id, "brick", &rows).ok());
  EXPECT_EQ(rows.size(), 3u);
}

TEST(RunnerTest, FastestRoundReportsTheBestRoundsHeadline) {
  TempDir dir;
  const auto ids = WriteFakeSuite(dir.File("suite"), {"fast a", "fast b"});
  auto store = OpenDb(dir.File("r.db"));
  RunOptions o = FakeOptions();
  o.protocol.rounds = 3;  // 7 runs per round
  o.protocol.fastest_round = true;
  RunSummary s;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &s).ok());
  ASSERT_EQ(s.measured, 2);
  const ProtocolOptions round = RoundProtocol(o.protocol);
  for (const RunItem& item : s.items) {
    const Measurement& m = item.m;
    ASSERT_EQ(m.samples_ms.size(), 21u);
    double fastest = 0;
    for (size_t r = 0; r < 3; ++r) {
      const std::vector<double> part(m.samples_ms.begin() + 7 * r, m.samples_ms.begin() + 7 * (r + 1));
      const double v = HeadlineValue(round, ComputeStats(part, round.trim));
      if (r == 0 || v < fastest) fastest = v;
    }
    EXPECT_DOUBLE_EQ(m.value_ms, fastest);
    EXPECT_LE(m.value_ms, HeadlineValue(o.protocol, ComputeStats(m.samples_ms, o.protocol.trim)));
    EXPECT_DOUBLE_EQ(m.median_ms, ComputeStats(m.samples_ms, o.protocol.trim).median);  // stats stay pooled
  }
}

TEST(RunnerTest, RoundsVisitOnlyWhatTheStoreLacks) {
  TempDir dir;
  const auto ids = WriteFakeSuite(dir.File("suite"), {"p", "q", "r"});
  auto store = OpenDb(dir.File("r.db"));
  RunOptions o = FakeOptions();
  o.protocol.rounds = 2;
  // A run that finished "p" only (as a run killed in its last round would leave it).
  WriteFakeSuite(dir.File("first"), {"p"});
  RunSummary first;
  ASSERT_TRUE(RunSuite(dir.File("first"), o, store.get(), &first).ok());
  ASSERT_EQ(first.measured, 1);
  std::vector<std::pair<std::string, int>> visits;
  o.on_visit = [&](const RunVisit& v) { visits.emplace_back(v.item_id, v.round); };
  RunSummary s;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &s).ok());
  const std::vector<std::pair<std::string, int>> order = {{ids[1], 1}, {ids[2], 1}, {ids[1], 2}, {ids[2], 2}};
  EXPECT_EQ(visits, order);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.measured, 2);
  EXPECT_DOUBLE_EQ(s.items[0].m.value_ms, first.items[0].m.value_ms);
  // --force redoes every item, still round by round.
  visits.clear();
  o.force = true;
  ASSERT_TRUE(RunSuite(dir.File("suite"), o, store.get(), &s).ok());
  EXPECT_EQ(visits.size(), 6u);
  std::vector<Measurement> rows;
  ASSERT_TRUE(store->List(s.system_id, "brick", &rows).ok());
  EXPECT_EQ(rows.size(), 3u);
  for (const Measurement& m : rows) EXPECT_EQ(m.samples_ms.size(), 20u);
}

TEST(RunnerTest, MeasureModelsPoolsRoundsAcrossBatches) {
  TempDir dir;
  const std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  auto store = OpenDb(dir.File("m.db"));
  RunOptions o = FakeOptions();
  o.batches = {1, 2};
  o.protocol.rounds = 2;
  std::vector<std::pair<int64_t, int>> visits;
  o.on_visit = [&](const RunVisit& v) { visits.emplace_back(v.batch, v.round); };
  RunSummary s;
  ASSERT_TRUE(MeasureModels({model}, o, store.get(), &s).ok());
  EXPECT_EQ(visits, (std::vector<std::pair<int64_t, int>>{{1, 1}, {2, 1}, {1, 2}, {2, 2}}));
  ASSERT_EQ(s.items.size(), 2u);
  for (const RunItem& item : s.items) {
    EXPECT_EQ(item.m.status, "ok") << item.m.error;
    EXPECT_EQ(item.m.samples_ms.size(), 20u);
    EXPECT_NEAR(item.throughput_per_s, item.m.key.batch * 1000.0 / item.m.value_ms, 1e-6);
  }
}

TEST(RunnerTest, SystemIdFollowsBackendOptions) {
  std::unique_ptr<Backend> b;
  ASSERT_TRUE(BackendRegistry::Create("onnxruntime", &b).ok());
  BackendOptions one, two;
  two.intra_op_threads = 2;
  const SystemRecord r1 = MakeSystemRecord(*b, one), r1b = MakeSystemRecord(*b, one), r2 = MakeSystemRecord(*b, two);
  EXPECT_EQ(r1.id, r1b.id);
  EXPECT_NE(r1.id, r2.id);
  EXPECT_EQ(r1.id.size(), 32u);
  auto fp = nlohmann::json::parse(r1.fingerprint_json);
  EXPECT_EQ(fp["backend"]["name"], "onnxruntime");
  EXPECT_EQ(fp["backend"]["options"]["intra_op_threads"], "1");
  EXPECT_GT(fp["cpu"]["logical_cores"].get<int>(), 0);
  EXPECT_FALSE(fp["kernel"]["release"].get<std::string>().empty());
  EXPECT_EQ(HashBytes(r1.fingerprint_json).Hex(), r1.id);
}

TEST(RunnerTest, BadManifestsNameTheFile) {
  TempDir dir;
  std::vector<SuiteBrick> bricks;
  Status st = ReadSuiteBricks(dir.File("nosuite"), &bricks);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("manifest.json"), std::string::npos);
  std::filesystem::create_directories(dir.File("s"));
  testing::WriteFile(dir.File("s/manifest.json"), "{not json");
  st = ReadSuiteBricks(dir.File("s"), &bricks);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("s/manifest.json"), std::string::npos);
  testing::WriteFile(dir.File("s/manifest.json"), R"({"schema_version": 1, "bricks": [{"id": "zz", "file": "a"}]})");
  EXPECT_EQ(ReadSuiteBricks(dir.File("s"), &bricks).ExitCode(), 2);
  WriteFakeSuite(dir.File("t"), {"only"});
  std::filesystem::remove_all(dir.File("t/bricks"));
  st = ReadSuiteBricks(dir.File("t"), &bricks);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find(".onnx"), std::string::npos) << st.message();
}

TEST(RunnerTest, ModelSignatureIgnoresNamesAndWeights) {
  TempDir dir;
  Graph a, b, c;
  ASSERT_TRUE(LoadGraph(testing::SmallConvNet(1).Write(dir.path(), "a.onnx"), {}, &a).ok());
  ASSERT_TRUE(LoadGraph(testing::SmallConvNet(9).Write(dir.path(), "b.onnx"), {}, &b).ok());
  testing::ModelBuilder mb;
  mb.Input("x", {1, 8});
  mb.Node("Relu", {"x"}, {"y"});
  mb.Output("y");
  ASSERT_TRUE(LoadGraph(mb.Write(dir.path(), "c.onnx"), {}, &c).ok());
  EXPECT_EQ(ModelSignature(a), ModelSignature(b));
  EXPECT_NE(ModelSignature(a), ModelSignature(c));
  IngestOptions io;
  io.batch = 4;
  Graph a4;
  ASSERT_TRUE(LoadGraph(dir.File("a.onnx"), io, &a4).ok());
  EXPECT_NE(ModelSignature(a), ModelSignature(a4));
}

void MeasureSmallConvNet(const std::string& backend) {
  TempDir dir;
  // kernel_shape made explicit on every Conv, as exporters write it (OpenCV requires it).
  testing::ModelBuilder net = testing::SmallConvNet();
  onnx::ModelProto proto = net.Build();
  for (auto& node : *proto.mutable_graph()->mutable_node()) {
    bool has_kernel = false;
    for (const auto& a : node.attribute()) has_kernel |= a.name() == "kernel_shape";
    if (node.op_type() == "Conv" && !has_kernel) testing::AttrInts(node, "kernel_shape", {3, 3});
  }
  const std::string model = dir.File("net.onnx");
  testing::WriteFile(model, proto.SerializeAsString());
  auto store = OpenDb(dir.File("m.db"));
  RunOptions o;
  o.backend = backend;
  o.progress = false;
  o.protocol.min_runs = o.protocol.max_runs = 20;
  o.batches = {1, 4};
  o.profile_ops = backend == "onnxruntime";
  o.profile_runs = 3;
  RunSummary s;
  Status st = MeasureModels({model}, o, store.get(), &s);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(s.items.size(), 2u);
  for (const RunItem& item : s.items) {
    EXPECT_EQ(item.m.status, "ok") << item.m.error;
    EXPECT_GT(item.m.value_ms, 0);
    EXPECT_NEAR(item.throughput_per_s, item.m.key.batch * 1000.0 / item.m.value_ms, 1e-6);
    EXPECT_EQ(item.m.name, "net");
  }
  EXPECT_EQ(s.items[1].m.key.batch, 4);
  Graph g;
  ASSERT_TRUE(LoadGraph(model, {}, &g).ok());
  std::optional<Measurement> row;
  ASSERT_TRUE(store->Lookup({s.system_id, "model", ModelSignature(g).Hex(), 4, s.protocol}, &row).ok());
  ASSERT_TRUE(row.has_value());
  if (o.profile_ops) {
    std::vector<OpProfileRow> ops;
    ASSERT_TRUE(store->ListOpProfiles(s.system_id, &ops).ok());
    EXPECT_FALSE(ops.empty());
    EXPECT_FALSE(s.items[0].op_times.empty());
  }
  // The JSON summary parses and carries the schema version.
  auto j = nlohmann::json::parse(RunSummaryJson(s));
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["items"].size(), 2u);
  // Resumed: latency and op profile from the store.
  RunSummary again;
  ASSERT_TRUE(MeasureModels({model}, o, store.get(), &again).ok());
  EXPECT_TRUE(again.items[0].skipped);
  EXPECT_EQ(again.items[0].op_times.empty(), !o.profile_ops);
}

TEST(RunnerTest, MeasuresModelsAcrossBatchesOnOnnxRuntime) { MeasureSmallConvNet("onnxruntime"); }
TEST(RunnerTest, MeasuresModelsOnOpenCvViaCanonicalModel) { MeasureSmallConvNet("opencv"); }


TEST(RunnerTest, InputShapeIsPartOfTheModelKey) {
  TempDir dir;
  const std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  auto store = OpenDb(dir.File("m.db"));
  RunOptions o = FakeOptions();
  o.batches = {1, 2};
  RunSummary plain, shaped;
  ASSERT_TRUE(MeasureModels({model}, o, store.get(), &plain).ok());
  o.input_shapes["image"] = {1, 3, 32, 32};
  ASSERT_TRUE(MeasureModels({model}, o, store.get(), &shaped).ok());
  ASSERT_EQ(shaped.items.size(), 2u);
  for (const RunItem& item : shaped.items) {
    EXPECT_FALSE(item.skipped);  // a different model: measured, not read back
    EXPECT_EQ(item.m.status, "ok") << item.m.error;
  }
  EXPECT_NE(shaped.items[0].m.key.item_id, plain.items[0].m.key.item_id);
  EXPECT_EQ(shaped.items[1].m.key.batch, 2);
  // The key is the signature of the model at that shape: what estimate looks up.
  IngestOptions io;
  io.input_shapes = o.input_shapes;
  Graph g;
  ASSERT_TRUE(LoadGraph(model, io, &g).ok());
  EXPECT_EQ(shaped.items[0].m.key.item_id, ModelSignature(g).Hex());
  o.input_shapes = {{"pixels", {1, 3, 8, 8}}};
  EXPECT_EQ(MeasureModels({model}, o, store.get(), &shaped).ExitCode(), 2);
}

}  // namespace
}  // namespace dlbricks
