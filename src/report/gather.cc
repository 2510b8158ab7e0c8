// GatherReport: reads the store, the models, the suite and validation files into ReportData.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dlbricks/measure.h"
#include "dlbricks/report.h"

namespace dlbricks {

namespace {

using json = nlohmann::json;

Status ReadTextFile(const std::string& path, std::string* text) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::InvalidArgument(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return Status::OK();
}

std::string UtcNow() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return date;
}

std::string HostName() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return host;
}

// Numbers in a validation file: a missing or non-numeric key is corruption, named.
Status Number(const json& j, const char* key, const std::string& where, double* out) {
  if (!j.contains(key) || !j[key].is_number()) return Status::Corruption(where + ": missing number '" + key + "'");
  *out = j[key].get<double>();
  return Status::OK();
}

Status Text(const json& j, const char* key, const std::string& where, std::string* out) {
  if (!j.contains(key) || !j[key].is_string()) return Status::Corruption(where + ": missing string '" + key + "'");
  *out = j[key].get<std::string>();
  return Status::OK();
}

// The label of a system id, registering it (from a validation file) if the store lacks it.
std::string SystemLabel(std::vector<ReportSystem>* systems, const std::string& id, const std::string& fingerprint) {
  for (const ReportSystem& s : *systems)
    if (s.id == id) return s.label;
  ReportSystem s;
  s.label = "S" + std::to_string(systems->size() + 1);
  s.id = id;
  s.fingerprint_json = fingerprint;
  s.summary = SystemSummary(fingerprint);
  systems->push_back(s);
  return s.label;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

// Suite coverage: how much of the suite each system has measured, per protocol and batch.
Status SuiteCoverage(const std::string& suite_dir, Store* store, const std::vector<ReportSystem>& systems,
                     ReportTable* table) {
  std::vector<SuiteBrick> bricks;
  DLB_RETURN_IF_ERROR(ReadSuiteBricks(suite_dir, &bricks));
  const std::string manifest_path = (std::filesystem::path(suite_dir) / "manifest.json").string();
  std::string text;
  DLB_RETURN_IF_ERROR(ReadTextFile(manifest_path, &text));
  const json manifest = json::parse(text, nullptr, false);
  const int64_t granularity = manifest.value("granularity", int64_t{0});
  const std::string mode = manifest.value("mode", std::string("?"));
  std::set<std::string> ids;
  for (const SuiteBrick& b : bricks) ids.insert(b.id);

  table->columns = {"system", "protocol", "batch", "G", "mode", "bricks", "measured", "failed", "sum_brick_ms",
                    "wall_s"};
  for (const ReportSystem& s : systems) {
    std::vector<Measurement> rows;
    DLB_RETURN_IF_ERROR(store->List(s.id, "brick", &rows));
    struct Tally {
      int64_t ok = 0, failed = 0;
      double ms = 0, wall = 0;
    };
    std::map<std::pair<std::string, int64_t>, Tally> tallies;
    for (const Measurement& m : rows) {
      if (!ids.count(m.key.item_id)) continue;
      Tally& t = tallies[{m.key.protocol, m.key.batch}];
      if (m.status == "ok") {
        ++t.ok;
        t.ms += m.value_ms;
      } else {
        ++t.failed;
      }
      t.wall += m.wall_s;
    }
    if (tallies.empty()) {
      table->rows.push_back({s.label, std::monostate{}, std::monostate{}, granularity, mode,
                             static_cast<int64_t>(ids.size()), int64_t{0}, int64_t{0}, std::monostate{},
                             std::monostate{}});
    }
    for (const auto& [key, t] : tallies) {
      table->rows.push_back({s.label, key.first, key.second, granularity, mode, static_cast<int64_t>(ids.size()),
                             t.ok, t.failed, t.ms, t.wall});
    }
  }
  return Status::OK();
}

}  // namespace

std::string SystemSummary(const std::string& fingerprint_json) {
  const json fp = json::parse(fingerprint_json, nullptr, false);
  if (fp.is_discarded() || !fp.is_object()) return "unknown system";
  std::string out;
  if (fp.contains("cpu") && fp["cpu"].is_object()) {
    const json& cpu = fp["cpu"];
    out += cpu.value("model", std::string("unknown CPU"));
    if (cpu.contains("logical_cores") && cpu["logical_cores"].is_number())
      out += fmt::format(", {} cores", cpu["logical_cores"].get<int64_t>());
  }
  if (fp.contains("memory_mib") && fp["memory_mib"].is_number())
    out += fmt::format(", {:.0f} GiB", fp["memory_mib"].get<double>() / 1024.0);
  if (fp.contains("backend") && fp["backend"].is_object()) {
    const json& b = fp["backend"];
    out += fmt::format("{}{} {}", out.empty() ? "" : "; ", b.value("name", std::string("?")),
                       b.value("version", std::string("")));
    if (b.contains("options") && b["options"].is_object() && !b["options"].empty()) {
      std::string opts;
      for (const auto& [k, v] : b["options"].items())
        opts += fmt::format("{}{}={}", opts.empty() ? "" : " ", k, v.is_string() ? v.get<std::string>() : v.dump());
      out += " (" + opts + ")";
    }
  }
  return out.empty() ? "unknown system" : out;
}

