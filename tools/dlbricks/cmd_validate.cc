// dlbricks validate MODEL... --db FILE [-G 1..10] [--mode chain|dag|overlap] [--stitch]
//   [--construction sequential|parallel] [--fusion none|onnxruntime] [--overhead-correction] [--kernel-times]
//   [--profile-runs N] [--pack N] [--profiler-bias N] [--context none|lofo] [--read-only] [--work DIR]
//   [backend and protocol flags as in `run`] [--json|--csv]
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "dlbricks/estimate.h"
#include "decompose_flags.h"
#include "measure_flags.h"

namespace dlbricks::cli {

namespace {

struct ValidateFlags {
  MeasureFlags measure;
  std::vector<std::string> models;
  std::string granularities = "1";
  std::string construction = "sequential";
  std::string context = "none";
  DecomposeFlags decompose;
  std::string work_dir;
  std::vector<std::string> input_shapes;
  int reference_passes = 2;
  int profiler_bias = 0;
  bool overhead_correction = false, kernel_times = false, read_only = false, csv = false;
  bool no_model_reorders = false, no_interleave = false;
};

Status RunValidate(const CLI::App& cmd, ValidateFlags& f, std::string* output) {
  DLB_RETURN_IF_ERROR(ResolveMeasureFlags(cmd, &f.measure));
  if (cmd.count("--pack") && (f.measure.options.pack < 1 || !f.kernel_times))
    return Status::InvalidArgument("--pack needs --kernel-times and N >= 1");
  DLB_RETURN_IF_ERROR(ResolvePackFlags(cmd, &f.measure));
  ValidateOptions o;
  o.run = f.measure.options;
  DLB_RETURN_IF_ERROR(ParseGranularities(f.granularities, &o.granularities));
  DLB_RETURN_IF_ERROR(ResolveDecomposeFlags(f.decompose, &o.decompose));
  DLB_RETURN_IF_ERROR(ParseConstruction(f.construction, &o.estimate.construction));
  o.overhead_correction = f.overhead_correction;
  o.estimate.kernel_times = f.kernel_times;
  o.estimate.model_reorders = !f.no_model_reorders;
  o.reference_passes = f.reference_passes;
  o.profiler_bias_bricks = f.profiler_bias;
  o.interleave_references = !f.no_interleave;
  if (f.context != "none" && f.context != "lofo")
    return Status::InvalidArgument("--context must be none or lofo, not '" + f.context + "'");
  o.context_lofo = f.context == "lofo";
  o.measure_missing = !f.read_only;
  o.work_dir = f.work_dir.empty() ? f.measure.db + ".work" : f.work_dir;
  IngestOptions ingest;
  for (const std::string& s : f.input_shapes) DLB_RETURN_IF_ERROR(ParseInputShape(s, &ingest));
  for (const std::string& m : f.models) {
    if (!std::filesystem::is_regular_file(m)) return Status::InvalidArgument(m + ": no such model file");
  }
  std::unique_ptr<Store> store;
  if (f.read_only) {
    StoreOptions so;
    so.read_only = true;
    so.create_if_missing = false;
    DLB_RETURN_IF_ERROR(OpenStore(f.measure.db, so, &store));
  } else {
    DLB_RETURN_IF_ERROR(OpenRunStore(f.measure, &store));
  }
  ValidationReport report;
  DLB_RETURN_IF_ERROR(Validate(f.models, ingest, o, store.get(), &report));
  *output = f.measure.json ? ValidationJson(report) : f.csv ? ValidationCsv(report) : ValidationTable(report);
  return Status::OK();
}

}  // namespace

void RegisterValidate(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ValidateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "Construct model latencies from bricks and compare with end-to-end runs (DLBricks section 4)");
  cmd->add_option("models", f->models, "ONNX model files")->required();
  cmd->add_option("-G,--granularity", f->granularities, "G values: N, A..B or a comma list (default 1)");
  cmd->add_option("--construction", f->construction, "sequential (default) or parallel");
  AddDecomposeFlags(cmd, &f->decompose);
  cmd->add_flag("--overhead-correction", f->overhead_correction,
                "measure the empty-network run overhead and pay it once per model, not per brick");
  cmd->add_flag("--kernel-times", f->kernel_times,
                "also profile every brick and construct from kernel times (Reorder* excluded) plus the "
                "empty-network overhead once per model; profiling wall clock counts in the speedup");
  cmd->add_flag("--no-model-reorders", f->no_model_reorders,
                "--kernel-times: leave out the layout reorders the whole model performs (ablation)");
  cmd->add_option("--profile-runs", f->measure.options.profile_runs,
                  "--kernel-times: inferences in each brick's profiling run (default 20)");
  cmd->add_option("--pack", f->measure.options.pack,
                  "--kernel-times: profile bricks only (no latency runs), N side by side per engine session (onnxruntime, opencv)");
  cmd->add_option("--profiler-bias", f->profiler_bias,
                  "--kernel-times: also time N cheap bricks, calibrate the profiler's per-kernel cost on every "
                  "brick both timed and profiled, and subtract it from every kernel (read-only: calibrate on "
                  "what the store holds)");
  cmd->add_flag("--read-only", f->read_only, "only read the store; measure nothing");
  cmd->add_option("--context", f->context,
                  "none (default) | lofo: scale each construction by the in-model factor fitted on the other "
                  "families' references (lone bricks run with warm caches)");
  cmd->add_option("--reference-passes", f->reference_passes,
                  "time new end-to-end references in N passes interleaved with the bricks; keep each model's "
                  "fastest (default 2)");
  cmd->add_option("--pack-rounds", f->measure.options.pack_rounds,
                  "--pack: visits per pack (default: --rounds); the references keep --rounds, spread over the packs");
  AddColdWeightsFlag(cmd, &f->measure);
  cmd->add_flag("--no-interleave", f->no_interleave,
                "with --rounds R: time the references' rounds before the bricks instead of alternating with them");
  cmd->add_option("--work", f->work_dir, "folder for generated suites (default: <db>.work)");
  cmd->add_option("--input-shape", f->input_shapes, "NAME=1x3x224x224 for models with dynamic inputs");
  cmd->add_flag("--csv", f->csv, "CSV output");
  AddMeasureFlags(cmd, &f->measure);
  cmd->callback([f, cmd, &ctx] {
    std::string out;
    Status st = RunValidate(*cmd, *f, &out);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    std::fputs(out.c_str(), stdout);
  });
}

}  // namespace dlbricks::cli
