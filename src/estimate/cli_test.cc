// Bad input to `dlbricks estimate` and `dlbricks validate`: one line naming the problem, exit 2,
// nothing stored is lost.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::RunCli;

// One line on stderr and nothing on stdout.
void ExpectErrorOnly(const testing::CommandResult& r, const std::string& needle) {
  testing::ExpectOneLineError(r, needle);
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(EstimateCli, MissingStoreIsNamed) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  ExpectErrorOnly(RunCli({"estimate", model, "--db", dir.File("none.db")}), "none.db");
}

TEST(EstimateCli, RandomBytesStoreIsRejectedAndUntouched) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  const std::string junk(4096, '\x5a');
  testing::WriteFile(dir.File("junk.db"), junk);
  ExpectErrorOnly(RunCli({"estimate", model, "--db", dir.File("junk.db")}), "junk.db");
  EXPECT_EQ(testing::ReadFile(dir.File("junk.db")), junk);
}

TEST(EstimateCli, UnmeasuredBricksAreReportedNotGuessed) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  std::string db = dir.File("r.db");
  // Measure only the model end to end: the store then knows the system but no brick.
  auto m = RunCli({"measure", model, "--backend", "fake", "--min-runs", "3", "--db", db});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  ExpectErrorOnly(RunCli({"estimate", model, "--db", db}), "9 brick(s) not measured");
  auto partial = RunCli({"estimate", model, "--db", db, "--allow-partial", "--csv"});
  ASSERT_EQ(partial.exit_code, 0) << partial.err;
  // model,constructed_ms,measured_ms,normalised,measured_bricks,predicted_bricks,missing_bricks
  EXPECT_NE(partial.out.find(",0,0,9\n"), std::string::npos) << partial.out;
}