Status ParseValidationJson(const std::string& text, const std::string& file, ValidationReport* report) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(file + ": not a JSON object");
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    return Status::Corruption(file + ": not `dlbricks validate --json` output (no schema_version)");
  if (j["schema_version"].get<int>() != 1)
    return Status::InvalidArgument(file + ": unsupported schema_version " + j["schema_version"].dump());
  *report = ValidationReport{};
  DLB_RETURN_IF_ERROR(Text(j, "system_id", file, &report->system_id));
  report->fingerprint_json = j.contains("system") ? j["system"].dump() : "{}";
  report->backend = j.value("backend", std::string());
  DLB_RETURN_IF_ERROR(Text(j, "protocol", file, &report->protocol));
  report->construction = j.value("construction", std::string());
  report->mode = j.value("mode", std::string());
  if (j.contains("run_overhead_ms") && j["run_overhead_ms"].is_number())
    report->run_overhead_ms = j["run_overhead_ms"].get<double>();
  if (!j.contains("models") || !j["models"].is_array() || !j.contains("granularities") ||
      !j["granularities"].is_array())
    return Status::Corruption(file + ": missing 'models' or 'granularities' array");
  for (size_t i = 0; i < j["models"].size(); ++i) {
    const json& m = j["models"][i];
    const std::string where = fmt::format("{}: models[{}]", file, i);
    if (!m.is_object()) return Status::Corruption(where + ": not an object");
    ValidationRow row;
    double g = 0, bricks = 0, missing = 0;
    DLB_RETURN_IF_ERROR(Text(m, "model", where, &row.model));
    DLB_RETURN_IF_ERROR(Number(m, "G", where, &g));
    DLB_RETURN_IF_ERROR(Number(m, "constructed_ms", where, &row.constructed_ms));
    DLB_RETURN_IF_ERROR(Number(m, "measured_ms", where, &row.measured_ms));
    DLB_RETURN_IF_ERROR(Number(m, "normalised", where, &row.normalised));
    DLB_RETURN_IF_ERROR(Number(m, "bricks", where, &bricks));
    DLB_RETURN_IF_ERROR(Number(m, "missing", where, &missing));
    row.granularity = static_cast<int>(g);
    row.bricks = static_cast<int>(bricks);
    row.missing = static_cast<int>(missing);
    report->rows.push_back(row);
  }
  for (size_t i = 0; i < j["granularities"].size(); ++i) {
    const json& s = j["granularities"][i];
    const std::string where = fmt::format("{}: granularities[{}]", file, i);
    if (!s.is_object()) return Status::Corruption(where + ": not an object");
    GranularitySummary g;
    double G = 0, models = 0, instances = 0, unique = 0;
    DLB_RETURN_IF_ERROR(Number(s, "G", where, &G));
    DLB_RETURN_IF_ERROR(Number(s, "models", where, &models));
    DLB_RETURN_IF_ERROR(Number(s, "instances", where, &instances));
    DLB_RETURN_IF_ERROR(Number(s, "unique_bricks", where, &unique));
    DLB_RETURN_IF_ERROR(Number(s, "geomean_normalised", where, &g.geomean_normalised));
    DLB_RETURN_IF_ERROR(Number(s, "geomean_abs_error", where, &g.geomean_abs_error));
    DLB_RETURN_IF_ERROR(Number(s, "within_10pct", where, &g.within_10pct));
    DLB_RETURN_IF_ERROR(Number(s, "sum_model_ms", where, &g.sum_model_ms));
    DLB_RETURN_IF_ERROR(Number(s, "sum_brick_ms", where, &g.sum_brick_ms));
    DLB_RETURN_IF_ERROR(Number(s, "speedup_latency", where, &g.speedup_latency));
    DLB_RETURN_IF_ERROR(Number(s, "model_wall_s", where, &g.model_wall_s));
    DLB_RETURN_IF_ERROR(Number(s, "brick_wall_s", where, &g.brick_wall_s));
    DLB_RETURN_IF_ERROR(Number(s, "speedup_wall", where, &g.speedup_wall));
    g.granularity = static_cast<int>(G);
    g.models = static_cast<int>(models);
    g.instances = static_cast<int64_t>(instances);
    g.unique_bricks = static_cast<int64_t>(unique);
    report->summaries.push_back(g);
  }
  return Status::OK();
}

