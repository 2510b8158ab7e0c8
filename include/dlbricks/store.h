// Results store (DESIGN.md pipeline: run/measure → store → estimate, report).
// An abstract Store so a PostgreSQL store can be added without touching other stages;
// SQLite is the embedded default (schema in docs/store.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dlbricks/status.h"

namespace dlbricks {

// The key of every measurement row (docs/notes contracts: "Results store").
struct MeasurementKey {
  std::string system_id;  // 32 hex: hash of the canonical system fingerprint JSON
  std::string kind;       // "brick" | "model"
  std::string item_id;    // brick id or model signature (32 hex)
  int64_t batch = 1;
  std::string protocol;   // "dlbricks", "embench", or "custom:<hash>"
};

// One measured item. Times in milliseconds.
struct Measurement {
  MeasurementKey key;
  std::string name;            // brick id or model name
  std::string status = "ok";   // ok | failed | timeout | crashed
  std::string error;           // why, when status != ok
  double value_ms = 0;         // the protocol's headline statistic
  double min_ms = 0, median_ms = 0, trimmed_mean_ms = 0, mean_ms = 0, stddev_ms = 0;
  double cv = 0;               // stddev / mean
  double p90_ms = 0, p99_ms = 0;
  double ci_low_ms = 0, ci_high_ms = 0;  // 95% distribution-free CI of the median
  std::vector<double> samples_ms;        // raw timed runs, in order
  double session_create_ms = 0, first_run_ms = 0;
  double wall_s = 0;           // wall clock spent on the item, session creation included
  std::string created_at;      // UTC ISO-8601, set by the store on Put
};

// A system fingerprint (CPU, memory, kernel, backend + version + every option).
struct SystemRecord {
  std::string id;                // 32 hex
  std::string fingerprint_json;  // canonical JSON the id hashes
};

// Per-operator-type time of one profiled item (EmBench Fig. 4): its own table, never mixed
// with latency rows.
struct OpProfileRow {
  std::string system_id;
  std::string kind;
  std::string item_id;
  int64_t batch = 1;
  std::string name;     // model or brick name
  std::string op_type;
  double ms = 0;        // mean per inference
  double calls = 0;     // kernel invocations per inference
};

// One per-layer prediction of a learned latency predictor next to the measured latency it is
// compared with (ResPerfNet Fig. 4; written by `dlbricks predictor eval`, drawn by `report`).
struct PredictionRow {
  std::string system_id;       // the system whose measurements were predicted
  std::string item_id;         // G=1 brick id of the layer (32 hex)
  std::string predictor_id;    // 32 hex: HashBytes of the predictor file
  std::string predictor_kind;  // resperfnet | perfnet | xgboost | linear, "/per-family" appended if so
  std::string family;          // op family, e.g. "conv"
  std::string split;           // which samples: "test", "train", "lofo:<family>", ...
  std::string protocol;        // protocol key of the measured row ("" when none)
  std::string target = "value";         // statistic of that row: value (headline) | min
  double predicted_ms = 0;
  std::optional<double> measured_ms;    // absent when the layer was never measured
  double uncertainty_ms = 0;   // predicted_ms x the family's test MAPE
  std::string created_at;      // UTC ISO-8601, set by the store
};

class Store {
 public:
  virtual ~Store() = default;
  // Idempotent: inserting an existing id is a no-op.
  virtual Status PutSystem(const SystemRecord& system) = 0;
  virtual Status ListSystems(std::vector<SystemRecord>* systems) = 0;
  // Inserts or replaces the row with m.key, durably, in its own transaction.
  virtual Status Put(const Measurement& m) = 0;
  virtual Status Lookup(const MeasurementKey& key, std::optional<Measurement>* m) = 0;
  // Every row of a kind for a system (any batch, any protocol), ordered by item then batch.
  virtual Status List(const std::string& system_id, const std::string& kind, std::vector<Measurement>* rows) = 0;
  // Replaces the profile rows of (system, kind, item, batch) with `rows` in one transaction.
  virtual Status PutOpProfile(const std::vector<OpProfileRow>& rows) = 0;
  virtual Status ListOpProfiles(const std::string& system_id, std::vector<OpProfileRow>* rows) = 0;
  // Replaces, in one transaction, every stored prediction of each (system, predictor, split)
  // present in `rows` with `rows`: re-running an evaluation never duplicates. Rows with an
  // empty id or a non-finite or negative time are rejected and nothing is written.
  virtual Status PutPredictions(const std::vector<PredictionRow>& rows) = 0;
  // Every prediction for a system, ordered by predictor, split, family, item. A store from
  // before the predictions table (schema 1) opened read-only has none.
  virtual Status ListPredictions(const std::string& system_id, std::vector<PredictionRow>* rows) = 0;
  // Work claims let concurrent runners share one store without measuring an item twice.
  // *claimed=false when a live process (same host) holds the claim; stale claims are taken over.
  virtual Status TryClaim(const MeasurementKey& key, bool* claimed) = 0;
  virtual Status ReleaseClaim(const MeasurementKey& key) = 0;
};

struct StoreOptions {
  bool read_only = false;        // open without writing (estimate, report). Default: false
  bool create_if_missing = true; // create a fresh store when the file is absent. Default: true
  int busy_timeout_ms = 30000;   // wait this long for another writer's lock. Default: 30 s
};

// Opens (or creates) a store. Today `path` is a SQLite file. A file that is not a dlbricks
// store (random bytes, a directory, a newer schema) → Corruption/InvalidArgument naming the
// file, and the file is left untouched.
// An older store opened writable is migrated to kStoreSchemaVersion in one transaction.
Status OpenStore(const std::string& path, const StoreOptions& options, std::unique_ptr<Store>* store);

// The SQLite schema version this build reads and writes (docs/store.md). Version 2 added the
// predictions table; a writable open migrates a version-1 store in place.
constexpr int kStoreSchemaVersion = 2;

}  // namespace dlbricks
