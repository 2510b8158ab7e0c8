#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
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

PredictionRow Prediction(const std::string& item, const std::string& split, double ms) {
  PredictionRow r;
  r.system_id = "0123456789abcdef0123456789abcdef";
  r.item_id = item;
  r.predictor_id = "feedfacefeedfacefeedfacefeedface";
  r.predictor_kind = "xgboost";
  r.family = "conv";
  r.split = split;
  r.protocol = "custom:bb2068352ce6";
  r.predicted_ms = ms;
  r.measured_ms = ms * 1.25;
  r.uncertainty_ms = ms / 2;
  return r;
}

int64_t SchemaVersion(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, nullptr);
  const int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(StoreTest, PredictionsRoundTripAndReplacePerPredictorAndSplit) {
  TempDir dir;
  auto s = Open(dir.File("p.db"));
  const std::string sys = Prediction("a", "test", 1).system_id;
  PredictionRow unmeasured = Prediction("c", "test", 4.0);
  unmeasured.measured_ms.reset();
  PredictionRow other = Prediction("a", "test", 9.0);
  other.predictor_id = "0000000000000000000000000000beef";
  other.predictor_kind = "resperfnet";
  ASSERT_TRUE(s->PutPredictions({Prediction("a", "test", 1.0), Prediction("b", "train", 2.0), unmeasured, other}).ok());
  std::vector<PredictionRow> got;
  ASSERT_TRUE(s->ListPredictions(sys, &got).ok());
  ASSERT_EQ(got.size(), 4u);
  // Ordered by predictor, split, family, item.
  EXPECT_EQ(got[0].predictor_kind, "resperfnet");
  EXPECT_EQ(got[1].split, "test");
  EXPECT_EQ(got[1].item_id, "a");
  EXPECT_DOUBLE_EQ(got[1].predicted_ms, 1.0);
  ASSERT_TRUE(got[1].measured_ms.has_value());
  EXPECT_DOUBLE_EQ(*got[1].measured_ms, 1.25);
  EXPECT_DOUBLE_EQ(got[1].uncertainty_ms, 0.5);
  EXPECT_EQ(got[1].protocol, "custom:bb2068352ce6");
  EXPECT_EQ(got[1].target, "value");
  EXPECT_FALSE(got[1].created_at.empty());
  EXPECT_EQ(got[2].item_id, "c");
  EXPECT_FALSE(got[2].measured_ms.has_value());
  EXPECT_EQ(got[3].split, "train");

  // Re-running the test split of the first predictor replaces its test rows only.
  ASSERT_TRUE(s->PutPredictions({Prediction("a", "test", 3.0)}).ok());
  ASSERT_TRUE(s->ListPredictions(sys, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_DOUBLE_EQ(got[0].predicted_ms, 9.0);  // other predictor untouched
  EXPECT_EQ(got[1].item_id, "a");
  EXPECT_DOUBLE_EQ(got[1].predicted_ms, 3.0);
  EXPECT_EQ(got[2].split, "train");
  ASSERT_TRUE(s->ListPredictions("ffffffffffffffffffffffffffffffff", &got).ok());
  EXPECT_TRUE(got.empty());

  // Bad rows are rejected as a whole, naming the file; what was stored stays.
  PredictionRow nan = Prediction("d", "test", std::nan(""));
  Status st = s->PutPredictions({Prediction("e", "test", 1.0), nan});
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find(dir.File("p.db")), std::string::npos) << st.message();
  PredictionRow no_split = Prediction("d", "", 1.0);
  EXPECT_FALSE(s->PutPredictions({no_split}).ok());
  ASSERT_TRUE(s->ListPredictions(sys, &got).ok());
  EXPECT_EQ(got.size(), 3u);
  EXPECT_DOUBLE_EQ(got[1].predicted_ms, 3.0);
}

// A store written by a version-1 build (no predictions table) is read as is, and migrated in
// place when opened for writing; its rows survive.
TEST(StoreTest, MigratesVersionOneStoreInPlace) {
  TempDir dir;
  const std::string path = dir.File("v1.db");
  {
    auto s = Open(path);
    ASSERT_TRUE(s->PutSystem({"0123456789abcdef0123456789abcdef", "{}"}).ok());
    ASSERT_TRUE(s->Put(Sample("aa", 1.0)).ok());
    ASSERT_TRUE(s->PutOpProfile({{"0123456789abcdef0123456789abcdef", "model", "m", 1, "net", "Conv", 2.0, 1}}).ok());
  }
  // Exactly the version-1 layout: the same tables minus predictions.
  RawSql(path, "PRAGMA journal_mode = DELETE; DROP TABLE predictions; UPDATE schema_version SET version = 1");
  ASSERT_EQ(SchemaVersion(path), 1);
  const std::string v1_bytes = testing::ReadFile(path);

  StoreOptions ro;
  ro.read_only = true;
  {
    auto r = Open(path, ro);
    ASSERT_TRUE(r);
    std::vector<PredictionRow> got;
    ASSERT_TRUE(r->ListPredictions("0123456789abcdef0123456789abcdef", &got).ok());
    EXPECT_TRUE(got.empty());
    std::vector<Measurement> rows;
    ASSERT_TRUE(r->List("0123456789abcdef0123456789abcdef", "brick", &rows).ok());
    EXPECT_EQ(rows.size(), 1u);
  }
  EXPECT_EQ(testing::ReadFile(path), v1_bytes);  // reading never migrates

  {
    auto s = Open(path);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->PutPredictions({Prediction("aa", "test", 1.0)}).ok());
  }
  EXPECT_EQ(SchemaVersion(path), kStoreSchemaVersion);
  auto s = Open(path, ro);
  std::vector<PredictionRow> got;
  ASSERT_TRUE(s->ListPredictions("0123456789abcdef0123456789abcdef", &got).ok());
  ASSERT_EQ(got.size(), 1u);
  std::optional<Measurement> m;
  ASSERT_TRUE(s->Lookup(Sample("aa", 0).key, &m).ok());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->samples_ms, (std::vector<double>{1.0, 1.25, 1.125}));
  std::vector<OpProfileRow> profiles;
  ASSERT_TRUE(s->ListOpProfiles("0123456789abcdef0123456789abcdef", &profiles).ok());
  EXPECT_EQ(profiles.size(), 1u);
  std::vector<SystemRecord> systems;
  ASSERT_TRUE(s->ListSystems(&systems).ok());
  EXPECT_EQ(systems.size(), 1u);
  // Opening the migrated store again is a no-op.
  s.reset();
  auto again = Open(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(SchemaVersion(path), kStoreSchemaVersion);
}

