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
