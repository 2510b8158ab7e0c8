#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "dlbricks/estimate.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

Hash128 Id(int i) { return HashBytes("brick" + std::to_string(i)); }

ModelDecomposition Chain(std::vector<std::pair<int, int>> windows) {
  ModelDecomposition d;
  d.model = "m";
  for (size_t i = 0; i < windows.size(); ++i) {
    d.bricks.push_back(BrickInstance{windows[i].first, windows[i].second, Id(static_cast<int>(i))});
    if (i > 0) d.edges.push_back({static_cast<int>(i) - 1, static_cast<int>(i)});
  }
  d.layers = windows.empty() ? 0 : windows.back().second;
  return d;
}

TEST(ConstructSequential, ExactWhenBrickLatenciesAddUp) {
  ModelDecomposition d = Chain({{0, 2}, {2, 3}, {3, 6}});
  BrickLatencies lat{{Id(0), {1.5}}, {Id(1), {0.25}}, {Id(2), {3.0}}};
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, {}, &e).ok());
  EXPECT_DOUBLE_EQ(e.latency_ms, 4.75);
  EXPECT_EQ(e.measured, 3);
  EXPECT_EQ(e.missing, 0);
  ASSERT_EQ(e.bricks.size(), 3u);
}

TEST(ConstructSequential, RepeatedBrickCountsEveryOccurrence) {
  ModelDecomposition d = Chain({{0, 1}, {1, 2}});
  d.bricks[1].id = d.bricks[0].id;  // the same layer twice
  BrickLatencies lat{{Id(0), {2.0}}};
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, {}, &e).ok());
  EXPECT_DOUBLE_EQ(e.latency_ms, 4.0);
}

TEST(ConstructParallel, CriticalPathOfABranchingModel) {
  // 0 -> {1, 2} -> 3: branches of 5 ms and 2 ms.
  ModelDecomposition d;
  d.model = "diamond";
  d.layers = 4;
  for (int i = 0; i < 4; ++i) d.bricks.push_back(BrickInstance{i, i + 1, Id(i)});
  d.edges = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
  BrickLatencies lat{{Id(0), {1}}, {Id(1), {5}}, {Id(2), {2}}, {Id(3), {1}}};
  EstimateOptions opt;
  opt.construction = ConstructionMode::kParallel;
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, opt, &e).ok());
  EXPECT_DOUBLE_EQ(e.latency_ms, 7.0);
  EXPECT_EQ(e.critical_path, (std::vector<int>{0, 1, 3}));
  // Swap the branch costs: the path follows the other branch.
  lat[Id(1)].ms = 0.5;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, opt, &e).ok());
  EXPECT_DOUBLE_EQ(e.latency_ms, 4.0);
  EXPECT_EQ(e.critical_path, (std::vector<int>{0, 2, 3}));
  // Sequential construction of the same model is the plain sum.
  opt.construction = ConstructionMode::kSequential;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, opt, &e).ok());
  EXPECT_DOUBLE_EQ(e.latency_ms, 4.5);
}

TEST(Construct, MissingBricksAreReported) {
  ModelDecomposition d = Chain({{0, 1}, {1, 2}, {2, 3}});
  BrickLatencies lat{{Id(0), {1}}};
  ModelEstimate e;
  Status st = ConstructModel(nullptr, d, lat, {}, &e);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("2 brick(s) not measured"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--allow-partial"), std::string::npos);
  EstimateOptions partial;
  partial.allow_partial = true;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, partial, &e).ok());
  EXPECT_EQ(e.missing, 2);
  EXPECT_EQ(e.measured, 1);
  EXPECT_EQ(e.bricks[1].source, BrickSource::kMissing);
  EXPECT_DOUBLE_EQ(e.latency_ms, 1.0);
}

TEST(Construct, PredictedBricksAreMarkedWithUncertainty) {
  ModelDecomposition d = Chain({{0, 1}, {1, 2}});
  BrickLatencies lat{{Id(0), {1, BrickSource::kMeasured, 0}}, {Id(1), {2, BrickSource::kPredicted, 0.3}}};
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, {}, &e).ok());
  EXPECT_EQ(e.predicted, 1);
  EXPECT_DOUBLE_EQ(e.uncertainty_ms, 0.3);
  EXPECT_DOUBLE_EQ(e.latency_ms, 3.0);
}

TEST(Construct, OverlapChoosesTheFastestCover) {
  // Windows [0,1) [1,2) [2,3) and the overlapping [0,2) [1,3): a fused pair is cheaper.
  ModelDecomposition d;
  d.model = "overlap";
  d.layers = 3;
  d.bricks = {{0, 1, Id(0)}, {0, 2, Id(3)}, {1, 2, Id(1)}, {1, 3, Id(4)}, {2, 3, Id(2)}};
  BrickLatencies lat{{Id(0), {1}}, {Id(1), {1}}, {Id(2), {1}}, {Id(3), {1.2}}, {Id(4), {3}}};
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, {}, &e).ok());
  EXPECT_DOUBLE_EQ(e.latency_ms, 2.2);
  ASSERT_EQ(e.bricks.size(), 2u);
  EXPECT_EQ(e.bricks[0].end, 2);
}

