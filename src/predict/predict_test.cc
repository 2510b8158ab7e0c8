#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dlbricks/predict.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::TempDir;

Graph LoadSmallConvNet(const TempDir& dir) {
  const std::string path = testing::SmallConvNet().Write(dir.path(), "small.onnx");
  Graph g;
  EXPECT_TRUE(LoadGraph(path, IngestOptions{}, &g).ok());
  return g;
}

int FeatureIndex(const std::string& name) {
  const auto& n = FeatureNames();
  return static_cast<int>(std::find(n.begin(), n.end(), name) - n.begin());
}

TEST(Features, DescribeConvLayer) {
  TempDir dir;
  Graph g = LoadSmallConvNet(dir);
  ASSERT_EQ(g.layers[0].op_type, "Conv");
  const LayerDescriptor d = DescribeLayer(g, 0);
  EXPECT_EQ(d.inputs, (std::vector<std::vector<int64_t>>{{1, 3, 16, 16}}));
  EXPECT_EQ(d.outputs, (std::vector<std::vector<int64_t>>{{1, 8, 16, 16}}));
  EXPECT_EQ(d.kernel, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(d.weights.size(), 2u);
  EXPECT_DOUBLE_EQ(d.macs, 8.0 * 16 * 16 * 3 * 3 * 3);
  const std::vector<double> f = LayerFeatures(d);
  ASSERT_EQ(f.size(), FeatureNames().size());
  EXPECT_EQ(f[FeatureIndex("op_Conv")], 1.0);
  EXPECT_EQ(f[FeatureIndex("op_Relu")], 0.0);
  EXPECT_EQ(f[FeatureIndex("in_channels")], 3.0);
  EXPECT_EQ(f[FeatureIndex("out_channels")], 8.0);
  EXPECT_EQ(f[FeatureIndex("kernel_area")], 9.0);
  EXPECT_EQ(f[FeatureIndex("has_bias")], 1.0);
  EXPECT_DOUBLE_EQ(f[FeatureIndex("macs")], d.macs);
  // The JSON form (sidecar) gives the same features.
  LayerDescriptor back;
  ASSERT_TRUE(DescriptorFromJson(DescriptorToJson(d), &back).ok());
  EXPECT_EQ(LayerFeatures(back), f);
  EXPECT_FALSE(DescriptorFromJson("{\"op\": 3}", &back).ok());
  EXPECT_FALSE(DescriptorFromJson("not json", &back).ok());
}

TEST(Features, BoxCoxZScoreRoundTrip) {
  std::vector<std::vector<double>> rows;
  for (int i = 0; i < 200; ++i) rows.push_back({std::pow(1.07, i), static_cast<double>(i % 2), 5.0, i * 3.0});
  FeatureNormalizer n;
  n.Fit(rows);
  EXPECT_TRUE(n.box_cox[0]);
  EXPECT_FALSE(n.box_cox[1]);  // one-hot: z-score only
  // A log-normal-ish column gets a lambda near 0 (log), not 1 (identity).
  EXPECT_LT(std::abs(n.lambda[0]), 0.5);
  double mean = 0, var = 0;
  for (const auto& r : rows) mean += n.Apply(r)[0];
  mean /= rows.size();
  for (const auto& r : rows) var += std::pow(n.Apply(r)[0] - mean, 2);
  EXPECT_NEAR(mean, 0, 1e-9);
  EXPECT_NEAR(var / (rows.size() - 1), 1, 1e-9);
  for (const auto& r : rows) {
    const std::vector<double> back = n.Invert(n.Apply(r));
    for (size_t j = 0; j < r.size(); ++j) EXPECT_NEAR(back[j], r[j], 1e-6 * (1 + std::abs(r[j])));
  }
  EXPECT_NEAR(InverseBoxCox(BoxCox(3.5, 0.3), 0.3), 3.5, 1e-12);
  EXPECT_NEAR(BoxCox(std::exp(2.0), 0), 2.0, 1e-12);
}

TEST(Sweep, SameSeedSameNetworks) {
  SweepOptions o;
  for (int64_t i = 0; i < 60; ++i) {
    SweepNetwork a, b, c;
    ASSERT_TRUE(MakeSweepNetwork(42, i, {}, o, &a).ok());
    ASSERT_TRUE(MakeSweepNetwork(42, i, {}, o, &b).ok());
    ASSERT_TRUE(MakeSweepNetwork(43, i, {}, o, &c).ok());
    EXPECT_EQ(a.model.SerializeAsString(), b.model.SerializeAsString()) << i;
    EXPECT_EQ(a.family, b.family);
    // One layer; a weight MatMul may carry its bias Add (one Gemm in ONNX Runtime).
    EXPECT_EQ(a.model.graph().node_size(), a.family == "matmul" && a.model.graph().node_size() == 2 ? 2 : 1);
    if (a.family == "conv" || a.family == "gemm") {
      EXPECT_NE(a.model.SerializeAsString(), c.model.SerializeAsString()) << i;
    }
  }
  SweepNetwork n;
  EXPECT_FALSE(MakeSweepNetwork(1, 0, {"nonsense"}, o, &n).ok());
  ASSERT_TRUE(MakeSweepNetwork(1, 5, {"pool"}, o, &n).ok());
  EXPECT_EQ(n.family, "pool");
}

TEST(Sweep, EveryFamilyLoadsAsOneModelledLayer) {
  TempDir dir;
  SweepOptions o;
  for (int64_t i = 0; i < 45; ++i) {
    SweepNetwork net;
    ASSERT_TRUE(MakeSweepNetwork(9, i, {}, o, &net).ok());
    const std::string path = dir.File("n.onnx");
    std::ofstream(path, std::ios::binary) << net.model.SerializeAsString();
    Graph g;
    const Status st = LoadGraph(path, IngestOptions{}, &g);
    ASSERT_TRUE(st.ok()) << net.family << ": " << st.message();
    const int layers = static_cast<int>(g.layers.size());
    ASSERT_TRUE(layers == 1 || (layers == 2 && DescribeUnit(g, 0, 2).fused_bias)) << net.family;
    EXPECT_EQ(OpFamily(g.layers[0].op_type), net.family);
  }
}

// Latency that depends on the features in a learnable way: ms = 1e-6*macs + 1e-7*bytes + c.
std::vector<Sample> SyntheticSamples(int n, const std::vector<std::string>& families = {"conv", "gemm", "act", "add",
                                                                                         "pool", "bn"}) {
  std::vector<Sample> out;
  SweepOptions o;
  TempDir dir;
  for (int i = 0; i < n; ++i) {
    SweepNetwork net;
    EXPECT_TRUE(MakeSweepNetwork(5, i, families, o, &net).ok());
    const std::string path = dir.File("n.onnx");
    std::ofstream(path, std::ios::binary) << net.model.SerializeAsString();
    Graph g;
    EXPECT_TRUE(LoadGraph(path, IngestOptions{}, &g).ok());
    Sample s;
    s.item_id = BrickSignature(g, 0, static_cast<int>(g.layers.size())).Hex();
    s.layer = DescribeUnit(g, 0, static_cast<int>(g.layers.size()));
    s.family = OpFamily(s.layer.op_type);
    s.features = LayerFeatures(s.layer);
    s.ms = 1e-6 * s.layer.macs + 2e-8 * (s.layer.bytes_read + s.layer.bytes_written) + 0.005;
    out.push_back(std::move(s));
  }
  return out;
}

TEST(Train, NetworksReduceLossAndFileRoundTrips) {
  const std::vector<Sample> samples = SyntheticSamples(100);
  TrainOptions o;
  o.kinds = {ModelKind::kResPerfNet, ModelKind::kMlp, ModelKind::kXgboost, ModelKind::kLinear};
  o.epochs = 6;
  o.xgb_rounds = 50;
  o.decay_every = 3;
  std::map<std::string, Predictor> predictors;
  TrainReport report;
  ASSERT_TRUE(TrainPredictors(samples, o, &predictors, &report).ok());
  ASSERT_EQ(predictors.size(), 4u);
  EXPECT_GT(report.test_samples, 0);
  // The linear model recovers an exactly linear target.
  EXPECT_LT(predictors.at("linear/per-family").test_errors.at("all").mape, 1.0);
  TempDir dir;
  for (const auto& [name, p] : predictors) {
    const std::string path = dir.File("p.dlbp");
    ASSERT_TRUE(SavePredictor(p, path).ok()) << name;
    Predictor back;
    const Status st = LoadPredictor(path, &back);
    ASSERT_TRUE(st.ok()) << name << ": " << st.message();
    EXPECT_EQ(back.kind, p.kind);
    EXPECT_EQ(back.test_errors.at("all").n, p.test_errors.at("all").n);
    for (int i = 0; i < 20; ++i) {
      const auto a = p.PredictLayer(samples[i].layer), b = back.PredictLayer(samples[i].layer);
      ASSERT_TRUE(a && b);
      EXPECT_NEAR(*a, *b, 1e-6 * (1 + *a)) << name << " sample " << i;
    }
  }
  // Bad files: wrong magic, truncated.
  const std::string bad = dir.File("bad.dlbp");
  testing::WriteFile(bad, "hello\n");
  Predictor p;
  EXPECT_EQ(LoadPredictor(bad, &p).code(), Status::Code::kCorruption);
  const std::string good = dir.File("p.dlbp");
  testing::WriteFile(bad, testing::ReadFile(good).substr(0, 200));
  EXPECT_FALSE(LoadPredictor(bad, &p).ok());
  EXPECT_EQ(LoadPredictor(dir.File("missing.dlbp"), &p).code(), Status::Code::kNotFound);
}

TEST(Train, ResPerfNetLossDecreases) {
  const std::vector<Sample> samples = SyntheticSamples(100);
  TrainOptions o;
  o.kinds = {ModelKind::kResPerfNet};
  o.epochs = 8;
  o.batch_size = 16;
  o.decay_every = 4;
  std::map<std::string, Predictor> predictors;
  TrainReport report;
  ASSERT_TRUE(TrainPredictors(samples, o, &predictors, &report).ok());
  const std::vector<double>& loss = report.loss_curves.at("resperfnet");
  ASSERT_EQ(loss.size(), 8u);
  EXPECT_LT(loss.back(), 0.5 * loss.front());
}

// XGBoost with few rounds (one regressor, op as a feature).
Predictor QuickXgboost(const std::vector<Sample>& samples) {
  TrainOptions o;
  o.kinds = {ModelKind::kXgboost};
  o.xgb_rounds = 20;
  std::map<std::string, Predictor> predictors;
  TrainReport report;
  const Status st = TrainPredictors(samples, o, &predictors, &report);
  EXPECT_TRUE(st.ok()) << st.message();
  return predictors["xgboost"];
}

// A store and layer sidecar holding the samples' latencies, as `predictor sweep` leaves them.
std::string SyntheticStore(const TempDir& dir, const std::vector<Sample>& samples, const std::string& system_id) {
  const std::string db = dir.File("sweep.db");
  std::unique_ptr<Store> store;
  EXPECT_TRUE(OpenStore(db, {}, &store).ok());
  EXPECT_TRUE(store->PutSystem({system_id, R"({"cpu":{"model":"synthetic"}})"}).ok());
  std::ofstream sidecar(SidecarPath(db));
  for (const Sample& s : samples) {
    Measurement m;
    m.key = {system_id, "brick", s.item_id, 1, ProtocolKey(SweepProtocol())};
    m.name = "sweep:5:" + s.family;
    m.value_ms = m.median_ms = m.min_ms = s.ms;
    EXPECT_TRUE(store->Put(m).ok());
    sidecar << nlohmann::json{{"item_id", s.item_id}, {"source", "sweep"}, {"family", s.family},
                              {"layer", nlohmann::json::parse(DescriptorToJson(s.layer))}}
                   .dump()
            << "\n";
  }
  return db;
}

TEST(Eval, RecordsPerLayerPredictionsInTheStore) {
  const std::string sys = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
  TempDir dir;
  // Families of one op type each: every op of the test split is in the training split.
  const std::string db = SyntheticStore(dir, SyntheticSamples(80, {"conv", "gemm", "bn", "add", "mul", "concat"}), sys);
  std::vector<Sample> samples;
  std::string system_id;
  const DatasetQuery query;  // the store's only system; sweep protocol, then dlbricks
  ASSERT_TRUE(LoadDataset(db, query, &samples, &system_id).ok());
  ASSERT_EQ(system_id, sys);
  ASSERT_GT(samples.size(), 40u);
  EXPECT_EQ(samples[0].protocol, ProtocolKey(SweepProtocol()));
  const Predictor trained = QuickXgboost(samples);
  const std::string file = dir.File("x.dlbp");
  ASSERT_TRUE(SavePredictor(trained, file).ok());
  Predictor p;
  ASSERT_TRUE(LoadPredictor(file, &p).ok());
  EXPECT_EQ(p.file_id, HashBytes(testing::ReadFile(file)).Hex());
  EXPECT_EQ(p.KindName(), "xgboost");

  std::vector<Sample> test;
  for (const Sample& s : samples)
    if (IsTestSample(s.item_id)) test.push_back(s);
  ASSERT_FALSE(test.empty());
  int recorded = 0;
  ASSERT_TRUE(RecordPredictions(p, test, sys, "value", db, &recorded).ok());
  EXPECT_EQ(recorded, static_cast<int>(test.size()));
  auto list = [&db, &sys]() {
    std::unique_ptr<Store> store;
    StoreOptions ro;
    ro.read_only = true;
    EXPECT_TRUE(OpenStore(db, ro, &store).ok());
    std::vector<PredictionRow> rows;
    EXPECT_TRUE(store->ListPredictions(sys, &rows).ok());
    return rows;
  };
  std::vector<PredictionRow> rows = list();
  ASSERT_EQ(rows.size(), test.size());
  std::map<std::string, const Sample*> by_id;
  for (const Sample& s : test) by_id[s.item_id] = &s;
  for (const PredictionRow& r : rows) {
    ASSERT_TRUE(by_id.count(r.item_id)) << r.item_id;
    const Sample& s = *by_id[r.item_id];
    EXPECT_EQ(r.split, "test");
    EXPECT_EQ(r.predictor_id, p.file_id);
    EXPECT_EQ(r.predictor_kind, "xgboost");
    EXPECT_EQ(r.family, s.family);
    EXPECT_EQ(r.protocol, ProtocolKey(SweepProtocol()));
    EXPECT_NEAR(r.predicted_ms, *p.PredictLayer(s.layer), 1e-9);
    ASSERT_TRUE(r.measured_ms.has_value());
    EXPECT_DOUBLE_EQ(*r.measured_ms, s.ms);
    EXPECT_GT(r.uncertainty_ms, 0);
  }

  // The CLI: eval records the test split again (replaced, not duplicated); --all adds train.
  testing::CommandResult res = testing::RunCli({"predictor", "eval", file, "--db", db});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("recorded " + std::to_string(test.size())), std::string::npos) << res.out;
  EXPECT_EQ(list().size(), test.size());
  res = testing::RunCli({"predictor", "eval", file, "--db", db, "--all"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  rows = list();
  EXPECT_EQ(rows.size(), samples.size());
  EXPECT_EQ(std::count_if(rows.begin(), rows.end(), [](const PredictionRow& r) { return r.split == "train"; }),
            static_cast<long>(samples.size() - test.size()));

  // Bad predictor files: one line naming the file, the store keeps what it had.
  testing::WriteFile(dir.File("junk.dlbp"), "not a predictor\n");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "eval", dir.File("junk.dlbp"), "--db", db}), "junk.dlbp");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "train", "--db", db, "--models", "xgboost", "--xgb-depth", "0", "-o", dir.File("d.dlbp")}),
      "--xgb-depth must be 1 to 20, not 0");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "train", "--db", db, "--models", "xgboost", "--xgb-eta", "1.5", "-o", dir.File("e.dlbp")}),
      "--xgb-eta must be in (0, 1], not 1.5");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "eval", dir.File("absent.dlbp"), "--db", db}),
                              "absent.dlbp");
  EXPECT_EQ(list().size(), samples.size());
  EXPECT_EQ(RecordPredictions(trained, test, sys, "value", db, &recorded).ExitCode(), 2);  // never loaded: no id
}

