#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>

#include "dlbricks/report.h"
#include "report_testing.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using nlohmann::json;

class CompareTest : public report_testing::FakeWorldTest {};

// The slow system's latency constructed from its bricks with the estimate module.
double ConstructedOnSlow(const std::string& db, const std::string& system, const std::string& model) {
  StoreOptions so;
  so.read_only = true;
  std::unique_ptr<Store> store;
  EXPECT_TRUE(OpenStore(db, so, &store).ok());
  StoreQuery q{system, "dlbricks", 1};
  BrickLatencies lat;
  EXPECT_TRUE(LoadBrickLatencies(store.get(), q, &lat).ok());
  Graph g;
  EXPECT_TRUE(LoadGraph(model, {}, &g).ok());
  ModelDecomposition d;
  EXPECT_TRUE(DecomposeModel(g, {}, &d).ok());
  ModelEstimate e;
  EXPECT_TRUE(ConstructModel(&g, d, lat, {}, &e).ok());
  return e.latency_ms;
}

TEST_F(CompareTest, RanksMeasuredFastSystemAboveConstructedSlowOne) {
  CompareOptions o;
  o.db = world_->db;
  CompareResult r;
  Status st = CompareModels(world_->models, o, &r);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(r.models.size(), 2u);
  for (size_t i = 0; i < r.models.size(); ++i) {
    const CompareModel& m = r.models[i];
    ASSERT_EQ(m.entries.size(), 2u) << m.model;
    const CompareEntry& first = m.entries[0];
    const CompareEntry& second = m.entries[1];
    EXPECT_EQ(first.rank, 1);
    EXPECT_EQ(first.system_id, world_->fast_system);
    EXPECT_EQ(first.latency_source, "measured");
    EXPECT_EQ(second.rank, 2);
    EXPECT_EQ(second.system_id, world_->slow_system);
    EXPECT_EQ(second.latency_source, "constructed");
    EXPECT_EQ(second.granularity, 1);
    EXPECT_LT(first.latency_ms, second.latency_ms);
    EXPECT_DOUBLE_EQ(second.latency_ms, ConstructedOnSlow(world_->db, world_->slow_system, world_->models[i]));
    // Throughput only where models were measured: the best of batches 1, 2, 4.
    EXPECT_TRUE(first.best_batch == 1 || first.best_batch == 2 || first.best_batch == 4);
    EXPECT_GT(first.best_throughput_per_s, 1000.0 / first.latency_ms * 0.999);
    EXPECT_EQ(second.best_batch, 0);
    EXPECT_NE(first.system_summary.find("fake"), std::string::npos);
    EXPECT_NE(first.system_summary.find("latency_scale=1"), std::string::npos);
  }
}

