// End-to-end tests of `dlbricks run` / `dlbricks measure` as processes: bad input, a run
// killed with SIGKILL, two concurrent runs on one store, crash/hang isolation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "fake_suite.h"

namespace dlbricks {
namespace {

using testing::RunCli;
using testing::TempDir;
using testing::WriteFakeSuite;

// Starts the CLI in the background with stdout/stderr to files.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const char* bin = std::getenv("DLBRICKS_BIN");
  if (!bin) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv = {const_cast<char*>(bin)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin, argv.data());
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs one SQL query returning a single integer (or a text compared by the caller).
std::string Query(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string result = "error";
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(st, 0);
      result = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return result;
}

// Waits (up to 60 s) until the run `pid` has stored `rows` measurements, kills it with SIGKILL
// and checks the store survived; returns the rows it left.
int KillOnceStored(pid_t pid, const std::string& db, int rows) {
  auto count = [&db] { return std::atoi(Query(db, "SELECT count(*) FROM measurements").c_str()); };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && !(std::filesystem::exists(db) && count() >= rows))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_EQ(Wait(pid), 128 + SIGKILL);
  EXPECT_EQ(Query(db, "PRAGMA integrity_check"), "ok");
  return count();
}

std::vector<std::string> SlowFakeRun(const std::string& suite, const std::string& db) {
  // Fake bricks at 100x: 5-50 ms per inference, 6 inferences per brick.
  return {"run", suite, "--backend", "fake", "--backend-option", "latency_scale=100", "--warmup-runs", "1",
          "--min-runs", "5", "--db", db, "--json"};
}

std::vector<std::string> Payloads(int n) {
  std::vector<std::string> p;
  for (int i = 0; i < n; ++i) p.push_back("brick payload " + std::to_string(i));
  return p;
}

TEST(RunCliTest, BadManifestExitsTwoWithoutTouchingTheStore) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("suite"));
  testing::WriteFile(dir.File("suite/manifest.json"), "[1, 2");
  auto r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--db", dir.File("r.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "dlbricks: " + dir.File("suite/manifest.json") + ": not valid JSON\n");
  EXPECT_FALSE(std::filesystem::exists(dir.File("r.db")));
  r = RunCli({"run", dir.File("nothing"), "--backend", "fake", "--db", dir.File("r.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nothing/manifest.json"), std::string::npos);
}

TEST(RunCliTest, BadDatabaseExitsTwoAndStaysUntouched) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), Payloads(1));
  std::string junk;
  for (int i = 0; i < 3000; ++i) junk.push_back(static_cast<char>((i * 7919) % 251));
  testing::WriteFile(dir.File("junk.db"), junk);
  auto r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--db", dir.File("junk.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(dir.File("junk.db")), std::string::npos);
  EXPECT_EQ(testing::ReadFile(dir.File("junk.db")), junk);
  std::filesystem::create_directories(dir.File("dir.db"));
  r = RunCli({"measure", dir.File("suite/manifest.json"), "--backend", "fake", "--db", dir.File("dir.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("directory"), std::string::npos) << r.err;
  r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--opt-level", "max", "--db", dir.File("x.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--opt-level"), std::string::npos) << r.err;
}

TEST(RunCliTest, CrashAndHangBricksDoNotEndTheRun) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), {"good 1", "dlbricks-fake:crash", "dlbricks-fake:hang", "good 2"});
  auto r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--min-runs", "5", "--timeout", "2", "--db",
                   dir.File("r.db"), "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the work had failures, all recorded
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["measured"], 2);
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(Query(dir.File("r.db"), "SELECT group_concat(status, ',') FROM (SELECT status FROM measurements "
                                    "ORDER BY status)"),
            "crashed,ok,ok,timeout");
}