TEST(Integration, FillsOnlyMissingSingleLayerBricks) {
  const Predictor p = QuickXgboost(SyntheticSamples(60));
  TempDir dir;
  Graph g = LoadSmallConvNet(dir);
  ModelDecomposition d;
  ASSERT_TRUE(DecomposeModel(g, DecomposeOptions{}, &d).ok());
  BrickLatencies lat;
  lat[d.bricks[0].id] = {1.5, BrickSource::kMeasured, 0};
  const int filled = FillPredictedBricks(p, g, d, &lat);
  EXPECT_GT(filled, 3);
  EXPECT_EQ(lat[d.bricks[0].id].source, BrickSource::kMeasured);
  EXPECT_EQ(lat[d.bricks[0].id].ms, 1.5);
  for (const BrickInstance& b : d.bricks) {
    if (b.begin == 0 || OpFamily(g.layers[b.begin].op_type).empty()) continue;
    ASSERT_TRUE(lat.count(b.id)) << g.layers[b.begin].op_type;
    EXPECT_EQ(lat[b.id].source, BrickSource::kPredicted);
    EXPECT_GT(lat[b.id].ms, 0);
    EXPECT_GT(lat[b.id].uncertainty_ms, 0);
  }
  // Flatten is not modelled: left missing.
  for (const BrickInstance& b : d.bricks)
    if (g.layers[b.begin].op_type == "Flatten") {
      EXPECT_FALSE(lat.count(b.id));
    }
}

// A small sweep with kernel times (real ONNX Runtime, a child per network) working in `dir`.
SweepOptions SmallKernelSweep(const TempDir& dir, int samples, const std::vector<std::string>& families,
                              int profile_runs) {
  SweepOptions o;
  o.samples = samples;
  o.families = families;
  o.kernel_times = true;
  o.profile_runs = profile_runs;
  o.progress = false;
  o.work_dir = dir.path();
  return o;
}

TEST(Sweep, MeasuresProfilesAndResumes) {
  TempDir dir;
  const std::string db = dir.File("sweep.db");
  // The sweep protocol: the dataset and the probe are read under its key.
  const SweepOptions o = SmallKernelSweep(dir, 4, {"act", "pool"}, 3);
  SweepSummary first;
  Status st = RunSweep(db, o, &first);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(first.failed, 0);
  EXPECT_EQ(first.measured + first.skipped, 4);
  EXPECT_EQ(first.profiled, first.measured);
  // Latency rows, the empty-network probe and one op profile per measured layer.
  std::vector<Sample> latency, kernel;
  std::string system_id;
  ASSERT_TRUE(LoadDataset(db, DatasetQuery{}, &latency, &system_id).ok());
  EXPECT_EQ(static_cast<int>(latency.size()), first.measured);
  DatasetQuery kq;
  kq.statistic = "kernel";
  ASSERT_TRUE(LoadDataset(db, kq, &kernel, &system_id).ok());
  ASSERT_EQ(kernel.size(), latency.size());
  for (size_t i = 0; i < kernel.size(); ++i) {
    EXPECT_EQ(kernel[i].item_id, latency[i].item_id);
    EXPECT_GT(kernel[i].ms, 0);
  }
  double overhead = 0;
  ASSERT_TRUE(LoadRunOverhead(db, system_id, &overhead).ok());
  EXPECT_GT(overhead, 0);
  // A second sweep of the same networks measures and profiles nothing again.
  SweepSummary again;
  ASSERT_TRUE(RunSweep(db, o, &again).ok());
  EXPECT_EQ(again.measured, 0);
  EXPECT_EQ(again.skipped, 4);
  EXPECT_EQ(again.profiled, 0);
  // Bad flags: one line, exit 2, the store keeps what it had.
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--kernel-times", "--profile-runs", "0"}),
      "--profile-runs must be >= 1");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--min-macs", "5e8", "--max-macs", "4e8"}),
      "--min-macs (5e+08) must be <= --max-macs (4e+08)");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--rewarm-inputs"}),
                              "--rewarm-inputs needs --cache-flush");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--cache-flush", "nan"}),
                              "--cache-flush must be between 0 and 8192 MiB (got nan)");
  latency.clear();
  ASSERT_TRUE(LoadDataset(db, DatasetQuery{}, &latency, &system_id).ok());
  EXPECT_EQ(static_cast<int>(latency.size()), first.measured);
}

std::multiset<std::string> SidecarLines(const std::string& db) {
  std::multiset<std::string> lines;
  std::ifstream in(SidecarPath(db));
  std::string line;
  while (std::getline(in, line)) lines.insert(line);
  return lines;
}

// Packed: the same networks as a lone sweep (item ids, sidecar lines), op profiles only, a
// packed-only store trains a kernel-time predictor, and a second run profiles nothing again.
TEST(Sweep, PackedProfilesTheLoneSweepsNetworksAndResumes) {
  TempDir dir;
  const std::string lone_db = dir.File("lone.db"), packed_db = dir.File("packed.db");
  const SweepOptions o = SmallKernelSweep(dir, 16, {"act", "pool", "add"}, 4);
  SweepSummary lone;
  Status st = RunSweep(lone_db, o, &lone);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(lone.failed, 0);

  SweepOptions p = o;
  p.kernel_times = false;  // implied by pack
  p.pack = 4;
  p.pack_rounds = 2;
  p.pack_chunk = 7;  // three suite folders: 7, 7 and 2 networks (less the repeated draws)
  SweepSummary packed;
  st = RunSweep(packed_db, p, &packed);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(packed.system_id, lone.system_id);
  EXPECT_EQ(packed.profile_failed, 0);
  EXPECT_EQ(packed.measured, 0);  // nothing timed
  EXPECT_EQ(packed.profiled, lone.measured);
  EXPECT_EQ(packed.profiled + packed.skipped, 16);
  EXPECT_EQ(packed.per_family, lone.per_family);
  EXPECT_EQ(SidecarLines(packed_db), SidecarLines(lone_db));

  // One op profile per network, under the lone sweep's item ids; no latency row but the probe.
  std::set<std::string> lone_ids, packed_ids;
  std::vector<Sample> lone_samples, kernel;
  std::string system_id;
  DatasetQuery kq;
  kq.statistic = "kernel";
  ASSERT_TRUE(LoadDataset(lone_db, kq, &lone_samples, &system_id).ok());
  for (const Sample& s : lone_samples) lone_ids.insert(s.item_id);
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(OpenStore(packed_db, {}, &store).ok());
    std::vector<OpProfileRow> rows;
    ASSERT_TRUE(store->ListOpProfiles(packed.system_id, &rows).ok());
    for (const auto& [key, ops] : GroupOpProfiles(rows)) {
      packed_ids.insert(std::get<1>(key));
      EXPECT_GT(KernelMs(ops), 0) << std::get<1>(key);
    }
    std::vector<Measurement> timed;
    ASSERT_TRUE(store->List(packed.system_id, "brick", &timed).ok());
    for (const Measurement& m : timed) EXPECT_FALSE(packed_ids.count(m.key.item_id)) << m.name;
  }
  EXPECT_EQ(packed_ids, lone_ids);
  ASSERT_TRUE(LoadDataset(packed_db, kq, &kernel, &system_id).ok());
  EXPECT_EQ(kernel.size(), lone_samples.size());
  for (const Sample& s : kernel) EXPECT_GT(s.ms, 0) << s.item_id;
  std::vector<Sample> latency;  // the latency target has no rows to learn from
  ASSERT_TRUE(LoadDataset(packed_db, DatasetQuery{}, &latency, &system_id).ok());
  EXPECT_TRUE(latency.empty());
  double overhead = 0;
  ASSERT_TRUE(LoadRunOverhead(packed_db, system_id, &overhead).ok());
  EXPECT_GT(overhead, 0);

  // Resumes: nothing profiled again; a lost sidecar is rewritten from the stored profiles.
  std::filesystem::remove(SidecarPath(packed_db));
  SweepSummary again;
  ASSERT_TRUE(RunSweep(packed_db, p, &again).ok());
  EXPECT_EQ(again.profiled, 0);
  EXPECT_EQ(again.skipped, 16);
  EXPECT_EQ(SidecarLines(packed_db), SidecarLines(lone_db));

  // `predictor train --target kernel` from the packed-only store; the default target finds no
  // latency row there and says which target would.
  const std::string out = dir.File("k.dlbp");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "train", "--db", packed_db, "-o", out, "--models", "linear"}),
                              "no layer with a 'value' label for system " + packed.system_id +
                                  " (a packed sweep stores kernel times only: --target kernel)");
  EXPECT_FALSE(std::filesystem::exists(out));
  const testing::CommandResult train = testing::RunCli(
      {"predictor", "train", "--db", packed_db, "-o", out, "--models", "linear", "--target", "kernel"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  Predictor trained;
  ASSERT_TRUE(LoadPredictor(out, &trained).ok());
  EXPECT_TRUE(trained.kernel_times);
  EXPECT_EQ(trained.system_id, packed.system_id);
  EXPECT_EQ(trained.train_samples + trained.test_samples, static_cast<int>(kernel.size()));
  EXPECT_GT(trained.run_overhead_ms, 0);
}

TEST(Sweep, PackFlagErrors) {
  TempDir dir;
  const std::string db = dir.File("s.db");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--pack-rounds", "2"}),
                              "--pack-rounds needs --pack");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--pack", "0", "--pack-rounds", "2"}),
      "--pack-rounds needs --pack");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--pack", "4", "--pack-rounds", "0"}),
      "--pack-rounds must be >= 1");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--pack", "-1"}),
                              "--pack must be >= 0");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--pack", "4", "--in-process"}),
                              "--in-process cannot be combined with --pack");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "sweep", "--db", db, "-n", "1", "--pack", "4", "--profile-runs", "0"}),
      "--profile-runs must be >= 1");
  SweepOptions o;
  o.pack = 2;
  o.pack_chunk = 0;
  SweepSummary s;
  EXPECT_EQ(RunSweep(db, o, &s).ExitCode(), 2);
  EXPECT_FALSE(std::filesystem::exists(db));  // refused before the store was opened
}

