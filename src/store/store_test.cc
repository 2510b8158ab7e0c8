#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "dlbricks/store.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::TempDir;

Measurement Sample(const std::string& item, double base) {
  Measurement m;
  m.key = {"0123456789abcdef0123456789abcdef", "brick", item, 1, "dlbricks"};
  m.name = item;
  m.samples_ms = {base, base + 0.25, base + 0.125};
  m.value_ms = base + 0.125;
  m.min_ms = base;
  m.median_ms = base + 0.125;
  m.cv = 0.01;
  m.ci_low_ms = base;
  m.ci_high_ms = base + 0.25;
  m.session_create_ms = 3.5;
  m.first_run_ms = 1.25;
  m.wall_s = 0.5;
  return m;
}

std::unique_ptr<Store> Open(const std::string& path, StoreOptions o = {}) {
  std::unique_ptr<Store> s;
  Status st = OpenStore(path, o, &s);
  EXPECT_TRUE(st.ok()) << st.message();
  return s;
}

TEST(StoreTest, RoundTripAndReplace) {
  TempDir dir;
  auto s = Open(dir.File("r.db"));
  ASSERT_TRUE(s->PutSystem({"0123456789abcdef0123456789abcdef", R"({"cpu":"x"})"}).ok());
  ASSERT_TRUE(s->PutSystem({"0123456789abcdef0123456789abcdef", R"({"cpu":"x"})"}).ok());  // idempotent
  std::vector<SystemRecord> systems;
  ASSERT_TRUE(s->ListSystems(&systems).ok());
  ASSERT_EQ(systems.size(), 1u);
  EXPECT_EQ(systems[0].fingerprint_json, R"({"cpu":"x"})");

  ASSERT_TRUE(s->Put(Sample("aa", 1.0)).ok());
  std::optional<Measurement> got;
  ASSERT_TRUE(s->Lookup(Sample("aa", 0).key, &got).ok());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->samples_ms, (std::vector<double>{1.0, 1.25, 1.125}));
  EXPECT_DOUBLE_EQ(got->value_ms, 1.125);
  EXPECT_DOUBLE_EQ(got->session_create_ms, 3.5);
  EXPECT_EQ(got->status, "ok");
  EXPECT_FALSE(got->created_at.empty());

  ASSERT_TRUE(s->Put(Sample("aa", 2.0)).ok());  // same key: replaced, not duplicated
  std::vector<Measurement> rows;
  ASSERT_TRUE(s->List(Sample("aa", 0).key.system_id, "brick", &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].min_ms, 2.0);

  MeasurementKey other = Sample("aa", 0).key;
  other.batch = 8;
  ASSERT_TRUE(s->Lookup(other, &got).ok());
  EXPECT_FALSE(got.has_value());
  other.protocol = "embench";
  other.batch = 1;
  ASSERT_TRUE(s->Lookup(other, &got).ok());
  EXPECT_FALSE(got.has_value());

  // Reopen read-only: the data persisted.
  s.reset();
  StoreOptions ro;
  ro.read_only = true;
  auto r = Open(dir.File("r.db"), ro);
  ASSERT_TRUE(r->List("0123456789abcdef0123456789abcdef", "brick", &rows).ok());
  EXPECT_EQ(rows.size(), 1u);
}

TEST(StoreTest, FailedRowKeepsReason) {
  TempDir dir;
  auto s = Open(dir.File("f.db"));
  Measurement m = Sample("bb", 1.0);
  m.status = "crashed";
  m.error = "killed by signal 6 (Aborted)";
  m.samples_ms.clear();
  ASSERT_TRUE(s->Put(m).ok());
  std::optional<Measurement> got;
  ASSERT_TRUE(s->Lookup(m.key, &got).ok());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, "crashed");
  EXPECT_EQ(got->error, m.error);
  EXPECT_TRUE(got->samples_ms.empty());
  m.status = "bogus";
  EXPECT_FALSE(s->Put(m).ok());  // CHECK constraint
}

