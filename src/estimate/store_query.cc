// Reading what construction needs from a results store.
#include <map>

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

Status LoadBrickKernelTimes(Store* store, const StoreQuery& query, BrickLatencies* latencies) {
  std::vector<OpProfileRow> rows;
  DLB_RETURN_IF_ERROR(store->ListOpProfiles(query.system_id, &rows));
  for (const auto& [key, ops] : GroupOpProfiles(rows)) {
    const auto& [kind, item_id, batch] = key;
    if (kind != "brick" || batch != query.batch) continue;
    Hash128 id;
    if (!Hash128::FromHex(item_id, &id)) continue;
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

Status LookupModelLatency(Store* store, const StoreQuery& query, const Graph& graph,
                          std::optional<Measurement>* measurement) {
  MeasurementKey key{query.system_id, "model", ModelSignature(graph).Hex(), query.batch, query.protocol};
  DLB_RETURN_IF_ERROR(store->Lookup(key, measurement));
  if (*measurement && (*measurement)->status != "ok") measurement->reset();
  return Status::OK();
}

}  // namespace dlbricks