TEST(Dataset, KernelTargetIsTheProfileWithoutLayoutReorders) {
  EXPECT_DOUBLE_EQ(KernelMs({{"Conv", 0.5, 1}, {"ReorderInput", 0.1, 1}, {"ReorderOutput", 0.2, 1}, {"Relu", 0.25, 1}}),
                   0.75);
  const std::string sys = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";
  TempDir dir;
  const std::vector<Sample> samples = SyntheticSamples(20);
  const std::string db = SyntheticStore(dir, samples, sys);
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(OpenStore(db, {}, &store).ok());
    for (size_t i = 0; i < 10; ++i) {
      const Sample& s = samples[i];
      ASSERT_TRUE(store->PutOpProfile({{sys, "brick", s.item_id, 1, "n", s.layer.op_type, 0.5 * s.ms, 1},
                                       {sys, "brick", s.item_id, 1, "n", "ReorderOutput", 0.25 * s.ms, 1}})
                      .ok());
    }
  }
  DatasetQuery q;
  q.statistic = "kernel";
  std::vector<Sample> kernel;
  std::string system_id;
  ASSERT_TRUE(LoadDataset(db, q, &kernel, &system_id).ok());
  std::map<std::string, double> expected;
  for (size_t i = 0; i < 10; ++i) expected[samples[i].item_id] = 0.5 * samples[i].ms;
  EXPECT_EQ(kernel.size(), expected.size());
  for (const Sample& s : kernel) EXPECT_DOUBLE_EQ(s.ms, expected[s.item_id]) << s.item_id;
  q.statistic = "p50";
  EXPECT_EQ(LoadDataset(db, q, &kernel, &system_id).ExitCode(), 2);
}

// ---- Whole models ------------------------------------------------------------------------

TEST(WholeModel, ComposesFusedKernelsAndPaysTheCallOverheadOnce) {
  Predictor p = QuickXgboost(SyntheticSamples(60));
  TempDir dir;
  Graph g = LoadSmallConvNet(dir);  // Conv BN Relu | Conv Relu | Add | GAP | Flatten | Gemm
  std::vector<double> layer_ms;
  for (int i = 0; i < static_cast<int>(g.layers.size()); ++i) {
    const std::optional<double> ms = p.PredictLayer(DescribeLayer(g, i));
    layer_ms.push_back(ms.value_or(0));
    EXPECT_EQ(ms.has_value(), !IsViewOp(g.layers[i].op_type)) << g.layers[i].op_type;
  }
  ModelPredictionOptions layers;
  layers.fusion = FusionRules::kNone;
  layers.overhead_correction = false;
  ModelPrediction sum = PredictModel(p, g, layers);
  EXPECT_EQ(sum.units, 9);
  EXPECT_EQ(sum.unmodelled, 0);  // Flatten is a view
  double expected = 0;
  for (double ms : layer_ms) expected += ms;
  EXPECT_NEAR(sum.ms, expected, 1e-9);

  p.run_overhead_ms = 1e-4;
  const ModelPrediction fused = PredictModel(p, g, ModelPredictionOptions{});
  EXPECT_EQ(fused.units, 6);
  // Heads of the units: layers 0 (Conv+BN+Relu), 3 (Conv+Relu), 5, 6, 7 (Flatten, free), 8.
  expected = p.run_overhead_ms;
  for (int head : {0, 3, 5, 6, 8}) expected += std::max(0.0, layer_ms[head] - p.run_overhead_ms);
  EXPECT_NEAR(fused.ms, expected, 1e-9);
  EXPECT_LT(fused.ms, sum.ms);
  EXPECT_GT(fused.uncertainty_ms, 0);

  // Kernel-time predictions hold no call overhead: nothing is taken out, the call is paid once.
  p.kernel_times = true;
  expected = p.run_overhead_ms;
  for (int head : {0, 3, 5, 6, 8}) expected += layer_ms[head];
  EXPECT_NEAR(PredictModel(p, g, ModelPredictionOptions{}).ms, expected, 1e-9);
}

TEST(WholeModel, FamiliesOfTorchvisionNames) {
  EXPECT_EQ(ModelFamilyOf("resnet50"), "resnet");
  EXPECT_EQ(ModelFamilyOf("mobilenet_v3_small"), "mobilenet");
  EXPECT_EQ(ModelFamilyOf("wide_resnet50_2"), "wide");
  EXPECT_EQ(ModelFamilyOf("vgg16"), "vgg");
  EXPECT_EQ(ModelFamilyOf("42"), "42");
}

// A store with sweep samples, the layers of two one-model families (alpha, beta) measured
// as G=1 bricks, an empty-network probe and end-to-end references.
struct WholeModelFixture {
  const std::string sys = "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a";
  TempDir dir;
  std::string db;
  std::vector<std::string> models;
  std::map<std::string, double> reference_ms;

  WholeModelFixture() {
    db = SyntheticStore(dir, SyntheticSamples(80), sys);
    models = {testing::SmallConvNet(1).Write(dir.path(), "alpha1.onnx"), WideNet(16).Write(dir.path(), "beta2.onnx"),
              WideNet(24).Write(dir.path(), "gamma3.onnx")};
    int added = 0;
    EXPECT_TRUE(HarvestModelLayers({models[0], models[1]}, db, &added).ok());
    EXPECT_GT(added, 5);
    std::unique_ptr<Store> store;
    EXPECT_TRUE(OpenStore(db, {}, &store).ok());
    for (size_t i = 0; i < 2; ++i) {
      Graph g;
      IngestOptions ingest;
      ingest.load_weights = false;
      EXPECT_TRUE(LoadGraph(models[i], ingest, &g).ok());
      for (int l = 0; l < static_cast<int>(g.layers.size()); ++l) {
        Measurement m;
        m.key = {sys, "brick", BrickSignature(g, l, l + 1).Hex(), 1, "dlbricks"};
        m.value_ms = m.min_ms = 0.01 * (l + 1);
        EXPECT_TRUE(store->Put(m).ok());
      }
      Measurement e2e;
      e2e.key = {sys, "model", ModelSignature(g).Hex(), 1, "dlbricks"};
      e2e.value_ms = 0.05 * static_cast<double>(i + 1);
      EXPECT_TRUE(store->Put(e2e).ok());
      reference_ms[std::filesystem::path(models[i]).stem().string()] = e2e.value_ms;
    }
    Measurement probe;
    probe.key = {sys, "brick", kEmptyNetworkId, 1, ProtocolKey(SweepProtocol())};
    probe.value_ms = 0.002;
    EXPECT_TRUE(store->Put(probe).ok());
  }

  // Same op types as SmallConvNet, other shapes: other layer signatures.
  static testing::ModelBuilder WideNet(int64_t width) {
    testing::ModelBuilder b;
    b.Input("image", {1, 4, 12, 12});
    b.Weight("w", {width, 4, 1, 1}, 9).Weight("wb", {width}, 10);
    b.Node("Conv", {"image", "w", "wb"}, {"c"});
    b.Node("Relu", {"c"}, {"r"});
    b.Node("GlobalAveragePool", {"r"}, {"gap"});
    b.Node("Flatten", {"gap"}, {"flat"});
    b.Weight("fc_w", {5, width}, 11).Weight("fc_b", {5}, 12);
    testing::AttrInt(b.Node("Gemm", {"flat", "fc_w", "fc_b"}, {"logits"}), "transB", 1);
    b.Output("logits");
    return b;
  }
};

TEST(WholeModel, LeaveFamilyOutTrainsWithoutTheFamilysLayers) {
  WholeModelFixture f;
  WholeModelOptions o;
  o.leave_family_out = true;
  o.train.xgb_rounds = 10;
  WholeModelReport r;
  const Status st = ValidateWholeModels(f.models, f.db, nullptr, o, &r);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(r.system_id, f.sys);
  EXPECT_DOUBLE_EQ(r.run_overhead_ms, 0.002);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.unmeasured, std::vector<std::string>{"gamma3"});

  std::vector<Sample> samples;
  std::string system_id;
  ASSERT_TRUE(LoadDataset(f.db, DatasetQuery{}, &samples, &system_id).ok());
  double ape = 0;
  for (const WholeModelRow& row : r.rows) {
    EXPECT_EQ(row.predictor, "lofo:" + row.family);
    EXPECT_DOUBLE_EQ(row.measured_ms, f.reference_ms[row.model]);
    // The family's own layers are absent from its training split.
    Graph g;
    IngestOptions ingest;
    ingest.load_weights = false;
    ASSERT_TRUE(LoadGraph(f.dir.File(row.model + ".onnx"), ingest, &g).ok());
    std::set<std::string> own;
    for (int l = 0; l < static_cast<int>(g.layers.size()); ++l) own.insert(BrickSignature(g, l, l + 1).Hex());
    int expected_train = 0;
    int own_samples = 0;
    for (const Sample& s : samples) {
      own_samples += own.count(s.item_id) ? 1 : 0;
      expected_train += !own.count(s.item_id) && !IsTestSample(s.item_id) ? 1 : 0;
    }
    EXPECT_GT(own_samples, 0) << row.model;
    EXPECT_EQ(row.train_samples, expected_train) << row.model;
    EXPECT_GT(row.predicted_ms, 0);
    ape += std::abs(row.predicted_ms / row.measured_ms - 1);
  }
  EXPECT_NEAR(r.mape, 100 * ape / 2, 1e-9);
}

TEST(WholeModel, GivenPredictorAndCli) {
  WholeModelFixture f;
  Predictor trained = QuickXgboost(SyntheticSamples(60));
  trained.system_id = f.sys;
  trained.run_overhead_ms = 0.002;
  const std::string file = f.dir.File("p.dlbp");
  ASSERT_TRUE(SavePredictor(trained, file).ok());
  Predictor p;
  ASSERT_TRUE(LoadPredictor(file, &p).ok());
  EXPECT_DOUBLE_EQ(p.run_overhead_ms, 0.002);
  WholeModelReport r;
  ASSERT_TRUE(ValidateWholeModels(f.models, f.db, &p, WholeModelOptions{}, &r).ok());
  ASSERT_EQ(r.rows.size(), 2u);
  for (const WholeModelRow& row : r.rows) {
    Graph g;
    IngestOptions ingest;
    ingest.load_weights = false;
    ASSERT_TRUE(LoadGraph(f.dir.File(row.model + ".onnx"), ingest, &g).ok());
    EXPECT_NEAR(row.predicted_ms, PredictModel(p, g, ModelPredictionOptions{}).ms, 1e-12);
    EXPECT_EQ(row.predictor, "given");
  }
  EXPECT_EQ(ValidateWholeModels(f.models, f.db, nullptr, WholeModelOptions{}, &r).ExitCode(), 2);

  testing::CommandResult res =
      testing::RunCli({"predictor", "validate", f.models[0], f.models[1], "--db", f.db, "--predictor", file, "--json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const nlohmann::json j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j["models"].size(), 2u);
  EXPECT_NEAR(j["mape"].get<double>(), r.mape, 1e-9);
  testing::ExpectOneLineError(testing::RunCli({"predictor", "validate", f.models[0], "--db", f.db}), "--predictor");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "validate", f.dir.File("absent.onnx"), "--db", f.db, "--predictor", file}),
      "absent.onnx");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "validate", f.models[0], "--db", f.db, "--predictor", file, "--fusion", "tvm"}),
      "--fusion");
  // A latency predictor cannot fill a kernel-time construction (and the reverse).
  testing::ExpectOneLineError(
      testing::RunCli({"estimate", f.models[0], "--db", f.db, "--predictor", file, "--kernel-times", "--allow-partial"}),
      "p.dlbp");
}