TEST(StoreTest, OpProfilesReplacePerItem) {
  TempDir dir;
  auto s = Open(dir.File("p.db"));
  std::vector<OpProfileRow> rows = {{"sys", "model", "m1", 1, "net", "Conv", 2.0, 20},
                                    {"sys", "model", "m1", 1, "net", "Relu", 0.5, 20}};
  ASSERT_TRUE(s->PutOpProfile(rows).ok());
  rows.pop_back();
  rows[0].ms = 3.0;
  ASSERT_TRUE(s->PutOpProfile(rows).ok());
  std::vector<OpProfileRow> got;
  ASSERT_TRUE(s->ListOpProfiles("sys", &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].op_type, "Conv");
  EXPECT_DOUBLE_EQ(got[0].ms, 3.0);
}

TEST(StoreTest, ClaimsExcludeLiveProcessesAndExpireWithDeadOnes) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  auto s = Open(path);
  const MeasurementKey key = Sample("cc", 0).key;
  bool claimed = false;
  ASSERT_TRUE(s->TryClaim(key, &claimed).ok());
  EXPECT_TRUE(claimed);
  ASSERT_TRUE(s->TryClaim(key, &claimed).ok());  // our own claim: still ours
  EXPECT_TRUE(claimed);

  // A child process sees the claim as held while we live.
  pid_t pid = fork();
  if (pid == 0) {
    std::unique_ptr<Store> c;
    bool got = true;
    if (!OpenStore(path, {}, &c).ok() || !c->TryClaim(key, &got).ok()) _exit(3);
    _exit(got ? 1 : 0);
  }
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);

  // A claim left by a dead process is taken over.
  pid = fork();
  if (pid == 0) {
    std::unique_ptr<Store> c;
    bool got = false;
    MeasurementKey k2 = key;
    k2.item_id = "dd";
    if (!OpenStore(path, {}, &c).ok() || !c->TryClaim(k2, &got).ok()) _exit(3);
    _exit(got ? 0 : 1);
  }
  waitpid(pid, &wstatus, 0);
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  MeasurementKey k2 = key;
  k2.item_id = "dd";
  ASSERT_TRUE(s->TryClaim(k2, &claimed).ok());
  EXPECT_TRUE(claimed);

  // Put releases the claim.
  ASSERT_TRUE(s->Put(Sample("cc", 1.0)).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM claims WHERE item_id = 'cc'", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

void ExpectRejectedUntouched(const std::string& path, const std::string& want) {
  const bool is_file = std::filesystem::is_regular_file(path);
  const std::string before = is_file ? testing::ReadFile(path) : "";
  std::unique_ptr<Store> s;
  Status st = OpenStore(path, {}, &s);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.ExitCode(), 2) << st.message();
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
  if (is_file) {
    EXPECT_EQ(testing::ReadFile(path), before);
  }
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(StoreTest, BadFilesAreRejectedAndLeftUntouched) {
  TempDir dir;
  std::string junk(4096, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 2654435761u) >> 13);
  testing::WriteFile(dir.File("junk.db"), junk);
  ExpectRejectedUntouched(dir.File("junk.db"), "not a dlbricks store");

  std::filesystem::create_directory(dir.File("adir.db"));
  ExpectRejectedUntouched(dir.File("adir.db"), "directory");

  // A valid SQLite database that is not ours.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("other.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  ExpectRejectedUntouched(dir.File("other.db"), "no schema_version");

  // A store from a newer build.
  { auto s = Open(dir.File("new.db")); }
  ASSERT_EQ(sqlite3_open(dir.File("new.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA journal_mode = DELETE; UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  ExpectRejectedUntouched(dir.File("new.db"), "newer");

  std::unique_ptr<Store> s;
  StoreOptions ro;
  ro.read_only = true;
  EXPECT_EQ(OpenStore(dir.File("absent.db"), ro, &s).code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.File("absent.db")));
}

}  // namespace
}  // namespace dlbricks
