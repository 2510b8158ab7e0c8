// Console and JSON reporters for inspect and analyze (keys documented in docs/json.md).
#include <fmt/format.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "dlbricks/analysis.h"

namespace dlbricks {

namespace {

using nlohmann::json;

// 61100840 -> "61,100,840".
std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// 4.09e9 -> "4.09 G".
std::string Scaled(double v) {
  const char* units[] = {"", " K", " M", " G", " T"};
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f}", v) : fmt::format("{:.2f}{}", v, units[u]);
}

std::string Types(const Graph& g, const std::vector<int>& ids) {
  std::string s;
  for (int id : ids) s += (s.empty() ? "" : ",") + g.values[id].type.ToString();
  return s;
}

std::vector<int> WeightInputs(const Graph& g, const Layer& l) {
  std::vector<int> ids;
  for (int id : l.inputs) {
    if (id >= 0 && g.values[id].kind == ValueKind::kWeight) ids.push_back(id);
  }
  return ids;
}

json Context() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return {{"dlbricks_version", "0.1.0"}, {"host", host}, {"nproc", std::thread::hardware_concurrency()},
          {"date", date}};
}

json CostJson(const LayerCost& c) {
  return {{"macs", c.macs},         {"flops", c.flops},
          {"params", c.params},     {"bytes_read", c.bytes_read},
          {"bytes_written", c.bytes_written}};
}

}  // namespace

void ReportInspectConsole(const Graph& g, std::ostream& out) {
  out << fmt::format("model {} ({}), opset {}, {} layers\n", g.name, g.path, g.opset, g.layers.size());
  for (int id : g.inputs) out << fmt::format("  input  {} {}\n", g.values[id].name, g.values[id].type.ToString());
  for (int id : g.outputs) out << fmt::format("  output {} {}\n", g.values[id].name, g.values[id].type.ToString());
  out << fmt::format("{:>4}  {:<20} {:<36} {:<28} {:>12} {:>11}  {:<12}  {}\n", "#", "op", "inputs", "outputs",
                     "params", "MACs", "signature", "name");
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    std::string ins = Types(g, l.DataInputs(g));
    std::string ws = Types(g, WeightInputs(g, l));
    if (!ws.empty()) ins += " w:" + ws;
    out << fmt::format("{:>4}  {:<20} {:<36} {:<28} {:>12} {:>11}  {:<12}  {}{}\n", i, l.op_type, ins,
                       Types(g, l.outputs), Grouped(l.cost.params), Scaled(l.cost.macs),
                       l.signature.Hex().substr(0, 12), l.name, l.cost.has_rule ? "" : "  (no cost rule)");
  }
  out << fmt::format("totals: {} layers, {} params, {} MACs, {} FLOPs, {} weight bytes\n", g.layers.size(),
                     Grouped(g.totals.params), Scaled(g.totals.macs), Scaled(g.totals.flops),
                     Grouped(g.weight_bytes));
  std::string missing;
  for (const auto& op : g.ops_without_rule) missing += (missing.empty() ? "" : ", ") + op;
  out << "ops without a cost rule (counted as 0): " << (missing.empty() ? "none" : missing) << "\n";
}

std::string InspectJson(const Graph& g) {
  json layers = json::array();
  auto type_list = [&](const std::vector<int>& ids) {
    json a = json::array();
    for (int id : ids) a.push_back(g.values[id].type.ToString());
    return a;
  };
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const Layer& l = g.layers[i];
    json j = {{"index", i},
              {"name", l.name},
              {"op", l.op_type},
              {"domain", l.domain},
              {"inputs", type_list(l.DataInputs(g))},
              {"weights", type_list(WeightInputs(g, l))},
              {"outputs", type_list(l.outputs)},
              {"signature", l.signature.Hex()},
              {"signature_text", l.signature_text},
              {"has_cost_rule", l.cost.has_rule}};
    j.update(CostJson(l.cost));
    layers.push_back(std::move(j));
  }
  json io = json::object();
  auto named = [&](const std::vector<int>& ids) {
    json a = json::array();
    for (int id : ids) a.push_back({{"name", g.values[id].name}, {"type", g.values[id].type.ToString()}});
    return a;
  };
  json totals = CostJson(g.totals);
  totals["layers"] = g.layers.size();
  totals["weight_bytes"] = g.weight_bytes;
  json doc = {{"schema_version", kJsonSchemaVersion},
              {"command", "inspect"},
              {"context", Context()},
              {"model", {{"name", g.name}, {"path", g.path}, {"opset", g.opset}, {"file_bytes", g.file_bytes}}},
              {"inputs", named(g.inputs)},
              {"outputs", named(g.outputs)},
              {"layers", std::move(layers)},
              {"totals", std::move(totals)},
              {"ops_without_rule", g.ops_without_rule}};
  return doc.dump(2) + "\n";
}

