#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

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
    EXPECT_EQ(a.model.graph().node_size(), 1);
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
    ASSERT_EQ(g.layers.size(), 1u);
    EXPECT_EQ(OpFamily(g.layers[0].op_type), net.family);
  }
}

// Latency that depends on the features in a learnable way: ms = 1e-6*macs + 1e-7*bytes + c.
std::vector<Sample> SyntheticSamples(int n) {
  std::vector<Sample> out;
  SweepOptions o;
  TempDir dir;
  for (int i = 0; i < n; ++i) {
    SweepNetwork net;
    EXPECT_TRUE(MakeSweepNetwork(5, i, {"conv", "gemm", "act"}, o, &net).ok());
    const std::string path = dir.File("n.onnx");
    std::ofstream(path, std::ios::binary) << net.model.SerializeAsString();
    Graph g;
    EXPECT_TRUE(LoadGraph(path, IngestOptions{}, &g).ok());
    Sample s;
    s.item_id = BrickSignature(g, 0, 1).Hex();
    s.layer = DescribeLayer(g, 0);
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

TEST(Integration, FillsOnlyMissingSingleLayerBricks) {
  const std::vector<Sample> samples = SyntheticSamples(60);
  TrainOptions o;
  o.kinds = {ModelKind::kXgboost};
  o.xgb_rounds = 20;
  std::map<std::string, Predictor> predictors;
  TrainReport report;
  ASSERT_TRUE(TrainPredictors(samples, o, &predictors, &report).ok());
  const Predictor& p = predictors.at("xgboost");
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

}  // namespace
}  // namespace dlbricks
