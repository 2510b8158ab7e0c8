// dlbricks measure MODEL... --backend onnxruntime|opencv [--batch 1,2,4,...] [--profile-ops]
//   [--input-shape NAME=1x3x224x224]... [--threads N ...same options as run] --db FILE
// Whole-model latency and throughput vs batch size (EmBench Fig. 2), per-operator time
// (EmBench Fig. 4) from a separate profiling run.
#include <cstdio>
#include <fmt/format.h>

#include "commands.h"
#include "dlbricks/graph.h"
#include "measure_flags.h"

namespace dlbricks::cli {

namespace {

void PrintTable(const RunSummary& s, const std::string& backend) {
  std::printf("%s", fmt::format("system {}  protocol {}  backend {}\n", s.system_id, s.protocol, backend).c_str());
  std::printf("%s", fmt::format("{:<24} {:>5} {:>8} {:>11} {:>11} {:>23} {:>12} {:>10} {:>10}\n", "model", "batch",
                                "status", "value ms", "median ms", "95% CI of median (ms)", "items/s", "create ms",
                                "first ms").c_str());
  for (const RunItem& item : s.items) {
    const Measurement& m = item.m;
    if (m.status != "ok") {
      std::printf("%s", fmt::format("{:<24} {:>5} {:>8}  {}\n", m.name, m.key.batch, m.status, m.error).c_str());
      continue;
    }
    std::printf("%s", fmt::format("{:<24} {:>5} {:>8} {:>11.4f} {:>11.4f} {:>11.4f}-{:<11.4f} {:>12.1f} {:>10.1f} "
                                  "{:>10.2f}{}\n",
                                  m.name, m.key.batch, "ok", m.value_ms, m.median_ms, m.ci_low_ms, m.ci_high_ms,
                                  item.throughput_per_s, m.session_create_ms, m.first_run_ms,
                                  item.skipped ? "  (from store)" : "").c_str());
    for (const OpTypeTime& op : item.op_times)
      std::printf("%s", fmt::format("    {:<20} {:>10.4f} ms  {:>6.1f} calls\n", op.op_type, op.ms, op.calls).c_str());
  }
}

}  // namespace

void RegisterMeasure(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<MeasureFlags>();
  auto models = std::make_shared<std::vector<std::string>>();
  auto input_shapes = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand("measure", "Measure whole models end to end (latency, throughput vs batch)");
  cmd->add_option("models", *models, "ONNX model files")->required();
  AddMeasureFlags(cmd, flags.get());
  cmd->add_option("--batch", flags->options.batches, "batch sizes, e.g. 1,2,4,8,16,32,64 (default 1)")
      ->delimiter(',');
  AddProfileFlags(cmd, flags.get());
  cmd->add_option("--input-shape", *input_shapes,
                  "NAME=1x3x224x224: fix a graph input's shape (before --batch re-batches it)");
  cmd->callback([flags, models, input_shapes, cmd, &ctx] {
    Status st = ResolveMeasureFlags(*cmd, flags.get());
    IngestOptions shapes;
    for (const std::string& s : *input_shapes)
      if (st.ok()) st = ParseInputShape(s, &shapes);
    flags->options.input_shapes = shapes.input_shapes;
    std::unique_ptr<Store> store;
    if (st.ok()) st = OpenRunStore(*flags, &store);
    RunSummary summary;
    if (st.ok()) st = MeasureModels(*models, flags->options, store.get(), &summary);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    if (flags->json) std::printf("%s\n", RunSummaryJson(summary).c_str());
    else PrintTable(summary, flags->options.backend);
    ctx.exit_code = summary.failed > 0 ? 1 : 0;
  });
}

}  // namespace dlbricks::cli
