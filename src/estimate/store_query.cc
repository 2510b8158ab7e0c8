// Reading what construction needs from a results store.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "dlbricks/estimate.h"

namespace dlbricks {

Status ResolveSystem(Store* store, StoreQuery* query) {
  std::vector<SystemRecord> systems;
  DLB_RETURN_IF_ERROR(store->ListSystems(&systems));
  std::vector<std::string> matches;
  for (const SystemRecord& s : systems) {
    if (s.id.compare(0, query->system_id.size(), query->system_id) == 0) matches.push_back(s.id);
  }
  if (matches.size() == 1) {
    query->system_id = matches.front();
    return Status::OK();
  }
  if (systems.empty()) return Status::NotFound("the store holds no measurements yet; run `dlbricks run` first");
  std::string list;
  for (const SystemRecord& s : systems) list += (list.empty() ? "" : ", ") + s.id.substr(0, 12);
  if (matches.empty()) return Status::InvalidArgument("no system '" + query->system_id + "' in the store (have: " + list + ")");
  return Status::InvalidArgument("several systems in the store; choose one with --system (have: " + list + ")");
}

Status LoadBrickLatencies(Store* store, const StoreQuery& query, BrickLatencies* latencies) {
  std::vector<Measurement> rows;
  DLB_RETURN_IF_ERROR(store->List(query.system_id, "brick", &rows));
  for (const Measurement& m : rows) {
    if (m.status != "ok" || m.key.batch != query.batch || m.key.protocol != query.protocol) continue;
    Hash128 id;
    if (!Hash128::FromHex(m.key.item_id, &id)) continue;  // not a brick signature (e.g. overhead probe)
    (*latencies)[id] = BrickLatency{m.value_ms, BrickSource::kMeasured, 0};
  }
  return Status::OK();
}

Status LoadBrickKernelTimes(Store* store, const StoreQuery& query, BrickLatencies* latencies,
                            double profiler_bias_ms) {
  std::vector<OpProfileRow> rows;
  DLB_RETURN_IF_ERROR(store->ListOpProfiles(query.system_id, &rows));
  for (auto& [key, ops] : GroupOpProfiles(rows)) {
    const auto& [kind, item_id, batch] = key;
    if (kind != "brick" || batch != query.batch) continue;
    Hash128 id;
    if (!Hash128::FromHex(item_id, &id)) continue;
    for (OpTypeTime& t : ops) t.ms = std::max(0.0, t.ms - t.calls * profiler_bias_ms);
    BrickLatency& l = (*latencies)[id] = BrickLatency{KernelMs(ops), BrickSource::kMeasured, 0};
    for (const OpTypeTime& t : ops) {
      if (t.op_type == "ReorderInput") {
        l.blocked_in = true;
        l.reorder_in_ms += t.ms;
      } else if (t.op_type == "ReorderOutput") {
        l.blocked_out = true;
        l.reorder_out_ms += t.ms;
      }
    }
  }
  return Status::OK();
}

Status CalibrateProfilerBias(Store* store, const StoreQuery& query, double run_overhead_ms, ProfilerBias* bias) {
  std::vector<OpProfileRow> rows;
  DLB_RETURN_IF_ERROR(store->ListOpProfiles(query.system_id, &rows));
  const std::map<OpProfileKey, std::vector<OpTypeTime>> profiles = GroupOpProfiles(rows);
  std::vector<Measurement> timed;  // one read of the timed bricks, not a lookup per profile
  DLB_RETURN_IF_ERROR(store->List(query.system_id, "brick", &timed));
  std::vector<double> per_kernel;
  for (const Measurement& m : timed) {
    if (m.status != "ok" || m.key.batch != query.batch || m.key.protocol != query.protocol) continue;
    auto ops = profiles.find({"brick", m.key.item_id, m.key.batch});
    if (ops == profiles.end()) continue;  // timed only (e.g. the empty-network probe)
    double profiled_ms = 0, calls = 0;
    for (const OpTypeTime& t : ops->second) {
      profiled_ms += t.ms;
      calls += t.calls;
    }
    if (calls > 0) per_kernel.push_back((profiled_ms - (m.value_ms - run_overhead_ms)) / calls);
  }
  if (per_kernel.size() < static_cast<size_t>(kMinProfilerBiasBricks))
    return Status::NotFound(fmt::format("profiler bias: {} brick(s) both timed under protocol {} and profiled; "
                                        "need at least {}", per_kernel.size(), query.protocol,
                                        kMinProfilerBiasBricks));
  std::sort(per_kernel.begin(), per_kernel.end());
  bias->per_kernel_ms = Quantile(per_kernel, 0.5);
  bias->q1_ms = Quantile(per_kernel, 0.25);
  bias->q3_ms = Quantile(per_kernel, 0.75);
  bias->bricks = static_cast<int>(per_kernel.size());
  return Status::OK();
}

Status LookupModelLatency(Store* store, const StoreQuery& query, const Graph& graph,
                          std::optional<Measurement>* measurement) {
  MeasurementKey key{query.system_id, "model", ModelSignature(graph).Hex(), query.batch, query.protocol};
  DLB_RETURN_IF_ERROR(store->Lookup(key, measurement));
  if (*measurement && (*measurement)->status != "ok") measurement->reset();
  return Status::OK();
}

}  // namespace dlbricks
