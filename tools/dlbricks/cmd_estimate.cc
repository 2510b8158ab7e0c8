// dlbricks estimate MODEL... --db FILE [--system ID] [--construction sequential|parallel]
//                  [-G N] [--mode chain|dag|overlap] [--protocol P] [--predictor FILE] [--allow-partial]
//                  [--kernel-times [--profiler-bias]] [--overhead-ms MS] [--context none|lofo]
//                  [--json|--csv]
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "decompose_flags.h"
#include "dlbricks/estimate.h"
#include "dlbricks/predict.h"

namespace dlbricks::cli {

namespace {

struct EstimateFlags {
  std::vector<std::string> models;
  std::string db;
  std::string construction = "sequential";
  DecomposeFlags decompose;
  std::string predictor;  // fills unmeasured single-layer bricks (ResPerfNet-style)
  std::vector<std::string> input_shapes;
  int granularity = 1;
  double overhead_ms = 0;
  bool overhead_given = false;  // --overhead-ms on the command line
  bool allow_partial = false, kernel_times = false, json = false, csv = false;
  bool no_model_reorders = false, profiler_bias = false;
  std::string context = "none";
  StoreQuery query;
};

Status Estimate(const EstimateFlags& f) {
  if (f.profiler_bias && !f.kernel_times) return Status::InvalidArgument("--profiler-bias needs --kernel-times");
  if (f.context != "none" && f.context != "lofo")
    return Status::InvalidArgument("--context must be none or lofo, not '" + f.context + "'");
  EstimateOptions eo;
  eo.allow_partial = f.allow_partial;
  eo.run_overhead_ms = f.overhead_ms;
  eo.kernel_times = f.kernel_times;
  eo.model_reorders = !f.no_model_reorders;
  DLB_RETURN_IF_ERROR(ParseConstruction(f.construction, &eo.construction));
  DecomposeOptions dopt;
  dopt.granularity = f.granularity;
  DLB_RETURN_IF_ERROR(ResolveDecomposeFlags(f.decompose, &dopt));
  if (dopt.granularity < 1) return Status::InvalidArgument("-G must be >= 1");
  IngestOptions ingest;
  for (const std::string& s : f.input_shapes) DLB_RETURN_IF_ERROR(ParseInputShape(s, &ingest));

  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  std::unique_ptr<Store> store;
  DLB_RETURN_IF_ERROR(OpenStore(f.db, so, &store));
  StoreQuery query = f.query;
  std::unique_ptr<Predictor> predictor;
  if (!f.predictor.empty()) {
    predictor = std::make_unique<Predictor>();
    DLB_RETURN_IF_ERROR(LoadPredictor(f.predictor, predictor.get()));
    if (predictor->kernel_times != f.kernel_times)
      return Status::InvalidArgument(f.predictor + ": predictor learned " +
                                     (predictor->kernel_times ? "kernel times; add --kernel-times"
                                                              : "latencies; drop --kernel-times or train with --target kernel"));
  }
  std::vector<SystemRecord> systems;
  DLB_RETURN_IF_ERROR(store->ListSystems(&systems));
  if (predictor && systems.empty() && query.system_id.empty()) {
    query.system_id = predictor->system_id;  // nothing measured: predictions only
  } else {
    DLB_RETURN_IF_ERROR(ResolveSystem(store.get(), &query).WithPrefix(f.db));
  }
  BrickLatencies measured;
  if (f.kernel_times) {
    if (!f.overhead_given) {  // the empty-network probe of `validate`, if stored
      std::optional<double> probe;
      DLB_RETURN_IF_ERROR(LookupRunOverhead(store.get(), query.system_id, query.protocol, &probe));
      eo.run_overhead_ms = probe.value_or(0);
    }
    if (f.profiler_bias) {
      ProfilerBias bias;
      DLB_RETURN_IF_ERROR(CalibrateProfilerBias(store.get(), query, eo.run_overhead_ms, &bias).WithPrefix(f.db));
      eo.profiler_bias_ms = bias.per_kernel_ms;
    }
    DLB_RETURN_IF_ERROR(LoadBrickKernelTimes(store.get(), query, &measured, eo.profiler_bias_ms));
  } else {
    DLB_RETURN_IF_ERROR(LoadBrickLatencies(store.get(), query, &measured));
  }

  nlohmann::ordered_json j = {{"schema_version", 1},
                              {"system_id", query.system_id},
                              {"protocol", query.protocol},
                              {"construction", f.construction},
                              {"granularity", dopt.granularity},
                              {"mode", f.decompose.mode},
                              {"fusion", f.decompose.fusion},
                              {"stitch", f.decompose.stitch},
                              {"kernel_times", f.kernel_times},
                              {"model_reorders", f.kernel_times && eo.model_reorders},
                              {"run_overhead_ms", eo.run_overhead_ms},
                              {"profiler_bias_ms", eo.profiler_bias_ms},
                              {"context", f.context},
                              {"models", nlohmann::ordered_json::array()}};
  std::string text = fmt::format("system {}  protocol {}  construction {}  G={} {}{}{}\n", query.system_id.substr(0, 12),
                                 query.protocol, f.construction, dopt.granularity, f.decompose.mode,
                                 f.decompose.stitch ? "+stitch" : "",
                                 f.kernel_times ? fmt::format("  kernel times + {:.4f} ms overhead{}", eo.run_overhead_ms,
                                                              f.profiler_bias ? fmt::format(", - {:.2f} us per kernel",
                                                                                            1000 * eo.profiler_bias_ms)
                                                                              : "")
                                                : "");
  text += fmt::format("{:<24} {:>14} {:>12} {:>10} {:>9} {:>9} {:>8}{}\n", "model", "constructed_ms", "measured_ms",
                      "normalised", "measured", "predicted", "missing", f.context == "lofo" ? "    scale" : "");
  std::string csv = "model,constructed_ms,measured_ms,normalised,measured_bricks,predicted_bricks,missing_bricks\n";
  // Every model constructed and its reference looked up first: with --context lofo each one's
  // scale is fitted on the other families' references.
  std::vector<std::string> names;
  std::vector<ModelEstimate> estimates;
  std::vector<std::optional<Measurement>> references;
  for (const std::string& path : f.models) {
    Graph g;
    DLB_RETURN_IF_ERROR(LoadGraph(path, ingest, &g));
    ModelDecomposition d;
    DLB_RETURN_IF_ERROR(DecomposeModel(g, dopt, &d));
    BrickLatencies latencies = measured;
    if (predictor) FillPredictedBricks(*predictor, g, d, &latencies);
    ModelEstimate& e = estimates.emplace_back();
    DLB_RETURN_IF_ERROR(ConstructModel(&g, d, latencies, eo, &e).WithPrefix(path));
    DLB_RETURN_IF_ERROR(LookupModelLatency(store.get(), query, g, &references.emplace_back()));
    names.push_back(g.name);
  }
  std::vector<double> scales(names.size(), 1.0);
  if (f.context == "lofo") {
    std::vector<double> constructed, references_ms;
    for (size_t i = 0; i < names.size(); ++i) {
      const bool whole = estimates[i].missing == 0 && references[i] && references[i]->value_ms > 0;
      constructed.push_back(estimates[i].latency_ms);
      references_ms.push_back(whole ? references[i]->value_ms : 0);
    }
    const std::vector<ContextScale> fit = ContextScalesLeaveFamilyOut(names, constructed, references_ms);
    for (size_t i = 0; i < names.size(); ++i) {
      if (!fit[i].scale) return ContextScaleMissing("estimate", names[i], fit[i]);
      scales[i] = *fit[i].scale;
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    ModelEstimate& e = estimates[i];
    e.latency_ms *= scales[i], e.uncertainty_ms *= scales[i];
    const std::optional<Measurement>& m = references[i];
    const double measured = m ? m->value_ms : 0;
    const double norm = measured > 0 ? e.latency_ms / measured : 0;
    auto brick_list = [](const std::vector<BrickEstimate>& list) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const BrickEstimate& b : list) {
        out.push_back({{"id", b.id.Hex()}, {"begin", b.begin}, {"end", b.end}, {"source", BrickSourceName(b.source)},
                       {"ms", b.ms}});
      }
      return out;
    };
    j["models"].push_back({{"model", name},
                           {"constructed_ms", e.latency_ms},
                           {"context_scale", scales[i]},
                           {"uncertainty_ms", e.uncertainty_ms},
                           {"reorder_ms", e.reorder_ms},
                           {"measured_ms", m ? nlohmann::json(measured) : nlohmann::json(nullptr)},
                           {"normalised", m ? nlohmann::json(norm) : nlohmann::json(nullptr)},
                           {"measured_bricks", e.measured},
                           {"predicted_bricks", e.predicted},
                           {"missing_bricks", e.missing},
                           {"critical_path", e.critical_path},
                           {"bricks", brick_list(e.bricks)},
                           {"seams", brick_list(e.seams)}});
    text += fmt::format("{:<24} {:>14.3f} {:>12} {:>10} {:>9} {:>9} {:>8}{}\n", name, e.latency_ms,
                        m ? fmt::format("{:.3f}", measured) : "-", m ? fmt::format("{:.3f}", norm) : "-", e.measured,
                        e.predicted, e.missing, f.context == "lofo" ? fmt::format(" {:>8.4f}", scales[i]) : "");
    csv += fmt::format("{},{:.6g},{},{},{},{},{}\n", name, e.latency_ms, m ? fmt::format("{:.6g}", measured) : "",
                       m ? fmt::format("{:.6g}", norm) : "", e.measured, e.predicted, e.missing);
  }
  std::fputs(f.json ? (j.dump(2) + "\n").c_str() : f.csv ? csv.c_str() : text.c_str(), stdout);
  return Status::OK();
}

}  // namespace

