// Bad input to `dlbricks estimate` and `dlbricks validate`: one line naming the problem, exit 2,
// nothing stored is lost.
#include <gtest/gtest.h>

#include <algorithm>

#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::RunCli;

void ExpectOneLineError(const testing::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(EstimateCli, MissingStoreIsNamed) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  ExpectOneLineError(RunCli({"estimate", model, "--db", dir.File("none.db")}), "none.db");
}

TEST(EstimateCli, RandomBytesStoreIsRejectedAndUntouched) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  const std::string junk(4096, '\x5a');
  testing::WriteFile(dir.File("junk.db"), junk);
  ExpectOneLineError(RunCli({"estimate", model, "--db", dir.File("junk.db")}), "junk.db");
  EXPECT_EQ(testing::ReadFile(dir.File("junk.db")), junk);
}

TEST(EstimateCli, UnmeasuredBricksAreReportedNotGuessed) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  std::string db = dir.File("r.db");
  // Measure only the model end to end: the store then knows the system but no brick.
  auto m = RunCli({"measure", model, "--backend", "fake", "--min-runs", "3", "--db", db});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  ExpectOneLineError(RunCli({"estimate", model, "--db", db}), "9 brick(s) not measured");
  auto partial = RunCli({"estimate", model, "--db", db, "--allow-partial", "--csv"});
  ASSERT_EQ(partial.exit_code, 0) << partial.err;
  // model,constructed_ms,measured_ms,normalised,measured_bricks,predicted_bricks,missing_bricks
  EXPECT_NE(partial.out.find(",0,0,9\n"), std::string::npos) << partial.out;
}

TEST(ValidateCli, BadGranularityAndMissingModel) {
  testing::TempDir dir;
  std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  ExpectOneLineError(RunCli({"validate", model, "-G", "0..3", "--backend", "fake", "--db", dir.File("r.db")}),
                     "granularity");
  ExpectOneLineError(RunCli({"validate", model, "-G", "x", "--backend", "fake", "--db", dir.File("r.db")}), "-G");
  ExpectOneLineError(RunCli({"validate", dir.File("absent.onnx"), "--backend", "fake", "--db", dir.File("r.db")}),
                     "absent.onnx");
}

}  // namespace
}  // namespace dlbricks
