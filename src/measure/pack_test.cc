#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "dlbricks/measure.h"
#include "dlbricks/suite.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::TempDir;

NodeTime Kernel(const std::string& name, const std::string& op, std::vector<std::string> in,
                std::vector<std::string> out) {
  return {name, op, 0.1, 1, std::move(in), std::move(out)};
}

TEST(AttributePackNodesTest, EngineMadeKernelsGoToTheirBrickAndGlueIsDropped) {
  // Brick 0: a blocked Conv whose reorders ONNX Runtime named itself; brick 1: a Mul.
  const std::vector<NodeTime> nodes = {
      Kernel("glue/1/7", "Relu", {"b1/a/cold"}, {"b1/a"}),
      Kernel("ReorderInput_token_3", "ReorderInput", {"b0/x"}, {"reorder_3"}),
      Kernel("b1/n0", "Mul", {"b1/a", "b1/b"}, {"b1/c"}),
      Kernel("b0/y_nchwc", "Conv", {"reorder_3"}, {"y_nchwc_out"}),
      Kernel("ReorderOutput_token_9", "ReorderOutput", {"y_nchwc_out"}, {"b0/y"}),
      Kernel("glue/0/9", "Slice", {"b0/y"}, {"b0/y/sink"}),
  };
  std::vector<std::vector<NodeTime>> per_brick;
  ASSERT_TRUE(AttributePackNodes(nodes, 2, &per_brick).ok());
  ASSERT_EQ(per_brick.size(), 2u);
  std::vector<std::string> ops0, ops1;
  for (const NodeTime& n : per_brick[0]) ops0.push_back(n.op_type);
  for (const NodeTime& n : per_brick[1]) ops1.push_back(n.op_type);
  EXPECT_EQ(ops0, (std::vector<std::string>{"ReorderInput", "Conv", "ReorderOutput"}));
  EXPECT_EQ(ops1, (std::vector<std::string>{"Mul"}));
}

TEST(AttributePackNodesTest, AKernelOfNoBrickOrOfTwoBricksIsAnError) {
  std::vector<std::vector<NodeTime>> per_brick;
  Status orphan = AttributePackNodes({Kernel("b0/n0", "Relu", {"b0/x"}, {"b0/y"}),
                                      Kernel("stray", "Relu", {"t1"}, {"t2"})},
                                     1, &per_brick);
  EXPECT_FALSE(orphan.ok());
  EXPECT_NE(orphan.message().find("stray"), std::string::npos) << orphan.message();
  Status shared = AttributePackNodes({Kernel("b0/n0", "Add", {"b0/x", "b1/x"}, {"b0/y"})}, 2, &per_brick);
  EXPECT_FALSE(shared.ok());
  Status outside = AttributePackNodes({Kernel("b5/n0", "Relu", {"b5/x"}, {"b5/y"})}, 2, &per_brick);
  EXPECT_FALSE(outside.ok());
}

TEST(CombineVisitsTest, MedianPerOpTypeOrTheFastestVisitWhole) {
  const std::vector<std::vector<OpTypeTime>> visits = {
      {{"Conv", 1.0, 1}, {"Relu", 1.0, 1}},  // fastest in total (2 ms)
      {{"Conv", 2.0, 1}, {"Relu", 3.0, 1}},
      {{"Conv", 3.0, 1}},  // no Relu: counts as 0 for the median
  };
  auto ms = [](const std::vector<OpTypeTime>& v) {
    std::map<std::string, double> m;
    for (const OpTypeTime& t : v) m[t.op_type] = t.ms;
    return m;
  };
  EXPECT_EQ(ms(CombineVisits(visits, false)), (std::map<std::string, double>{{"Conv", 2.0}, {"Relu", 1.0}}));
  EXPECT_EQ(ms(CombineVisits(visits, true)), (std::map<std::string, double>{{"Conv", 1.0}, {"Relu", 1.0}}));
  EXPECT_EQ(ms(CombineVisits({visits[2]}, false)), ms(visits[2]));
}