void ReportAnalysisConsole(const CorpusAnalysis& c, std::ostream& out) {
  out << "Layers per model (DLBricks Fig. 5)\n";
  out << fmt::format("{:>3}  {:<22} {:>7} {:>7} {:>9} {:>14} {:>10} {:>8}\n", "#", "model", "layers", "unique",
                     "% unique", "params", "MACs", "load s");
  for (size_t i = 0; i < c.models.size(); ++i) {
    const ModelStats& m = c.models[i];
    out << fmt::format("{:>3}  {:<22} {:>7} {:>7} {:>8.1f}% {:>14} {:>10} {:>8.3f}\n", i, m.name, m.layers,
                       m.unique_layers, m.unique_percent, Grouped(m.totals.params), Scaled(m.totals.macs),
                       m.load_seconds);
    if (!m.ops_without_rule.empty()) {
      std::string ops;
      for (const auto& op : m.ops_without_rule) ops += (ops.empty() ? "" : ", ") + op;
      out << "       ops without a cost rule: " << ops << "\n";
    }
  }
  out << fmt::format("\nCorpus: {} models, {} layers, {} unique ({:.1f}% unique)\n", c.models.size(),
                     Grouped(c.total_layers), Grouped(c.unique_layers), c.unique_percent);
  out << "  paper (50 MXNet models): 10,815 layers, 1,529 unique (14%)\n";
  out << "\nRepeated layers by op type (Fig. 6: layers beyond the first of their signature, within a model)\n";
  std::vector<std::pair<int64_t, std::string>> rows;
  int64_t repeated = 0;
  for (const auto& [op, n] : c.repeated_by_op) rows.push_back({n, op}), repeated += n;
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& [n, op] : rows) {
    out << fmt::format("  {:<22} {:>7} {:>6.1f}%\n", op, n, repeated ? 100.0 * static_cast<double>(n) / static_cast<double>(repeated) : 0);
  }
  out << "\nSignatures shared by two or more models, by op type\n";
  rows.clear();
  for (const auto& [op, n] : c.cross_model_by_op) rows.push_back({n, op});
  std::sort(rows.rbegin(), rows.rend());
  for (const auto& [n, op] : rows) out << fmt::format("  {:<22} {:>7}\n", op, n);
  out << "\nJaccard similarity of layer sets (Fig. 7; rows and columns are model #)\n    ";
  for (size_t j = 0; j < c.models.size(); ++j) out << fmt::format("{:>5}", j);
  out << "\n";
  for (size_t i = 0; i < c.models.size(); ++i) {
    out << fmt::format("{:>3} ", i);
    for (size_t j = 0; j < c.models.size(); ++j) out << fmt::format("{:>5.2f}", c.jaccard[i][j]);
    out << "\n";
  }
  out << fmt::format("\nwall {:.3f} s, of which reading + parsing files {:.3f} s\n", c.wall_seconds, c.read_seconds);
}

std::string AnalysisJson(const CorpusAnalysis& c) {
  json models = json::array();
  json names = json::array();
  for (const ModelStats& m : c.models) {
    json j = {{"name", m.name},
              {"path", m.path},
              {"opset", m.opset},
              {"file_bytes", m.file_bytes},
              {"layers", m.layers},
              {"unique_layers", m.unique_layers},
              {"unique_percent", m.unique_percent},
              {"repeated_by_op", m.repeated_by_op},
              {"ops_without_rule", m.ops_without_rule},
              {"load_seconds", m.load_seconds},
              {"read_seconds", m.read_seconds}};
    j.update(CostJson(m.totals));
    models.push_back(std::move(j));
    names.push_back(m.name);
  }
  json doc = {{"schema_version", kJsonSchemaVersion},
              {"command", "analyze"},
              {"context", Context()},
              {"models", std::move(models)},
              {"corpus",
               {{"models", c.models.size()},
                {"total_layers", c.total_layers},
                {"unique_layers", c.unique_layers},
                {"unique_percent", c.unique_percent},
                {"repeated_by_op", c.repeated_by_op},
                {"cross_model_by_op", c.cross_model_by_op}}},
              {"jaccard", {{"models", std::move(names)}, {"matrix", c.jaccard}}},
              {"timing", {{"wall_seconds", c.wall_seconds}, {"read_seconds", c.read_seconds}}}};
  return doc.dump(2) + "\n";
}

}  // namespace dlbricks