TEST(RunCliTest, KilledRunKeepsStoreConsistentAndResumes) {
  TempDir dir;
  const int kBricks = 8;
  WriteFakeSuite(dir.File("suite"), Payloads(kBricks));
  const std::string db = dir.File("r.db");
  const pid_t pid = Spawn(SlowFakeRun(dir.File("suite"), db), dir.File("o1"), dir.File("e1"));
  ASSERT_GT(pid, 0);
  // Kill as soon as a couple of bricks are committed.
  const int before = KillOnceStored(pid, db, 2);
  EXPECT_GE(before, 2);
  EXPECT_LT(before, kBricks) << "the run finished before it was killed; make the fake slower";
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE status != 'ok' OR samples_ms = '[]'"), "0");

  const pid_t again = Spawn(SlowFakeRun(dir.File("suite"), db), dir.File("o2"), dir.File("e2"));
  ASSERT_EQ(Wait(again), 0) << testing::ReadFile(dir.File("e2"));
  auto j = nlohmann::json::parse(testing::ReadFile(dir.File("o2")));
  EXPECT_EQ(j["skipped"], before);
  EXPECT_EQ(j["measured"], kBricks - before);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT item_id) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM claims"), "0");
  EXPECT_EQ(Query(db, "PRAGMA integrity_check"), "ok");
}

TEST(RunCliTest, TwoConcurrentRunsShareTheWork) {
  TempDir dir;
  const int kBricks = 8;
  WriteFakeSuite(dir.File("suite"), Payloads(kBricks));
  const std::string db = dir.File("r.db");
  const pid_t a = Spawn(SlowFakeRun(dir.File("suite"), db), dir.File("oa"), dir.File("ea"));
  const pid_t b = Spawn(SlowFakeRun(dir.File("suite"), db), dir.File("ob"), dir.File("eb"));
  ASSERT_EQ(Wait(a), 0) << testing::ReadFile(dir.File("ea"));
  ASSERT_EQ(Wait(b), 0) << testing::ReadFile(dir.File("eb"));
  auto ja = nlohmann::json::parse(testing::ReadFile(dir.File("oa")));
  auto jb = nlohmann::json::parse(testing::ReadFile(dir.File("ob")));
  // Every brick measured exactly once across the two runs, none lost, none duplicated.
  EXPECT_EQ(ja["measured"].get<int>() + jb["measured"].get<int>(), kBricks);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT item_id) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM systems"), "1");
  EXPECT_EQ(Query(db, "PRAGMA integrity_check"), "ok");
  // Anything one run skipped as "being measured" is in the store now; a third run measures nothing.
  auto r = RunCli(SlowFakeRun(dir.File("suite"), db));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out)["measured"], 0);
}

// SlowFakeRun in two rounds of 3 timed runs each.
std::vector<std::string> TwoRoundRun(const std::string& suite, const std::string& db) {
  return {"run", suite, "--backend", "fake", "--backend-option", "latency_scale=100", "--warmup-runs", "1",
          "--min-runs", "6", "--rounds", "2", "--db", db, "--json"};
}

TEST(RunCliTest, KilledTwoRoundRunResumesWithoutDuplicates) {
  TempDir dir;
  const int kBricks = 8;
  WriteFakeSuite(dir.File("suite"), Payloads(kBricks));
  const std::string db = dir.File("r.db");
  const pid_t pid = Spawn(TwoRoundRun(dir.File("suite"), db), dir.File("o1"), dir.File("e1"));
  ASSERT_GT(pid, 0);
  // Rows appear only in round 2, as each item's last round ends: kill after the first.
  const int before = KillOnceStored(pid, db, 1);
  EXPECT_GE(before, 1);
  EXPECT_LT(before, kBricks) << "the run finished before it was killed; make the fake slower";
  // Only whole items are stored: both rounds pooled.
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE status != 'ok' OR json_array_length(samples_ms) != 6"),
            "0");

  const pid_t again = Spawn(TwoRoundRun(dir.File("suite"), db), dir.File("o2"), dir.File("e2"));
  ASSERT_EQ(Wait(again), 0) << testing::ReadFile(dir.File("e2"));
  auto j = nlohmann::json::parse(testing::ReadFile(dir.File("o2")));
  EXPECT_EQ(j["skipped"], before);
  EXPECT_EQ(j["measured"], kBricks - before);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT item_id) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT protocol) FROM measurements"), "1");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE json_array_length(samples_ms) != 6"), "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM claims"), "0");
  // Progress counts visits: 2 per brick measured here.
  const std::string err = testing::ReadFile(dir.File("e2"));
  const std::string total = std::to_string(2 * kBricks);
  EXPECT_NE(err.find("[" + total + "/" + total + "]"), std::string::npos) << err;
  EXPECT_NE(err.find("round 2/2"), std::string::npos) << err;
}

