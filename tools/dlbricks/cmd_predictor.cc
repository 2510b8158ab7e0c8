// dlbricks predictor sweep|harvest|train|eval|predict|validate: the learned per-layer latency predictor
// (ResPerfNet). Flags map onto SweepOptions / TrainOptions; the work is in src/predict.
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "dlbricks/predict.h"
#include "measure_flags.h"

namespace dlbricks::cli {
namespace {

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

struct SweepFlags {
  SweepOptions options;
  std::string db, families;
  int threads = 1;
  double cache_flush_mib = 0;
};

void RegisterSweep(CLI::App* parent, Context& ctx) {
  auto flags = std::make_shared<SweepFlags>();
  CLI::App* cmd = parent->add_subcommand("sweep", "measure random single-layer networks into a store");
  cmd->add_option("--db", flags->db, "results store (SQLite file); layer descriptors go to FILE.layers.jsonl")->required();
  cmd->add_option("--backend", flags->options.backend, "onnxruntime (default) or opencv");
  cmd->add_option("--threads", flags->threads, "intra-op threads (default 1)");
  cmd->add_option("-n,--samples", flags->options.samples, "networks to build and measure (default 1000)");
  cmd->add_option("--seed", flags->options.seed, "RNG seed: (seed, index) fixes each network (default 1)");
  cmd->add_option("--families", flags->families, "comma-separated op families (default: all)");
  cmd->add_option("--runs", flags->options.protocol.min_runs, "timed runs per network (default 15)");
  cmd->add_option("--max-time", flags->options.protocol.max_time_s, "timed seconds per network at most (default 0.25)");
  cmd->add_option("--max-macs", flags->options.max_macs, "largest layer drawn, in MACs (default 4e8)");
  cmd->add_option("--min-macs", flags->options.min_macs, "smallest layer drawn, in MACs (default 0; a targeted sweep of large layers)");
  cmd->add_option("--max-elements", flags->options.max_elements, "largest tensor drawn, in elements (default 1.6e7)");
  cmd->add_flag("--kernel-times", flags->options.kernel_times,
                "also profile every network (stored op profiles; `train --target kernel` learns kernel time)");
  cmd->add_option("--profile-runs", flags->options.profile_runs, "inferences per profiling run (default 20)");
  AddCacheFlushFlags(cmd, &flags->cache_flush_mib, &flags->options.protocol.rewarm_inputs);
  cmd->add_option("--pack", flags->options.pack,
                  "profile N networks side by side per session (as run --pack): op profiles only, implies --kernel-times");
  cmd->add_option("--pack-rounds", flags->options.pack_rounds,
                  "with --pack: visits per pack, each network keeps its fastest (default 1)");
  cmd->add_flag("!--in-process", flags->options.isolate,
                "time every network in this process instead of a fresh child (faster, but not how `run` times bricks)");
  cmd->callback([flags, cmd, &ctx] {
    SweepOptions& o = flags->options;
    o.families = SplitComma(flags->families);
    o.backend_options.intra_op_threads = flags->threads;
    if (cmd->count("--runs")) o.protocol.max_runs = o.protocol.min_runs;
    if (Status st = CacheFlushBytes(flags->cache_flush_mib, &o.protocol.cache_flush_bytes); !st.ok())
      return void(ctx.exit_code = Fail(st.WithPrefix("sweep")));
    if (cmd->count("--pack-rounds") && !cmd->count("--pack"))
      return void(ctx.exit_code = Fail(Status::InvalidArgument("sweep: --pack-rounds needs --pack")));
    SweepSummary summary;
    const Status st = RunSweep(flags->db, o, &summary);
    if (o.pack > 0)
      std::printf("sweep (packed by %d, %d visits): %d profiled, %d skipped (stored), %d failed in %.1f s; system %s\n",
                  o.pack, o.pack_rounds, summary.profiled, summary.skipped, summary.profile_failed, summary.wall_s,
                  summary.system_id.c_str());
    else
      std::printf("sweep: %d measured, %d skipped (stored), %d failed in %.1f s; system %s, protocol %s\n",
                  summary.measured, summary.skipped, summary.failed, summary.wall_s, summary.system_id.c_str(),
                  summary.protocol.c_str());
    if (o.kernel_times && o.pack == 0)
      std::printf("op profiles: %d stored, %d failed\n", summary.profiled, summary.profile_failed);
    for (const auto& [family, n] : summary.per_family) std::printf("  %-10s %d\n", family.c_str(), n);
    if (!st.ok()) ctx.exit_code = Fail(st);
  });
}

void RegisterHarvest(CLI::App* parent, Context& ctx) {
  auto db = std::make_shared<std::string>();
  auto models = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = parent->add_subcommand(
      "harvest", "describe the layers of real models so their G=1 bricks (dlbricks run) become samples");
  cmd->add_option("--db", *db, "results store whose sidecar gets the layers")->required();
  cmd->add_option("models", *models, "ONNX models")->required();
  cmd->callback([db, models, &ctx] {
    int added = 0;
    const Status st = HarvestModelLayers(*models, *db, &added);
    std::printf("harvest: %d layers added to %s\n", added, SidecarPath(*db).c_str());
    if (!st.ok()) ctx.exit_code = Fail(st);
  });
}

struct TrainFlags {
  TrainOptions options;
  std::string db, out, kinds = "resperfnet,perfnet,xgboost,linear", save = "best", system, table, calibrate;
  std::string statistic = "value";
};

// Lowest test MAPE over all samples.
std::string BestPredictor(const std::map<std::string, Predictor>& predictors) {
  std::string best;
  double mape = 1e300;
  for (const auto& [name, p] : predictors) {
    auto it = p.test_errors.find("all");
    if (it != p.test_errors.end() && it->second.mape < mape) mape = it->second.mape, best = name;
  }
  return best;
}

// XGBoost's trees (`train` and `validate --leave-family-out`): rounds, depth, learning rate.
void AddXgbTreeFlags(CLI::App* cmd, TrainOptions* o) {
  cmd->add_option("--xgb-rounds", o->xgb_rounds, "xgboost boosting rounds (default 800)");
  cmd->add_option("--xgb-depth", o->xgb_max_depth, "xgboost tree depth (default 10)");
  cmd->add_option("--xgb-eta", o->xgb_eta, "xgboost learning rate per round (default 0.04)");
}

void RegisterTrain(CLI::App* parent, Context& ctx) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = parent->add_subcommand("train", "train predictors on the 80% split, report the 20% test split");
  cmd->add_option("--db", f->db, "results store with a layer sidecar (predictor sweep / harvest)")->required();
  cmd->add_option("-o,--output", f->out, "predictor file to write (.dlbp)")->required();
  cmd->add_option("--system", f->system, "system id or unique prefix (default: the store's only system)");
  cmd->add_option("--models", f->kinds, "comma-separated: resperfnet,perfnet,xgboost,linear (default: all)");
  cmd->add_option("--save", f->save, "which trained predictor to write: best (lowest test MAPE, default) or a name "
                                     "such as resperfnet or xgboost/per-family");
  cmd->add_flag("--per-family", f->options.per_family, "also train one regressor per op family");
  cmd->add_option("--epochs", f->options.epochs, "neural nets: epochs (default 40)");
  cmd->add_option("--lr", f->options.lr, "neural nets: initial learning rate (default 1e-3)");
  cmd->add_option("--decay-every", f->options.decay_every, "neural nets: step-decay period in epochs (default 10)");
  cmd->add_option("--max-train-time", f->options.max_train_s, "neural nets: stop after S seconds each (default: none)");
  AddXgbTreeFlags(cmd, &f->options);
  cmd->add_flag("!--xgb-log-ms", f->options.xgb_per_work,
                "xgboost learns ln(ms) instead of ln(ms / (MACs + bytes)) (which extrapolates past the sweep)");
  cmd->add_option("--xgb-loss", f->options.xgb_loss, "xgboost loss on the log target: huber (default) | squared | absolute");
  cmd->add_option("--xgb-huber-slope", f->options.xgb_huber_slope, "xgboost huber loss: where it turns linear, in ln units (default 0.1)");
  cmd->add_option("--xgb-weight-power", f->options.xgb_weight_power, "xgboost: weight each sample by ms^P (default 0: unweighted)");
  cmd->add_option("--seed", f->options.seed, "training seed (default 1)");
  cmd->add_option("--target", f->statistic, "latency statistic to learn: value (protocol headline, default) | min | kernel (op-profiled "
                                         "kernel time: sweep --kernel-times)");
  cmd->add_option("--table", f->table, "also write the error table (markdown) to this file");
  cmd->add_option("--calibrate", f->calibrate, "comma-separated stores that re-measured some of the same sweep networks "
                                               "(one per round): labels scaled to their fastest rounds");
  cmd->add_flag("-v,--verbose", f->options.verbose, "per-epoch losses on stderr");
  cmd->callback([f, &ctx] {
    f->options.kinds.clear();
    for (const std::string& k : SplitComma(f->kinds)) {
      ModelKind kind;
      const Status st = ParseModelKind(k, &kind);
      if (!st.ok()) return void(ctx.exit_code = Fail(st));
      f->options.kinds.push_back(kind);
    }
    DatasetQuery q;
    q.store.system_id = f->system;
    q.statistic = f->statistic;
    std::vector<Sample> samples;
    std::string system_id;
    Status st = LoadDataset(f->db, q, &samples, &system_id);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    if (samples.empty())
      return void(ctx.exit_code = Fail(Status::NotFound(fmt::format(
                      "{}: no layer with a '{}' label for system {}{}", f->db, f->statistic, system_id,
                      f->statistic == "kernel" ? " (sweep --kernel-times or --pack profiles them)"
                                               : " (a packed sweep stores kernel times only: --target kernel)"))));
    CalibrationOptions calibration;
    calibration.dbs = SplitComma(f->calibrate);
    LabelCalibration scales;
    st = CalibrateLabels(calibration, q, system_id, &samples, &scales);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    for (const auto& [group, scale] : scales.scale)
      std::printf("label calibration %-14s x%.3f (%d items)\n", group.c_str(), scale, scales.items[group]);
    std::map<std::string, Predictor> predictors;
    TrainReport report;
    st = TrainPredictors(samples, f->options, &predictors, &report);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    const std::string table = ErrorTable(report);
    std::printf("%s", table.c_str());
    if (!f->table.empty()) {
      std::ofstream(f->table) << table;
    }
    const std::string name = f->save == "best" ? BestPredictor(predictors) : f->save;
    auto it = predictors.find(name);
    if (it == predictors.end())
      return void(ctx.exit_code = Fail(Status::InvalidArgument("--save: no trained predictor named '" + name + "'")));
    it->second.system_id = system_id;
    it->second.protocol = ProtocolKey(SweepProtocol());
    it->second.kernel_times = f->statistic == "kernel";
    it->second.calibration = scales;
    st = LoadRunOverhead(f->db, system_id, &it->second.run_overhead_ms);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    st = SavePredictor(it->second, f->out);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    std::printf("wrote %s (%s)\n", f->out.c_str(), name.c_str());
  });
}

void RegisterEval(CLI::App* parent, Context& ctx) {
  auto f = std::make_shared<TrainFlags>();
  auto all = std::make_shared<bool>(false);
  auto no_record = std::make_shared<bool>(false);
  CLI::App* cmd = parent->add_subcommand(
      "eval", "errors of a predictor file on a store's test split; the per-layer predictions go into the store");
  cmd->add_option("predictor", f->out, "predictor file")->required();
  cmd->add_option("--db", f->db, "results store with a layer sidecar")->required();
  cmd->add_option("--system", f->system, "system id or unique prefix (default: the store's only system)");
  cmd->add_flag("--all", *all, "every sample, not only the 20% test split");
  cmd->add_option("--target", f->statistic, "latency statistic: value (default) | min | kernel");
  cmd->add_flag("--no-record", *no_record, "only print the errors; leave the store's predictions table as it is");
  cmd->callback([f, all, no_record, &ctx] {
    Predictor p;
    Status st = LoadPredictor(f->out, &p);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    DatasetQuery q;
    q.store.system_id = f->system;
    q.statistic = f->statistic;
    std::vector<Sample> samples, test;
    std::string system_id;
    st = LoadDataset(f->db, q, &samples, &system_id);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    for (Sample& s : samples)
      if (*all || IsTestSample(s.item_id)) test.push_back(std::move(s));
    TrainReport r;
    r.test_samples = static_cast<int>(test.size());
    r.errors[p.KindName()] = EvaluatePredictor(p, test);
    std::printf("%s", ErrorTable(r).c_str());
    if (*no_record) return;
    int recorded = 0;
    st = RecordPredictions(p, test, system_id, f->statistic, f->db, &recorded);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    std::printf("\nrecorded %d per-layer predictions (%s) of predictor %s %s in %s (dlbricks report draws them)\n",
                recorded, *all ? "train and test splits" : "test split", p.KindName().c_str(), p.file_id.c_str(),
                f->db.c_str());
  });
}

void RegisterPredict(CLI::App* parent, Context& ctx) {
  auto pred = std::make_shared<std::string>();
  auto model = std::make_shared<std::string>();
  CLI::App* cmd = parent->add_subcommand("predict", "per-layer predicted latency of a model and its total");
  cmd->add_option("--predictor", *pred, "predictor file")->required();
  cmd->add_option("model", *model, "ONNX model")->required();
  auto kernels = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::Option* kernels_flag =
      cmd->add_flag("--kernels", *kernels, "list the ONNX Runtime kernels the model is composed of, not its layers");
  cmd->add_flag("--json", *json, "with --kernels: one JSON line per kernel (layers, brick id, descriptor, ms)")
      ->needs(kernels_flag);
  cmd->callback([pred, model, kernels, json, &ctx] {
    Predictor p;
    Status st = LoadPredictor(*pred, &p);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    Graph g;
    IngestOptions ingest;
    ingest.load_weights = false;
    st = LoadGraph(*model, ingest, &g);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    double total = 0, uncertainty = 0;
    int unmodelled = 0;
    if (!*kernels) std::printf("%5s  %-20s %-10s %12s\n", "layer", "op", "family", "ms");
    for (const PredictedLayer& l : PredictGraphLayers(p, g)) {
      if (l.ms) total += *l.ms, uncertainty += *l.ms * p.RelativeError(l.family);
      if (!l.ms) ++unmodelled;
      if (!*kernels)
        std::printf("%5d  %-20s %-10s %12s\n", l.layer, l.op_type.c_str(), l.ms ? l.family.c_str() : "-",
                    l.ms ? fmt::format("{:.4f}", *l.ms).c_str() : "n/a");
    }
    const ModelPrediction m = PredictModel(p, g, ModelPredictionOptions{});
    if (*kernels && *json) {
      for (const PredictedKernel& k : m.kernels)
        std::printf("{\"begin\": %d, \"end\": %d, \"op\": \"%s\", \"predicted_as\": \"%s\", \"free\": %s, \"ms\": %s, "
                    "\"lone_ms\": %s, \"brick\": \"%s\", \"layer\": %s}\n",
                    k.begin, k.end, k.op_type.c_str(), k.predicted_as.c_str(), k.free ? "true" : "false",
                    k.ms ? fmt::format("{}", *k.ms).c_str() : "null",
                    k.lone_ms ? fmt::format("{}", *k.lone_ms).c_str() : "null", BrickSignature(g, k.begin, k.end).Hex().c_str(),
                    DescriptorToJson(DescribeUnit(g, k.begin, k.end)).c_str());
      return;
    }
    if (*kernels) {
      // The brick id joins a kernel with the G=1 brick `validate -G 1 --fusion onnxruntime` profiles.
      std::printf("%11s  %-20s %-20s %12s  %s\n", "layers", "op", "predicted as", "ms", "brick");
      for (const PredictedKernel& k : m.kernels)
        std::printf("%5d-%-5d  %-20s %-20s %12s  %s\n", k.begin, k.end - 1, k.op_type.c_str(),
                    k.free ? "(free)" : k.predicted_as.c_str(), k.ms ? fmt::format("{:.4f}", *k.ms).c_str() : "n/a",
                    BrickSignature(g, k.begin, k.end).Hex().c_str());
    }
    std::printf("sum of layers %.3f ms (+/- %.3f ms from per-family test MAPE); %d of %zu layers not modelled\n",
                total, uncertainty, unmodelled, g.layers.size());
    std::printf("model %.3f ms (+/- %.3f ms): %d ONNX Runtime kernels, per-call overhead %.4f ms once, %d kernels "
                "not modelled\n",
                m.ms, m.uncertainty_ms, m.units, p.run_overhead_ms, m.unmodelled);
    if (p.context.fitted())
      std::printf("in-model context (fitted on %zu models): kernels x%.3f + %.4f ms per MB of weights up to %.0f MiB; "
                  "as lone layers %.3f ms\n",
                  p.context.models.size(), p.context.kernel_scale, p.context.ms_per_mb, p.context.cache_bytes / (1 << 20),
                  m.lone_ms);
  });
}

void RegisterContext(CLI::App* parent, Context& ctx) {
  struct Flags {
    WholeModelOptions options;
    std::string predictor, db, out, fusion = "onnxruntime";
    std::vector<std::string> models;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = parent->add_subcommand(
      "context", "fit a predictor's in-model context (cold weights) on whole models measured end to end");
  cmd->add_option("predictor", f->predictor, "predictor file (.dlbp)")->required();
  cmd->add_option("models", f->models, "ONNX models with end-to-end references in --db")->required();
  cmd->add_option("--db", f->db, "store with the end-to-end references (dlbricks measure)")->required();
  cmd->add_option("-o,--output", f->out, "predictor file to write with the context (may be the input)")->required();
  cmd->add_option("--protocol", f->options.e2e_protocol, "protocol of the references (default dlbricks)");
  cmd->add_option("--fusion", f->fusion, "kernel rules for composing a model: onnxruntime (default) | none");
  cmd->callback([f, &ctx] {
    Status st = ParseFusionRules(f->fusion, &f->options.predict.fusion);
    if (!st.ok()) return void(ctx.exit_code = Fail(st.WithPrefix("--fusion")));
    Predictor p;
    st = LoadPredictor(f->predictor, &p);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    std::vector<ContextPoint> points;
    std::vector<std::string> unmeasured;
    st = FitContextOnModels(p, f->models, f->db, f->options, &p.context, &points, &unmeasured);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    st = SavePredictor(p, f->out);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    std::printf("%-22s %12s %12s %12s %8s\n", "model", "measured_ms", "lone_ms", "in_model_ms", "error");
    for (const ContextPoint& c : points) {
      const double in_model = p.context.kernel_scale * c.lone_ms + p.context.ms_per_mb * c.cached_weight_mb;
      std::printf("%-22s %12.3f %12.3f %12.3f %+7.1f%%\n", c.model.c_str(), c.measured_ms + p.run_overhead_ms,
                  c.lone_ms + p.run_overhead_ms, in_model + p.run_overhead_ms, 100 * (in_model / c.measured_ms - 1));
    }
    if (!unmeasured.empty()) {
      std::printf("no end-to-end reference (not fitted):");
      for (const std::string& m : unmeasured) std::printf(" %s", m.c_str());
      std::printf("\n");
    }
    std::printf("in-model context: kernels x%.4f + %.4f ms per MB of weights up to %.0f MiB (%.1f GB/s); fitted on %zu "
                "models, MAPE %.2f%% -> %.2f%% (in-sample: `predictor validate --context lofo` holds each family out)\n",
                p.context.kernel_scale, p.context.ms_per_mb, p.context.cache_bytes / (1 << 20),
                p.context.ms_per_mb > 0 ? 1 / p.context.ms_per_mb : 0.0, points.size(), p.context.mape_before,
                p.context.mape_after);
    std::printf("wrote %s\n", f->out.c_str());
  });
}

void RegisterValidate(CLI::App* parent, Context& ctx) {
  struct Flags {
    WholeModelOptions options;
    std::string db, predictor, fusion = "onnxruntime", kinds = "xgboost", system, calibrate, context;
    std::vector<std::string> models;
    bool no_overhead = false, json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = parent->add_subcommand(
      "validate", "predict whole models from layer predictions only and score them against measured end-to-end latency");
  cmd->add_option("models", f->models, "ONNX models")->required();
  cmd->add_option("--db", f->db, "store with the layer samples (and, by default, the end-to-end references)")->required();
  cmd->add_option("--predictor", f->predictor, "predictor file (.dlbp) to predict every model with");
  cmd->add_flag("--leave-family-out", f->options.leave_family_out,
                "per model family: train without any layer of that family's models, then predict them");
  cmd->add_option("--models", f->kinds, "leave-family-out: regressor to train (default xgboost)");
  AddXgbTreeFlags(cmd, &f->options.train);
  cmd->add_flag("!--xgb-log-ms", f->options.train.xgb_per_work, "xgboost learns ln(ms) instead of ln(ms / work)");
  cmd->add_option("--system", f->system, "leave-family-out: system id or unique prefix (default: the store's only one)");
  cmd->add_option("--target", f->options.dataset.statistic, "leave-family-out: value (default) | min | kernel");
  cmd->add_option("--calibrate", f->calibrate, "leave-family-out: calibration stores, as for train");
  cmd->add_option("--e2e-db", f->options.e2e_db, "store with the end-to-end references (default: --db)");
  cmd->add_option("--protocol", f->options.e2e_protocol, "protocol of the references (default dlbricks)");
  cmd->add_option("--fusion", f->fusion, "kernel rules for composing a model: onnxruntime (default) | none (sum of layers)");
  cmd->add_flag("--no-overhead", f->no_overhead, "keep the per-call overhead inside every layer's prediction");
  cmd->add_option("--context", f->context,
                  "in-model context: file (the predictor's own; default with --predictor) | lofo (fitted per family on "
                  "the other families' references; default with --leave-family-out) | none (kernels as lone layers)");
  cmd->add_flag("--json", f->json, "JSON instead of a table");
  cmd->callback([f, &ctx] {
    if (f->predictor.empty() == !f->options.leave_family_out)
      return void(ctx.exit_code = Fail(Status::InvalidArgument("give exactly one of --predictor and --leave-family-out")));
    if (f->context.empty()) f->context = f->options.leave_family_out ? "lofo" : "file";
    if (f->context == "file") {
      if (f->options.leave_family_out)
        return void(ctx.exit_code = Fail(Status::InvalidArgument(
                        "--context file: a leave-family-out predictor has no file; use lofo or none")));
      f->options.context = WholeModelOptions::Context::kFile;
    } else if (f->context == "lofo") {
      f->options.context = WholeModelOptions::Context::kLeaveFamilyOut;
    } else if (f->context == "none") {
      f->options.context = WholeModelOptions::Context::kNone;
    } else {
      return void(ctx.exit_code = Fail(Status::InvalidArgument("--context: '" + f->context + "' is not file, lofo or none")));
    }
    Status st = ParseFusionRules(f->fusion, &f->options.predict.fusion);
    if (!st.ok()) return void(ctx.exit_code = Fail(st.WithPrefix("--fusion")));
    f->options.predict.overhead_correction = !f->no_overhead;
    f->options.dataset.store.system_id = f->system;
    f->options.calibration.dbs = SplitComma(f->calibrate);
    f->options.train.kinds.clear();
    for (const std::string& k : SplitComma(f->kinds)) {
      ModelKind kind;
      st = ParseModelKind(k, &kind);
      if (!st.ok()) return void(ctx.exit_code = Fail(st));
      f->options.train.kinds.push_back(kind);
    }
    Predictor p;
    if (!f->predictor.empty()) {
      st = LoadPredictor(f->predictor, &p);
      if (!st.ok()) return void(ctx.exit_code = Fail(st));
    }
    WholeModelReport report;
    st = ValidateWholeModels(f->models, f->db, f->predictor.empty() ? nullptr : &p, f->options, &report);
    if (!st.ok()) return void(ctx.exit_code = Fail(st));
    const std::string out = f->json ? WholeModelJson(report) : WholeModelTable(report);
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}

}  // namespace

void RegisterPredictor(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("predictor", "learned per-layer latency predictor (ResPerfNet)");
  cmd->require_subcommand(1);
  RegisterSweep(cmd, ctx);
  RegisterHarvest(cmd, ctx);
  RegisterTrain(cmd, ctx);
  RegisterEval(cmd, ctx);
  RegisterPredict(cmd, ctx);
  RegisterContext(cmd, ctx);
  RegisterValidate(cmd, ctx);
}

}  // namespace dlbricks::cli
