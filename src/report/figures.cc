// BuildFigures: the papers' figures as data tables plus Vega-Lite specs (data fed at render).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "dlbricks/report.h"

namespace dlbricks {

namespace {

using json = nlohmann::ordered_json;

constexpr char kSchema[] = "https://vega.github.io/schema/vega-lite/v6.json";

json Field(const std::string& field, const std::string& type, const std::string& title = "") {
  json f = {{"field", field}, {"type", type}};
  if (!title.empty()) f["title"] = title;
  return f;
}

json Merge(json base, const json& extra) {
  base.update(extra);
  return base;
}

// A spec faceted by system (one panel per system, even when there is one).
json FacetBySystem(json inner, const std::string& direction = "row") {
  return {{"$schema", kSchema},
          {"facet", {{direction, Field("system", "nominal", "system")}}},
          {"spec", std::move(inner)},
          {"resolve", {{"scale", {{"x", "independent"}}}}}};
}

json Spec(json body) {
  json spec = {{"$schema", kSchema}};
  for (auto& [k, v] : body.items()) spec[k] = v;
  return spec;
}

ReportFigure Figure(std::string id, std::string title, std::string source, std::string caption) {
  ReportFigure f;
  f.id = std::move(id);
  f.title = std::move(title);
  f.source = std::move(source);
  f.caption = std::move(caption);
  return f;
}

constexpr char kNeedModels[] =
    "no models given: pass the ONNX files with --models (the same analysis as `dlbricks analyze MODEL...`)";
constexpr char kNeedValidation[] =
    "no validation results: run `dlbricks validate MODEL... --db FILE -G 1,2,3 --json > v.json` and pass "
    "--validation v.json";
constexpr char kNeedModelRuns[] =
    "no end-to-end model measurements in the store: run `dlbricks measure MODEL... --backend onnxruntime "
    "--batch 1,2,4,8 --db FILE`";

void AnalysisFigures(const ReportSources& src, std::vector<ReportFigure>* out) {
  ReportFigure f5 = Figure("dlbricks_fig5_unique_layers", "Unique layers per model", "DLBricks Fig. 5",
                           "Share of a model's layers whose signature is unique within the model: the lower, the "
                           "more a model repeats layers, and the fewer bricks it needs.");
  ReportFigure f6 = Figure("dlbricks_fig6_repeated_layer_types", "Type of the repeated layers", "DLBricks Fig. 6",
                           "Layers beyond the first of their signature, by operator type, per model.");
  ReportFigure f7 = Figure("dlbricks_fig7_jaccard", "Jaccard similarity of the models' layer sets",
                           "DLBricks Fig. 7",
                           "|L1 ∩ L2| / |L1 ∪ L2| over layer signatures: 1 means identical layer sets, 0 no "
                           "common layer.");
  if (!src.analysis) {
    for (ReportFigure* f : {&f5, &f6, &f7}) {
      f->missing = kNeedModels;
      out->push_back(*f);
    }
    return;
  }
  const CorpusAnalysis& a = *src.analysis;
  f5.table.columns = {"model", "layers", "unique_layers", "unique_percent"};
  for (const ModelStats& m : a.models) f5.table.rows.push_back({m.name, m.layers, m.unique_layers, m.unique_percent});
  f5.table.rows.push_back({std::string("(all models)"), a.total_layers, a.unique_layers, a.unique_percent});
  f5.vega_lite = Spec({{"transform", json::array({{{"filter", "datum.model !== '(all models)'"}}})},
                       {"mark", {{"type", "bar"}, {"tooltip", true}}},
                       {"encoding",
                        {{"x", Merge(Field("model", "nominal"), json{{"sort", nullptr}})},
                         {"y", Field("unique_percent", "quantitative", "unique layers (%)")}}}})
                     .dump();

  f6.table.columns = {"model", "op", "repeated_layers"};
  for (const ModelStats& m : a.models)
    for (const auto& [op, n] : m.repeated_by_op) f6.table.rows.push_back({m.name, op, n});
  f6.vega_lite = Spec({{"mark", {{"type", "bar"}, {"tooltip", true}}},
                       {"encoding",
                        {{"x", Merge(Field("model", "nominal"), json{{"sort", nullptr}})},
                         {"y", Merge(Field("repeated_layers", "quantitative", "repeated layers"), json{{"aggregate", "sum"}})},
                         {"color", Merge(Field("op", "nominal", "layer type"), json{{"scale", {{"scheme", "category20"}}}})}}}})
                     .dump();

  f7.table.columns = {"model_a", "model_b", "jaccard"};
  for (size_t i = 0; i < a.models.size(); ++i)
    for (size_t j = 0; j < a.models.size(); ++j)
      f7.table.rows.push_back({a.models[i].name, a.models[j].name, a.jaccard[i][j]});
  json order = json::array();
  for (const ModelStats& m : a.models) order.push_back(m.name);
  f7.vega_lite = Spec({{"mark", {{"type", "rect"}, {"tooltip", true}}},
                       {"encoding",
                        {{"x", Merge(Field("model_a", "nominal", "model"), json{{"sort", order}})},
                         {"y", Merge(Field("model_b", "nominal", "model"), json{{"sort", order}})},
                         {"color", Merge(Field("jaccard", "quantitative", "Jaccard"), json{{"scale", {{"scheme", "reds"}, {"domain", {0, 1}}}}})}}}})
                     .dump();
  out->push_back(std::move(f5));
  out->push_back(std::move(f6));
  out->push_back(std::move(f7));
}

void ValidationFigures(const ReportSources& src, std::vector<ReportFigure>* out) {
  ReportFigure f10 = Figure("dlbricks_fig10_normalised_latency", "Constructed latency normalised to end-to-end",
                            "DLBricks Fig. 10",
                            "Constructed / measured end-to-end latency per model for each granularity G; 1 "
                            "(dashed) is a perfect estimate.");
  ReportFigure f11 = Figure("dlbricks_fig11_geomean_vs_g", "Geometric mean of the normalised latency vs G",
                            "DLBricks Fig. 11", "Geomean over models of constructed / measured latency, per system.");
  ReportFigure f12 = Figure("dlbricks_fig12_speedup_vs_g", "Benchmarking-time speedup vs G", "DLBricks Fig. 12",
                            "speedup_latency: sum of model latencies / sum of brick latencies (the paper's "
                            "definition); speedup_wall: wall clock of benchmarking every model / of the suite.");
  if (src.validations.empty()) {
    for (ReportFigure* f : {&f10, &f11, &f12}) {
      f->missing = kNeedValidation;
      out->push_back(*f);
    }
    return;
  }
  f10.table.columns = {"system", "protocol", "construction", "G", "model", "constructed_ms", "measured_ms",
                       "normalised", "bricks", "missing_bricks"};
  f11.table.columns = {"system", "protocol", "G", "models", "geomean_normalised", "geomean_abs_error",
                       "within_10pct"};
  f12.table.columns = {"system",        "protocol",        "G",            "instances",    "unique_bricks",
                       "sum_model_ms",  "sum_brick_ms",    "speedup_latency", "model_wall_s", "brick_wall_s",
                       "speedup_wall"};
  for (const auto& [label, r] : src.validations) {
    for (const ValidationRow& row : r.rows)
      f10.table.rows.push_back({label, r.protocol, r.construction, int64_t{row.granularity}, row.model,
                                row.constructed_ms, row.measured_ms, row.normalised, int64_t{row.bricks},
                                int64_t{row.missing}});
    for (const GranularitySummary& s : r.summaries) {
      f11.table.rows.push_back({label, r.protocol, int64_t{s.granularity}, int64_t{s.models}, s.geomean_normalised,
                                s.geomean_abs_error, s.within_10pct});
      f12.table.rows.push_back({label, r.protocol, int64_t{s.granularity}, s.instances, s.unique_bricks,
                                s.sum_model_ms, s.sum_brick_ms, s.speedup_latency, s.model_wall_s, s.brick_wall_s,
                                s.speedup_wall});
    }
  }
  f10.vega_lite =
      FacetBySystem({{"layer",
                      json::array({{{"mark", {{"type", "bar"}, {"tooltip", true}}},
                                    {"encoding",
                                     {{"x", Merge(Field("model", "nominal"), json{{"sort", nullptr}})},
                                      {"xOffset", Field("G", "ordinal")},
                                      {"y", Field("normalised", "quantitative", "constructed / measured")},
                                      {"color", Field("G", "ordinal", "G")}}}},
                                   {{"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"color", "black"}}},
                                    {"encoding", {{"y", {{"datum", 1}}}}}}})}})
          .dump();
  const json x_g = Merge(Field("G", "quantitative", "benchmark granularity G"), json{{"axis", {{"tickMinStep", 1}}}});
  f11.vega_lite = Spec({{"mark", {{"type", "line"}, {"point", true}, {"tooltip", true}}},
                        {"encoding",
                         {{"x", x_g},
                          {"y", Merge(Field("geomean_normalised", "quantitative", "geomean constructed / measured"), json{{"scale", {{"zero", false}}}})},
                          {"color", Field("system", "nominal")}}}})
                      .dump();
  f12.vega_lite = Spec({{"transform", json::array({{{"fold", {"speedup_latency", "speedup_wall"}},
                                                    {"as", {"definition", "speedup"}}}})},
                        {"mark", {{"type", "line"}, {"point", true}, {"tooltip", true}}},
                        {"encoding",
                         {{"x", x_g},
                          {"y", Field("speedup", "quantitative", "benchmarking-time speedup (x)")},
                          {"color", Field("system", "nominal")},
                          {"strokeDash", Field("definition", "nominal")}}}})
                      .dump();
  out->push_back(std::move(f10));
  out->push_back(std::move(f11));
  out->push_back(std::move(f12));
}

void MeasurementFigures(const ReportSources& src, std::vector<ReportFigure>* out) {
  ReportFigure f1 = Figure("embench_fig1_flops_vs_latency", "Latency vs FLOPs", "EmBench Fig. 1",
                           "Measured latency against the model's FLOPs x batch size; one line per model and "
                           "system: networks with similar FLOPs can differ by far more in time.");
  ReportFigure f2 = Figure("embench_fig2_throughput_vs_batch", "Throughput vs batch size", "EmBench Fig. 2",
                           "Inferences per second (batch / latency) as the batch grows.");
  // Match a stored model to its cost: by signature, else by name.
  std::map<std::string, const ReportSources::ModelCost*> by_sig, by_name;
  for (const ReportSources::ModelCost& c : src.model_costs) {
    by_sig[c.signature] = &c;
    by_name[c.name] = &c;
  }
  f1.table.columns = {"system", "protocol", "model", "batch", "gflops", "latency_ms"};
  f2.table.columns = {"system", "protocol", "model", "batch", "latency_ms", "throughput_per_s"};
  for (const auto& [label, m] : src.model_rows) {
    if (m.value_ms <= 0) continue;
    const double throughput = static_cast<double>(m.key.batch) * 1000.0 / m.value_ms;
    f2.table.rows.push_back({label, m.key.protocol, m.name, m.key.batch, m.value_ms, throughput});
    const ReportSources::ModelCost* cost = nullptr;
    if (auto it = by_sig.find(m.key.item_id); it != by_sig.end()) cost = it->second;
    else if (auto jt = by_name.find(m.name); jt != by_name.end()) cost = jt->second;
    if (cost)
      f1.table.rows.push_back({label, m.key.protocol, m.name, m.key.batch,
                               cost->flops_per_sample * static_cast<double>(m.key.batch) / 1e9, m.value_ms});
  }
  if (f2.table.rows.empty()) {
    f1.missing = kNeedModelRuns;
    f2.missing = kNeedModelRuns;
  } else if (f1.table.rows.empty()) {
    f1.missing = "no FLOPs for the measured models: pass their ONNX files with --models";
  }
  const json log_scale = {{"scale", {{"type", "log"}}}};
  f1.vega_lite =
      Spec({{"encoding",
             {{"x", Merge(Field("gflops", "quantitative", "GFLOPs x batch"), log_scale)},
              {"y", Merge(Field("latency_ms", "quantitative", "latency (ms)"), log_scale)},
              {"color", Field("model", "nominal")},
              {"detail", Field("system", "nominal")}}},
            {"layer", json::array({{{"mark", {{"type", "line"}, {"opacity", 0.5}}}},
                                   {{"mark", {{"type", "point"}, {"filled", true}, {"tooltip", true}}},
                                    {"encoding", {{"shape", Field("system", "nominal")}}}}})}})
          .dump();
  f2.vega_lite = FacetBySystem(
                     {{"mark", {{"type", "line"}, {"point", true}, {"tooltip", true}}},
                      {"encoding",
                       {{"x", Merge(Field("batch", "quantitative", "batch size"), json{{"scale", {{"type", "log"},
                                                                                          {"base", 2}}}})},
                        {"y", Field("throughput_per_s", "quantitative", "inferences / s")},
                        {"color", Field("model", "nominal")},
                        {"strokeDash", Field("protocol", "nominal")}}}},
                     "column")
                     .dump();
  out->push_back(std::move(f1));
  out->push_back(std::move(f2));
}

void OpShareFigure(const ReportSources& src, std::vector<ReportFigure>* out) {
  ReportFigure f4 = Figure("embench_fig4_op_time_share", "Time per operator type", "EmBench Fig. 4",
                           "Share of a model's profiled inference time per operator type, at its smallest "
                           "profiled batch (from a separate profiling run, never from the latency runs).");
  // The smallest profiled batch of each (system, kind, item).
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> min_batch;
  for (const auto& [label, p] : src.op_profiles) {
    auto key = std::make_tuple(label, p.kind, p.item_id);
    auto it = min_batch.find(key);
    if (it == min_batch.end() || p.batch < it->second) min_batch[key] = p.batch;
  }
  std::map<std::tuple<std::string, std::string, std::string>, double> totals;
  for (const auto& [label, p] : src.op_profiles)
    if (p.batch == min_batch[std::make_tuple(label, p.kind, p.item_id)])
      totals[std::make_tuple(label, p.kind, p.item_id)] += p.ms;
  f4.table.columns = {"system", "kind", "name", "batch", "op_type", "ms", "calls", "share_percent"};
  for (const auto& [label, p] : src.op_profiles) {
    const auto key = std::make_tuple(label, p.kind, p.item_id);
    if (p.batch != min_batch[key]) continue;
    const double total = totals[key];
    f4.table.rows.push_back({label, p.kind, p.name, p.batch, p.op_type, p.ms, p.calls,
                             total > 0 ? 100.0 * p.ms / total : 0.0});
  }
  if (f4.table.rows.empty()) {
    f4.missing = "no operator profiles in the store: run `dlbricks measure MODEL... --backend onnxruntime "
                 "--profile-ops --db FILE`";
  }
  f4.vega_lite = FacetBySystem({{"mark", {{"type", "bar"}, {"tooltip", true}}},
                                {"encoding",
                                 {{"y", Merge(Field("name", "nominal", "model"), json{{"sort", nullptr}})},
                                  {"x", Merge(Field("share_percent", "quantitative", "share of time (%)"), json{{"aggregate", "sum"}})},
                                  {"color", Merge(Field("op_type", "nominal", "operator"), json{{"scale", {{"scheme", "category20"}}}})}}}})
                     .dump();
  out->push_back(std::move(f4));
}

// Eleven strong colours, one per predictor op family (the 20-colour schemes pair each with a
// pale one that vanishes in a scatter).
const json kFamilyColours = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                             "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000"};

// ResPerfNet Fig. 4 from the predictions table (`dlbricks predictor eval` writes it).
void PredictionFigure(const ReportSources& src, std::vector<ReportFigure>* out) {
  ReportFigure f = Figure("resperfnet_fig4_predicted_vs_measured", "Predicted vs measured time per layer",
                          "ResPerfNet Fig. 4",
                          "Latency of each layer (G=1 brick) predicted by a learned predictor against the measured "
                          "one, log-log; the dashed line is y = x. One panel per system and predictor (model kind "
                          "and the first 8 hex of the predictor file's hash); colour is the op family, shape the "
                          "split. Above the data: mean absolute percentage error per family.");
  f.table.columns = {"system",      "protocol",     "predictor",    "predictor_id",   "split",      "target",
                     "family",      "item_id",      "predicted_ms", "measured_ms",    "uncertainty_ms", "ape_percent"};
  f.summary.columns = {"system", "predictor", "predictor_id", "split", "family", "layers", "mape_percent", "rmse_ms"};
  struct Errors {
    int64_t n = 0;
    double ape = 0, se = 0;
  };
  // (system, predictor label, predictor id, split, family) → errors; family "all" sums them.
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, Errors> errors;
  for (const auto& [label, r] : src.predictions) {
    const std::string predictor = r.predictor_kind + " " + r.predictor_id.substr(0, 8);
    ReportCell measured, ape;
    if (r.measured_ms && *r.measured_ms > 0) {
      const double m = *r.measured_ms;
      measured = m;
      ape = 100.0 * std::abs(r.predicted_ms - m) / m;
      for (const std::string& family : {r.family, std::string("all")}) {
        Errors& e = errors[std::make_tuple(label, predictor, r.predictor_id, r.split, family)];
        ++e.n;
        e.ape += std::get<double>(ape);
        e.se += (r.predicted_ms - m) * (r.predicted_ms - m);
      }
    }
    f.table.rows.push_back({label, r.protocol, predictor, r.predictor_id, r.split, r.target, r.family, r.item_id,
                            r.predicted_ms, measured, r.uncertainty_ms, ape});
  }
  for (bool all_rows : {false, true}) {  // the "all" rows last
    for (const auto& [key, e] : errors) {
      const auto& [label, predictor, id, split, family] = key;
      if ((family == "all") != all_rows) continue;
      f.summary.rows.push_back({label, predictor, id, split, family, e.n, e.ape / static_cast<double>(e.n),
                                std::sqrt(e.se / static_cast<double>(e.n))});
    }
  }
  if (f.table.rows.empty()) {
    f.missing = "no per-layer predictions in the store: run `dlbricks predictor eval P.dlbp --db FILE` (P.dlbp from "
                "`dlbricks predictor train --db FILE -o P.dlbp`)";
  } else if (errors.empty()) {
    f.missing = "the stored predictions have no measured latency to compare with";
  }
  const json log_axis = {{"scale", {{"type", "log"}}}};
  const json x_title = {{"title", "measured (ms)"}}, y_title = {{"title", "predicted (ms)"}};
  json points = {{"mark", {{"type", "point"}, {"filled", true}, {"opacity", 0.6}, {"size", 20}, {"tooltip", true}}},
                 {"encoding",
                  {{"x", Merge(Merge(Field("measured_ms", "quantitative"), log_axis), x_title)},
                   {"y", Merge(Merge(Field("predicted_ms", "quantitative"), log_axis), y_title)},
                   {"color", Merge(Field("family", "nominal", "op family"), json{{"scale", {{"range", kFamilyColours}}}})},
                   {"shape", Field("split", "nominal", "split")}}}};
  // y = x from the smallest to the largest time of the panel.
  json diagonal = {{"transform", json::array({{{"calculate", "min(datum.predicted_ms, datum.measured_ms)"}, {"as", "lo"}},
                                              {{"calculate", "max(datum.predicted_ms, datum.measured_ms)"}, {"as", "hi"}},
                                              {{"aggregate", json::array({{{"op", "min"}, {"field", "lo"}, {"as", "lo"}},
                                                                          {{"op", "max"}, {"field", "hi"}, {"as", "hi"}}})}},
                                              {{"fold", {"lo", "hi"}}, {"as", {"end", "ms"}}}})},
                   {"mark", {{"type", "line"}, {"color", "black"}, {"strokeDash", {4, 4}}}},
                   {"encoding",
                    {{"x", Merge(Merge(Field("ms", "quantitative"), log_axis), x_title)},
                     {"y", Merge(Merge(Field("ms", "quantitative"), log_axis), y_title)}}}};
  f.vega_lite = json{{"$schema", kSchema},
                     {"transform", json::array({{{"filter", "isValid(datum.measured_ms) && datum.measured_ms > 0 && "
                                                            "datum.predicted_ms > 0"}}})},
                     {"facet", {{"row", Field("system", "nominal", "system")},
                                {"column", Field("predictor", "nominal", "predictor")}}},
                     {"spec", {{"width", 360}, {"height", 360}, {"layer", json::array({points, diagonal})}}}}
                    .dump();
  out->push_back(std::move(f));
}

}  // namespace

std::vector<ReportFigure> BuildFigures(const ReportSources& sources) {
  std::vector<ReportFigure> figures;
  AnalysisFigures(sources, &figures);
  ValidationFigures(sources, &figures);
  MeasurementFigures(sources, &figures);
  OpShareFigure(sources, &figures);
  PredictionFigure(sources, &figures);
  return figures;
}

}  // namespace dlbricks