// ---- Data-movement, reduction and elementwise families (format 2) ------------------------

const std::vector<std::string> kNewFamilies = {"transpose", "slice", "pad", "reduce", "eltwise", "gather"};

TEST(NewFamilies, SweepNetworksAreOneLayerOfTheirFamilyAndRunInOnnxRuntime) {
  TempDir dir;
  SweepOptions o;
  std::map<std::string, std::set<std::string>> ops;  // family -> op types drawn
  for (int64_t i = 0; i < 240; ++i) {
    SweepNetwork net;
    ASSERT_TRUE(MakeSweepNetwork(3, i, kNewFamilies, o, &net).ok());
    const std::string path = dir.File("n.onnx");
    std::ofstream(path, std::ios::binary) << net.model.SerializeAsString();
    Graph g;
    const Status st = LoadGraph(path, IngestOptions{}, &g);
    ASSERT_TRUE(st.ok()) << net.family << " " << i << ": " << st.message();
    ASSERT_EQ(g.layers.size(), 1u);
    EXPECT_EQ(OpFamily(g.layers[0].op_type), net.family);
    ops[net.family].insert(g.layers[0].op_type);
    const LayerDescriptor d = DescribeLayer(g, 0);
    ASSERT_FALSE(d.outputs.empty());
    ASSERT_FALSE(d.outputs[0].empty()) << net.family << ": output shape not inferred";
    if (net.family == "transpose") {
      EXPECT_EQ(d.perm.size(), d.inputs[0].size());
    }
    if (net.family == "reduce") {
      EXPECT_FALSE(d.axes.empty());
    }
    if (net.family == "slice") {  // a full-extent Slice is a no-op ONNX Runtime removes from models
      EXPECT_NE(d.inputs[0], d.outputs[0]);
    }
  }
  EXPECT_EQ(ops["eltwise"], (std::set<std::string>{"Div", "Sub", "Pow", "Sqrt"}));
  for (const std::string& f : kNewFamilies) EXPECT_FALSE(ops[f].empty()) << f;
  // The act family now also draws HardSigmoid and HardSwish.
  std::set<std::string> act;
  for (int64_t i = 0; i < 80; ++i) {
    SweepNetwork net;
    ASSERT_TRUE(MakeSweepNetwork(3, i, {"act"}, o, &net).ok());
    act.insert(net.model.graph().node(0).op_type());
  }
  EXPECT_TRUE(act.count("HardSigmoid") && act.count("HardSwish"));

  // Every new family measures in ONNX Runtime (in process: quick).
  const std::string db = dir.File("sweep.db");
  o.samples = 12;
  o.families = kNewFamilies;
  o.isolate = false;
  o.progress = false;
  o.work_dir = dir.path();
  o.protocol.warmup_runs = 1;
  o.protocol.min_runs = o.protocol.max_runs = 2;
  SweepSummary summary;
  const Status st = RunSweep(db, o, &summary);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(summary.failed, 0);
  for (const std::string& f : kNewFamilies) EXPECT_GE(summary.per_family[f], 1) << f;
  std::vector<Sample> samples;
  std::string system_id;
  DatasetQuery q;
  q.protocols = {summary.protocol};
  ASSERT_TRUE(LoadDataset(db, q, &samples, &system_id).ok());
  EXPECT_EQ(static_cast<int>(samples.size()), summary.measured);
  for (const Sample& s : samples) EXPECT_GT(s.ms, 0) << s.layer.op_type;
}

TEST(NewFamilies, DescriptorsAndDataMovementFeatures) {
  testing::ModelBuilder b;
  b.Input("x", {1, 2, 58, 28, 28});
  auto& shuffle = b.Node("Transpose", {"x"}, {"shuffled"});
  testing::AttrInts(shuffle, "perm", {0, 2, 1, 3, 4});
  b.Node("Reshape", {"shuffled", "shape"}, {"flat"});
  b.Int64s("shape", {1, 116, 28, 28});
  auto& nhwc = b.Node("Transpose", {"flat"}, {"nhwc"});
  testing::AttrInts(nhwc, "perm", {0, 2, 3, 1});
  auto& mean = b.Node("ReduceMean", {"nhwc"}, {"mean"});
  testing::AttrInts(mean, "axes", {-1});
  b.Int64s("starts", {58}).Int64s("ends", {116}).Int64s("axes", {1});
  b.Node("Slice", {"flat", "starts", "ends", "axes"}, {"half"});
  b.Int64s("index", {1}, {});
  auto& gather = b.Node("Gather", {"half", "index"}, {"row"});
  testing::AttrInt(gather, "axis", 2);
  b.Output("mean").Output("row");
  TempDir dir;
  Graph g;
  const Status st = LoadGraph(b.Write(dir.path(), "m.onnx"), IngestOptions{}, &g);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(g.layers.size(), 6u);
  auto feature = [](const LayerDescriptor& d, const std::string& name) { return LayerFeatures(d)[FeatureIndex(name)]; };
  // Channel shuffle: the two innermost axes stay in place, one run of 28*28.
  const LayerDescriptor t = DescribeLayer(g, 0);
  EXPECT_EQ(t.perm, (std::vector<int64_t>{0, 2, 1, 3, 4}));
  EXPECT_EQ(feature(t, "op_Transpose"), 1.0);
  EXPECT_EQ(feature(t, "contiguous_run"), 28.0 * 28);
  EXPECT_EQ(feature(t, "moves_last_axis"), 0.0);
  // NCHW -> NHWC moves the innermost axis: runs of one element.
  const LayerDescriptor n = DescribeLayer(g, 2);
  EXPECT_EQ(feature(n, "contiguous_run"), 1.0);
  EXPECT_EQ(feature(n, "moves_last_axis"), 1.0);
  // LayerNorm statistic: the last axis reduced 116-fold.
  const LayerDescriptor r = DescribeLayer(g, 3);
  EXPECT_EQ(r.axes, (std::vector<int64_t>{3}));
  EXPECT_EQ(feature(r, "last_axis"), 1.0);
  EXPECT_EQ(feature(r, "in_out_ratio"), 116.0);
  // ShuffleNet's channel split: one contiguous half.
  const LayerDescriptor sl = DescribeLayer(g, 4);
  EXPECT_EQ(feature(sl, "contiguous_run"), 58.0 * 28 * 28);
  EXPECT_EQ(feature(sl, "moves_last_axis"), 0.0);
  const LayerDescriptor ga = DescribeLayer(g, 5);
  EXPECT_EQ(ga.axis, 2);
  EXPECT_EQ(feature(ga, "contiguous_run"), 28.0);
  for (int i : {0, 2, 3, 4, 5}) {
    const LayerDescriptor d = DescribeLayer(g, i);
    EXPECT_FALSE(OpFamily(d.op_type).empty()) << d.op_type;
    LayerDescriptor back;
    ASSERT_TRUE(DescriptorFromJson(DescriptorToJson(d), &back).ok());
    EXPECT_EQ(back.perm, d.perm);
    EXPECT_EQ(back.axes, d.axes);
    EXPECT_EQ(LayerFeatures(back), LayerFeatures(d)) << d.op_type;
  }
  // A sidecar line written before format 2 (no perm/axes keys) still reads.
  LayerDescriptor old;
  ASSERT_TRUE(DescriptorFromJson(R"({"op":"Relu","inputs":[[1,8,4,4]],"outputs":[[1,8,4,4]]})", &old).ok());
  EXPECT_TRUE(old.perm.empty() && old.axes.empty());
  EXPECT_EQ(OpFamily("Reshape"), "");  // views stay free, never a family
}

// Conv, NCHW->NHWC, a LayerNorm and a GELU as torch exports them (opset 13), a Pad and a
// Slice, back to NCHW, a no-op Slice and a Gather.
Graph ChannelsLastBlock(const TempDir& dir) {
  testing::ModelBuilder b;
  b.Input("x", {1, 8, 14, 14});
  b.Weight("w", {16, 8, 1, 1});
  b.Node("Conv", {"x", "w"}, {"c"});
  testing::AttrInts(b.Node("Transpose", {"c"}, {"t"}), "perm", {0, 2, 3, 1});
  testing::AttrInts(b.Node("ReduceMean", {"t"}, {"mu"}), "axes", {-1});
  b.Node("Sub", {"t", "mu"}, {"d"});
  b.WeightValues("two", {}, {2.0f}).WeightValues("eps", {}, {1e-5f}).WeightValues("sqrt2", {}, {1.4142135f});
  b.WeightValues("one", {}, {1.0f}).WeightValues("half", {}, {0.5f});
  b.Weight("gamma", {16}).Weight("beta", {16});
  b.Node("Pow", {"d", "two"}, {"sq"});
  testing::AttrInts(b.Node("ReduceMean", {"sq"}, {"var"}), "axes", {-1});
  b.Node("Add", {"var", "eps"}, {"ve"});
  b.Node("Sqrt", {"ve"}, {"sd"});
  b.Node("Div", {"d", "sd"}, {"nrm"});
  b.Node("Mul", {"nrm", "gamma"}, {"scaled"});
  b.Node("Add", {"scaled", "beta"}, {"ln"});
  b.Node("Div", {"ln", "sqrt2"}, {"g1"});
  b.Node("Erf", {"g1"}, {"g2"});
  b.Node("Add", {"g2", "one"}, {"g3"});
  b.Node("Mul", {"ln", "g3"}, {"g4"});
  b.Node("Mul", {"g4", "half"}, {"gelu"});
  b.Int64s("pads", {0, 0, 0, 0, 0, 1, 1, 0});
  b.Node("Pad", {"gelu", "pads"}, {"padded"});
  b.Int64s("s0", {0}).Int64s("s14", {14}).Int64s("s16", {16}).Int64s("ax1", {1}).Int64s("ax3", {3});
  b.Node("Slice", {"padded", "s0", "s14", "ax1"}, {"cropped"});
  testing::AttrInts(b.Node("Transpose", {"cropped"}, {"nchw"}), "perm", {0, 3, 1, 2});
  b.Node("Slice", {"nchw", "s0", "s16", "ax1"}, {"same"});
  b.Int64s("index", {0}, {});
  testing::AttrInt(b.Node("Gather", {"same", "index"}, {"plane"}), "axis", 1);
  b.Output("plane");
  Graph g;
  const Status st = LoadGraph(b.Write(dir.path(), "block.onnx"), IngestOptions{}, &g);
  EXPECT_TRUE(st.ok()) << st.message();
  return g;
}