TEST(Construct, OverheadIsPaidOncePerModel) {
  ModelDecomposition d = Chain({{0, 1}, {1, 2}, {2, 3}});
  BrickLatencies lat{{Id(0), {1.1}}, {Id(1), {1.1}}, {Id(2), {0.05}}};
  EstimateOptions opt;
  opt.run_overhead_ms = 0.1;
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, opt, &e).ok());
  // (1.0 + 1.0 + 0 clamped) + 0.1 once.
  EXPECT_NEAR(e.latency_ms, 2.1, 1e-12);
}

TEST(Construct, KernelTimesPayTheOverheadOnlyOnce) {
  ModelDecomposition d = Chain({{0, 1}, {1, 2}, {2, 3}});
  BrickLatencies lat{{Id(0), {1.1}}, {Id(1), {1.1}}, {Id(2), {0.05}}};
  EstimateOptions opt;
  opt.kernel_times = true;
  opt.run_overhead_ms = 0.1;
  ModelEstimate e;
  ASSERT_TRUE(ConstructModel(nullptr, d, lat, opt, &e).ok());
  // Kernel times hold no overhead: nothing subtracted per brick, 0.1 added once.
  EXPECT_NEAR(e.latency_ms, 2.25 + 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(e.bricks[2].ms, 0.05);
  lat.erase(Id(1));
  Status st = ConstructModel(nullptr, d, lat, opt, &e);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("1 brick(s) not profiled"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--profile-ops"), std::string::npos) << st.message();
}

TEST(Construct, RejectsAnIncompleteCover) {
  ModelDecomposition d = Chain({{0, 1}, {2, 3}});
  d.layers = 3;
  ModelEstimate e;
  EXPECT_FALSE(ConstructModel(nullptr, d, {}, {}, &e).ok());
}

TEST(ParseConstruction, NamesAndErrors) {
  ConstructionMode m;
  EXPECT_TRUE(ParseConstruction("parallel", &m).ok());
  EXPECT_EQ(m, ConstructionMode::kParallel);
  Status st = ParseConstruction("fastest", &m);
  EXPECT_EQ(st.ExitCode(), 2);
}

}  // namespace
}  // namespace dlbricks

