// SQLite results store: WAL, busy timeout, versioned schema (docs/store.md). Every Put is
// its own transaction, so a killed run loses at most the item in flight.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "dlbricks/store.h"

namespace dlbricks {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS systems (
  id TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS measurements (
  system_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('brick', 'model')),
  item_id TEXT NOT NULL,
  batch INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout', 'crashed')),
  error TEXT NOT NULL,
  value_ms REAL, min_ms REAL, median_ms REAL, trimmed_mean_ms REAL, mean_ms REAL,
  stddev_ms REAL, cv REAL, p90_ms REAL, p99_ms REAL, ci_low_ms REAL, ci_high_ms REAL,
  samples_ms TEXT NOT NULL,
  session_create_ms REAL, first_run_ms REAL, wall_s REAL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (system_id, kind, item_id, batch, protocol));
CREATE TABLE IF NOT EXISTS op_profiles (
  system_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  item_id TEXT NOT NULL,
  batch INTEGER NOT NULL,
  name TEXT NOT NULL,
  op_type TEXT NOT NULL,
  ms REAL NOT NULL,
  calls REAL NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (system_id, kind, item_id, batch, op_type));
CREATE TABLE IF NOT EXISTS claims (
  system_id TEXT NOT NULL, kind TEXT NOT NULL, item_id TEXT NOT NULL, batch INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  host TEXT NOT NULL, pid INTEGER NOT NULL, claimed_at REAL NOT NULL,
  PRIMARY KEY (system_id, kind, item_id, batch, protocol));
)sql";

// Added by schema version 2 (created fresh, or by the migration from version 1).
constexpr const char* kPredictionsTable = R"sql(
CREATE TABLE IF NOT EXISTS predictions (
  system_id TEXT NOT NULL,
  item_id TEXT NOT NULL,
  predictor_id TEXT NOT NULL,
  predictor_kind TEXT NOT NULL,
  family TEXT NOT NULL,
  split TEXT NOT NULL,
  protocol TEXT NOT NULL,
  target TEXT NOT NULL,
  predicted_ms REAL NOT NULL,
  measured_ms REAL,
  uncertainty_ms REAL NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (system_id, predictor_id, split, item_id));
)sql";
constexpr const char* kPredictionColumns =
    "system_id, item_id, predictor_id, predictor_kind, family, split, protocol, target, predicted_ms, measured_ms, "
    "uncertainty_ms, created_at";

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
constexpr const char* kColumns =
    "system_id, kind, item_id, batch, protocol, name, status, error, value_ms, min_ms, median_ms, "
    "trimmed_mean_ms, mean_ms, stddev_ms, cv, p90_ms, p99_ms, ci_low_ms, ci_high_ms, samples_ms, "
    "session_create_ms, first_run_ms, wall_s, created_at";