TEST(StoreTest, CorruptPredictionRowIsOneLineNamingTheFile) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  {
    auto s = Open(path);
    ASSERT_TRUE(s->Put(Sample("aa", 1.0)).ok());
    ASSERT_TRUE(s->PutPredictions({Prediction("aa", "test", 1.0)}).ok());
  }
  RawSql(path, "PRAGMA journal_mode = DELETE; UPDATE predictions SET predicted_ms = 'junk'");
  const std::string before = testing::ReadFile(path);
  StoreOptions ro;
  ro.read_only = true;
  auto s = Open(path, ro);
  std::vector<PredictionRow> got;
  Status st = s->ListPredictions("0123456789abcdef0123456789abcdef", &got);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_EQ(st.message().rfind(path + ": ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("aa"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
  std::optional<Measurement> m;  // the rest of the store still reads
  ASSERT_TRUE(s->Lookup(Sample("aa", 0).key, &m).ok());
  EXPECT_TRUE(m.has_value());
  s.reset();
  EXPECT_EQ(testing::ReadFile(path), before);
  RawSql(path, "UPDATE predictions SET predicted_ms = -1");
  s = Open(path, ro);
  EXPECT_EQ(s->ListPredictions("0123456789abcdef0123456789abcdef", &got).code(), Status::Code::kCorruption);
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
