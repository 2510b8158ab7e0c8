// CompareModels: "advising for the cloud" (DLBricks section 6). For each model, every system in
// the store is ranked by its end-to-end latency: measured if stored, else constructed from its
// bricks with the estimate module.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dlbricks/measure.h"
#include "dlbricks/report.h"
#include "internal.h"

namespace dlbricks {

namespace {

// What one system's store rows offer, loaded once for all models.
struct SystemRows {
  std::string id, summary;
  BrickLatencies bricks;
  std::vector<Measurement> models;
};

// The decompositions of one model, computed on first use per G.
class Decompositions {
 public:
  Decompositions(const Graph& graph, DecomposeMode mode) : graph_(graph), mode_(mode) {}
  Status Get(int g, const ModelDecomposition** out) {
    auto it = cache_.find(g);
    if (it == cache_.end()) {
      DecomposeOptions o;
      o.granularity = g;
      o.mode = mode_;
      ModelDecomposition d;
      DLB_RETURN_IF_ERROR(DecomposeModel(graph_, o, &d).WithPrefix(graph_.path));
      it = cache_.emplace(g, std::move(d)).first;
    }
    *out = &it->second;
    return Status::OK();
  }

 private:
  const Graph& graph_;
  DecomposeMode mode_;
  std::map<int, ModelDecomposition> cache_;
};

Status RankSystems(const Graph& graph, const CompareOptions& options, Store* store,
                   const std::vector<SystemRows>& systems, CompareModel* out) {
  out->model = graph.name;
  out->signature = ModelSignature(graph).Hex();
  Decompositions decompositions(graph, options.mode);
  for (const SystemRows& sys : systems) {
    CompareEntry e;
    e.system_id = sys.id;
    e.system_summary = sys.summary;
    e.latency_source = "none";
    StoreQuery query;
    query.system_id = sys.id;
    query.protocol = options.protocol;
    query.batch = 1;
    std::optional<Measurement> measured;
    DLB_RETURN_IF_ERROR(LookupModelLatency(store, query, graph, &measured));
    if (options.prefer_measured && measured && measured->value_ms > 0) {
      e.latency_source = "measured";
      e.latency_ms = measured->value_ms;
    } else if (!sys.bricks.empty()) {
      EstimateOptions eo = options.estimate;
      eo.allow_partial = true;  // a cover with missing bricks is skipped, not an error
      for (int g : options.granularities) {
        const ModelDecomposition* d = nullptr;
        DLB_RETURN_IF_ERROR(decompositions.Get(g, &d));
        ModelEstimate estimate;
        DLB_RETURN_IF_ERROR(ConstructModel(&graph, *d, sys.bricks, eo, &estimate).WithPrefix(graph.path));
        if (estimate.missing == 0 && !estimate.bricks.empty()) {
          e.latency_source = "constructed";
          e.latency_ms = estimate.latency_ms;
          e.granularity = g;
          break;
        }
      }
    }
    for (const Measurement& m : sys.models) {
      if (m.status != "ok" || m.value_ms <= 0 || m.key.item_id != out->signature || m.key.protocol != options.protocol)
        continue;
      const double throughput = static_cast<double>(m.key.batch) * 1000.0 / m.value_ms;
      if (throughput > e.best_throughput_per_s) {
        e.best_throughput_per_s = throughput;
        e.best_batch = m.key.batch;
      }
    }
    out->entries.push_back(e);
  }
  // Ranked systems first (fastest first), then those with no latency, in store order.
  std::stable_sort(out->entries.begin(), out->entries.end(), [](const CompareEntry& a, const CompareEntry& b) {
    const bool ha = a.latency_source != "none", hb = b.latency_source != "none";
    if (ha != hb) return ha;
    return ha && a.latency_ms < b.latency_ms;
  });
  int rank = 0;
  for (CompareEntry& e : out->entries)
    if (e.latency_source != "none") e.rank = ++rank;
  return Status::OK();
}

}  // namespace

Status CompareModels(const std::vector<std::string>& model_paths, const CompareOptions& options,
                     CompareResult* result) {
  *result = CompareResult{};
  result->db = options.db;
  result->protocol = options.protocol;
  for (int g : options.granularities)
    if (g < 1) return Status::InvalidArgument(fmt::format("-G {}: granularity must be >= 1", g));
  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenStore(options.db, so, &store));
  std::vector<SystemRecord> records;
  DLB_RETURN_IF_ERROR(store->ListSystems(&records).WithPrefix(options.db));
  if (records.empty())
    return Status::InvalidArgument(options.db + ": the store holds no systems; run `dlbricks run` or `dlbricks measure` first");
  std::vector<SystemRows> systems;
  for (const SystemRecord& r : records) {
    SystemRows s;
    s.id = r.id;
    s.summary = SystemSummary(r.fingerprint_json);
    StoreQuery query;
    query.system_id = r.id;
    query.protocol = options.protocol;
    DLB_RETURN_IF_ERROR(LoadBrickLatencies(store.get(), query, &s.bricks).WithPrefix(options.db));
    DLB_RETURN_IF_ERROR(store->List(r.id, "model", &s.models).WithPrefix(options.db));
    systems.push_back(std::move(s));
  }
  for (const std::string& path : model_paths) {
    Graph graph;
    DLB_RETURN_IF_ERROR(LoadGraph(path, options.ingest, &graph));
    CompareModel model;
    DLB_RETURN_IF_ERROR(RankSystems(graph, options, store.get(), systems, &model));
    result->models.push_back(std::move(model));
  }
  return Status::OK();
}