TEST_F(CompareTest, ConstructedOnlyRanksBothSystemsByTheirBricks) {
  CompareOptions o;
  o.db = world_->db;
  o.prefer_measured = false;
  CompareResult r;
  ASSERT_TRUE(CompareModels({world_->models[0]}, o, &r).ok());
  ASSERT_EQ(r.models[0].entries.size(), 2u);
  for (const CompareEntry& e : r.models[0].entries) {
    EXPECT_EQ(e.latency_source, "constructed");
    EXPECT_EQ(e.granularity, 1);
  }
  // Same bricks, latency scale 1 vs 4: the fast system wins by about 4x.
  EXPECT_EQ(r.models[0].entries[0].system_id, world_->fast_system);
  EXPECT_GT(r.models[0].entries[1].latency_ms, 2 * r.models[0].entries[0].latency_ms);
  testing::CommandResult res =
      testing::RunCli({"compare", world_->models[0], "--db", world_->db, "--constructed-only", "--csv"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_EQ(res.out.find(",measured,"), std::string::npos) << res.out;
}

TEST_F(CompareTest, UnknownProtocolLeavesSystemsUnranked) {
  CompareOptions o;
  o.db = world_->db;
  o.protocol = "embench";
  CompareResult r;
  ASSERT_TRUE(CompareModels({world_->models[0]}, o, &r).ok());
  for (const CompareEntry& e : r.models[0].entries) {
    EXPECT_EQ(e.rank, 0);
    EXPECT_EQ(e.latency_source, "none");
  }
  EXPECT_NE(CompareTable(r).find("none"), std::string::npos);
}

TEST_F(CompareTest, CliJsonAndCsv) {
  testing::CommandResult res = testing::RunCli({"compare", world_->models[0], "--db", world_->db, "--json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const json j = json::parse(res.out);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["models"][0]["model"], "convnet");
  EXPECT_EQ(j["models"][0]["systems"][0]["rank"], 1);
  EXPECT_EQ(j["models"][0]["systems"][0]["latency_source"], "measured");
  EXPECT_EQ(j["models"][0]["systems"][1]["latency_source"], "constructed");
  EXPECT_EQ(j["models"][0]["systems"][1]["granularity"], 1);
  EXPECT_TRUE(j["models"][0]["systems"][1]["best_batch"].is_null());

  res = testing::RunCli({"compare", world_->models[0], world_->models[1], "--db", world_->db, "--csv"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_EQ(res.out.rfind("model,rank,system_id,latency_source,", 0), 0u);
  EXPECT_NE(res.out.find("\nconvnet,1," + world_->fast_system + ",measured,"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("\nmlp,2," + world_->slow_system + ",constructed,1,"), std::string::npos) << res.out;

  res = testing::RunCli({"compare", world_->models[0], "--db", world_->db});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("constructed G=1"), std::string::npos) << res.out;
}

TEST_F(CompareTest, ReportCliWritesHtmlJsonCsv) {
  testing::TempDir out;
  for (const char* name : {"r.html", "r.json", "r.csv"}) {
    testing::CommandResult res =
        testing::RunCli({"report", "--db", world_->db, "--models", world_->models[0], world_->models[1], "--suite",
                         world_->suite, "--validation", world_->validation_json, "-o", out.File(name)});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    EXPECT_NE(res.out.find("10 of 10 figures, 2 systems"), std::string::npos) << res.out;
    EXPECT_EQ(res.err.find("left out"), std::string::npos) << res.err;
  }
  const json j = json::parse(testing::ReadFile(out.File("r.json")));
  EXPECT_EQ(j["figures"].size(), 10u);
  EXPECT_EQ(j["systems"].size(), 2u);
  // Fig. 11 rows: system label, protocol, G, models.
  EXPECT_TRUE(std::regex_search(testing::ReadFile(out.File("r.csv")),
                                std::regex("\ndlbricks_fig11_geomean_vs_g,S[12],dlbricks,1,2,")));
  EXPECT_EQ(testing::ReadFile(out.File("r.html")).rfind("<!DOCTYPE html>", 0), 0u);
}

TEST(CompareCli, BadStoresExitTwoNamingTheFileAndLeaveItUntouched) {
  testing::TempDir dir;
  const std::string model = testing::SmallConvNet(1).Write(dir.path(), "m.onnx");
  const std::string missing = dir.File("missing.db");
  std::string junk(8192, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string junk_db = dir.File("junk.db");
  testing::WriteFile(junk_db, junk);
  for (const std::string& db : {missing, junk_db}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"compare", model, "--db", db},
          std::vector<std::string>{"report", "--db", db, "-o", dir.File("r.html")}}) {
      testing::CommandResult res = testing::RunCli(args);
      EXPECT_EQ(res.exit_code, 2) << args[0] << " " << db << ": " << res.err;
      EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;
      EXPECT_EQ(res.err.rfind("dlbricks: ", 0), 0u) << res.err;
      EXPECT_NE(res.err.find(db), std::string::npos) << res.err;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(missing));
  EXPECT_FALSE(std::filesystem::exists(dir.File("r.html")));
  EXPECT_EQ(testing::ReadFile(junk_db), junk);
}

TEST(CompareCli, EmptyStoreAndBadFlags) {
  testing::TempDir dir;
  const std::string model = testing::SmallConvNet(1).Write(dir.path(), "m.onnx");
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(OpenStore(dir.File("empty.db"), {}, &store).ok());
  }
  testing::CommandResult res = testing::RunCli({"compare", model, "--db", dir.File("empty.db")});
  EXPECT_EQ(res.exit_code, 2) << res.err;
  EXPECT_NE(res.err.find("no systems"), std::string::npos) << res.err;
  res = testing::RunCli({"compare", model, "--db", dir.File("empty.db"), "-G", "0"});
  EXPECT_EQ(res.exit_code, 2) << res.err;
  res = testing::RunCli({"compare", model, "--db", dir.File("empty.db"), "--mode", "zigzag"});
  EXPECT_EQ(res.exit_code, 2) << res.err;
  res = testing::RunCli({"report", "--db", dir.File("empty.db"), "--validation", dir.File("nope.json"), "-o",
                         dir.File("r.html")});
  EXPECT_EQ(res.exit_code, 2) << res.err;
  EXPECT_NE(res.err.find("nope.json"), std::string::npos) << res.err;
}

}  // namespace
}  // namespace dlbricks