// A G=1 suite of the small conv net with ONNX Runtime's fusion units.
std::string WriteConvNetSuite(const TempDir& dir) {
  const std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  SuiteOptions so;
  so.decompose.granularity = 1;
  so.decompose.fusion = FusionRules::kOnnxRuntime;
  so.out_dir = dir.File("suite");
  SuiteSummary summary;
  Status st = GenerateSuite(std::vector<std::string>{model}, so, &summary);
  EXPECT_TRUE(st.ok()) << st.message();
  return so.out_dir;
}

RunOptions OrtOptions() {
  RunOptions o;
  o.backend = "onnxruntime";
  EXPECT_TRUE(ProtocolPreset("dlbricks", &o.protocol).ok());
  o.protocol.min_runs = o.protocol.max_runs = 3;
  o.progress = false;
  o.profile_runs = 5;
  return o;
}

std::map<std::string, std::map<std::string, double>> CallsByBrick(const RunSummary& s) {
  std::map<std::string, std::map<std::string, double>> calls;
  for (const RunItem& item : s.items)
    for (const OpTypeTime& t : item.op_times) calls[item.m.key.item_id][t.op_type] = t.calls;
  return calls;
}

TEST(ProfileSuitePackedTest, EveryBrickGetsTheKernelsOfItsLoneProfile) {
  TempDir dir;
  const std::string suite = WriteConvNetSuite(dir);
  std::vector<SuiteBrick> bricks;
  ASSERT_TRUE(ReadSuiteBricks(suite, &bricks).ok());
  ASSERT_GE(bricks.size(), 4u);

  std::unique_ptr<Store> lone_store, packed_store;
  ASSERT_TRUE(OpenStore(dir.File("lone.db"), {}, &lone_store).ok());
  ASSERT_TRUE(OpenStore(dir.File("packed.db"), {}, &packed_store).ok());
  RunOptions lone = OrtOptions();
  lone.profile_ops = true;
  RunSummary lone_summary;
  ASSERT_TRUE(RunSuite(suite, lone, lone_store.get(), &lone_summary).ok());
  RunOptions packed = OrtOptions();
  packed.pack = 3;  // several packs, the last one short
  packed.protocol.rounds = 3;
  std::vector<double> done;  // validate times its reference rounds here
  packed.after_visit = [&](double d) {
    done.push_back(d);
    return Status::OK();
  };
  RunSummary packed_summary;
  Status st = ProfileSuitePacked(suite, packed, packed_store.get(), &packed_summary);
  ASSERT_TRUE(st.ok()) << st.message();
  const size_t packs = (bricks.size() + 2) / 3;
  ASSERT_EQ(done.size(), 3 * packs);  // every pack visited in each of the 3 rounds
  EXPECT_TRUE(std::is_sorted(done.begin(), done.end()));
  EXPECT_NEAR(done[packs - 1], 1.0 / 3, 1e-12);  // the first round ends a third of the way
  EXPECT_DOUBLE_EQ(done.back(), 1.0);

  EXPECT_EQ(packed_summary.profiled, static_cast<int>(bricks.size()));
  EXPECT_EQ(packed_summary.failed, 0);
  EXPECT_TRUE(packed_summary.warnings.empty() || packed_summary.warnings.front().find("pack") == std::string::npos);
  // The same kernels per brick, layout reorders included: the glue changes no layout plan.
  EXPECT_EQ(CallsByBrick(packed_summary), CallsByBrick(lone_summary));
  double wall = 0;
  for (const RunItem& item : packed_summary.items) {
    EXPECT_GT(item.profile_wall_s, 0) << item.m.name;
    wall += item.profile_wall_s;
    for (const OpTypeTime& t : item.op_times) EXPECT_GT(t.ms, 0) << item.m.name << " " << t.op_type;
  }
  EXPECT_NEAR(wall, packed_summary.profile_wall_s, 1e-9);

  // Stored like lone profiles, and not profiled again.
  std::vector<OpProfileRow> rows;
  ASSERT_TRUE(packed_store->ListOpProfiles(packed_summary.system_id, &rows).ok());
  EXPECT_FALSE(rows.empty());
  RunSummary again;
  done.clear();
  ASSERT_TRUE(ProfileSuitePacked(suite, packed, packed_store.get(), &again).ok());
  EXPECT_TRUE(done.empty());

  // pack_rounds overrides the protocol's rounds for the packs: one visit each.
  std::unique_ptr<Store> once_store;
  ASSERT_TRUE(OpenStore(dir.File("once.db"), {}, &once_store).ok());
  packed.pack_rounds = 1;
  RunSummary once;
  ASSERT_TRUE(ProfileSuitePacked(suite, packed, once_store.get(), &once).ok());
  EXPECT_EQ(done.size(), packs);
  EXPECT_EQ(once.profiled, static_cast<int>(bricks.size()));
  // Packs of one are profiled by op type without the saved graph: the same kernels per brick.
  std::unique_ptr<Store> lone_pack_store;
  ASSERT_TRUE(OpenStore(dir.File("lone_pack.db"), {}, &lone_pack_store).ok());
  packed.pack = 1;
  packed.protocol.fastest_round = true;
  RunSummary lone_packs;
  ASSERT_TRUE(ProfileSuitePacked(suite, packed, lone_pack_store.get(), &lone_packs).ok());
  EXPECT_EQ(lone_packs.profiled, static_cast<int>(bricks.size()));
  EXPECT_EQ(CallsByBrick(lone_packs), CallsByBrick(lone_summary));
  // Bricks over cold_weight_bytes get packs of their own (profiled with flushed caches), after
  // the others: one visit for the pack of the rest, one per heavy brick.
  std::unique_ptr<Store> cold_store;
  ASSERT_TRUE(OpenStore(dir.File("cold.db"), {}, &cold_store).ok());
  packed.pack = 64;
  packed.cold_weight_bytes = 2000;  // only the 8x8x3x3 convolution's brick (2.3 KB) is heavier
  const size_t heavy = 1;
  done.clear();
  RunSummary cold;
  ASSERT_TRUE(ProfileSuitePacked(suite, packed, cold_store.get(), &cold).ok());
  EXPECT_EQ(done.size(), 1 + heavy);
  EXPECT_EQ(cold.profiled, static_cast<int>(bricks.size()));
  EXPECT_EQ(CallsByBrick(cold), CallsByBrick(lone_summary));
  EXPECT_EQ(again.profiled, 0);
  EXPECT_EQ(again.skipped, static_cast<int>(bricks.size()));
}

