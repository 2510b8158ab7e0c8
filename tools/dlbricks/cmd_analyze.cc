// dlbricks analyze MODEL... [--input-shape NAME=1x3x224x224]... [--batch N] [--load-weights] [--json|--csv]
#include <iostream>
#include <memory>

#include "commands.h"
#include "dlbricks/analysis.h"
#include "dlbricks/report.h"

namespace dlbricks::cli {

namespace {

struct AnalyzeFlags {
  std::vector<std::string> models;
  std::vector<std::string> input_shapes;
  AnalyzeOptions options;
  bool json = false;
  bool csv = false;
};

}  // namespace

void RegisterAnalyze(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<AnalyzeFlags>();
  CLI::App* cmd = app.add_subcommand("analyze", "Layer repetition within and across models (DLBricks Fig. 5-7)");
  cmd->add_option("models", flags->models, "ONNX model files")->required();
  cmd->add_option("--input-shape", flags->input_shapes, "NAME=1x3x224x224: fix a graph input's shape");
  cmd->add_option("--batch", flags->options.ingest.batch, "set the leading dim of every graph input");
  cmd->add_flag("--load-weights", flags->options.ingest.load_weights,
                "read every weight byte into memory (analysis does not need them; for I/O measurements)");
  cmd->add_flag("--json", flags->json, "print JSON (docs/json.md)");
  cmd->add_flag("--csv", flags->csv, "print CSV");
  cmd->callback([flags, &ctx] {
    Status st;
    for (const std::string& s : flags->input_shapes) {
      if (st.ok()) st = ParseInputShape(s, &flags->options.ingest);
    }
    CorpusAnalysis result;
    if (st.ok()) st = AnalyzeCorpus(flags->models, flags->options, &result);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    if (flags->csv) {
      std::cout << AnalysisCsv(result);
    } else if (flags->json) {
      std::cout << AnalysisJson(result);
    } else {
      ReportAnalysisConsole(result, std::cout);
    }
  });
}

}  // namespace dlbricks::cli