Status GatherReport(const ReportOptions& options, ReportData* data) {
  *data = ReportData{};
  data->title = options.title;
  data->generated_at = UtcNow();
  data->tool_version = "0.1.0";
  data->host = HostName();
  data->db_path = options.db;
  data->inputs.push_back(options.db);

  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenStore(options.db, so, &store));

  ReportSources sources;
  std::vector<SystemRecord> systems;
  DLB_RETURN_IF_ERROR(store->ListSystems(&systems).WithPrefix(options.db));
  for (const SystemRecord& rec : systems) {
    ReportSystem s;
    s.label = "S" + std::to_string(data->systems.size() + 1);
    s.id = rec.id;
    s.fingerprint_json = rec.fingerprint_json;
    s.summary = SystemSummary(rec.fingerprint_json);
    std::vector<Measurement> rows;
    DLB_RETURN_IF_ERROR(store->List(rec.id, "brick", &rows).WithPrefix(options.db));
    s.brick_rows = static_cast<int64_t>(rows.size());
    for (const Measurement& m : rows) AddUnique(&s.protocols, m.key.protocol);
    rows.clear();
    DLB_RETURN_IF_ERROR(store->List(rec.id, "model", &rows).WithPrefix(options.db));
    s.model_rows = static_cast<int64_t>(rows.size());
    for (const Measurement& m : rows) {
      AddUnique(&s.protocols, m.key.protocol);
      if (m.status == "ok") sources.model_rows.emplace_back(s.label, m);
    }
    std::vector<OpProfileRow> profiles;
    DLB_RETURN_IF_ERROR(store->ListOpProfiles(rec.id, &profiles).WithPrefix(options.db));
    s.op_profile_rows = static_cast<int64_t>(profiles.size());
    for (const OpProfileRow& p : profiles) sources.op_profiles.emplace_back(s.label, p);
    std::vector<PredictionRow> predictions;
    DLB_RETURN_IF_ERROR(store->ListPredictions(rec.id, &predictions));
    s.prediction_rows = static_cast<int64_t>(predictions.size());
    for (PredictionRow& p : predictions) {
      if (!p.protocol.empty()) AddUnique(&s.protocols, p.protocol);
      sources.predictions.emplace_back(s.label, std::move(p));
    }
    data->systems.push_back(s);
  }

  if (!options.models.empty()) {
    CorpusAnalysis corpus;
    for (const std::string& path : options.models) {
      Graph graph;
      DLB_RETURN_IF_ERROR(LoadGraph(path, options.ingest, &graph));
      corpus.models.push_back(ComputeModelStats(graph));
      ReportSources::ModelCost cost;
      cost.name = graph.name;
      cost.signature = ModelSignature(graph).Hex();
      int64_t batch = 1;
      if (!graph.inputs.empty()) {
        const auto& dims = graph.values[static_cast<size_t>(graph.inputs[0])].type.dims;
        if (!dims.empty() && dims[0] > 0) batch = dims[0];
      }
      cost.flops_per_sample = graph.totals.flops / static_cast<double>(batch);
      cost.params = graph.totals.params;
      sources.model_costs.push_back(cost);
      data->inputs.push_back(path);
    }
    SummarizeCorpus(&corpus);
    sources.analysis = std::move(corpus);
  }

  for (const std::string& file : options.validation_files) {
    std::string text;
    DLB_RETURN_IF_ERROR(ReadTextFile(file, &text));
    ValidationReport report;
    DLB_RETURN_IF_ERROR(ParseValidationJson(text, file, &report));
    const std::string label = SystemLabel(&data->systems, report.system_id, report.fingerprint_json);
    for (ReportSystem& s : data->systems)
      if (s.label == label) AddUnique(&s.protocols, report.protocol);
    sources.validations.emplace_back(label, std::move(report));
    data->inputs.push_back(file);
  }

  if (!options.suite_dir.empty()) {
    DLB_RETURN_IF_ERROR(SuiteCoverage(options.suite_dir, store.get(), data->systems, &data->suite));
    data->inputs.push_back(options.suite_dir);
  }

  data->figures = BuildFigures(sources);
  return Status::OK();
}

}  // namespace dlbricks