TEST(RunCliTest, TwoConcurrentTwoRoundRunsShareTheWork) {
  TempDir dir;
  const int kBricks = 6;
  WriteFakeSuite(dir.File("suite"), Payloads(kBricks));
  const std::string db = dir.File("r.db");
  const pid_t a = Spawn(TwoRoundRun(dir.File("suite"), db), dir.File("oa"), dir.File("ea"));
  const pid_t b = Spawn(TwoRoundRun(dir.File("suite"), db), dir.File("ob"), dir.File("eb"));
  ASSERT_EQ(Wait(a), 0) << testing::ReadFile(dir.File("ea"));
  ASSERT_EQ(Wait(b), 0) << testing::ReadFile(dir.File("eb"));
  auto ja = nlohmann::json::parse(testing::ReadFile(dir.File("oa")));
  auto jb = nlohmann::json::parse(testing::ReadFile(dir.File("ob")));
  EXPECT_EQ(ja["measured"].get<int>() + jb["measured"].get<int>(), kBricks);
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements"), std::to_string(kBricks));
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE json_array_length(samples_ms) != 6"), "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM claims"), "0");
}

TEST(RunCliTest, RoundsBelowOneIsAUsageError) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), Payloads(1));
  auto r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--rounds", "0", "--db", dir.File("r.db")});
  testing::ExpectOneLineError(r, "--rounds must be >= 1 (got 0)");
  EXPECT_FALSE(std::filesystem::exists(dir.File("r.db")));
  const std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  r = RunCli({"measure", model, "--backend", "fake", "--rounds", "-1", "--db", dir.File("m.db")});
  testing::ExpectOneLineError(r, "--rounds must be >= 1 (got -1)");
  // The protocol flags are shared: validate takes --rounds too.
  r = RunCli({"validate", "--help"});
  EXPECT_NE(r.out.find("--rounds"), std::string::npos) << r.out;
}

TEST(RunCliTest, ProfileOpsProfilesEveryBrickOnce) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), Payloads(3));
  const std::string db = dir.File("r.db");
  const std::vector<std::string> run = {"run", dir.File("suite"), "--backend", "fake", "--min-runs", "3",
                                        "--profile-ops", "--profile-runs", "2", "--db", db, "--json"};
  auto r = RunCli(run);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["profiled"].get<int>(), 3);
  // Two op types per fake brick (FakeKernel, ReorderInput); latency rows as without profiling.
  EXPECT_EQ(Query(db, "SELECT count(*) FROM op_profiles WHERE kind = 'brick'"), "6");
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT item_id) FROM op_profiles"), "3");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements"), "3");
  r = RunCli(run);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["profiled"].get<int>(), 0);
  EXPECT_EQ(j["skipped"].get<int>(), 3);
  EXPECT_EQ(j["items"][0]["op_times"].size(), 2u);  // read back from the store
  EXPECT_EQ(Query(db, "SELECT count(*) FROM op_profiles"), "6");
  r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--profile-ops", "--profile-runs", "0", "--db",
              dir.File("none.db")});
  testing::ExpectOneLineError(r, "--profile-runs must be >= 1 (got 0)");
  EXPECT_FALSE(std::filesystem::exists(dir.File("none.db")));
}