TEST(NewFamilies, PredictModelCountsTheNewOpsWhenThePredictorHasThem) {
  TempDir dir;
  const Graph g = ChannelsLastBlock(dir);
  ASSERT_EQ(g.layers.size(), 21u);
  std::vector<std::string> all = {"conv", "act", "add", "mul", "layernorm"};
  all.insert(all.end(), kNewFamilies.begin(), kNewFamilies.end());
  const Predictor full = QuickXgboost(SyntheticSamples(300, all));
  for (const char* op : {"Transpose", "Slice", "Pad", "ReduceMean", "Div", "Sub", "Pow", "Sqrt", "Gather"})
    EXPECT_TRUE(full.ops.count(op)) << op;
  const ModelPrediction m = PredictModel(full, g, ModelPredictionOptions{});
  EXPECT_EQ(m.unmodelled, 0) << (m.unmodelled_ops.empty() ? "" : m.unmodelled_ops.begin()->first);
  EXPECT_EQ(m.units, 21);
  // Kernels: Conv | Transpose | ReduceMean | Sub | Pow..Mul (LayerNorm) | Add | Div..Mul (GELU) |
  // Pad | Slice | Transpose | no-op Slice (free) | Gather.
  ASSERT_EQ(m.kernels.size(), 12u);
  const std::vector<std::string> as = {"Conv",  "Transpose", "ReduceMean", "Sub",       "LayerNormalization", "Add",
                                       "Erf",   "Pad",       "Slice",      "Transpose", "",                   "Gather"};
  double sum = 0;
  for (size_t k = 0; k < as.size(); ++k) {
    EXPECT_EQ(m.kernels[k].predicted_as, as[k]) << k;
    EXPECT_EQ(m.kernels[k].free, as[k].empty()) << k;
    EXPECT_EQ(m.kernels[k].ms.has_value(), !as[k].empty()) << k;
    sum += m.kernels[k].ms.value_or(0);
  }
  EXPECT_EQ(m.kernels[4].begin, 4);
  EXPECT_EQ(m.kernels[4].end, 10);  // Pow, ReduceMean, Add, Sqrt, Div, Mul
  EXPECT_EQ(m.kernels[6].end, 16);  // Div, Erf, Add, Mul, Mul
  EXPECT_NEAR(m.ms, sum + full.run_overhead_ms, 1e-9);

  // A predictor without the new families predicts what it knows and names the rest.
  const Predictor old = QuickXgboost(SyntheticSamples(100, {"conv", "act", "add", "mul", "layernorm"}));
  const ModelPrediction o = PredictModel(old, g, ModelPredictionOptions{});
  EXPECT_EQ(o.unmodelled, 7);  // 2 Transpose, ReduceMean, Sub, Pad, Slice, Gather
  EXPECT_EQ(o.unmodelled_ops.at("Transpose"), 2);
  EXPECT_EQ(o.unmodelled_ops.count("Pow"), 0u);  // inside the LayerNorm kernel
  ASSERT_EQ(o.kernels.size(), m.kernels.size());
  EXPECT_FALSE(o.kernels[1].ms.has_value());  // Transpose
  EXPECT_TRUE(o.kernels[4].ms.has_value());   // LayerNorm
  // Without fusion every layer is its own kernel and nothing is rewritten.
  ModelPredictionOptions none;
  none.fusion = FusionRules::kNone;
  const ModelPrediction n = PredictModel(full, g, none);
  EXPECT_EQ(n.kernels.size(), 21u);
  EXPECT_EQ(n.unmodelled, 0);
}

TEST(NewFamilies, OrtRewritesFreePadsBeforePoolsAndHardSwishAfterConvs) {
  testing::ModelBuilder b;
  b.Input("x", {1, 8, 14, 14});
  b.Weight("w", {8, 8, 3, 3});
  auto& conv = b.Node("Conv", {"x", "w"}, {"c0"});
  testing::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Weight("s", {8}).Weight("o", {8}).Weight("m", {8}).WeightValues("v", {8}, std::vector<float>(8, 1.0f));
  b.Node("BatchNormalization", {"c0", "s", "o", "m", "v"}, {"c"});
  b.Node("HardSigmoid", {"c"}, {"gate"});
  b.Node("Mul", {"c", "gate"}, {"hswish"});
  b.Int64s("pads", {0, 0, 1, 1, 0, 0, 1, 1});
  b.Node("Pad", {"hswish", "pads"}, {"padded"});
  auto& pool = b.Node("AveragePool", {"padded"}, {"pooled"});
  testing::AttrInts(pool, "kernel_shape", {3, 3});
  b.Node("HardSigmoid", {"pooled"}, {"alone"});
  b.Output("alone");
  TempDir dir;
  Graph g;
  ASSERT_TRUE(LoadGraph(b.Write(dir.path(), "m.onnx"), IngestOptions{}, &g).ok());
  std::vector<Sample> samples = SyntheticSamples(150, {"act"});  // HardSigmoid is 1 in 12 of them
  for (Sample& s : SyntheticSamples(150, {"conv", "pool", "pad", "mul"})) samples.push_back(std::move(s));
  const Predictor p = QuickXgboost(samples);
  ASSERT_TRUE(p.ops.count("HardSigmoid") && p.ops.count("Pad"));
  const ModelPrediction m = PredictModel(p, g, ModelPredictionOptions{});
  // Conv+BN | HardSigmoid+Mul (free: in the conv) | Pad (free: into the pool) | AveragePool | HardSigmoid
  ASSERT_EQ(m.kernels.size(), 5u);
  EXPECT_FALSE(m.kernels[0].free);
  EXPECT_TRUE(m.kernels[1].free);
  EXPECT_EQ(m.kernels[1].begin, 2);
  EXPECT_EQ(m.kernels[1].end, 4);
  EXPECT_TRUE(m.kernels[2].free);
  EXPECT_EQ(m.kernels[3].predicted_as, "AveragePool");
  EXPECT_EQ(m.kernels[4].predicted_as, "HardSigmoid");  // a lone gate is a kernel
  EXPECT_TRUE(m.kernels[4].ms.has_value());
}

#ifndef DLBRICKS_PREDICT_TESTDATA
#define DLBRICKS_PREDICT_TESTDATA "src/predict/testdata"
#endif

// A predictor file an older build wrote (src/predict/testdata/format<N>_xgboost.dlbp), loaded
// with the current reader; its format and target checked.
std::string OldPredictorPath(int format) {
  return std::string(DLBRICKS_PREDICT_TESTDATA) + "/format" + std::to_string(format) + "_xgboost.dlbp";
}
Predictor LoadOldPredictor(int format) {
  Predictor p;
  const Status st = LoadPredictor(OldPredictorPath(format), &p);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(p.format_version, format);
  EXPECT_TRUE(p.kernel_times);
  return p;
}

// A predictor file written by the format-1 build (before the new families; XGBoost, 4 rounds,
// kernel-time target) still loads and predicts what it was trained on.
TEST(NewFamilies, FormatOnePredictorStillLoads) {
  const Predictor p = LoadOldPredictor(1);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_EQ(p.ops.size(), 16u);  // its op_* features
  EXPECT_TRUE(p.ops.count("Conv") && p.ops.count("LayerNormalization"));
  EXPECT_FALSE(p.ops.count("Transpose"));
  EXPECT_LT(p.feature_names.size(), FeatureNames().size());
  TempDir dir;
  const Graph small = LoadSmallConvNet(dir);
  const std::optional<double> conv = p.PredictLayer(DescribeLayer(small, 0));
  ASSERT_TRUE(conv.has_value());
  EXPECT_GT(*conv, 0);
  EXPECT_TRUE(std::isfinite(*conv));
  // New families are absent from it: their layers stay unmodelled.
  const Graph block = ChannelsLastBlock(dir);
  EXPECT_FALSE(p.PredictLayer(DescribeLayer(block, 1)).has_value());  // Transpose
  const ModelPrediction m = PredictModel(p, block, ModelPredictionOptions{});
  EXPECT_EQ(m.unmodelled, 7);
  EXPECT_TRUE(m.kernels[4].ms.has_value());  // the LayerNorm kernel: a family it has
  // The CLI lists the kernels: the stand-ins, the free no-op Slice, the unmodelled Transpose.
  const testing::CommandResult res =
      testing::RunCli({"predictor", "predict", "--kernels", "--predictor", OldPredictorPath(1), dir.File("block.onnx")});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("LayerNormalization"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("(free)"), std::string::npos);
  EXPECT_NE(res.out.find("7 kernels not modelled"), std::string::npos) << res.out;
  // Saved by this build (format 6, its own feature list kept) it predicts the same.
  const std::string again = dir.File("again.dlbp");
  ASSERT_TRUE(SavePredictor(p, again).ok());
  Predictor back;
  ASSERT_TRUE(LoadPredictor(again, &back).ok());
  EXPECT_EQ(back.format_version, 7);
  EXPECT_EQ(back.ops, p.ops);
  EXPECT_EQ(back.feature_names, p.feature_names);
  EXPECT_DOUBLE_EQ(*back.PredictLayer(DescribeLayer(small, 0)), *conv);
  // A feature this build does not compute: retrain, one clear error.
  std::string text = testing::ReadFile(OldPredictorPath(1));
  const size_t at = text.find("\"macs\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 6, "\"mac5\"");
  const std::string renamed = dir.File("renamed.dlbp");
  testing::WriteFile(renamed, text);
  const Status bad = LoadPredictor(renamed, &back);
  EXPECT_EQ(bad.code(), Status::Code::kUnsupported);
  EXPECT_NE(bad.message().find("mac5"), std::string::npos);
}

// ---- Session 5: alignment features, robust loss, large-layer sweeps, format 3 ------------

LayerDescriptor DepthwiseConv(int64_t channels) {
  LayerDescriptor d;
  d.op_type = "Conv";
  d.inputs = {{1, channels, 7, 7}};
  d.weights = {{channels, 1, 7, 7}};
  d.outputs = {{1, channels, 7, 7}};
  d.kernel = {7, 7};
  d.strides = {1, 1};
  d.pads = {3, 3, 3, 3};
  d.group = channels;
  d.macs = static_cast<double>(channels) * 49 * 49;
  return d;
}

// ONNX Runtime's blocked NCHWc kernels need whole SIMD blocks of channels: the features say
// which layers have them (a depthwise 7x7 over 570 channels measured 14x the one over 512).
TEST(Features, ChannelAndGemmAlignment) {
  const std::vector<double> a = LayerFeatures(DepthwiseConv(768)), b = LayerFeatures(DepthwiseConv(797)),
                            c = LayerFeatures(DepthwiseConv(40));
  for (const char* f : {"in_channels_x8", "in_channels_x16", "out_channels_x8", "out_channels_x16"}) {
    EXPECT_EQ(a[FeatureIndex(f)], 1.0) << f;
    EXPECT_EQ(b[FeatureIndex(f)], 0.0) << f;
  }
  EXPECT_EQ(c[FeatureIndex("in_channels_x8")], 1.0);  // 40 = 5 blocks of 8, not of 16
  EXPECT_EQ(c[FeatureIndex("in_channels_x16")], 0.0);
  LayerDescriptor fc;
  fc.op_type = "Gemm";
  fc.inputs = {{1, 4096}};
  fc.weights = {{1000, 4096}, {1000}};
  fc.outputs = {{1, 1000}};
  fc.trans_b = 1;
  const std::vector<double> g = LayerFeatures(fc);
  EXPECT_EQ(g[FeatureIndex("gemm_k_x16")], 1.0);
  EXPECT_EQ(g[FeatureIndex("gemm_n_x16")], 0.0);  // 1000 = 62.5 blocks
}

// Some labels slowed down by a shared host (one-sided noise): each layer is measured four
// times and one of the four ran 1.8x slow. The squared loss predicts the mean of the logs
// (1.8^(1/4) = 1.16x); the pseudo-Huber loss stays nearer the clean latency (1.10x here).
TEST(Train, HuberLossResistsOneSidedSlowdowns) {
  const std::vector<Sample> layers = SyntheticSamples(100);
  std::vector<Sample> samples;
  for (const Sample& l : layers)
    for (int copy = 0; copy < 4; ++copy) {
      Sample s = l;
      s.item_id = HashBytes(l.item_id + std::to_string(copy)).Hex();
      if (copy == 0) s.ms *= 1.8;
      samples.push_back(std::move(s));
    }
  auto bias = [&](const std::string& loss) {
    TrainOptions o;
    o.kinds = {ModelKind::kXgboost};
    o.xgb_rounds = 300;
    o.xgb_loss = loss;
    std::map<std::string, Predictor> predictors;
    TrainReport report;
    const Status st = TrainPredictors(samples, o, &predictors, &report);
    EXPECT_TRUE(st.ok()) << st.message();
    double log_ratio = 0;
    for (const Sample& l : layers) log_ratio += std::log(*predictors["xgboost"].PredictLayer(l.layer) / l.ms);
    return std::exp(log_ratio / static_cast<double>(layers.size()));
  };
  const double squared = bias("squared"), huber = bias("huber");
  EXPECT_GT(squared, 1.10);
  EXPECT_LT(std::abs(std::log(huber)), 0.8 * std::abs(std::log(squared))) << huber << " vs " << squared;

  TrainOptions bad;
  bad.kinds = {ModelKind::kXgboost};
  bad.xgb_loss = "quartic";
  std::map<std::string, Predictor> predictors;
  TrainReport report;
  const Status st = TrainPredictors(samples, bad, &predictors, &report);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("quartic"), std::string::npos);
  // Trees that cannot be grown: one clear error each.
  bad.xgb_loss = "huber";
  bad.xgb_max_depth = 0;
  EXPECT_NE(TrainPredictors(samples, bad, &predictors, &report).message().find("--xgb-depth"), std::string::npos);
  bad.xgb_max_depth = 10;
  bad.xgb_eta = 0;
  EXPECT_NE(TrainPredictors(samples, bad, &predictors, &report).message().find("--xgb-eta"), std::string::npos);
}