void RegisterEstimate(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<EstimateFlags>();
  CLI::App* cmd = app.add_subcommand("estimate", "Construct model latencies from measured bricks (DLBricks 3.2)");
  cmd->add_option("models", f->models, "ONNX model files")->required();
  cmd->add_option("--db", f->db, "results store")->required();
  cmd->add_option("--system", f->query.system_id, "system id or unique prefix (default: the store's only system)");
  cmd->add_option("--protocol", f->query.protocol, "protocol of the brick runs (default dlbricks)");
  cmd->add_option("--construction", f->construction, "sequential (default) or parallel");
  cmd->add_option("-G,--granularity", f->granularity, "G used to generate the suite (default 1)");
  AddDecomposeFlags(cmd, &f->decompose);
  CLI::Option* overhead =
      cmd->add_option("--overhead-ms", f->overhead_ms, "per-run overhead to pay once per model instead of per brick");
  cmd->add_option("--context", f->context,
                  "none (default) | lofo: scale each model by the in-model factor fitted on the references of the "
                  "other families' models given (two or more needed)");
  cmd->add_flag("--kernel-times", f->kernel_times,
                "construct from brick kernel times (op profiles of `run --profile-ops`, Reorder* excluded) plus "
                "the run overhead once per model (--overhead-ms, else the stored empty-network probe)");
  cmd->add_flag("--no-model-reorders", f->no_model_reorders,
                "--kernel-times: leave out the layout reorders the whole model performs (ablation)");
  cmd->add_flag("--profiler-bias", f->profiler_bias,
                "--kernel-times: subtract the profiler's per-kernel cost, calibrated on the bricks the store holds "
                "both timed (--protocol) and profiled (`validate --profiler-bias N` times them)");
  cmd->add_option("--input-shape", f->input_shapes, "NAME=1x3x224x224 for models with dynamic inputs");
  cmd->add_option("--predictor", f->predictor, "predictor file (dlbricks predictor train): fills unmeasured G=1 bricks");
  cmd->add_flag("--allow-partial", f->allow_partial, "estimate even when bricks are missing (reported)");
  cmd->add_flag("--json", f->json, "JSON output (schema_version 1)");
  cmd->add_flag("--csv", f->csv, "CSV output");
  cmd->callback([f, overhead, &ctx] {
    f->overhead_given = overhead->count() > 0;
    Status st = Estimate(*f);
    if (!st.ok()) ctx.exit_code = Fail(st);
  });
}

}  // namespace dlbricks::cli