TEST(EstimateCli, KernelTimesAgreeWithValidateAndNeedProfiles) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  std::string db = dir.File("r.db");
  // The fake profiler adds 1 ms to every kernel it reports (far above what a loaded machine adds
  // to the spun latencies), so the calibrated bias below is positive however busy the host is.
  const std::string bias = "profile_bias_us=1000";
  // Latencies but no op profiles: every brick is missing for kernel-time construction.
  auto v = RunCli({"validate", model, "--backend", "fake", "--backend-option", bias, "--min-runs", "3", "--db", db,
                   "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  const std::string protocol = nlohmann::json::parse(v.out)["protocol"];
  ExpectErrorOnly(RunCli({"estimate", model, "--db", db, "--protocol", protocol, "--kernel-times"}),
                  "9 brick(s) not profiled");
  // validate --kernel-times profiles the bricks and measures the empty-network probe; estimate
  // then constructs the same latency from the store (the probe as the overhead).
  v = RunCli({"validate", model, "--backend", "fake", "--backend-option", bias, "--min-runs", "3", "--kernel-times",
              "--profile-runs", "2", "--db", db, "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  auto jv = nlohmann::json::parse(v.out);
  EXPECT_TRUE(jv["kernel_times"].get<bool>());
  EXPECT_GT(jv["run_overhead_ms"].get<double>(), 0);
  auto e = RunCli({"estimate", model, "--db", db, "--protocol", protocol, "--kernel-times", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto je = nlohmann::json::parse(e.out);
  EXPECT_TRUE(je["kernel_times"].get<bool>());
  EXPECT_DOUBLE_EQ(je["run_overhead_ms"].get<double>(), jv["run_overhead_ms"].get<double>());
  EXPECT_NEAR(je["models"][0]["constructed_ms"].get<double>(), jv["models"][0]["constructed_ms"].get<double>(), 1e-9);
  // --overhead-ms overrides the probe.
  e = RunCli({"estimate", model, "--db", db, "--protocol", protocol, "--kernel-times", "--overhead-ms", "0", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NEAR(nlohmann::json::parse(e.out)["models"][0]["constructed_ms"].get<double>(),
              jv["models"][0]["constructed_ms"].get<double>() - jv["run_overhead_ms"].get<double>(), 1e-9);
  ExpectErrorOnly(RunCli({"validate", model, "--backend", "fake", "--kernel-times", "--profile-runs", "0", "--db", db}),
                  "--profile-runs must be >= 1");
  // The bricks are now both timed (first validate) and profiled: the profiler's per-kernel cost
  // is calibrated on them and taken off every kernel.
  auto b = RunCli({"estimate", model, "--db", db, "--protocol", protocol, "--kernel-times", "--profiler-bias", "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto jb = nlohmann::json::parse(b.out);
  EXPECT_GT(jb["profiler_bias_ms"].get<double>(), 0);
  EXPECT_LT(jb["models"][0]["constructed_ms"].get<double>(), je["models"][0]["constructed_ms"].get<double>());
  ExpectErrorOnly(RunCli({"estimate", model, "--db", db, "--profiler-bias"}), "--profiler-bias needs --kernel-times");
  ExpectErrorOnly(RunCli({"estimate", model, "--db", db, "--kernel-times", "--profiler-bias"}),
                  "r.db: profiler bias: 0 brick(s) both timed under protocol dlbricks");
  ExpectErrorOnly(RunCli({"validate", model, "--backend", "fake", "--profiler-bias", "3", "--db", db}),
                  "--profiler-bias needs --kernel-times");
}

// estimate --context lofo scales each model as validate --context lofo does, from the same
// store; a model needs two referenced models of other families.
TEST(EstimateCli, ContextLofoAgreesWithValidate) {
  testing::TempDir dir;
  std::vector<std::string> models;
  for (auto [seed, name] :
       std::vector<std::pair<int, std::string>>{{1, "alpha.onnx"}, {50, "beta.onnx"}, {99, "gamma.onnx"}})
    models.push_back(testing::SmallConvNet(seed).Write(dir.path(), name));
  const std::string db = dir.File("r.db");
  std::vector<std::string> args = {"validate"};
  args.insert(args.end(), models.begin(), models.end());
  for (const char* a : {"--backend", "fake", "--min-runs", "3", "--context", "lofo", "--json", "--db"}) args.push_back(a);
  args.push_back(db);
  auto v = RunCli(args);
  ASSERT_EQ(v.exit_code, 0) << v.err;
  auto jv = nlohmann::json::parse(v.out);
  EXPECT_EQ(jv["context"], "lofo");
  args = {"estimate"};
  args.insert(args.end(), models.begin(), models.end());
  const std::string protocol = jv["protocol"].get<std::string>();
  for (const std::string& a : std::vector<std::string>{"--db", db, "--protocol", protocol, "--context", "lofo", "--json"})
    args.push_back(a);
  auto e = RunCli(args);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto je = nlohmann::json::parse(e.out);
  EXPECT_EQ(je["context"], "lofo");
  ASSERT_EQ(je["models"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(je["models"][i]["context_scale"].get<double>(), jv["models"][i]["context_scale"].get<double>(), 1e-9);
    EXPECT_NEAR(je["models"][i]["constructed_ms"].get<double>(), jv["models"][i]["constructed_ms"].get<double>(), 1e-9);
  }
  ExpectErrorOnly(RunCli({"estimate", models[0], models[1], "--db", db, "--protocol", protocol, "--context", "lofo"}),
                  "estimate --context lofo: alpha has 1 referenced model outside its family 'alpha'; needs 2");
  ExpectErrorOnly(RunCli({"estimate", models[0], "--db", db, "--context", "some"}), "--context must be none or lofo");
}

TEST(ValidateCli, BadGranularityAndMissingModel) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  ExpectErrorOnly(RunCli({"validate", model, "-G", "0..3", "--backend", "fake", "--db", dir.File("r.db")}),
                     "granularity");
  ExpectErrorOnly(RunCli({"validate", model, "-G", "x", "--backend", "fake", "--db", dir.File("r.db")}), "-G");
  ExpectErrorOnly(RunCli({"validate", dir.File("absent.onnx"), "--backend", "fake", "--db", dir.File("r.db")}),
                     "absent.onnx");
  ExpectErrorOnly(RunCli({"validate", model, "--backend", "fake", "--reference-passes", "0", "--db", dir.File("r.db")}),
                  "reference passes");
  ExpectErrorOnly(RunCli({"validate", model, "--backend", "fake", "--context", "all", "--db", dir.File("r.db")}),
                  "--context must be none or lofo");
  // Measured first (its noise warnings on stderr), then refused: one model has no other family.
  testing::CommandResult r =
      RunCli({"validate", model, "--backend", "fake", "--context", "lofo", "--db", dir.File("r.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("dlbricks: validate --context lofo: net has 0 referenced models outside its family 'net'; "
                       "needs 2\n"),
            std::string::npos)
      << r.err;
  ExpectErrorOnly(RunCli({"validate", model, "-G", "2", "--mode", "overlap", "--stitch", "--backend", "fake", "--db",
                          dir.File("r.db")}),
                  "--stitch");
}

TEST(ValidateCli, StitchedConstructionOnTheFakeBackend) {
  // The fake backend's latency is a function of the model bytes, so nothing is additive; the
  // check is that stitched suites are generated, measured (seams included) and constructed.
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  testing::CommandResult r = RunCli({"validate", model, "-G", "2,3", "--mode", "dag", "--stitch", "--backend", "fake",
                                 "--reference-passes", "3", "--db", dir.File("r.db"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["stitch"].get<bool>());
  ASSERT_EQ(j["models"].size(), 2u);
  for (const auto& row : j["models"]) {
    EXPECT_EQ(row["missing"].get<int>(), 0);
    EXPECT_GT(row["constructed_ms"].get<double>(), 0);
    EXPECT_GT(row["measured_ms"].get<double>(), 0);
  }
}

}  // namespace
}  // namespace dlbricks