// Sample weights ms^p and the loss are recorded in the file (format 3) and reload.
TEST(Train, TrainingRecordRoundTrips) {
  const std::vector<Sample> samples = SyntheticSamples(80);
  TrainOptions o;
  o.kinds = {ModelKind::kXgboost};
  o.xgb_rounds = 30;
  o.xgb_loss = "huber";
  o.xgb_weight_power = 0.5;
  o.xgb_max_depth = 5;
  o.xgb_eta = 0.2;
  std::map<std::string, Predictor> predictors;
  TrainReport report;
  ASSERT_TRUE(TrainPredictors(samples, o, &predictors, &report).ok());
  TempDir dir;
  const std::string path = dir.File("p.dlbp");
  ASSERT_TRUE(SavePredictor(predictors["xgboost"], path).ok());
  const std::string text = testing::ReadFile(path);
  const size_t len_at = text.find('\n') + 1;
  const size_t header_len = std::stoull(text.substr(len_at));
  const nlohmann::json header = nlohmann::json::parse(text.substr(text.find('\n', len_at) + 1, header_len));
  EXPECT_EQ(header["format_version"], 7);
  const nlohmann::json training = header["models"]["*"]["params"]["training"];
  EXPECT_EQ(training["loss"], "huber");
  EXPECT_DOUBLE_EQ(training["weight_power"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(training["huber_slope"].get<double>(), 0.1);
  EXPECT_EQ(training["max_depth"], 5);
  EXPECT_DOUBLE_EQ(training["eta"].get<double>(), 0.2);
  Predictor back;
  ASSERT_TRUE(LoadPredictor(path, &back).ok());
  for (int i = 0; i < 10; ++i)
    EXPECT_NEAR(*back.PredictLayer(samples[i].layer), *predictors["xgboost"].PredictLayer(samples[i].layer), 1e-9);
  // Saved again, the record survives.
  ASSERT_TRUE(SavePredictor(back, dir.File("again.dlbp")).ok());
  EXPECT_NE(testing::ReadFile(dir.File("again.dlbp")).find("\"weight_power\""), std::string::npos);
}

// A targeted sweep of large layers: every draw lies between the caps.
TEST(Sweep, MinMacsDrawsOnlyLargeLayers) {
  TempDir dir;
  SweepOptions o;
  o.min_macs = 3e8;
  o.max_macs = 2.5e9;
  int below_default_cap = 0;
  for (int64_t i = 0; i < 8; ++i) {
    SweepNetwork net;
    ASSERT_TRUE(MakeSweepNetwork(101, i, {"conv", "matmul"}, o, &net).ok());
    const std::string path = dir.File("n.onnx");
    std::ofstream(path, std::ios::binary) << net.model.SerializeAsString();
    Graph g;
    ASSERT_TRUE(LoadGraph(path, IngestOptions{}, &g).ok());
    const LayerDescriptor d = DescribeLayer(g, 0);
    EXPECT_GE(d.macs, 3e8) << net.family;
    EXPECT_LE(d.macs, 2.5e9) << net.family;
    if (d.macs <= 4e8) ++below_default_cap;
  }
  EXPECT_LT(below_default_cap, 8);  // most lie above the default sweep's 4e8 cap
}

// A predictor file written by the format-2 build (XGBoost, 4 rounds, kernel target, trained on
// 150 sweep networks) loads: it lacks the alignment features, which it is predicted without.
TEST(Format, FormatTwoPredictorStillLoads) {
  const Predictor p = LoadOldPredictor(2);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_TRUE(p.ops.count("Conv") && p.ops.count("Transpose"));
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "in_channels_x16"), 0);
  EXPECT_EQ(p.feature_names.size() + 9, FeatureNames().size());  // alignment (3), fused_bias (4), nchwc (5, 6)
  const std::optional<double> ms = p.PredictLayer(DepthwiseConv(768));
  ASSERT_TRUE(ms.has_value());
  EXPECT_GT(*ms, 0);
  EXPECT_TRUE(std::isfinite(*ms));
  // Its rows are built from its own features only.
  EXPECT_EQ(p.FileFeatures(LayerFeatures(DepthwiseConv(768))).size(), p.feature_names.size());
}

// ---- Session 6: weight MatMuls as the corpus has them, format 4 --------------------------

// A MatMul by a [k, n] weight on `in`, optionally followed by an Add of `bias` (dims).
Graph MatMulBlock(const TempDir& dir, std::vector<int64_t> in, int64_t k, int64_t n, std::vector<int64_t> bias) {
  testing::ModelBuilder b;
  b.Input("x", in).Weight("w", {k, n});
  if (bias.empty()) {
    b.Node("MatMul", {"x", "w"}, {"y"});
  } else {
    b.Weight("bias", bias);
    b.Node("MatMul", {"x", "w"}, {"t"});
    b.Node("Add", {"t", "bias"}, {"y"});
  }
  b.Output("y");
  Graph g;
  EXPECT_TRUE(LoadGraph(b.Write(dir.path(), "mm.onnx"), IngestOptions{}, &g).ok());
  return g;
}

// ONNX Runtime fuses a weight MatMul and its bias Add into one Gemm (the corpus's ConvNeXt,
// Swin and ViT MatMuls run as Gemm + Reshape); only a bias row qualifies.
TEST(WholeModel, MatMulWithBiasRowIsOneFusedGemm) {
  TempDir dir;
  const int f = FeatureIndex("fused_bias");
  Graph g = MatMulBlock(dir, {1, 14, 14, 384}, 384, 1536, {1536});
  ASSERT_EQ(g.layers.size(), 2u);
  LayerDescriptor d = DescribeUnit(g, 0, 2);
  EXPECT_TRUE(d.fused_bias);
  EXPECT_EQ(d.op_type, "MatMul");
  EXPECT_EQ(LayerFeatures(d)[static_cast<size_t>(f)], 1.0);
  EXPECT_FALSE(DescribeUnit(g, 0, 1).fused_bias);  // the MatMul alone
  EXPECT_FALSE(DescribeLayer(g, 0).fused_bias);
  EXPECT_EQ(LayerFeatures(DescribeLayer(g, 0))[static_cast<size_t>(f)], 0.0);
  // The flag survives the sidecar; lines written before format 4 read as unfused.
  LayerDescriptor back;
  ASSERT_TRUE(DescriptorFromJson(DescriptorToJson(d), &back).ok());
  EXPECT_TRUE(back.fused_bias);
  nlohmann::json old = nlohmann::json::parse(DescriptorToJson(d));
  old.erase("fused_bias");
  ASSERT_TRUE(DescriptorFromJson(old.dump(), &back).ok());
  EXPECT_FALSE(back.fused_bias);
  // [1, 1536] is a row too; a per-position bias is not.
  EXPECT_TRUE(DescribeUnit(MatMulBlock(dir, {1, 197, 768}, 768, 1536, {1, 1536}), 0, 2).fused_bias);
  EXPECT_FALSE(DescribeUnit(MatMulBlock(dir, {1, 197, 768}, 768, 1536, {197, 1536}), 0, 2).fused_bias);
  // PredictModel predicts the unit as the fused MatMul.
  std::vector<Sample> samples = SyntheticSamples(40, {"matmul", "gemm"});
  const Predictor p = QuickXgboost(samples);
  const ModelPrediction m = PredictModel(p, g, ModelPredictionOptions{});
  ASSERT_EQ(m.kernels.size(), 1u);
  EXPECT_EQ(m.kernels[0].end, 2);
  EXPECT_EQ(m.kernels[0].predicted_as, "MatMul+bias");
}

// The sweep draws the weight MatMuls of the corpus: channels-last [N, H, W, C] maps as well as
// [N, seq, K], and mostly with the bias Add, which it measures as one unit.
TEST(Sweep, WeightMatMulsAreDrawnAsTheCorpusHasThem) {
  TempDir dir;
  SweepOptions o;
  int channels_last = 0, with_bias = 0, without_bias = 0, seq = 0;
  for (int64_t i = 0; i < 120; ++i) {
    SweepNetwork net;
    ASSERT_TRUE(MakeSweepNetwork(7, i, {"matmul"}, o, &net).ok());
    const std::string path = dir.File("n.onnx");
    std::ofstream(path, std::ios::binary) << net.model.SerializeAsString();
    Graph g;
    ASSERT_TRUE(LoadGraph(path, IngestOptions{}, &g).ok());
    const int layers = static_cast<int>(g.layers.size());
    const LayerDescriptor d = DescribeUnit(g, 0, layers);
    ASSERT_EQ(d.op_type, "MatMul");
    EXPECT_LE(d.macs, o.max_macs);
    if (d.weights.empty()) {  // attention: two activations, never a bias
      EXPECT_EQ(layers, 1);
      continue;
    }
    ASSERT_EQ(d.weights[0].size(), 2u);
    EXPECT_EQ(d.weights[0][0], d.inputs[0].back());
    EXPECT_EQ(d.fused_bias, layers == 2);
    if (layers == 2) {
      EXPECT_EQ(DescribeLayer(g, 1).weights, (std::vector<std::vector<int64_t>>{{d.weights[0][1]}}));
      ++with_bias;
    } else {
      ++without_bias;
    }
    if (d.inputs[0].size() == 4) ++channels_last;
    if (d.inputs[0].size() == 3) ++seq;
  }
  EXPECT_GT(channels_last, 5);
  EXPECT_GT(seq, 5);
  EXPECT_GT(with_bias, 2 * without_bias);
  EXPECT_GT(without_bias, 0);
}

// Gemm draws with weights up to the AlexNet/VGG classifiers' 1.03e8 elements when the element
// cap allows them.
TEST(Sweep, GemmDrawsClassifierSizedWeightsUnderARaisedCap) {
  SweepOptions o;
  o.max_elements = 1.1e8;
  o.min_macs = 2e7;
  double largest = 0;
  for (int64_t i = 0; i < 40; ++i) {
    SweepNetwork net;
    ASSERT_TRUE(MakeSweepNetwork(102, i, {"gemm"}, o, &net).ok());
    for (const auto& t : net.model.graph().initializer())
      if (t.dims_size() == 2) largest = std::max(largest, static_cast<double>(t.dims(0)) * static_cast<double>(t.dims(1)));
  }
  EXPECT_GT(largest, 1.6e7);  // above the default cap
  EXPECT_LE(largest, 1.1e8);
}

// A predictor file written by the format-3 build (XGBoost, 4 rounds, kernel target, trained on
// 120 sweep networks) loads: it lacks fused_bias, which it is predicted without.
TEST(Format, FormatThreePredictorStillLoads) {
  const Predictor p = LoadOldPredictor(3);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "in_channels_x16"), 1);
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "fused_bias"), 0);
  EXPECT_EQ(p.feature_names.size() + 3, FeatureNames().size());  // fused_bias (4), nchwc (5, 6)
  TempDir dir;
  const Graph g = MatMulBlock(dir, {1, 14, 14, 384}, 384, 1536, {1536});
  const std::optional<double> fused = p.PredictLayer(DescribeUnit(g, 0, 2));
  const std::optional<double> alone = p.PredictLayer(DescribeLayer(g, 0));
  ASSERT_TRUE(fused.has_value() && alone.has_value());
  EXPECT_GT(*fused, 0);
  EXPECT_DOUBLE_EQ(*fused, *alone);  // the flag is not one of its features
}

// ---- Session 8: which convolutions ONNX Runtime runs in its NCHWc layout, format 5 ------

LayerDescriptor GroupedConv(int64_t in, int64_t out, int64_t groups, int64_t hw) {
  LayerDescriptor d = DepthwiseConv(in);
  d.inputs = {{1, in, hw, hw}};
  d.weights = {{out, in / groups, 3, 3}};
  d.outputs = {{1, out, hw, hw}};
  d.kernel = {3, 3};
  d.pads = {1, 1, 1, 1};
  d.group = groups;
  return d;
}

