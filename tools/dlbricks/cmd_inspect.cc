// dlbricks inspect MODEL [--input-shape NAME=1x3x224x224]... [--batch N] [--json|--csv]
#include <iostream>
#include <memory>

#include "commands.h"
#include "dlbricks/analysis.h"
#include "dlbricks/report.h"

namespace dlbricks::cli {

namespace {

struct InspectFlags {
  std::string model;
  std::vector<std::string> input_shapes;
  IngestOptions ingest;
  bool json = false;
  bool csv = false;
};

}  // namespace

void RegisterInspect(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand("inspect", "Per-layer shapes, signatures, MACs and params of one model");
  cmd->add_option("model", flags->model, "ONNX model file")->required();
  cmd->add_option("--input-shape", flags->input_shapes, "NAME=1x3x224x224: fix a graph input's shape");
  cmd->add_option("--batch", flags->ingest.batch, "set the leading dim of every graph input");
  cmd->add_flag("--json", flags->json, "print JSON (docs/json.md)");
  cmd->add_flag("--csv", flags->csv, "print CSV");
  flags->ingest.load_weights = false;  // shapes, signatures and costs need no weight values
  cmd->callback([flags, &ctx] {
    Status st;
    for (const std::string& s : flags->input_shapes) {
      if (st.ok()) st = ParseInputShape(s, &flags->ingest);
    }
    Graph graph;
    if (st.ok()) st = LoadGraph(flags->model, flags->ingest, &graph);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    if (flags->csv) {
      std::cout << InspectCsv(graph);
    } else if (flags->json) {
      std::cout << InspectJson(graph);
    } else {
      ReportInspectConsole(graph, std::cout);
    }
  });
}

}  // namespace dlbricks::cli
