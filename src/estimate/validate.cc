// Validation of constructed latencies against end-to-end runs (DLBricks section 4).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "dlbricks/estimate.h"
#include "dlbricks/suite.h"

namespace dlbricks {

const char kEmptyNetworkId[] = "empty-network";


Status WriteEmptyNetwork(const std::string& path) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("dlbricks");
  auto* imp = m.add_opset_import();
  imp->set_domain("");
  imp->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("empty_network");
  for (auto [vi, name] : {std::pair{g->add_input(), "input_0"}, std::pair{g->add_output(), "output_0"}}) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(1);
  }
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("input_0");
  n->add_output("output_0");
  std::ofstream out(path, std::ios::binary);
  if (!out || !m.SerializeToOstream(&out)) return Status::IOError(path + ": cannot write");
  return Status::OK();
}

Status LookupRunOverhead(Store* store, const std::string& system_id, const std::string& protocol,
                         std::optional<double>* overhead_ms) {
  std::optional<Measurement> have;
  DLB_RETURN_IF_ERROR(store->Lookup({system_id, "brick", kEmptyNetworkId, 1, protocol}, &have));
  overhead_ms->reset();
  if (have && have->status == "ok") *overhead_ms = have->value_ms;
  return Status::OK();
}

Status MeasureRunOverhead(const RunOptions& run, const std::string& work_dir, const std::string& system_id,
                          Store* store, double* overhead_ms) {
  const std::string protocol = ProtocolKey(run.protocol);
  std::optional<double> have;
  DLB_RETURN_IF_ERROR(LookupRunOverhead(store, system_id, protocol, &have));
  if (have && !run.force) {
    *overhead_ms = *have;
    return Status::OK();
  }
  const std::string path = work_dir + "/empty_network.onnx";
  DLB_RETURN_IF_ERROR(WriteEmptyNetwork(path));
  IsolatedResult r = RunIsolated(run.backend, path, run.backend_options, run.protocol, IsolatedTask::kTime, 0,
                                 run.timeout_s);
  if (r.status != "ok") return Status::Internal(path + ": empty-network probe " + r.status + ": " + r.error);
  Measurement m;
  m.key = {system_id, "brick", kEmptyNetworkId, 1, protocol};
  m.name = kEmptyNetworkId;
  SetMeasurementTiming(r.timing, &m);
  DLB_RETURN_IF_ERROR(store->Put(m));
  *overhead_ms = m.value_ms;
  return Status::OK();
}

double GeoMean(const std::vector<double>& xs) {
  if (xs.empty()) return 0;
  double s = 0;
  for (double x : xs) s += std::log(x);
  return std::exp(s / static_cast<double>(xs.size()));
}

namespace {

// A row that can be scored: an end-to-end reference and no missing brick.
bool Referenced(const ValidationRow& row) { return row.measured_ms > 0 && row.missing == 0 && row.bricks_ms > 0; }

// ValidateOptions::context_lofo over the rows of one G. A row without a reference is left as
// constructed when no scale can be fitted for it: it is not scored anyway.
Status ApplyContextLeaveFamilyOut(const std::vector<ValidationRow*>& rows) {
  std::vector<std::string> models;
  std::vector<double> constructed, measured;
  for (const ValidationRow* row : rows) {
    models.push_back(row->model);
    constructed.push_back(row->bricks_ms);
    measured.push_back(Referenced(*row) ? row->measured_ms : 0);
  }
  const std::vector<ContextScale> scales = ContextScalesLeaveFamilyOut(models, constructed, measured);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!scales[i].scale) {
      if (!Referenced(*rows[i])) continue;
      return ContextScaleMissing("validate", rows[i]->model, scales[i]);
    }
    rows[i]->context_scale = *scales[i].scale;
    rows[i]->constructed_ms = rows[i]->context_scale * rows[i]->bricks_ms;
  }
  return Status::OK();
}

}  // namespace

