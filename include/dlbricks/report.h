// Stage 6: reports and the cloud advisor. One ReportData record, gathered from a results
// store, the models' analysis and `dlbricks validate --json` files, feeds the HTML, JSON and
// CSV reporters (google/benchmark reporter style). CompareModels ranks systems per model
// (DLBricks section 6, "advising for the cloud").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "dlbricks/analysis.h"
#include "dlbricks/decompose.h"
#include "dlbricks/estimate.h"
#include "dlbricks/graph.h"
#include "dlbricks/status.h"
#include "dlbricks/store.h"

namespace dlbricks {

// Version of the JSON written by ReportJson and CompareJson (docs/report.md).
inline constexpr int kReportSchemaVersion = 1;

// ---- The result record ----------------------------------------------------------------

// One cell of a data table: empty (no value), integer, real or text.
using ReportCell = std::variant<std::monostate, int64_t, double, std::string>;

// A data table: the data of one figure, printed below it and written to JSON/CSV.
struct ReportTable {
  std::vector<std::string> columns;
  std::vector<std::vector<ReportCell>> rows;  // each row has columns.size() cells
};

// One figure of a paper, drawn with Vega-Lite from its table.
struct ReportFigure {
  std::string id;          // stable key, e.g. "dlbricks_fig5_unique_layers"
  std::string title;
  std::string source;      // the paper figure it reproduces, e.g. "DLBricks Fig. 5"
  std::string caption;     // how to read it
  ReportTable table;
  // Aggregates printed between the figure and its data table (e.g. per-family MAPE); empty
  // for most figures.
  ReportTable summary;
  // Vega-Lite spec (JSON) without data: the reporter feeds it the table's rows.
  std::string vega_lite;
  // Non-empty when the data is absent: one line naming the command that produces it.
  std::string missing;
};

// A system behind some numbers, with a short label ("S1") the tables use.
struct ReportSystem {
  std::string label;
  std::string id;                // 32 hex
  std::string summary;           // SystemSummary(fingerprint_json)
  std::string fingerprint_json;
  std::vector<std::string> protocols;  // protocol keys of its rows in the store
  int64_t brick_rows = 0, model_rows = 0, op_profile_rows = 0, prediction_rows = 0;
};

struct ReportData {
  std::string title;
  std::string generated_at;  // UTC ISO-8601
  std::string tool_version;
  std::string host;
  std::string db_path;
  std::vector<std::string> inputs;  // every file the numbers came from
  std::vector<ReportSystem> systems;
  ReportTable suite;                // suite coverage per system (empty without --suite)
  std::vector<ReportFigure> figures;  // every figure, present or left out, in report order
};

// ---- Gathering -------------------------------------------------------------------------

struct ReportOptions {
  std::string db;                              // results store (required)
  std::vector<std::string> models;             // ONNX files: Fig. 5-7 and FLOPs. Default: none
  std::string suite_dir;                       // suite folder: coverage table. Default: none
  std::vector<std::string> validation_files;   // `dlbricks validate --json` outputs. Default: none
  IngestOptions ingest;                        // how --models are loaded. Default: no weights
  std::string title = "dlbricks report";       // Default: "dlbricks report"
};

// Reads everything the report shows and builds every figure. Bad input (missing or corrupt
// store, model, suite or validation file) → a Status naming the file.
Status GatherReport(const ReportOptions& options, ReportData* data);

// Builds the figures from their sources (exposed for tests; GatherReport calls it).
struct ReportSources {
  std::optional<CorpusAnalysis> analysis;       // from --models
  struct ModelCost {
    std::string name, signature;                // signature: ModelSignature hex
    double flops_per_sample = 0;                // totals.flops / batch of the file
    int64_t params = 0;
  };
  std::vector<ModelCost> model_costs;
  std::vector<std::pair<std::string, Measurement>> model_rows;   // (system label, row)
  std::vector<std::pair<std::string, OpProfileRow>> op_profiles; // (system label, row)
  std::vector<std::pair<std::string, ValidationReport>> validations;  // (system label, report)
  std::vector<std::pair<std::string, PredictionRow>> predictions;     // (system label, row)
};
std::vector<ReportFigure> BuildFigures(const ReportSources& sources);

// Reads `dlbricks validate --json` output (ValidationJson) back.
Status ParseValidationJson(const std::string& text, const std::string& file, ValidationReport* report);

// One line: CPU model, cores, memory, backend + version and its options.
std::string SystemSummary(const std::string& fingerprint_json);

// ---- Reporters -------------------------------------------------------------------------

// One self-contained HTML page (Vega, Vega-Lite and vega-embed inlined: opens offline).
std::string ReportHtml(const ReportData& data);
// schema_version, context, systems, suite, figures (each with columns, rows, missing).
std::string ReportJson(const ReportData& data);
// Every table stacked: a first column "table" with the figure id; a blank line between.
std::string ReportCsv(const ReportData& data);
// Writes data in the format named by the extension of `path` (.html, .json, .csv) atomically
// (temp file + rename).
Status WriteReport(const ReportData& data, const std::string& path);

// CSV of `dlbricks inspect` (one row per layer) and `dlbricks analyze` (one row per model);
// the columns follow the JSON keys of docs/json.md.
std::string InspectCsv(const Graph& graph);
std::string AnalysisCsv(const CorpusAnalysis& corpus);

// ---- Advising for the cloud (DLBricks section 6) ----------------------------------------

struct CompareOptions {
  std::string db;                        // results store (required)
  std::string protocol = "dlbricks";     // rows compared. Default: dlbricks
  // Use a stored end-to-end latency when there is one. false: rank every system by its
  // constructed latency, so systems with and without model runs compare alike. Default: true
  bool prefer_measured = true;
  // Granularities tried, in order, to construct a model from bricks; the first whose cover
  // has no missing brick is used. Default: 1..10.
  std::vector<int> granularities = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  DecomposeMode mode = DecomposeMode::kChain;  // Default: chain
  EstimateOptions estimate;              // construction mode, overhead. Default: sequential
  IngestOptions ingest;                  // Default: no weights
};

// One system's standing for one model.
struct CompareEntry {
  int rank = 0;                  // 1 = fastest; 0 = no latency on this system
  std::string system_id;
  std::string system_summary;
  std::string latency_source;    // "measured" | "constructed" | "none"
  double latency_ms = 0;         // batch 1
  int granularity = 0;           // constructed: G of the bricks used
  double best_throughput_per_s = 0;  // measured, over every batch size stored; 0 if none
  int64_t best_batch = 0;
};

struct CompareModel {
  std::string model;
  std::string signature;
  std::vector<CompareEntry> entries;  // ranked, systems without a latency last
};

struct CompareResult {
  std::string db;
  std::string protocol;
  std::vector<CompareModel> models;
};

Status CompareModels(const std::vector<std::string>& model_paths, const CompareOptions& options,
                     CompareResult* result);
std::string CompareTable(const CompareResult& result);
std::string CompareJson(const CompareResult& result);
std::string CompareCsv(const CompareResult& result);

}  // namespace dlbricks
