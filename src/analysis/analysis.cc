// Layer repetition statistics, DLBricks section 2.2 (Fig. 5, 6, 7).
#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "dlbricks/analysis.h"

namespace dlbricks {

ModelStats ComputeModelStats(const Graph& graph) {
  ModelStats s;
  s.name = graph.name;
  s.path = graph.path;
  s.opset = graph.opset;
  s.file_bytes = graph.file_bytes;
  s.layers = static_cast<int64_t>(graph.layers.size());
  s.totals = graph.totals;
  s.ops_without_rule = graph.ops_without_rule;
  s.load_seconds = graph.total_seconds;
  s.read_seconds = graph.read_seconds;
  std::map<Hash128, std::string> seen;
  for (const Layer& l : graph.layers) {
    if (!seen.emplace(l.signature, l.op_type).second) ++s.repeated_by_op[l.op_type];
  }
  for (const auto& [sig, op] : seen) {
    s.signatures.push_back(sig);
    s.signature_ops.push_back(op);
  }
  s.unique_layers = static_cast<int64_t>(seen.size());
  s.unique_percent = s.layers ? 100.0 * static_cast<double>(s.unique_layers) / static_cast<double>(s.layers) : 0;
  return s;
}

void SummarizeCorpus(CorpusAnalysis* c) {
  c->total_layers = 0;
  c->repeated_by_op.clear();
  c->cross_model_by_op.clear();
  std::unordered_map<Hash128, std::pair<int, std::string>, Hash128Hasher> models_with;
  for (const ModelStats& m : c->models) {
    c->total_layers += m.layers;
    for (const auto& [op, n] : m.repeated_by_op) c->repeated_by_op[op] += n;
    for (size_t i = 0; i < m.signatures.size(); ++i) {
      auto& entry = models_with[m.signatures[i]];
      ++entry.first;
      entry.second = m.signature_ops[i];
    }
  }
  c->unique_layers = static_cast<int64_t>(models_with.size());
  c->unique_percent =
      c->total_layers ? 100.0 * static_cast<double>(c->unique_layers) / static_cast<double>(c->total_layers) : 0;
  for (const auto& [sig, entry] : models_with) {
    if (entry.first >= 2) ++c->cross_model_by_op[entry.second];
  }
  // Jaccard |A n B| / |A u B| over sorted signature sets.
  size_t n = c->models.size();
  c->jaccard.assign(n, std::vector<double>(n, 1.0));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const auto& a = c->models[i].signatures;
      const auto& b = c->models[j].signatures;
      size_t common = 0;
      for (size_t x = 0, y = 0; x < a.size() && y < b.size();) {
        if (a[x] == b[y]) {
          ++common, ++x, ++y;
        } else if (a[x] < b[y]) {
          ++x;
        } else {
          ++y;
        }
      }
      size_t uni = a.size() + b.size() - common;
      double jac = uni ? static_cast<double>(common) / static_cast<double>(uni) : 1.0;
      c->jaccard[i][j] = c->jaccard[j][i] = jac;
    }
  }
}

Status AnalyzeCorpus(const std::vector<std::string>& paths, const AnalyzeOptions& options, CorpusAnalysis* result) {
  auto start = std::chrono::steady_clock::now();
  *result = CorpusAnalysis{};
  for (const std::string& path : paths) {
    ModelStats stats;
    {
      Graph graph;  // dropped at the end of this scope: one model's weights at a time
      DLB_RETURN_IF_ERROR(LoadGraph(path, options.ingest, &graph));
      stats = ComputeModelStats(graph);
    }
    result->read_seconds += stats.read_seconds;
    result->models.push_back(std::move(stats));
  }
  SummarizeCorpus(result);
  result->wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::OK();
}

}  // namespace dlbricks