TEST(RunCliTest, PackedProfilingRejectsBadCountsAndNeedsAKernelProfiler) {
  TempDir dir;
  WriteFakeSuite(dir.File("suite"), Payloads(2));
  auto r = RunCli({"run", dir.File("suite"), "--pack", "0", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--pack must be >= 1 (got 0)");
  EXPECT_FALSE(std::filesystem::exists(dir.File("none.db")));
  r = RunCli({"validate", testing::SmallConvNet().Write(dir.path(), "net.onnx"), "--pack", "4", "--db",
              dir.File("none.db")});
  testing::ExpectOneLineError(r, "--pack needs --kernel-times");
  EXPECT_FALSE(std::filesystem::exists(dir.File("none.db")));
  r = RunCli({"run", dir.File("suite"), "--pack-rounds", "2", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--pack-rounds needs --pack and N >= 1");
  r = RunCli({"validate", testing::SmallConvNet().Write(dir.path(), "net.onnx"), "--kernel-times", "--pack", "4",
              "--pack-rounds", "0", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--pack-rounds needs --pack and N >= 1");
  EXPECT_FALSE(std::filesystem::exists(dir.File("none.db")));
  r = RunCli({"run", dir.File("suite"), "--cold-weights", "16", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--cold-weights needs --pack and MIB >= 0 (got 16)");
  r = RunCli({"validate", testing::SmallConvNet().Write(dir.path(), "net.onnx"), "--kernel-times", "--pack", "4",
              "--cold-weights", "-1", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--cold-weights needs --pack and MIB >= 0 (got -1)");
  r = RunCli({"run", dir.File("suite"), "--fastest-round", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--fastest-round needs --rounds >= 2");
  r = RunCli({"run", dir.File("suite"), "--profiler-bias", "2", "--db", dir.File("none.db")});
  testing::ExpectOneLineError(r, "--profiler-bias needs --pack and N >= 1");
  EXPECT_FALSE(std::filesystem::exists(dir.File("none.db")));
  // Bricks that cannot be packed (the fake backend's are no ONNX) fall back to lone profiles.
  const std::string db = dir.File("f.db");
  r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--pack", "8", "--db", db, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["profiled"].get<int>(), 2);
  EXPECT_NE(r.err.find("not an ONNX model; profiling its bricks one by one"), std::string::npos) << r.err;
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT item_id) FROM op_profiles"), "2");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements"), "0");  // profile only: no latency rows
  // With --profiler-bias N, N bricks are also timed (for `estimate --profiler-bias`).
  const std::string calibrated = dir.File("c.db");
  r = RunCli({"run", dir.File("suite"), "--backend", "fake", "--pack", "8", "--profiler-bias", "1", "--db", calibrated,
              "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["calibrated"].get<int>(), 1);
  EXPECT_EQ(Query(calibrated, "SELECT count(*) FROM measurements WHERE kind = 'brick'"), "1");
}

TEST(RunCliTest, MeasureRejectsABadInputShape) {
  TempDir dir;
  const std::string model = testing::SmallConvNet().Write(dir.path(), "net.onnx");
  const std::string db = dir.File("m.db");
  auto r = RunCli({"measure", model, "--backend", "fake", "--db", db, "--input-shape", "image=1x3xbig"});
  testing::ExpectOneLineError(r, "--input-shape 'image=1x3xbig'");
  EXPECT_FALSE(std::filesystem::exists(db));
  r = RunCli({"measure", model, "--backend", "fake", "--db", db, "--input-shape", "pixels=1x3x8x8"});
  testing::ExpectOneLineError(r, "'pixels', which is not a graph input");
  r = RunCli({"measure", model, "--backend", "fake", "--db", db, "--input-shape", "image=1x3x8"});
  testing::ExpectOneLineError(r, "has rank 3 but the input has rank 4");
}

// ORT's telemetry walked /proc/self/cmdline recursively: a command line of ~50 KB or more
// (550 model paths) overflowed the stack in every session creation (issue 4).
TEST(RunCliTest, MeasureSurvivesAVeryLongCommandLine) {
  TempDir dir;
  const std::string folder = dir.File(std::string(200, 'd'));
  std::filesystem::create_directory(folder);
  testing::ModelBuilder b;
  b.Input("x", {1, 4});
  b.Node("Relu", {"x"}, {"y"});
  b.Output("y");
  const std::string model = b.Write(folder, "tiny.onnx");
  std::vector<std::string> args = {"measure"};
  const int kCopies = 400;  // ~100 KB of arguments
  args.insert(args.end(), kCopies, model);
  for (std::string a : {"--min-runs", "1", "--max-runs", "1", "--warmup-runs", "1", "--json", "--db", ""})
    args.push_back(a.empty() ? dir.File("m.db") : a);
  const pid_t pid = Spawn(args, dir.File("out"), dir.File("err"));
  ASSERT_GT(pid, 0);
  ASSERT_EQ(Wait(pid), 0) << testing::ReadFile(dir.File("err"));
  auto j = nlohmann::json::parse(testing::ReadFile(dir.File("out")));
  EXPECT_EQ(j["failed"].get<int>(), 0);
  EXPECT_EQ(j["measured"].get<int>(), 1);  // one model: the other copies are found in the store
  ASSERT_EQ(j["items"].size(), static_cast<size_t>(kCopies));
  for (const auto& item : j["items"]) ASSERT_EQ(item["status"], "ok") << item.dump();
}

}  // namespace
}  // namespace dlbricks
