// CSV renderings of `inspect` (one row per layer) and `analyze` (one row per model).
#include <fmt/format.h>

#include "dlbricks/report.h"
#include "internal.h"

namespace dlbricks {

namespace {

using report_internal::CsvField;

// Types of a layer's inputs of the given kinds, space-separated.
std::string Types(const Graph& g, const std::vector<int>& ids, bool weights) {
  std::string out;
  for (int id : ids) {
    if (id < 0) continue;
    const Value& v = g.values[static_cast<size_t>(id)];
    const bool is_weight = v.kind == ValueKind::kWeight || v.kind == ValueKind::kConstant;
    if (is_weight != weights) continue;
    out += (out.empty() ? "" : " ") + v.type.ToString();
  }
  return out;
}

}  // namespace

namespace report_internal {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace report_internal

std::string InspectCsv(const Graph& g) {
  std::string out =
      "index,name,op,domain,inputs,weights,outputs,signature,macs,flops,params,bytes_read,bytes_written,"
      "has_cost_rule\n";
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    out += fmt::format("{},{},{},{},{},{},{},{},{:.0f},{:.0f},{},{},{},{}\n", i, CsvField(l.name), l.op_type,
                       CsvField(l.domain), CsvField(Types(g, l.inputs, false)), CsvField(Types(g, l.inputs, true)),
                       CsvField(Types(g, l.outputs, false)), l.signature.Hex(), l.cost.macs, l.cost.flops, l.cost.params,
                       l.cost.bytes_read, l.cost.bytes_written, l.cost.has_rule ? "true" : "false");
  }
  return out;
}

std::string AnalysisCsv(const CorpusAnalysis& c) {
  std::string out = "model,path,opset,layers,unique_layers,unique_percent,repeated_layers,macs,flops,params\n";
  for (const ModelStats& m : c.models) {
    int64_t repeated = 0;
    for (const auto& [op, n] : m.repeated_by_op) repeated += n;
    out += fmt::format("{},{},{},{},{},{:.6g},{},{:.0f},{:.0f},{}\n", CsvField(m.name), CsvField(m.path), m.opset, m.layers,
                       m.unique_layers, m.unique_percent, repeated, m.totals.macs, m.totals.flops, m.totals.params);
  }
  return out;
}

}  // namespace dlbricks