constexpr double kForeignClaimTtlS = 6 * 3600;  // claims from other hosts expire (no liveness check)

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& Null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string ColText(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t ColInt(int i) const { return sqlite3_column_int64(s_, i); }
  double ColReal(int i) const { return sqlite3_column_double(s_, i); }
  int ColType(int i) const { return sqlite3_column_type(s_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

std::string HostName() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool ProcessAlive(int64_t pid) { return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

class SqliteStore : public Store {
 public:
  SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db), host_(HostName()) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      return Error(msg);
    }
    return Status::OK();
  }
  Status Error(const std::string& what) const {
    const int code = sqlite3_errcode(db_);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return Status::Corruption(path_ + ": " + what);
    return Status::IOError(path_ + ": " + what);
  }
  Status StepDone(Stmt& s) {
    if (!s.ok()) return Error(sqlite3_errmsg(db_));
    if (s.Step() != SQLITE_DONE) return Error(sqlite3_errmsg(db_));
    return Status::OK();
  }

  // Checks an existing file is a dlbricks store this build can read; creates the schema in a
  // fresh file. Nothing is written before the checks pass.
  Status Init(const StoreOptions& options, bool fresh) {
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    int64_t tables = 0;
    {
      Stmt s(db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table'");
      if (!s.ok() || s.Step() != SQLITE_ROW) return Status::Corruption(path_ + ": not a dlbricks store (" +
                                                                       sqlite3_errmsg(db_) + ")");
      tables = s.ColInt(0);
    }
    if (tables > 0 || !fresh) {
      std::optional<int64_t> version;
      {  // finalized before any write: the journal mode cannot change under an open statement
        Stmt s(db_, "SELECT max(version) FROM schema_version");
        if (s.ok() && s.Step() == SQLITE_ROW) version = s.ColInt(0);
      }
      if (!version) {
        if (tables > 0) return Status::InvalidArgument(path_ + ": not a dlbricks store (no schema_version table)");
      } else {
        const int64_t v = *version;
        if (v > kStoreSchemaVersion)
          return Status::InvalidArgument(path_ + ": store schema version " + std::to_string(v) +
                                         " is newer than this build reads (" + std::to_string(kStoreSchemaVersion) +
                                         ")");
        if (v < 1) return Status::Corruption(path_ + ": store has no valid schema version");
        if (!options.read_only) {
          DLB_RETURN_IF_ERROR(Exec("PRAGMA journal_mode = WAL"));
          if (v < kStoreSchemaVersion) DLB_RETURN_IF_ERROR(Migrate());
        }
        return CheckTables();
      }
    }
    if (options.read_only) return Status::InvalidArgument(path_ + ": empty store");
    DLB_RETURN_IF_ERROR(Exec("PRAGMA journal_mode = WAL"));
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st = Exec(kSchema);
    if (st.ok()) st = Exec(kPredictionsTable);
    if (st.ok())
      st = Exec("INSERT INTO schema_version (version) SELECT " + std::to_string(kStoreSchemaVersion) +
                " WHERE NOT EXISTS (SELECT 1 FROM schema_version)");
    DLB_RETURN_IF_ERROR(Finish(st));
    return CheckTables();
  }

  // Version 1 → 2: adds the predictions table. The version is re-read inside the write
  // transaction, so two processes opening one old store migrate it once.
  Status Migrate() {
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st;
    int64_t v = 0;
    {
      Stmt s(db_, "SELECT max(version) FROM schema_version");
      if (!s.ok() || s.Step() != SQLITE_ROW) st = Error(sqlite3_errmsg(db_));
      else v = s.ColInt(0);
    }
    if (st.ok() && v < 2) st = Exec(kPredictionsTable);
    if (st.ok() && v < kStoreSchemaVersion)
      st = Exec("UPDATE schema_version SET version = " + std::to_string(kStoreSchemaVersion));
    return Finish(st);
  }

  // Which optional tables exist (a version-1 store opened read-only has no predictions).
  Status CheckTables() {
    Stmt s(db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'predictions'");
    if (!s.ok() || s.Step() != SQLITE_ROW) return Error(sqlite3_errmsg(db_));
    has_predictions_ = s.ColInt(0) > 0;
    return Status::OK();
  }

  // Commits on success, rolls back otherwise.
  Status Finish(Status st) {
    if (st.ok()) return Exec("COMMIT");
    Exec("ROLLBACK").ok();
    return st;
  }

  Status PutSystem(const SystemRecord& sys) override {
    Stmt s(db_, std::string("INSERT OR IGNORE INTO systems (id, fingerprint, created_at) VALUES (?1, ?2, ") + kNow + ")");
    s.Text(1, sys.id).Text(2, sys.fingerprint_json);
    return StepDone(s);
  }

  Status ListSystems(std::vector<SystemRecord>* systems) override {
    systems->clear();
    Stmt s(db_, "SELECT id, fingerprint FROM systems ORDER BY created_at, id");
    if (!s.ok()) return Error(sqlite3_errmsg(db_));
    while (s.Step() == SQLITE_ROW) systems->push_back({s.ColText(0), s.ColText(1)});
    return Status::OK();
  }

  Status Put(const Measurement& m) override {
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st;
    {
      Stmt s(db_, std::string("INSERT OR REPLACE INTO measurements (") + kColumns +
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
                      "?19, ?20, ?21, ?22, ?23, " + kNow + ")");
      BindKey(s, m.key);
      s.Text(6, m.name).Text(7, m.status).Text(8, m.error);
      const double stats[] = {m.value_ms, m.min_ms, m.median_ms, m.trimmed_mean_ms, m.mean_ms, m.stddev_ms,
                              m.cv, m.p90_ms, m.p99_ms, m.ci_low_ms, m.ci_high_ms};
      for (int i = 0; i < 11; ++i) s.Real(9 + i, stats[i]);
      s.Text(20, nlohmann::json(m.samples_ms).dump());
      s.Real(21, m.session_create_ms).Real(22, m.first_run_ms).Real(23, m.wall_s);
      st = StepDone(s);
    }
    if (st.ok()) st = DeleteClaim(m.key);
    return Finish(st);
  }

  Status Lookup(const MeasurementKey& key, std::optional<Measurement>* m) override {
    m->reset();
    Stmt s(db_, std::string("SELECT ") + kColumns +
                    " FROM measurements WHERE system_id = ?1 AND kind = ?2 AND item_id = ?3 AND batch = ?4 AND "
                    "protocol = ?5");
    if (!s.ok()) return Error(sqlite3_errmsg(db_));
    BindKey(s, key);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return ReadRow(s, &m->emplace());
    if (rc != SQLITE_DONE) return Error(sqlite3_errmsg(db_));
    return Status::OK();
  }

  Status List(const std::string& system_id, const std::string& kind, std::vector<Measurement>* rows) override {
    rows->clear();
    Stmt s(db_, std::string("SELECT ") + kColumns +
                    " FROM measurements WHERE system_id = ?1 AND kind = ?2 ORDER BY item_id, batch, protocol");
    if (!s.ok()) return Error(sqlite3_errmsg(db_));
    s.Text(1, system_id).Text(2, kind);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) DLB_RETURN_IF_ERROR(ReadRow(s, &rows->emplace_back()));
    if (rc != SQLITE_DONE) return Error(sqlite3_errmsg(db_));
    return Status::OK();
  }

  Status PutOpProfile(const std::vector<OpProfileRow>& rows) override {
    if (rows.empty()) return Status::OK();
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st;
    {
      const OpProfileRow& r0 = rows.front();
      Stmt del(db_, "DELETE FROM op_profiles WHERE system_id = ?1 AND kind = ?2 AND item_id = ?3 AND batch = ?4");
      del.Text(1, r0.system_id).Text(2, r0.kind).Text(3, r0.item_id).Int(4, r0.batch);
      st = StepDone(del);
    }
    for (const OpProfileRow& r : rows) {
      if (!st.ok()) break;
      Stmt s(db_, std::string("INSERT OR REPLACE INTO op_profiles (system_id, kind, item_id, batch, name, op_type, "
                              "ms, calls, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ") + kNow + ")");
      s.Text(1, r.system_id).Text(2, r.kind).Text(3, r.item_id).Int(4, r.batch).Text(5, r.name).Text(6, r.op_type);
      s.Real(7, r.ms).Real(8, r.calls);
      st = StepDone(s);
    }
    return Finish(st);
  }

  Status ListOpProfiles(const std::string& system_id, std::vector<OpProfileRow>* rows) override {
    rows->clear();
    Stmt s(db_, "SELECT system_id, kind, item_id, batch, name, op_type, ms, calls FROM op_profiles "
                "WHERE system_id = ?1 ORDER BY item_id, batch, ms DESC");
    if (!s.ok()) return Error(sqlite3_errmsg(db_));
    s.Text(1, system_id);
    while (s.Step() == SQLITE_ROW)
      rows->push_back({s.ColText(0), s.ColText(1), s.ColText(2), s.ColInt(3), s.ColText(4), s.ColText(5),
                       s.ColReal(6), s.ColReal(7)});
    return Status::OK();
  }

  Status PutPredictions(const std::vector<PredictionRow>& rows) override {
    if (rows.empty()) return Status::OK();
    for (const PredictionRow& r : rows) DLB_RETURN_IF_ERROR(CheckPrediction(r).WithPrefix(path_));
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st;
    std::set<std::tuple<std::string, std::string, std::string>> replaced;
    for (const PredictionRow& r : rows) {
      if (!st.ok() || !replaced.emplace(r.system_id, r.predictor_id, r.split).second) continue;
      Stmt del(db_, "DELETE FROM predictions WHERE system_id = ?1 AND predictor_id = ?2 AND split = ?3");
      del.Text(1, r.system_id).Text(2, r.predictor_id).Text(3, r.split);
      st = StepDone(del);
    }
    for (const PredictionRow& r : rows) {
      if (!st.ok()) break;
      Stmt s(db_, std::string("INSERT OR REPLACE INTO predictions (") + kPredictionColumns +
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, " + kNow + ")");
      s.Text(1, r.system_id).Text(2, r.item_id).Text(3, r.predictor_id).Text(4, r.predictor_kind);
      s.Text(5, r.family).Text(6, r.split).Text(7, r.protocol).Text(8, r.target).Real(9, r.predicted_ms);
      if (r.measured_ms) s.Real(10, *r.measured_ms);
      else s.Null(10);
      s.Real(11, r.uncertainty_ms);
      st = StepDone(s);
    }
    return Finish(st);
  }

  Status ListPredictions(const std::string& system_id, std::vector<PredictionRow>* rows) override {
    rows->clear();
    if (!has_predictions_) return Status::OK();
    Stmt s(db_, std::string("SELECT ") + kPredictionColumns +
                    " FROM predictions WHERE system_id = ?1 ORDER BY predictor_id, split, family, item_id");
    if (!s.ok()) return Error(sqlite3_errmsg(db_));
    s.Text(1, system_id);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      PredictionRow& r = rows->emplace_back();
      r.system_id = s.ColText(0);
      r.item_id = s.ColText(1);
      r.predictor_id = s.ColText(2);
      r.predictor_kind = s.ColText(3);
      r.family = s.ColText(4);
      r.split = s.ColText(5);
      r.protocol = s.ColText(6);
      r.target = s.ColText(7);
      // Typed reads: a row written by something else must not turn into zeros silently.
      auto number = [&s](int i) { return s.ColType(i) == SQLITE_FLOAT || s.ColType(i) == SQLITE_INTEGER; };
      if (!number(8) || !number(10) || (s.ColType(9) != SQLITE_NULL && !number(9)))
        return Status::Corruption(path_ + ": predictions row of item " + r.item_id + " (predictor " +
                                  r.predictor_id + "): a time is not a number");
      r.predicted_ms = s.ColReal(8);
      if (s.ColType(9) != SQLITE_NULL) r.measured_ms = s.ColReal(9);
      r.uncertainty_ms = s.ColReal(10);
      r.created_at = s.ColText(11);
      const Status st = CheckPrediction(r);
      if (!st.ok()) return Status::Corruption(path_ + ": stored " + st.message());
    }
    if (rc != SQLITE_DONE) return Error(sqlite3_errmsg(db_));
    return Status::OK();
  }

  Status TryClaim(const MeasurementKey& key, bool* claimed) override {
    *claimed = false;
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    bool held_by_other = false;
    Status st;
    {
      Stmt s(db_, "SELECT host, pid, claimed_at FROM claims WHERE system_id = ?1 AND kind = ?2 AND item_id = ?3 "
                  "AND batch = ?4 AND protocol = ?5");
      if (!s.ok()) st = Error(sqlite3_errmsg(db_));
      if (st.ok()) {
        BindKey(s, key);
        if (s.Step() == SQLITE_ROW) {
          const bool same_host = s.ColText(0) == host_;
          const int64_t pid = s.ColInt(1);
          if (same_host) held_by_other = pid != getpid() && ProcessAlive(pid);
          else held_by_other = UnixNow() - s.ColReal(2) < kForeignClaimTtlS;
        }
      }
    }
    if (st.ok() && !held_by_other) {
      Stmt s(db_, "INSERT OR REPLACE INTO claims (system_id, kind, item_id, batch, protocol, host, pid, claimed_at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      BindKey(s, key);
      s.Text(6, host_).Int(7, getpid()).Real(8, UnixNow());
      st = StepDone(s);
      *claimed = st.ok();
    }
    return Finish(st);
  }

  Status ReleaseClaim(const MeasurementKey& key) override {
    DLB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    return Finish(DeleteClaim(key));
  }

 private:
  static void BindKey(Stmt& s, const MeasurementKey& k) {
    s.Text(1, k.system_id).Text(2, k.kind).Text(3, k.item_id).Int(4, k.batch).Text(5, k.protocol);
  }

  static Status CheckPrediction(const PredictionRow& r) {
    const std::string what = "predictions row of item '" + r.item_id + "'";
    if (r.system_id.empty() || r.item_id.empty() || r.predictor_id.empty() || r.predictor_kind.empty() ||
        r.split.empty())
      return Status::InvalidArgument(what + ": system, item, predictor, kind and split must be set");
    auto bad = [](double v) { return !std::isfinite(v) || v < 0; };
    if (bad(r.predicted_ms) || bad(r.uncertainty_ms) || (r.measured_ms && bad(*r.measured_ms)))
      return Status::InvalidArgument(what + ": times must be finite and >= 0");
    return Status::OK();
  }

  Status DeleteClaim(const MeasurementKey& key) {
    Stmt s(db_, "DELETE FROM claims WHERE system_id = ?1 AND kind = ?2 AND item_id = ?3 AND batch = ?4 AND "
                "protocol = ?5 AND host = ?6 AND pid = ?7");
    BindKey(s, key);
    s.Text(6, host_).Int(7, getpid());
    return StepDone(s);
  }

  Status ReadRow(const Stmt& s, Measurement* m) const {
    m->key = {s.ColText(0), s.ColText(1), s.ColText(2), s.ColInt(3), s.ColText(4)};
    m->name = s.ColText(5);
    m->status = s.ColText(6);
    m->error = s.ColText(7);
    double* stats[] = {&m->value_ms, &m->min_ms, &m->median_ms, &m->trimmed_mean_ms, &m->mean_ms, &m->stddev_ms,
                       &m->cv, &m->p90_ms, &m->p99_ms, &m->ci_low_ms, &m->ci_high_ms};
    for (int i = 0; i < 11; ++i) *stats[i] = s.ColReal(8 + i);
    nlohmann::json samples = nlohmann::json::parse(s.ColText(19), nullptr, false);
    if (!samples.is_array()) return Status::Corruption(path_ + ": samples of " + m->key.item_id + " are not a JSON array");
    m->samples_ms.clear();
    for (const auto& v : samples) {
      if (!v.is_number()) return Status::Corruption(path_ + ": non-numeric sample for " + m->key.item_id);
      m->samples_ms.push_back(v.get<double>());
    }
    m->session_create_ms = s.ColReal(20);
    m->first_run_ms = s.ColReal(21);
    m->wall_s = s.ColReal(22);
    m->created_at = s.ColText(23);
    return Status::OK();
  }

  std::string path_;
  sqlite3* db_;
  std::string host_;
  bool has_predictions_ = false;
};

}  // namespace

Status OpenStore(const std::string& path, const StoreOptions& options, std::unique_ptr<Store>* store) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status fst = fs::status(path, ec);
  bool fresh = false;
  if (fs::exists(fst)) {
    if (fs::is_directory(fst)) return Status::InvalidArgument(path + ": is a directory, not a dlbricks store");
    if (!fs::is_regular_file(fst)) return Status::InvalidArgument(path + ": not a regular file");
    const auto size = fs::file_size(path, ec);
    if (size == 0) {
      fresh = true;
    } else {
      // Checked before SQLite touches the file so that junk is never modified.
      char header[16] = {};
      std::ifstream in(path, std::ios::binary);
      in.read(header, sizeof(header));
      if (!in || std::memcmp(header, "SQLite format 3", 16) != 0)
        return Status::Corruption(path + ": not a dlbricks store (not a SQLite database)");
    }
  } else {
    if (options.read_only || !options.create_if_missing) return Status::NotFound(path + ": no such store");
    fresh = true;
  }
  if (options.read_only && fresh) return Status::InvalidArgument(path + ": empty store");
  sqlite3* db = nullptr;
  const int flags = options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::IOError(path + ": cannot open store: " + msg);
  }
  auto s = std::make_unique<SqliteStore>(path, db);
  DLB_RETURN_IF_ERROR(s->Init(options, fresh));
  *store = std::move(s);
  return Status::OK();
}

}  // namespace dlbricks