std::string ModelFamilyOf(const std::string& name) {
  std::string family;
  for (char c : name) {
    if (!std::isalpha(static_cast<unsigned char>(c))) break;
    family += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return family.empty() ? name : family;
}

std::vector<ContextScale> ContextScalesLeaveFamilyOut(const std::vector<std::string>& models,
                                                      const std::vector<double>& constructed_ms,
                                                      const std::vector<double>& measured_ms) {
  std::vector<std::string> families;
  for (const std::string& m : models) families.push_back(ModelFamilyOf(m));
  std::vector<ContextScale> out(models.size());
  for (size_t i = 0; i < models.size(); ++i) {
    double sum_r = 0, sum_r2 = 0;
    for (size_t j = 0; j < models.size(); ++j) {
      if (!(measured_ms[j] > 0) || !(constructed_ms[j] > 0) || families[j] == families[i]) continue;
      const double r = constructed_ms[j] / measured_ms[j];
      sum_r += r, sum_r2 += r * r, ++out[i].others;
    }
    if (out[i].others >= 2) out[i].scale = sum_r / sum_r2;
  }
  return out;
}

Status ContextScaleMissing(const std::string& command, const std::string& model, const ContextScale& c) {
  return Status::InvalidArgument(
      fmt::format("{} --context lofo: {} has {} referenced model{} outside its family '{}'; needs 2", command, model,
                  c.others, c.others == 1 ? "" : "s", ModelFamilyOf(model)));
}

Status Validate(const std::vector<std::string>& model_paths, const IngestOptions& ingest,
                const ValidateOptions& options, Store* store, ValidationReport* report) {
  if (model_paths.empty()) return Status::InvalidArgument("validate: no models given");
  for (int g : options.granularities) {
    if (g < 1) return Status::InvalidArgument("-G " + std::to_string(g) + ": granularity must be >= 1");
  }
  if (options.estimate.kernel_times && options.run.profile_runs < 1)
    return Status::InvalidArgument("--profile-runs must be >= 1");
  if (options.profiler_bias_bricks < 0 || (options.profiler_bias_bricks > 0 && !options.estimate.kernel_times))
    return Status::InvalidArgument("--profiler-bias needs --kernel-times and N >= 1");
  std::vector<std::unique_ptr<Graph>> graphs;
  std::vector<const Graph*> views;
  for (const std::string& p : model_paths) {
    graphs.push_back(std::make_unique<Graph>());
    DLB_RETURN_IF_ERROR(LoadGraph(p, ingest, graphs.back().get()));
    views.push_back(graphs.back().get());
  }

  std::unique_ptr<Backend> backend;
  DLB_RETURN_IF_ERROR(BackendRegistry::Create(options.run.backend, &backend));
  SystemRecord system = MakeSystemRecord(*backend, options.run.backend_options);
  if (options.measure_missing) DLB_RETURN_IF_ERROR(store->PutSystem(system));
  ValidationReport rep;
  rep.system_id = system.id;
  rep.fingerprint_json = system.fingerprint_json;
  rep.protocol = ProtocolKey(options.run.protocol);
  rep.backend = options.run.backend;
  rep.construction = ConstructionName(options.estimate.construction);
  rep.mode = DecomposeModeName(options.decompose.mode);
  rep.fusion = FusionRulesName(options.decompose.fusion);
  rep.stitch = options.decompose.stitch;
  rep.kernel_times = options.estimate.kernel_times;
  rep.model_reorders = options.estimate.kernel_times && options.estimate.model_reorders;
  rep.context_lofo = options.context_lofo;
  StoreQuery query{system.id, rep.protocol, 1};

  // Models whose reference this call measures get reference_passes passes (the first now, or,
  // interleaved, round by round between the first G's brick rounds).
  std::vector<size_t> fresh_models;  // indices into graphs / model_paths
  int passes_left = 0;
  RunOptions reference_run = options.run;
  reference_run.batches = {1};
  std::unique_ptr<ModelRounds> references;  // the first pass
  RunSummary reference_summary;
  if (options.measure_missing) {
    if (options.work_dir.empty()) return Status::InvalidArgument("validate: a work folder is required to measure");
    if (options.reference_passes < 1) return Status::InvalidArgument("validate: reference passes must be >= 1");
    std::error_code ec;
    std::filesystem::create_directories(options.work_dir, ec);
    if (ec) return Status::IOError(options.work_dir + ": cannot create folder (" + ec.message() + ")");
    for (size_t i = 0; i < graphs.size(); ++i) {
      std::optional<Measurement> have;
      DLB_RETURN_IF_ERROR(LookupModelLatency(store, query, *graphs[i], &have));
      if (!have || have->status != "ok" || options.run.force) fresh_models.push_back(i);
    }
    DLB_RETURN_IF_ERROR(ModelRounds::Start(model_paths, reference_run, store, &reference_summary, &references));
    if (!options.interleave_references || references->rounds() == 1)  // all now, before the bricks
      DLB_RETURN_IF_ERROR(references->RunUntil(references->rounds()));
    passes_left = fresh_models.empty() ? 0 : options.reference_passes - 1;
  }
  // One more pass over the fresh models, keeping each model's fastest pass.
  auto reference_pass = [&]() -> Status {
    if (passes_left <= 0) return Status::OK();
    --passes_left;
    RunOptions again = reference_run;
    again.force = true;
    for (size_t i : fresh_models) {
      std::optional<Measurement> before, after;
      DLB_RETURN_IF_ERROR(LookupModelLatency(store, query, *graphs[i], &before));
      RunSummary summary;
      DLB_RETURN_IF_ERROR(MeasureModels({model_paths[i]}, again, store, &summary));
      DLB_RETURN_IF_ERROR(LookupModelLatency(store, query, *graphs[i], &after));
      if (before && before->status == "ok" && (!after || after->status != "ok" || before->value_ms < after->value_ms)) {
        DLB_RETURN_IF_ERROR(store->Put(*before));
      }
    }
    return Status::OK();
  };

  EstimateOptions est = options.estimate;
  if (options.overhead_correction || options.estimate.kernel_times) {
    if (!options.measure_missing) {
      std::optional<double> have;
      DLB_RETURN_IF_ERROR(LookupRunOverhead(store, system.id, rep.protocol, &have));
      if (!have) return Status::NotFound("no empty-network overhead measured for this system; run validate with measuring on");
      est.run_overhead_ms = *have;
    } else {
      DLB_RETURN_IF_ERROR(MeasureRunOverhead(options.run, options.work_dir, system.id, store, &est.run_overhead_ms));
    }
  }
  rep.run_overhead_ms = est.run_overhead_ms;

  // Measure every G's bricks first, interleaving the reference passes.
  RunOptions brick_run = options.run;
  brick_run.profile_ops = options.run.profile_ops || options.estimate.kernel_times;
  std::map<std::string, double> profile_wall_s;  // brick id -> wall of its profiling run here
  if (options.measure_missing) {
    // Reference round r once r/R of the brick visits are done (a no-op once all have run).
    brick_run.after_visit = [&, r = references->rounds()](double done) {
      return references->RunUntil(static_cast<int>(std::floor(done * r + 1e-9)));
    };
    for (size_t k = 0; k < options.granularities.size(); ++k) {
      const int g = options.granularities[k];
      DecomposeOptions dopt = options.decompose;
      dopt.granularity = g;
      SuiteOptions sopt;
      sopt.decompose = dopt;
      sopt.out_dir = fmt::format("{}/suite-G{}-{}-{}{}", options.work_dir, g, rep.mode, rep.fusion,
                                 rep.stitch ? "-stitch" : "");
      sopt.force = true;
      SuiteSummary ss;
      DLB_RETURN_IF_ERROR(GenerateSuite(views, sopt, &ss));
      brick_run.calibration_bricks = k == 0 && brick_run.pack > 0 ? options.profiler_bias_bricks : 0;
      RunSummary rs;
      DLB_RETURN_IF_ERROR(est.kernel_times && brick_run.pack > 0 ? ProfileSuitePacked(sopt.out_dir, brick_run, store, &rs)
                                                                 : RunSuite(sopt.out_dir, brick_run, store, &rs));
      DLB_RETURN_IF_ERROR(references->RunUntil(references->rounds()));  // the rounds the visits did not reach
      for (const RunItem& item : rs.items) profile_wall_s[item.m.key.item_id] += item.profile_wall_s;
      // Spread the remaining passes over the G values (the last G takes whatever is left).
      const int gs_left = static_cast<int>(options.granularities.size() - k);
      for (int p = passes_left / gs_left; p > 0; --p) {
        DLB_RETURN_IF_ERROR(reference_pass());
      }
    }
  }

  if (options.profiler_bias_bricks > 0) {
    DLB_RETURN_IF_ERROR(CalibrateProfilerBias(store, query, est.run_overhead_ms, &rep.profiler_bias));
    est.profiler_bias_ms = rep.profiler_bias.per_kernel_ms;
  }

  // End-to-end references.
  std::vector<std::optional<Measurement>> e2e(graphs.size());
  for (size_t i = 0; i < graphs.size(); ++i) {
    DLB_RETURN_IF_ERROR(LookupModelLatency(store, query, *graphs[i], &e2e[i]));
  }

  for (int g : options.granularities) {
    DecomposeOptions dopt = options.decompose;
    dopt.granularity = g;
    CorpusDecomposition corpus;
    DLB_RETURN_IF_ERROR(DecomposeCorpus(views, dopt, &corpus));
    BrickLatencies latencies;
    if (est.kernel_times) DLB_RETURN_IF_ERROR(LoadBrickKernelTimes(store, query, &latencies, est.profiler_bias_ms));
    else DLB_RETURN_IF_ERROR(LoadBrickLatencies(store, query, &latencies));

    GranularitySummary sum;
    sum.granularity = g;
    sum.instances = corpus.instances;
    sum.unique_bricks = static_cast<int64_t>(corpus.bricks.size());
    for (const UniqueBrick& b : corpus.bricks) {
      std::optional<Measurement> m;
      DLB_RETURN_IF_ERROR(store->Lookup({system.id, "brick", b.id.Hex(), 1, rep.protocol}, &m));
      if (m && m->status == "ok") {
        sum.sum_brick_ms += m->value_ms;
        sum.brick_wall_s += m->wall_s;
      } else if (auto l = latencies.find(b.id); est.kernel_times && l != latencies.end()) {
        sum.sum_brick_ms += l->second.ms + l->second.reorder_in_ms + l->second.reorder_out_ms;  // profile-only run
      }
      if (auto w = profile_wall_s.find(b.id.Hex()); w != profile_wall_s.end()) sum.profile_wall_s += w->second;
    }
    std::vector<double> norms, abs_errors;
    int within = 0;
    for (size_t i = 0; i < graphs.size(); ++i) {
      ModelEstimate e;
      EstimateOptions eo = est;
      eo.allow_partial = true;
      DLB_RETURN_IF_ERROR(ConstructModel(views[i], corpus.models[i], latencies, eo, &e));
      ValidationRow row;
      row.model = graphs[i]->name;
      row.granularity = g;
      row.constructed_ms = row.bricks_ms = e.latency_ms;
      row.reorder_ms = e.reorder_ms;
      row.bricks = static_cast<int>(e.bricks.size());
      row.missing = e.missing;
      if (e2e[i]) row.measured_ms = e2e[i]->value_ms;
      rep.rows.push_back(row);
    }
    std::vector<ValidationRow*> rows_of_g;
    for (size_t i = rep.rows.size() - graphs.size(); i < rep.rows.size(); ++i) rows_of_g.push_back(&rep.rows[i]);
    if (options.context_lofo) DLB_RETURN_IF_ERROR(ApplyContextLeaveFamilyOut(rows_of_g));
    for (size_t i = 0; i < graphs.size(); ++i) {
      ValidationRow& row = *rows_of_g[i];
      if (!Referenced(row)) continue;
      row.normalised = row.constructed_ms / row.measured_ms;
      norms.push_back(row.normalised);
      abs_errors.push_back(std::max(1e-4, std::fabs(row.normalised - 1)));
      if (std::fabs(row.normalised - 1) <= 0.10) ++within;
      sum.sum_model_ms += row.measured_ms;
      sum.model_wall_s += e2e[i]->wall_s;
    }
    sum.models = static_cast<int>(norms.size());
    sum.geomean_normalised = GeoMean(norms);
    sum.geomean_abs_error = GeoMean(abs_errors);
    sum.within_10pct = norms.empty() ? 0 : static_cast<double>(within) / static_cast<double>(norms.size());
    sum.speedup_latency = sum.sum_brick_ms > 0 ? sum.sum_model_ms / sum.sum_brick_ms : 0;
    sum.brick_wall_s += sum.profile_wall_s;
    sum.speedup_wall = sum.brick_wall_s > 0 ? sum.model_wall_s / sum.brick_wall_s : 0;
    rep.summaries.push_back(sum);
  }
  *report = std::move(rep);
  return Status::OK();
}

std::string ValidationJson(const ValidationReport& r) {
  nlohmann::ordered_json j;
  j["schema_version"] = 1;
  j["system_id"] = r.system_id;
  j["system"] = nlohmann::json::parse(r.fingerprint_json, nullptr, false);
  j["backend"] = r.backend;
  j["protocol"] = r.protocol;
  j["construction"] = r.construction;
  j["mode"] = r.mode;
  j["fusion"] = r.fusion;
  j["stitch"] = r.stitch;
  j["kernel_times"] = r.kernel_times;
  j["model_reorders"] = r.model_reorders;
  j["context"] = r.context_lofo ? "lofo" : "none";
  j["run_overhead_ms"] = r.run_overhead_ms;
  if (r.profiler_bias.bricks > 0)
    j["profiler_bias"] = {{"per_kernel_ms", r.profiler_bias.per_kernel_ms},
                          {"q1_ms", r.profiler_bias.q1_ms},
                          {"q3_ms", r.profiler_bias.q3_ms},
                          {"bricks", r.profiler_bias.bricks}};
  j["models"] = nlohmann::ordered_json::array();
  for (const ValidationRow& row : r.rows) {
    j["models"].push_back({{"model", row.model},
                           {"G", row.granularity},
                           {"constructed_ms", row.constructed_ms},
                           {"measured_ms", row.measured_ms},
                           {"normalised", row.normalised},
                           {"bricks_ms", row.bricks_ms},
                           {"context_scale", row.context_scale},
                           {"reorder_ms", row.reorder_ms},
                           {"bricks", row.bricks},
                           {"missing", row.missing}});
  }
  j["granularities"] = nlohmann::ordered_json::array();
  for (const GranularitySummary& s : r.summaries) {
    j["granularities"].push_back({{"G", s.granularity},
                                  {"models", s.models},
                                  {"instances", s.instances},
                                  {"unique_bricks", s.unique_bricks},
                                  {"geomean_normalised", s.geomean_normalised},
                                  {"geomean_abs_error", s.geomean_abs_error},
                                  {"within_10pct", s.within_10pct},
                                  {"sum_model_ms", s.sum_model_ms},
                                  {"sum_brick_ms", s.sum_brick_ms},
                                  {"speedup_latency", s.speedup_latency},
                                  {"model_wall_s", s.model_wall_s},
                                  {"brick_wall_s", s.brick_wall_s},
                                  {"profile_wall_s", s.profile_wall_s},
                                  {"speedup_wall", s.speedup_wall}});
  }
  return j.dump(2) + "\n";
}

std::string ValidationCsv(const ValidationReport& r) {
  std::string out = "model,G,constructed_ms,measured_ms,normalised,bricks,missing\n";
  for (const ValidationRow& row : r.rows) {
    out += fmt::format("{},{},{:.6g},{:.6g},{:.6g},{},{}\n", row.model, row.granularity, row.constructed_ms,
                       row.measured_ms, row.normalised, row.bricks, row.missing);
  }
  return out;
}

std::string ValidationTable(const ValidationReport& r) {
  std::string out = fmt::format(
      "system {}  backend {}  protocol {}  construction {}{}{}  mode {}{}  fusion {}  overhead {:.4f} ms{}\n",
      r.system_id.substr(0, 12), r.backend, r.protocol, r.construction, r.kernel_times ? " (kernel times)" : "",
      r.context_lofo ? " x in-model scale fitted on the other families" : "", r.mode, r.stitch ? "+stitch" : "",
      r.fusion, r.run_overhead_ms,
      r.profiler_bias.bricks > 0 ? fmt::format("  profiler bias {:.2f} us/kernel ({} bricks)",
                                               1000 * r.profiler_bias.per_kernel_ms, r.profiler_bias.bricks)
                                 : "");
  out += fmt::format("{:<22} {:>3} {:>14} {:>12} {:>10} {:>7}{}\n", "model", "G", "constructed_ms", "measured_ms",
                     "normalised", "bricks", r.context_lofo ? "    scale" : "");
  for (const ValidationRow& row : r.rows) {
    out += fmt::format("{:<22} {:>3} {:>14.3f} {:>12.3f} {:>10.3f} {:>7}{}{}\n", row.model, row.granularity,
                       row.constructed_ms, row.measured_ms, row.normalised, row.bricks,
                       r.context_lofo ? fmt::format(" {:>8.4f}", row.context_scale) : "",
                       row.missing ? fmt::format("  ({} missing)", row.missing) : "");
  }
  out += fmt::format("\n{:>3} {:>6} {:>8} {:>8} {:>9} {:>9} {:>8} {:>10} {:>10}\n", "G", "models", "unique",
                     "geomean", "|err|", "within10", "speedup", "wall_spdup", "inst");
  for (const GranularitySummary& s : r.summaries) {
    out += fmt::format("{:>3} {:>6} {:>8} {:>8.3f} {:>8.1f}% {:>8.0f}% {:>7.2f}x {:>9.2f}x {:>10}\n", s.granularity,
                       s.models, s.unique_bricks, s.geomean_normalised, 100 * s.geomean_abs_error,
                       100 * s.within_10pct, s.speedup_latency, s.speedup_wall, s.instances);
  }
  return out;
}

}  // namespace dlbricks
