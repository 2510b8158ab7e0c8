// Corpus statistics (DLBricks section 2.2): layer repetition within models (Fig. 5), the op
// types of repeated layers (Fig. 6) and the Jaccard similarity of models' layer sets (Fig. 7).
// One result record feeds the console and JSON reporters (docs/json.md).
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "dlbricks/graph.h"
#include "dlbricks/hash.h"
#include "dlbricks/status.h"

namespace dlbricks {

// Version of the JSON written by InspectJson / AnalysisJson (docs/json.md).
inline constexpr int kJsonSchemaVersion = 1;

// Statistics of one model; holds no weights (the Graph is dropped after analysis).
struct ModelStats {
  std::string name;
  std::string path;
  int64_t opset = 0;
  int64_t file_bytes = 0;
  int64_t layers = 0;
  int64_t unique_layers = 0;     // distinct layer signatures in this model
  double unique_percent = 0;     // 100 * unique_layers / layers (Fig. 5)
  std::map<std::string, int64_t> repeated_by_op;  // op -> layers beyond the first of their signature (Fig. 6)
  LayerCost totals;
  std::vector<std::string> ops_without_rule;
  std::vector<Hash128> signatures;  // sorted, distinct
  std::vector<std::string> signature_ops;  // op type of signatures[i]
  double load_seconds = 0;          // LoadGraph wall time
  double read_seconds = 0;          // of which reading + parsing the file
};

struct CorpusAnalysis {
  std::vector<ModelStats> models;               // in the order given
  int64_t total_layers = 0;                     // sum of layers over models
  int64_t unique_layers = 0;                    // distinct signatures over the whole corpus
  double unique_percent = 0;                    // 100 * unique_layers / total_layers
  std::map<std::string, int64_t> repeated_by_op;      // sum of ModelStats::repeated_by_op (Fig. 6)
  std::map<std::string, int64_t> cross_model_by_op;   // op -> distinct signatures found in >= 2 models
  std::vector<std::vector<double>> jaccard;     // [i][j] over models' signature sets (Fig. 7)
  double wall_seconds = 0;                      // whole analysis
  double read_seconds = 0;                      // part spent reading + parsing files
};

struct AnalyzeOptions {
  // How each model is loaded. Default: IngestOptions{} but load_weights=false (analysis needs
  // no weight values; this keeps memory near the largest model's skeleton).
  IngestOptions ingest = [] {
    IngestOptions o;
    o.load_weights = false;
    return o;
  }();
};

// Per-model statistics of a loaded graph.
ModelStats ComputeModelStats(const Graph& graph);

// Corpus totals, repeated-layer types and the Jaccard matrix from per-model statistics.
// REQUIRES: every ModelStats::signatures is sorted and distinct.
void SummarizeCorpus(CorpusAnalysis* corpus);

// Loads each model in turn (only one model's weights in memory at a time) and summarises.
// Stops at the first model that fails to load; the Status names that file.
Status AnalyzeCorpus(const std::vector<std::string>& paths, const AnalyzeOptions& options,
                     CorpusAnalysis* result);

// Reporters. Console output is a human-readable table; JSON carries schema_version.
void ReportInspectConsole(const Graph& graph, std::ostream& out);
std::string InspectJson(const Graph& graph);
void ReportAnalysisConsole(const CorpusAnalysis& corpus, std::ostream& out);
std::string AnalysisJson(const CorpusAnalysis& corpus);

}  // namespace dlbricks