// The NchwcTransformer's rule: whole 16-float blocks per group for a grouped Conv (ResNeXt yes,
// RegNet's 24 or 8 channels per group no), fewer input channels than a block for a first Conv.
TEST(Features, NchwcLayoutFollowsOnnxRuntimesRule) {
  const int f = FeatureIndex("nchwc_layout");
  auto nchwc = [f](const LayerDescriptor& d) { return LayerFeatures(d)[f]; };
  EXPECT_EQ(nchwc(GroupedConv(512, 512, 32, 14)), 1.0);  // resnext50_32x4d: 16 per group
  EXPECT_EQ(nchwc(GroupedConv(168, 168, 7, 28)), 0.0);   // regnet_x_1_6gf: 24 per group
  EXPECT_EQ(nchwc(GroupedConv(48, 48, 6, 112)), 0.0);    // regnet_y_400mf: 8 per group
  EXPECT_EQ(nchwc(GroupedConv(512, 520, 1, 14)), 1.0);   // group 1: the output is padded to blocks
  EXPECT_EQ(nchwc(GroupedConv(3, 64, 1, 224)), 1.0);     // reads its NCHW input directly
  EXPECT_EQ(nchwc(GroupedConv(24, 64, 1, 56)), 0.0);     // 24 is not whole blocks
  EXPECT_EQ(nchwc(DepthwiseConv(512)), 1.0);
  EXPECT_EQ(nchwc(DepthwiseConv(570)), 0.0);
  LayerDescriptor pool;
  pool.op_type = "MaxPool";
  pool.inputs = pool.outputs = {{1, 64, 56, 56}};
  EXPECT_EQ(nchwc(pool), 1.0);
  pool.inputs = pool.outputs = {{1, 58, 56, 56}};
  EXPECT_EQ(nchwc(pool), 0.0);
  pool.op_type = "Relu";
  pool.inputs = pool.outputs = {{1, 64, 56, 56}};
  EXPECT_EQ(nchwc(pool), 0.0);  // not a layout ONNX Runtime blocks
}

// Resaved by this build, an old file becomes the current format, keeps its feature list and
// predicts `layer` as before (`ms`).
void ExpectResavedAsItWas(const Predictor& p, const LayerDescriptor& layer, double ms) {
  TempDir dir;
  const std::string again = dir.File("again.dlbp");
  ASSERT_TRUE(SavePredictor(p, again).ok());
  Predictor back;
  ASSERT_TRUE(LoadPredictor(again, &back).ok());
  EXPECT_EQ(back.format_version, 7);
  EXPECT_EQ(back.feature_names, p.feature_names);
  EXPECT_DOUBLE_EQ(*back.PredictLayer(layer), ms);
}

// A format-4 file (session 6's build, XGBoost, 4 rounds) loads: it lacks nchwc_layout, so
// ResNeXt's and RegNet's grouped Convs differ to it only by shape; resaved it is format 5.
TEST(NchwcLayout, FormatFourPredictorStillLoads) {
  const Predictor p = LoadOldPredictor(4);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "fused_bias"), 1);
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "nchwc_layout"), 0);
  EXPECT_EQ(p.feature_names.size() + 2, FeatureNames().size());
  const std::optional<double> ms = p.PredictLayer(GroupedConv(512, 512, 32, 14));
  ASSERT_TRUE(ms.has_value());
  EXPECT_GT(*ms, 0);
  EXPECT_TRUE(std::isfinite(*ms));
  ExpectResavedAsItWas(p, GroupedConv(512, 512, 32, 14), *ms);
}

// ---- Session 9: the NCHWc decision as ONNX Runtime's profiles show it, format 6 -----------

// Read off the sweep's profiles (a lone layer that runs blocked is wrapped in Reorder kernels):
// group-1 and depthwise Convs need channels that are a multiple of 4, not whole blocks; pools
// and other grouped Convs need whole blocks. nchwc_layout (format 5) keeps its old values.
TEST(Features, NchwcMeasuredFollowsTheProfiles) {
  const int measured = FeatureIndex("nchwc_measured"), rule5 = FeatureIndex("nchwc_layout");
  auto at = [](int f, const LayerDescriptor& d) { return LayerFeatures(d)[f]; };
  EXPECT_EQ(at(measured, GroupedConv(24, 64, 1, 56)), 1.0);  // 24 = 6 x 4: blocked (sweep: all 1,524 group-1 Convs)
  EXPECT_EQ(at(rule5, GroupedConv(24, 64, 1, 56)), 0.0);     // format 5's values stay as they were
  EXPECT_EQ(at(measured, GroupedConv(532, 16, 1, 14)), 1.0);
  EXPECT_EQ(at(measured, GroupedConv(58, 64, 1, 56)), 0.0);  // not a multiple of 4
  EXPECT_EQ(at(measured, GroupedConv(3, 64, 1, 224)), 1.0);  // fewer than a block: NCHW input
  EXPECT_EQ(at(measured, DepthwiseConv(76)), 1.0);           // depthwise over 4k channels
  EXPECT_EQ(at(rule5, DepthwiseConv(76)), 0.0);
  EXPECT_EQ(at(measured, DepthwiseConv(570)), 0.0);
  EXPECT_EQ(at(measured, GroupedConv(16, 320, 16, 94)), 0.0);  // a channel multiplier is no depthwise Conv
  EXPECT_EQ(at(measured, GroupedConv(512, 512, 32, 14)), 1.0); // ResNeXt: 16 per group
  EXPECT_EQ(at(measured, GroupedConv(168, 168, 7, 28)), 0.0);  // RegNetX: 24 per group
  LayerDescriptor pool;
  pool.op_type = "AveragePool";
  pool.inputs = pool.outputs = {{1, 40, 28, 28}};
  EXPECT_EQ(at(measured, pool), 0.0);  // a pool still needs whole blocks
  pool.inputs = pool.outputs = {{1, 48, 28, 28}};
  EXPECT_EQ(at(measured, pool), 1.0);
}

// A format-5 file (session 8's build, XGBoost, 4 rounds) loads: it has nchwc_layout, not
// nchwc_measured, and predicts with format 5's values; resaved it is format 6.
TEST(NchwcMeasured, FormatFivePredictorStillLoads) {
  const Predictor p = LoadOldPredictor(5);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "nchwc_layout"), 1);
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "nchwc_measured"), 0);
  EXPECT_EQ(p.feature_names.size() + 1, FeatureNames().size());
  const std::optional<double> ms = p.PredictLayer(DepthwiseConv(76));
  ASSERT_TRUE(ms.has_value());
  EXPECT_GT(*ms, 0);
  EXPECT_TRUE(std::isfinite(*ms));
  ExpectResavedAsItWas(p, DepthwiseConv(76), *ms);
}

// `predict --kernels --json`: one line per kernel with its G=1 brick id (the id a
// `validate -G 1 --fusion onnxruntime` run profiles it under), its descriptor and prediction.
TEST(NchwcLayout, KernelsJsonNamesEachKernelsBrick) {
  TempDir dir;
  const Graph g = LoadSmallConvNet(dir);
  const ModelPrediction m = PredictModel(LoadOldPredictor(4), g, ModelPredictionOptions{});
  const testing::CommandResult res = testing::RunCli(
      {"predictor", "predict", "--kernels", "--json", "--predictor", OldPredictorPath(4), dir.File("small.onnx")});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  std::istringstream lines(res.out);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(n, m.kernels.size()) << res.out;
    const nlohmann::json k = nlohmann::json::parse(line);
    const PredictedKernel& want = m.kernels[n++];
    EXPECT_EQ(k["begin"], want.begin);
    EXPECT_EQ(k["end"], want.end);
    EXPECT_EQ(k["brick"], BrickSignature(g, want.begin, want.end).Hex());
    EXPECT_EQ(k["layer"]["op"], g.layers[static_cast<size_t>(want.begin)].op_type);
    if (want.ms) {
      EXPECT_NEAR(k["ms"].get<double>(), *want.ms, 1e-9 * *want.ms);
    } else {
      EXPECT_TRUE(k["ms"].is_null());
    }
  }
  EXPECT_EQ(n, m.kernels.size());
}

// ---- Session 8: labels calibrated to the fastest of several re-measured rounds ------------

// The same sweep networks with every label of a family multiplied by its factor (or left out).
std::vector<Sample> Remeasured(std::vector<Sample> samples, const std::map<std::string, double>& factor, size_t first) {
  samples.resize(std::min(first, samples.size()));
  std::vector<Sample> out;
  for (Sample& s : samples)
    if (factor.count(s.family)) s.ms *= factor.at(s.family), out.push_back(std::move(s));
  return out;
}

// Two rounds re-measure the first 40 networks: conv ran at 0.9x and 0.8x of its stored labels,
// gemm at 0.5x and 0.6x. Per group the fastest round counts; every label of the group is
// scaled, also those no round re-measured; a group with too few items takes the overall median.
TEST(Calibration, LabelsScaleToTheFastestRoundPerGroup) {
  const std::string sys = "8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c";
  const std::vector<Sample> all = SyntheticSamples(60, {"conv", "gemm", "act"});
  TempDir train, round1, round2;
  const std::string db = SyntheticStore(train, all, sys);
  const std::string r1 = SyntheticStore(round1, Remeasured(all, {{"conv", 0.9}, {"gemm", 0.5}, {"act", 0.7}}, 40), sys);
  const std::string r2 = SyntheticStore(round2, Remeasured(all, {{"conv", 0.8}, {"gemm", 0.6}}, 40), sys);
  std::vector<Sample> samples;
  std::string system_id;
  ASSERT_TRUE(LoadDataset(db, DatasetQuery{}, &samples, &system_id).ok());
  const std::vector<Sample> stored = samples;
  std::map<std::string, int> matched;
  for (size_t i = 0; i < 40; ++i) ++matched[CalibrationGroup(all[i])];
  ASSERT_GE(matched["conv"], 5);
  ASSERT_GE(matched["gemm"], 5);
  ASSERT_GE(matched["act"], 1);
  CalibrationOptions o;
  o.dbs = {r1, r2};
  o.min_items = std::min(matched["conv"], matched["gemm"]);
  const bool act_own = matched["act"] >= o.min_items;
  LabelCalibration c;
  ASSERT_TRUE(CalibrateLabels(o, DatasetQuery{}, system_id, &samples, &c).ok());
  EXPECT_EQ(c.stores, 2);
  EXPECT_NEAR(c.scale.at("conv"), 0.8, 1e-9);
  EXPECT_NEAR(c.scale.at("gemm"), 0.5, 1e-9);
  EXPECT_EQ(c.items.at("conv"), matched["conv"]);
  EXPECT_EQ(c.scale.count("act"), act_own ? 1u : 0u);
  ASSERT_EQ(samples.size(), stored.size());
  int unmatched = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const std::string group = CalibrationGroup(stored[i]);
    const double want = c.scale.count(group) ? c.scale.at(group) : c.scale.at("*");
    EXPECT_NEAR(samples[i].ms, stored[i].ms * want, 1e-12) << group;
    unmatched += std::find_if(all.begin(), all.begin() + 40,
                              [&](const Sample& a) { return a.item_id == stored[i].item_id; }) == all.begin() + 40;
  }
  EXPECT_GT(unmatched, 0);  // labels no round re-measured are scaled too
  // The scales travel with the predictor file.
  Predictor p = QuickXgboost(samples);
  p.calibration = c;
  const std::string file = train.File("cal.dlbp");
  ASSERT_TRUE(SavePredictor(p, file).ok());
  Predictor back;
  ASSERT_TRUE(LoadPredictor(file, &back).ok());
  EXPECT_EQ(back.calibration.stores, 2);
  EXPECT_EQ(back.calibration.scale, c.scale);
  EXPECT_EQ(back.calibration.items, c.items);
  // Rounds of other networks: an error, not a silent 1.0.
  TempDir other;
  const std::vector<Sample> unrelated = SyntheticSamples(3, {"pool"});
  o.dbs = {SyntheticStore(other, unrelated, sys)};
  samples = stored;
  EXPECT_FALSE(CalibrateLabels(o, DatasetQuery{}, system_id, &samples, &c).ok());
  // The CLI applies and reports it.
  const testing::CommandResult res = testing::RunCli({"predictor", "train", "--db", db, "--models", "xgboost",
                                                      "--xgb-rounds", "5", "--calibrate", r1 + "," + r2, "-o", file});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("label calibration *"), std::string::npos) << res.out;
  ASSERT_TRUE(LoadPredictor(file, &back).ok());
  EXPECT_EQ(back.calibration.stores, 2);
  EXPECT_GE(back.calibration.scale.at("*"), 0.5);  // the overall median of 0.5 to 0.8
  EXPECT_LE(back.calibration.scale.at("*"), 0.8);
}


