// dlbricks compare MODEL... --db FILE [--protocol P] [-G 1,2,...] [--mode M] [--construction C] [--constructed-only]
//                  [--json|--csv]
// DLBricks section 6, "advising for the cloud": ranks the systems in a store for each model by
// measured end-to-end latency, else latency constructed from its bricks (says which).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "dlbricks/report.h"

namespace dlbricks::cli {

namespace {

struct CompareFlags {
  std::vector<std::string> models;
  CompareOptions options;
  std::string mode = "chain", construction = "sequential";
  std::vector<std::string> input_shapes;
  bool json = false, csv = false;
};

Status Compare(CompareFlags& f) {
  DLB_RETURN_IF_ERROR(ParseDecomposeMode(f.mode, &f.options.mode));
  DLB_RETURN_IF_ERROR(ParseConstruction(f.construction, &f.options.estimate.construction));
  for (const std::string& s : f.input_shapes) DLB_RETURN_IF_ERROR(ParseInputShape(s, &f.options.ingest));
  CompareResult result;
  DLB_RETURN_IF_ERROR(CompareModels(f.models, f.options, &result));
  const std::string text = f.json ? CompareJson(result) : f.csv ? CompareCsv(result) : CompareTable(result);
  std::fputs(text.c_str(), stdout);
  return Status::OK();
}

}  // namespace

void RegisterCompare(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<CompareFlags>();
  f->options.ingest.load_weights = false;
  CLI::App* cmd = app.add_subcommand("compare", "Rank the systems in a store for each model (DLBricks section 6)");
  cmd->add_option("models", f->models, "ONNX model files")->required();
  cmd->add_option("--db", f->options.db, "results store")->required();
  cmd->add_option("--protocol", f->options.protocol, "protocol of the rows compared (default dlbricks)");
  cmd->add_option("-G,--granularity", f->options.granularities,
                  "granularities tried in order to construct from bricks (default 1,...,10)")
      ->delimiter(',');
  cmd->add_flag("!--constructed-only", f->options.prefer_measured,
                "rank every system by latency constructed from its bricks, even where models were measured");
  cmd->add_option("--mode", f->mode, "decomposition mode of the suites: chain (default), dag, overlap");
  cmd->add_option("--construction", f->construction, "sequential (default) or parallel");
  cmd->add_option("--overhead-ms", f->options.estimate.run_overhead_ms, "per-run overhead paid once per model");
  cmd->add_option("--input-shape", f->input_shapes, "NAME=1x3x224x224 for models with dynamic inputs");
  auto* json = cmd->add_flag("--json", f->json, "JSON output (schema_version 1)");
  cmd->add_flag("--csv", f->csv, "CSV output")->excludes(json);
  cmd->callback([f, &ctx] {
    Status st = Compare(*f);
    if (!st.ok()) ctx.exit_code = Fail(st);
  });
}

}  // namespace dlbricks::cli
