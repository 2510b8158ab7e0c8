// dlbricks report --db FILE [--models MODEL...] [--suite DIR] [--validation FILE.json]... -o report.html
// One self-contained HTML page (or .json / .csv by the output's extension) with the papers'
// figures, each above its data table, and the systems and protocols behind every number.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "dlbricks/report.h"

namespace dlbricks::cli {

namespace {

struct ReportFlags {
  ReportOptions options;
  std::vector<std::string> input_shapes;
  std::string output;
};

}  // namespace

void RegisterReport(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ReportFlags>();
  f->options.ingest.load_weights = false;  // costs and signatures only
  CLI::App* cmd = app.add_subcommand("report", "HTML/JSON/CSV report with the papers' figures from a results store");
  cmd->add_option("--db", f->options.db, "results store")->required();
  cmd->add_option("--models", f->options.models, "ONNX models: layer analysis (Fig. 5-7) and FLOPs (EmBench Fig. 1)");
  cmd->add_option("--suite", f->options.suite_dir, "suite folder: coverage of its bricks per system");
  cmd->add_option("--validation", f->options.validation_files,
                  "`dlbricks validate --json` output (repeatable): Fig. 10-12");
  cmd->add_option("--input-shape", f->input_shapes, "NAME=1x3x224x224 for models with dynamic inputs");
  cmd->add_option("--title", f->options.title, "page title (default \"dlbricks report\")");
  cmd->add_option("-o,--output", f->output, "output file: .html, .json or .csv")->required();
  cmd->callback([f, &ctx] {
    Status st;
    for (const std::string& s : f->input_shapes)
      if (st.ok()) st = ParseInputShape(s, &f->options.ingest);
    ReportData data;
    if (st.ok()) st = GatherReport(f->options, &data);
    if (st.ok()) st = WriteReport(data, f->output);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    int present = 0;
    for (const ReportFigure& fig : data.figures) {
      if (fig.missing.empty()) ++present;
      else std::fprintf(stderr, "report: left out %s (%s): %s\n", fig.id.c_str(), fig.source.c_str(), fig.missing.c_str());
    }
    std::printf("wrote %s: %d of %zu figures, %zu systems\n", f->output.c_str(), present, data.figures.size(),
                data.systems.size());
  });
}

}  // namespace dlbricks::cli
