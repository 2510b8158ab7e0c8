// Per-operator profiles: their store rows, and kernel time: what a brick costs inside a whole
// model, where the call overhead and ONNX Runtime's NCHWc layout reorders are paid once.
#include "dlbricks/measure.h"

namespace dlbricks {

std::map<OpProfileKey, std::vector<OpTypeTime>> GroupOpProfiles(const std::vector<OpProfileRow>& rows) {
  std::map<OpProfileKey, std::vector<OpTypeTime>> grouped;
  for (const OpProfileRow& r : rows) grouped[{r.kind, r.item_id, r.batch}].push_back({r.op_type, r.ms, r.calls});
  return grouped;
}

double KernelMs(const std::vector<OpTypeTime>& op_times) {
  double ms = 0;
  for (const OpTypeTime& t : op_times)
    if (t.op_type.rfind("Reorder", 0) != 0) ms += t.ms;
  return ms;
}

std::vector<OpProfileRow> OpProfileRows(const MeasurementKey& key, const std::string& name,
                                        const std::vector<OpTypeTime>& op_times) {
  std::vector<OpProfileRow> rows;
  for (const OpTypeTime& t : op_times)
    rows.push_back({key.system_id, key.kind, key.item_id, key.batch, name, t.op_type, t.ms, t.calls});
  return rows;
}

}  // namespace dlbricks