TEST(ProfileSuitePackedTest, ABrokenBrickCostsOnlyItself) {
  TempDir dir;
  const std::string suite = WriteConvNetSuite(dir);
  std::vector<SuiteBrick> bricks;
  ASSERT_TRUE(ReadSuiteBricks(suite, &bricks).ok());
  ASSERT_GE(bricks.size(), 2u);
  // Valid protobuf, but a node of an op no engine knows: the pack fails in the engine.
  onnx::ModelProto broken;
  {
    testing::ModelBuilder b;
    b.Input("x", {1, 4});
    b.Node("NoSuchOp", {"x"}, {"y"});
    b.Output("y");
    broken = b.Build();
  }
  testing::WriteFile(bricks[1].path, broken.SerializeAsString());
  std::unique_ptr<Store> store;
  ASSERT_TRUE(OpenStore(dir.File("p.db"), {}, &store).ok());
  RunOptions o = OrtOptions();
  o.pack = 64;
  RunSummary summary;
  Status st = ProfileSuitePacked(suite, o, store.get(), &summary);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(summary.failed, 1);
  EXPECT_EQ(summary.profiled, static_cast<int>(bricks.size()) - 1);
  ASSERT_FALSE(summary.warnings.empty());
  for (const RunItem& item : summary.items) {
    if (item.m.key.item_id == bricks[1].id) {
      EXPECT_EQ(item.m.status, "failed");
      EXPECT_NE(item.m.error.find(bricks[1].id), std::string::npos) << item.m.error;
    } else {
      EXPECT_EQ(item.m.status, "ok") << item.m.error;
      EXPECT_FALSE(item.op_times.empty());
    }
  }
}

}  // namespace
}  // namespace dlbricks