namespace dlbricks {
namespace {

// The cost model stitching is built on: a window [a, b) of a chain costs its units, the
// fusion gains between adjacent units inside it, an entry term of its first unit, an exit term
// of its last unit (layout reorders), and the per-run overhead.
struct BoundaryCostChain {
  std::vector<double> unit, pair_gain, entry, exit;
  double overhead = 0.004;
  explicit BoundaryCostChain(int n) {
    for (int i = 0; i < n; ++i) {
      unit.push_back(0.1 * (i % 4 + 1));
      pair_gain.push_back(i % 3 == 0 ? -0.03 : 0.0);  // e.g. an activation fused into a conv
      entry.push_back(0.02 + 0.001 * i);
      exit.push_back(0.015 + 0.002 * (i % 5));
    }
  }
  double Window(int a, int b) const {
    double ms = entry[static_cast<size_t>(a)] + exit[static_cast<size_t>(b - 1)] + overhead;
    for (int i = a; i < b; ++i) ms += unit[static_cast<size_t>(i)];
    for (int i = a; i + 1 < b; ++i) ms += pair_gain[static_cast<size_t>(i)];
    return ms;
  }
};

Hash128 WindowId(std::pair<int, int> w) { return HashBytes(std::to_string(w.first) + ":" + std::to_string(w.second)); }

TEST(ConstructStitched, ExactUnderTheBoundaryCostModel) {
  const int n = 11;
  BoundaryCostChain cost(n);
  for (int G : {2, 3, 4}) {
    ModelDecomposition d;
    d.model = "chain";
    d.layers = n;
    // Windows as StitchModelSubgraphs makes them on a chain: [0,G), [G-1, 2G-1), ...
    BrickLatencies lat;
    for (int a = 0;;) {
      int b = std::min(a + G, n);
      d.bricks.push_back(BrickInstance{a, b, WindowId({a, b})});
      lat[WindowId({a, b})] = {cost.Window(a, b)};
      if (b == n) break;
      d.seams.push_back(BrickInstance{b - 1, b, WindowId({b - 1, b})});
      lat[WindowId({b - 1, b})] = {cost.Window(b - 1, b)};
      a = b - 1;
    }
    ModelEstimate e;
    ASSERT_TRUE(ConstructModel(nullptr, d, lat, {}, &e).ok());
    EXPECT_NEAR(e.latency_ms, cost.Window(0, n), 1e-12) << "G=" << G;
    EXPECT_EQ(e.measured, static_cast<int>(d.bricks.size() + d.seams.size()));
    // The paper's cover of the same chain pays every boundary and misses every fusion gain.
    double plain = 0;
    for (int a = 0; a < n; a += G) plain += cost.Window(a, std::min(a + G, n));
    EXPECT_GT(std::fabs(plain - cost.Window(0, n)), 0.05) << "G=" << G;
    // A missing seam is reported like a missing brick; parallel construction is refused.
    BrickLatencies partial = lat;
    partial.erase(d.seams[0].id);
    EXPECT_EQ(ConstructModel(nullptr, d, partial, {}, &e).code(), Status::Code::kNotFound);
    EstimateOptions par;
    par.construction = ConstructionMode::kParallel;
    EXPECT_FALSE(ConstructModel(nullptr, d, lat, par, &e).ok());
  }
}

using testing::ModelBuilder;
using testing::TempDir;

// Conv -> <middle ops> -> Conv -> Flatten, one brick per stage, each 1 ms of kernel time.
// Convs take and give the blocked layout (reorders: first 0.1 in / 0.2 out, second 0.3 / 0.4).
class ModelReordersTest : public ::testing::Test {
 protected:
  Status Build(const std::vector<std::string>& middle) {
    ModelBuilder b;
    b.Input("x", {1, 16, 8, 8}).Weight("w1", {16, 16, 1, 1}).Weight("w2", {16, 16, 1, 1});
    b.Node("Conv", {"x", "w1"}, {"c1"});
    std::string last = "c1";
    for (size_t i = 0; i < middle.size(); ++i) {
      const std::string out = "m" + std::to_string(i);
      if (middle[i] == "Mul") b.Node("Mul", {"c1", last}, {out});  // x * gate(x)
      else b.Node(middle[i], {last}, {out});
      last = out;
    }
    b.Node("Conv", {last, "w2"}, {"c2"});
    b.Node("Flatten", {"c2"}, {"y"});
    b.Output("y");
    DLB_RETURN_IF_ERROR(LoadGraph(b.Write(dir_.path(), "m.onnx"), {}, &graph_));
    const int n = static_cast<int>(graph_.layers.size());
    const int mid = static_cast<int>(middle.size());
    d_ = Chain({{0, 1}, {1, 1 + mid}, {1 + mid, 2 + mid}, {2 + mid, n}});
    lat_.clear();
    for (int i = 0; i < 4; ++i) lat_[Id(i)] = {1.0};
    auto blocked = [&](int i, double in, double out) {
      lat_[Id(i)].blocked_in = lat_[Id(i)].blocked_out = true;
      lat_[Id(i)].reorder_in_ms = in;
      lat_[Id(i)].reorder_out_ms = out;
    };
    blocked(0, 0.1, 0.2);
    blocked(2, 0.3, 0.4);
    return Status::OK();
  }
  double Construct(bool model_reorders, const Graph* graph) {
    EstimateOptions o;
    o.kernel_times = true;
    o.model_reorders = model_reorders;
    ModelEstimate e;
    EXPECT_TRUE(ConstructModel(graph, d_, lat_, o, &e).ok());
    EXPECT_NEAR(e.latency_ms - e.reorder_ms, 4.0, 1e-12);
    return e.reorder_ms;
  }
  TempDir dir_;
  Graph graph_;
  ModelDecomposition d_;
  BrickLatencies lat_;
};

TEST_F(ModelReordersTest, TransparentGateKeepsTheBlockedLayout) {
  ASSERT_TRUE(Build({"Sigmoid", "Mul"}).ok());
  // Entry into the first conv and exit before Flatten only (ONNX Runtime's NCHWc transform).
  EXPECT_NEAR(Construct(true, &graph_), 0.1 + 0.4, 1e-12);
  EXPECT_DOUBLE_EQ(Construct(false, &graph_), 0);  // the ablation
  EXPECT_DOUBLE_EQ(Construct(true, nullptr), 0);   // no graph, no layout
}

TEST_F(ModelReordersTest, PlainLayoutOpBetweenConvsPaysBothReorders) {
  ASSERT_TRUE(Build({"Erf"}).ok());
  EXPECT_NEAR(Construct(true, &graph_), 0.1 + 0.2 + 0.3 + 0.4, 1e-12);
}

TEST_F(ModelReordersTest, TransparentProducerReordersAtTheModelsRate) {
  // Relu stays blocked; with the second conv reading the plain layout, the Relu output (as
  // large as the first conv's) is reordered at the model's measured rate: 0.2 ms.
  ASSERT_TRUE(Build({"Relu"}).ok());
  lat_[Id(2)] = {1.0};
  EXPECT_NEAR(Construct(true, &graph_), 0.1 + 0.2, 1e-12);
}

}  // namespace
}  // namespace dlbricks