TEST(Context, FormatSixPredictorStillLoadsWithoutContext) {
  const Predictor p = LoadOldPredictor(6);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_FALSE(p.context.fitted());
  EXPECT_EQ(std::count(p.feature_names.begin(), p.feature_names.end(), "nchwc_measured"), 1);
  const std::optional<double> ms = p.PredictLayer(DepthwiseConv(76));
  ASSERT_TRUE(ms.has_value());
  EXPECT_GT(*ms, 0);
  ExpectResavedAsItWas(p, DepthwiseConv(76), *ms);
  TempDir dir;
  Graph g = LoadSmallConvNet(dir);
  const ModelPrediction m = PredictModel(p, g, ModelPredictionOptions{});
  EXPECT_DOUBLE_EQ(m.ms, m.lone_ms);
}

// ---- In-model context (session 12) -------------------------------------------------------

TEST(Context, FitRecoversScaleAndColdWeightRate) {
  std::vector<ContextPoint> points;
  for (int i = 0; i < 6; ++i) {
    ContextPoint p;
    p.model = "m" + std::to_string(i);
    p.lone_ms = 1.0 + 3.0 * i;
    p.cached_weight_mb = 40.0 / (i + 1);
    p.measured_ms = 1.05 * p.lone_ms + 0.02 * p.cached_weight_mb;
    points.push_back(p);
  }
  ModelContext c;
  ASSERT_TRUE(FitModelContext(points, &c).ok());
  EXPECT_NEAR(c.kernel_scale, 1.05, 1e-9);
  EXPECT_NEAR(c.ms_per_mb, 0.02, 1e-9);
  EXPECT_NEAR(c.mape_after, 0, 1e-7);
  EXPECT_GT(c.mape_before, 1);
  EXPECT_EQ(c.models.size(), 6u);
  EXPECT_TRUE(c.fitted());

  // Latencies that fall with the weights: no negative bandwidth, a plain scale instead.
  double aa = 0, a1 = 0;
  for (ContextPoint& p : points) {
    p.measured_ms = 1.2 * p.lone_ms - 0.01 * p.cached_weight_mb;
    aa += (p.lone_ms / p.measured_ms) * (p.lone_ms / p.measured_ms), a1 += p.lone_ms / p.measured_ms;
  }
  ASSERT_TRUE(FitModelContext(points, &c).ok());
  EXPECT_EQ(c.ms_per_mb, 0);
  EXPECT_NEAR(c.kernel_scale, a1 / aa, 1e-12);

  // Latencies that fall with the lone predictions: no negative scale either.
  for (ContextPoint& p : points) p.measured_ms = 2 * p.cached_weight_mb - 0.5 * p.lone_ms;
  ASSERT_TRUE(FitModelContext(points, &c).ok());
  EXPECT_EQ(c.ms_per_mb, 0);
  EXPECT_GT(c.kernel_scale, 0);

  const Status one = FitModelContext({points[0]}, &c);
  EXPECT_EQ(one.ExitCode(), 2);
  EXPECT_NE(one.message().find("at least 2"), std::string::npos) << one.message();
  points[1].measured_ms = 0;
  const Status zero = FitModelContext(points, &c);
  EXPECT_EQ(zero.ExitCode(), 2);
  EXPECT_NE(zero.message().find("m1"), std::string::npos) << zero.message();
}

TEST(Context, AppliedPerKernelAndKeptInTheFile) {
  Predictor p = QuickXgboost(SyntheticSamples(60));
  TempDir dir;
  Graph g = LoadSmallConvNet(dir);
  const ModelPrediction lone = PredictModel(p, g, ModelPredictionOptions{});
  EXPECT_NEAR(lone.ms, lone.lone_ms, 1e-12);  // no context in the file: kernels as lone layers
  p.context.kernel_scale = 1.1;
  p.context.ms_per_mb = 0.5;
  p.context.cache_bytes = 100;  // smaller than the Conv weights, larger than the Gemm's
  p.context.models = {"alpha", "beta"};
  const ModelPrediction in_model = PredictModel(p, g, ModelPredictionOptions{});
  ASSERT_EQ(in_model.kernels.size(), lone.kernels.size());
  double expected = p.run_overhead_ms, weights = 0;
  for (size_t k = 0; k < in_model.kernels.size(); ++k) {
    const PredictedKernel& kernel = in_model.kernels[k];
    ASSERT_EQ(kernel.ms.has_value(), kernel.lone_ms.has_value());
    if (!kernel.ms) continue;
    EXPECT_NEAR(*kernel.lone_ms, *lone.kernels[k].ms, 1e-12);
    EXPECT_NEAR(*kernel.ms, 1.1 * *kernel.lone_ms + 0.5 * std::min(kernel.weight_bytes, 100.0) / 1e6, 1e-12);
    expected += *kernel.ms;
    weights += kernel.weight_bytes;
  }
  EXPECT_GT(weights, 100);
  EXPECT_NEAR(in_model.ms, expected, 1e-12);
  EXPECT_NEAR(in_model.lone_ms, lone.ms, 1e-12);
  ModelPredictionOptions off;
  off.model_context = false;
  EXPECT_NEAR(PredictModel(p, g, off).ms, lone.ms, 1e-12);

  const std::string file = dir.File("c.dlbp");
  ASSERT_TRUE(SavePredictor(p, file).ok());
  Predictor back;
  ASSERT_TRUE(LoadPredictor(file, &back).ok());
  EXPECT_EQ(back.format_version, 7);
  EXPECT_DOUBLE_EQ(back.context.kernel_scale, 1.1);
  EXPECT_DOUBLE_EQ(back.context.ms_per_mb, 0.5);
  EXPECT_DOUBLE_EQ(back.context.cache_bytes, 100);
  EXPECT_EQ(back.context.models, p.context.models);
  EXPECT_NEAR(PredictModel(back, g, ModelPredictionOptions{}).ms, in_model.ms, 1e-9);

  // A negative rate in the header is a corrupt file, named.
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t at = bytes.find("\"ms_per_mb\": 0.5");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 16, "\"ms_per_mb\":-0.5");
  const std::string bad = dir.File("bad.dlbp");
  std::ofstream(bad, std::ios::binary) << bytes;
  const Status st = LoadPredictor(bad, &back);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("bad.dlbp"), std::string::npos) << st.message();
}

TEST(Context, LeaveFamilyOutFitsWithoutTheFamilyAndCli) {
  WholeModelFixture f;
  {  // a third family with a reference: each family is held out against two others
    std::unique_ptr<Store> store;
    ASSERT_TRUE(OpenStore(f.db, {}, &store).ok());
    Graph g;
    IngestOptions ingest;
    ingest.load_weights = false;
    ASSERT_TRUE(LoadGraph(f.models[2], ingest, &g).ok());
    Measurement e2e;
    e2e.key = {f.sys, "model", ModelSignature(g).Hex(), 1, "dlbricks"};
    e2e.value_ms = 0.2;
    ASSERT_TRUE(store->Put(e2e).ok());
    f.reference_ms["gamma3"] = 0.2;
  }
  Predictor p = QuickXgboost(SyntheticSamples(60));
  p.system_id = f.sys;
  p.run_overhead_ms = 0.002;
  WholeModelOptions o;
  o.context = WholeModelOptions::Context::kLeaveFamilyOut;
  WholeModelReport r;
  Status st = ValidateWholeModels(f.models, f.db, &p, o, &r);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(r.rows.size(), 3u);
  for (const WholeModelRow& row : r.rows) {
    EXPECT_EQ(row.context, "lofo:" + row.family);
    // The context of a family comes from the other two models only.
    std::vector<std::string> others;
    for (const std::string& m : f.models)
      if (std::filesystem::path(m).stem().string() != row.model) others.push_back(m);
    ModelContext c;
    std::vector<ContextPoint> points;
    std::vector<std::string> unmeasured;
    ASSERT_TRUE(FitContextOnModels(p, others, f.db, o, &c, &points, &unmeasured).ok());
    ASSERT_EQ(points.size(), 2u);
    Predictor with = p;
    with.context = c;
    Graph g;
    IngestOptions ingest;
    ingest.load_weights = false;
    ASSERT_TRUE(LoadGraph(f.dir.File(row.model + ".onnx"), ingest, &g).ok());
    EXPECT_NEAR(row.predicted_ms, PredictModel(with, g, ModelPredictionOptions{}).ms, 1e-12) << row.model;
    EXPECT_NEAR(row.lone_ms, PredictModel(p, g, ModelPredictionOptions{}).ms, 1e-12);
    EXPECT_NE(row.predicted_ms, row.lone_ms);
  }
  o.context = WholeModelOptions::Context::kFile;  // the file has none: lone layers
  ASSERT_TRUE(ValidateWholeModels(f.models, f.db, &p, o, &r).ok());
  for (const WholeModelRow& row : r.rows) EXPECT_EQ(row.context, "none");
  EXPECT_EQ(r.context_in_sample, 0);

  // CLI: fit the context into a new file; validating with it says it is in-sample.
  const std::string in = f.dir.File("p.dlbp"), out = f.dir.File("ctx.dlbp");
  ASSERT_TRUE(SavePredictor(p, in).ok());
  testing::CommandResult res =
      testing::RunCli({"predictor", "context", in, f.models[0], f.models[1], f.models[2], "--db", f.db, "-o", out});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("fitted on 3 models"), std::string::npos) << res.out;
  Predictor fitted;
  ASSERT_TRUE(LoadPredictor(out, &fitted).ok());
  EXPECT_EQ(fitted.context.models, (std::vector<std::string>{"alpha1", "beta2", "gamma3"}));
  EXPECT_GT(fitted.context.cache_bytes, 0);
  res = testing::RunCli({"predictor", "validate", f.models[0], f.models[1], f.models[2], "--db", f.db, "--predictor", out});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("in-sample for them"), std::string::npos) << res.out;
  res = testing::RunCli(
      {"predictor", "validate", f.models[0], f.models[1], f.models[2], "--db", f.db, "--predictor", out, "--json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const nlohmann::json j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j["context_in_sample"], 3);
  EXPECT_EQ(j["models"][0]["context"], "file");

  // In place; then a target that cannot be replaced (a folder) leaves everything as it was.
  const std::string copy = f.dir.File("copy.dlbp");
  std::filesystem::copy_file(in, copy);
  res = testing::RunCli({"predictor", "context", copy, f.models[0], f.models[1], f.models[2], "--db", f.db, "-o", copy});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  ASSERT_TRUE(LoadPredictor(copy, &fitted).ok());
  EXPECT_EQ(fitted.context.models.size(), 3u);
  const std::string folder = f.dir.File("folder.dlbp");
  std::filesystem::create_directory(folder);
  res = testing::RunCli({"predictor", "context", in, f.models[0], f.models[1], f.models[2], "--db", f.db, "-o", folder});
  EXPECT_NE(res.exit_code, 0);
  EXPECT_NE(res.err.find("folder.dlbp"), std::string::npos) << res.err;
  EXPECT_TRUE(std::filesystem::is_directory(folder));
  for (const auto& entry : std::filesystem::directory_iterator(f.dir.path()))  // no temporary left behind
    EXPECT_EQ(entry.path().filename().string().find("folder.dlbp.tmp"), std::string::npos) << entry.path();
  ASSERT_TRUE(LoadPredictor(in, &fitted).ok());
  EXPECT_FALSE(fitted.context.fitted());

  // Errors: one line, exit 2, and no file written when the fit fails.
  const std::string none = f.dir.File("none.dlbp");
  testing::ExpectOneLineError(testing::RunCli({"predictor", "context", in, f.models[0], "--db", f.db, "-o", none}),
                              "at least 2");
  EXPECT_FALSE(std::filesystem::exists(none));
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "validate", f.models[0], "--db", f.db, "--predictor", in, "--context", "warm"}),
      "--context");
  // Two referenced models: each family has one other to fit its context on, too few.
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "validate", f.models[0], f.models[1], "--db", f.db, "--predictor", in, "--context", "lofo"}),
      "without the context");
  testing::ExpectOneLineError(
      testing::RunCli({"predictor", "validate", f.models[0], "--db", f.db, "--leave-family-out", "--context", "file"}),
      "--context file");
}

}  // namespace
}  // namespace dlbricks