std::string CompareTable(const CompareResult& r) {
  std::string out = fmt::format("protocol {}  store {}\n", r.protocol, r.db);
  for (const CompareModel& m : r.models) {
    out += fmt::format("\n{}\n{:>4}  {:<12} {:>12} {:<14} {:>14} {:>6}  {}\n", m.model, "rank", "system", "latency_ms",
                       "source", "best_items/s", "batch", "system summary");
    for (const CompareEntry& e : m.entries) {
      const std::string source =
          e.latency_source == "constructed" ? fmt::format("constructed G={}", e.granularity) : e.latency_source;
      out += fmt::format("{:>4}  {:<12} {:>12} {:<14} {:>14} {:>6}  {}\n", e.rank ? std::to_string(e.rank) : "-",
                         e.system_id.substr(0, 12), e.rank ? fmt::format("{:.3f}", e.latency_ms) : "-", source,
                         e.best_batch ? fmt::format("{:.1f}", e.best_throughput_per_s) : "-",
                         e.best_batch ? std::to_string(e.best_batch) : "-", e.system_summary);
    }
  }
  return out;
}

std::string CompareJson(const CompareResult& r) {
  using json = nlohmann::ordered_json;
  json j = {{"schema_version", kReportSchemaVersion}, {"command", "compare"}, {"db", r.db}, {"protocol", r.protocol}};
  j["models"] = json::array();
  for (const CompareModel& m : r.models) {
    json systems = json::array();
    for (const CompareEntry& e : m.entries) {
      systems.push_back({{"rank", e.rank ? json(e.rank) : json(nullptr)},
                         {"system_id", e.system_id},
                         {"system", e.system_summary},
                         {"latency_source", e.latency_source},
                         {"latency_ms", e.rank ? json(e.latency_ms) : json(nullptr)},
                         {"granularity", e.granularity ? json(e.granularity) : json(nullptr)},
                         {"best_throughput_per_s", e.best_batch ? json(e.best_throughput_per_s) : json(nullptr)},
                         {"best_batch", e.best_batch ? json(e.best_batch) : json(nullptr)}});
    }
    j["models"].push_back({{"model", m.model}, {"signature", m.signature}, {"systems", systems}});
  }
  return j.dump(2) + "\n";
}

std::string CompareCsv(const CompareResult& r) {
  std::string out = "model,rank,system_id,latency_source,granularity,latency_ms,best_throughput_per_s,best_batch,system\n";
  for (const CompareModel& m : r.models) {
    for (const CompareEntry& e : m.entries) {
      out += fmt::format("{},{},{},{},{},{},{},{},{}\n", report_internal::CsvField(m.model),
                         e.rank ? std::to_string(e.rank) : "", e.system_id,
                         e.latency_source, e.granularity ? std::to_string(e.granularity) : "",
                         e.rank ? fmt::format("{:.9g}", e.latency_ms) : "",
                         e.best_batch ? fmt::format("{:.9g}", e.best_throughput_per_s) : "",
                         e.best_batch ? std::to_string(e.best_batch) : "",
                         report_internal::CsvField(e.system_summary));
    }
  }
  return out;
}

}  // namespace dlbricks
