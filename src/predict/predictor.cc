// Dataset assembly (store + sidecar), training/evaluation harness, the predictor file
// (docs/predictor.md) and the integration with estimate.
#include <chrono>
#include <cmath>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <sstream>

#include "dlbricks/file_io.h"
#include "internal.h"

namespace dlbricks {

using predict_internal::Matrix;
using predict_internal::Trained;
using json = nlohmann::json;

std::string ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kResPerfNet: return "resperfnet";
    case ModelKind::kMlp: return "perfnet";
    case ModelKind::kXgboost: return "xgboost";
    case ModelKind::kLinear: return "linear";
  }
  return "?";
}

Status ParseModelKind(const std::string& text, ModelKind* kind) {
  for (ModelKind k : {ModelKind::kResPerfNet, ModelKind::kMlp, ModelKind::kXgboost, ModelKind::kLinear})
    if (text == ModelKindName(k) || (k == ModelKind::kMlp && text == "mlp")) {
      *kind = k;
      return Status::OK();
    }
  return Status::InvalidArgument("unknown predictor model '" + text + "' (resperfnet|perfnet|xgboost|linear)");
}

bool IsTestSample(const std::string& item_id) { return HashBytes("split:" + item_id).lo % 5 == 0; }

Status LoadDataset(const std::string& db_path, const DatasetQuery& query, std::vector<Sample>* samples,
                   std::string* system_id) {
  std::unique_ptr<Store> store;
  StoreOptions so;
  so.read_only = true;
  so.create_if_missing = false;
  DLB_RETURN_IF_ERROR(OpenStore(db_path, so, &store));
  StoreQuery sq = query.store;
  DLB_RETURN_IF_ERROR(ResolveSystem(store.get(), &sq));
  *system_id = sq.system_id;
  if (query.statistic != "value" && query.statistic != "min" && query.statistic != "kernel")
    return Status::InvalidArgument("target statistic must be value, min or kernel, not '" + query.statistic + "'");
  std::vector<std::string> protocols = query.protocols;
  if (protocols.empty()) protocols = {ProtocolKey(SweepProtocol()), "dlbricks"};
  BrickLatencies kernels;  // kernel target: KernelMs of each stored op profile
  if (query.statistic == "kernel") DLB_RETURN_IF_ERROR(LoadBrickKernelTimes(store.get(), sq, &kernels));
  const std::string sidecar = SidecarPath(db_path);
  std::ifstream in(sidecar);
  if (!in) return Status::NotFound(sidecar + ": no layer sidecar (run `dlbricks predictor sweep` or `harvest`)");
  std::set<std::string> seen;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("item_id") || !j.contains("layer"))
      return Status::Corruption(fmt::format("{}:{}: not a layer sample line", sidecar, line_no));
    Sample s;
    s.item_id = j["item_id"].get<std::string>();
    s.source = j.value("source", std::string("sweep"));
    if (!seen.insert(s.item_id).second) continue;
    Status st = DescriptorFromJson(j["layer"].dump(), &s.layer);
    if (!st.ok()) return st.WithPrefix(fmt::format("{}:{}", sidecar, line_no));
    s.family = OpFamily(s.layer.op_type);
    if (s.family.empty()) continue;
    std::optional<Measurement> m;
    for (const std::string& p : protocols) {
      DLB_RETURN_IF_ERROR(store->Lookup({sq.system_id, "brick", s.item_id, sq.batch, p}, &m));
      if (m && m->status == "ok" && m->value_ms > 0) break;
      m.reset();
    }
    if (query.statistic == "kernel") {
      // The op profile is the label; a packed sweep profiles without a latency row.
      Hash128 id;
      auto k = Hash128::FromHex(s.item_id, &id) ? kernels.find(id) : kernels.end();
      if (k == kernels.end() || k->second.ms <= 0) continue;
      s.ms = k->second.ms;
    } else {
      if (!m) continue;
      s.ms = query.statistic == "min" && m->min_ms > 0 ? m->min_ms : m->value_ms;
    }
    s.protocol = m ? m->key.protocol : "";
    s.features = LayerFeatures(s.layer);
    samples->push_back(std::move(s));
  }
  return Status::OK();
}

std::string CalibrationGroup(const Sample& s) {
  if ((s.family == "conv" || s.family == "matmul") && s.layer.macs >= 3e8) return s.family + ":large";
  return s.family;
}

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

Status CalibrateLabels(const CalibrationOptions& o, const DatasetQuery& query, const std::string& system_id,
                       std::vector<Sample>* samples, LabelCalibration* out) {
  *out = LabelCalibration{};
  if (o.dbs.empty()) return Status::OK();
  std::map<std::string, double> fastest;  // item -> fastest round
  DatasetQuery q = query;
  q.store.system_id = system_id;
  for (const std::string& db : o.dbs) {
    std::vector<Sample> round;
    std::string system;
    DLB_RETURN_IF_ERROR(LoadDataset(db, q, &round, &system).WithPrefix("calibration"));
    for (const Sample& s : round) {
      auto [it, added] = fastest.emplace(s.item_id, s.ms);
      if (!added) it->second = std::min(it->second, s.ms);
    }
    ++out->stores;
  }
  std::map<std::string, std::vector<double>> ratios;
  std::vector<double> all;
  for (const Sample& s : *samples) {
    auto f = fastest.find(s.item_id);
    if (f == fastest.end() || s.ms <= 0) continue;
    ratios[CalibrationGroup(s)].push_back(f->second / s.ms);
    all.push_back(f->second / s.ms);
  }
  if (all.empty())
    return Status::NotFound("calibration: no calibration item is a training sample (same sweep seeds and system?)");
  const double overall = Median(all);
  out->scale["*"] = overall;
  out->items["*"] = static_cast<int>(all.size());
  for (auto& [group, r] : ratios) {
    out->items[group] = static_cast<int>(r.size());
    if (static_cast<int>(r.size()) >= o.min_items) out->scale[group] = Median(r);
  }
  for (Sample& s : *samples) {
    auto g = out->scale.find(CalibrationGroup(s));
    s.ms *= g == out->scale.end() ? overall : g->second;
  }
  return Status::OK();
}

ErrorMetrics ComputeErrors(const std::vector<double>& p, const std::vector<double>& m) {
  ErrorMetrics e;
  e.n = static_cast<int>(std::min(p.size(), m.size()));
  if (e.n == 0) return e;
  double ape = 0, se = 0, ae = 0, mean = 0;
  for (int i = 0; i < e.n; ++i) {
    ape += std::abs(p[i] - m[i]) / m[i];
    se += (p[i] - m[i]) * (p[i] - m[i]);
    ae += std::abs(p[i] - m[i]);
    mean += m[i];
  }
  mean /= e.n;
  double tot = 0;
  for (int i = 0; i < e.n; ++i) tot += (m[i] - mean) * (m[i] - mean);
  e.mape = 100 * ape / e.n;
  e.rmse_ms = std::sqrt(se / e.n);
  e.mae_ms = ae / e.n;
  e.r2 = tot > 0 ? 1 - se / tot : 0;
  return e;
}

// ---- Predictor ----------------------------------------------------------------------------

std::optional<double> Predictor::PredictLayer(const LayerDescriptor& d) const {
  const std::string family = OpFamily(d.op_type);
  if (family.empty() || !ops.count(d.op_type)) return std::nullopt;
  auto it = models.find(per_family ? family : "*");
  if (it == models.end()) return std::nullopt;
  // Regressors read work (MACs, bytes) from the raw row by this build's feature names, and
  // the normalised row in the file's order.
  const std::vector<double> raw = LayerFeatures(d);
  return it->second->PredictMs({raw}, {normalizer.Apply(FileFeatures(raw))})[0];
}

std::vector<double> Predictor::FileFeatures(const std::vector<double>& raw) const {
  const std::vector<std::string>& all = FeatureNames();
  if (feature_names == all) return raw;
  std::vector<double> out;
  out.reserve(feature_names.size());
  for (const std::string& name : feature_names) {
    const size_t j = static_cast<size_t>(std::find(all.begin(), all.end(), name) - all.begin());
    out.push_back(j < raw.size() ? raw[j] : 0.0);
  }
  return out;
}

std::string Predictor::KindName() const { return ModelKindName(kind) + (per_family ? "/per-family" : ""); }

double Predictor::RelativeError(const std::string& family) const {
  auto it = test_errors.find(family);
  if (it == test_errors.end() || it->second.n == 0) it = test_errors.find("all");
  return it == test_errors.end() ? 1.0 : it->second.mape / 100;
}

std::map<std::string, ErrorMetrics> EvaluatePredictor(const Predictor& p, const std::vector<Sample>& samples) {
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_family;
  for (const Sample& s : samples) {
    const std::optional<double> ms = p.PredictLayer(s.layer);
    if (!ms) continue;
    for (const std::string& f : {s.family, std::string("all")}) {
      by_family[f].first.push_back(*ms);
      by_family[f].second.push_back(s.ms);
    }
  }
  std::map<std::string, ErrorMetrics> out;
  for (const auto& [f, pm] : by_family) out[f] = ComputeErrors(pm.first, pm.second);
  return out;
}

namespace {

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Status TrainOne(ModelKind kind, const Matrix& raw, const Matrix& z, const std::vector<double>& ms,
                const TrainOptions& o, Trained* out) {
  switch (kind) {
    case ModelKind::kResPerfNet:
    case ModelKind::kMlp: return predict_internal::TrainNet(kind, z, ms, o, out);
    case ModelKind::kXgboost: return predict_internal::TrainXgboost(raw, z, ms, o, out);
    case ModelKind::kLinear: return predict_internal::TrainLinear(raw, ms, out);
  }
  return Status::Internal("unknown model kind");
}

}  // namespace

Status TrainPredictors(const std::vector<Sample>& samples, const TrainOptions& o,
                       std::map<std::string, Predictor>* predictors, TrainReport* report) {
  std::vector<const Sample*> train, test;
  for (const Sample& s : samples) (IsTestSample(s.item_id) ? test : train).push_back(&s);
  if (train.size() < 10) return Status::InvalidArgument(fmt::format("training needs >= 10 samples, have {}", train.size()));
  report->train_samples = static_cast<int>(train.size());
  report->test_samples = static_cast<int>(test.size());
  FeatureNormalizer norm;
  {
    Matrix raw;
    for (const Sample* s : train) raw.push_back(s->features);
    norm.Fit(raw);
  }
  std::vector<Sample> test_copy;
  for (const Sample* s : test) test_copy.push_back(*s);

  for (ModelKind kind : o.kinds) {
    // Linear regression on MACs and bytes only makes sense per family.
    const std::vector<bool> scopes = kind == ModelKind::kLinear ? std::vector<bool>{true}
                                     : o.per_family             ? std::vector<bool>{false, true}
                                                                : std::vector<bool>{false};
    for (bool per_family : scopes) {
      const auto start = std::chrono::steady_clock::now();
      Predictor p;
      p.kind = kind;
      p.per_family = per_family;
      p.feature_names = FeatureNames();
      p.normalizer = norm;
      for (const Sample* s : train) p.ops.insert(s->layer.op_type);
      std::map<std::string, std::vector<const Sample*>> groups;
      for (const Sample* s : train) groups[per_family ? s->family : "*"].push_back(s);
      for (const auto& [group, rows] : groups) {
        Matrix raw, z;
        std::vector<double> ms;
        for (const Sample* s : rows) {
          raw.push_back(s->features);
          z.push_back(norm.Apply(s->features));
          ms.push_back(s->ms);
        }
        if (rows.size() < 3) continue;
        TrainOptions go = o;
        if (per_family && o.max_train_s > 0) go.max_train_s = o.max_train_s / static_cast<double>(groups.size());
        Trained t;
        DLB_RETURN_IF_ERROR(TrainOne(kind, raw, z, ms, go, &t).WithPrefix(ModelKindName(kind) + " " + group));
        p.models[group] = t.regressor;
        if (group == "*" && !t.loss_curve.empty()) report->loss_curves[ModelKindName(kind)] = t.loss_curve;
      }
      p.train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      p.train_samples = report->train_samples;
      p.test_samples = report->test_samples;
      p.test_errors = EvaluatePredictor(p, test_copy);
      p.created_at = NowUtc();
      p.tool_version = "0.1.0";
      const std::string name = ModelKindName(kind) + (per_family ? "/per-family" : "");
      report->errors[name] = p.test_errors;
      report->train_s[name] = p.train_s;
      if (o.verbose) std::fprintf(stderr, "%s: trained in %.1f s, test MAPE %.2f%%\n", name.c_str(), p.train_s,
                                  p.test_errors["all"].mape);
      (*predictors)[name] = std::move(p);
    }
  }
  return Status::OK();
}

std::string ErrorTable(const TrainReport& r) {
  std::ostringstream out;
  out << fmt::format("train {} samples, test {} samples (20% split by item id)\n\n", r.train_samples, r.test_samples);
  out << "| family | model | n | MAPE % | RMSE ms | MAE ms | R² |\n|---|---|---:|---:|---:|---:|---:|\n";
  std::vector<std::string> families = PredictorFamilies();
  families.push_back("all");
  for (const std::string& f : families)
    for (const auto& [model, errs] : r.errors) {
      auto it = errs.find(f);
      if (it == errs.end() || it->second.n == 0) continue;
      const ErrorMetrics& e = it->second;
      out << fmt::format("| {} | {} | {} | {:.2f} | {:.4f} | {:.4f} | {:.3f} |\n", f, model, e.n, e.mape, e.rmse_ms,
                         e.mae_ms, e.r2);
    }
  out << "\n| model | training s |\n|---|---:|\n";
  for (const auto& [model, s] : r.train_s) out << fmt::format("| {} | {:.1f} |\n", model, s);
  return out.str();
}

Status RecordPredictions(const Predictor& p, const std::vector<Sample>& samples, const std::string& system_id,
                         const std::string& statistic, const std::string& db_path, int* recorded) {
  *recorded = 0;
  if (p.file_id.empty()) return Status::InvalidArgument("predictor has no file identity (load it from its file)");
  std::vector<PredictionRow> rows;
  for (const Sample& s : samples) {
    const std::optional<double> ms = p.PredictLayer(s.layer);
    if (!ms) continue;
    PredictionRow r;
    r.system_id = system_id;
    r.item_id = s.item_id;
    r.predictor_id = p.file_id;
    r.predictor_kind = p.KindName();
    r.family = s.family;
    r.split = IsTestSample(s.item_id) ? "test" : "train";
    r.protocol = s.protocol;
    r.target = statistic;
    // A regressor may extrapolate below zero; the store keeps times >= 0.
    r.predicted_ms = std::max(0.0, *ms);
    if (s.ms > 0) r.measured_ms = s.ms;
    r.uncertainty_ms = r.predicted_ms * p.RelativeError(s.family);
    rows.push_back(std::move(r));
  }
  std::unique_ptr<Store> store;
  StoreOptions so;
  so.create_if_missing = false;
  DLB_RETURN_IF_ERROR(OpenStore(db_path, so, &store));
  DLB_RETURN_IF_ERROR(store->PutPredictions(rows));
  *recorded = static_cast<int>(rows.size());
  return Status::OK();
}

// ---- File format (docs/predictor.md) -----------------------------------------------------

namespace {

constexpr char kMagic[] = "DLBRICKS-PREDICTOR";
// 2: `ops` (the op types trained on) and the data-movement features; 3: the alignment
// features and XGBoost's `training` record; 4: `fused_bias`; 5: `nchwc_layout`;
// 6: `nchwc_measured`; 7: `model_context` (the in-model context; a format-6 reader would predict
// whole models without it). 1 to 6 are still read.
constexpr int kFormatVersion = 7;

json MetricsJson(const ErrorMetrics& e) {
  return {{"n", e.n}, {"mape", e.mape}, {"rmse_ms", e.rmse_ms}, {"mae_ms", e.mae_ms}, {"r2", e.r2}};
}

}  // namespace

Status SavePredictor(const Predictor& p, const std::string& path) {
  std::set<std::string> families;
  for (const std::string& op : p.ops) families.insert(OpFamily(op));
  json header = {{"format", kMagic},
                 {"format_version", kFormatVersion},
                 {"tool_version", p.tool_version},
                 {"created_at", p.created_at},
                 {"model_kind", ModelKindName(p.kind)},
                 {"per_family", p.per_family},
                 {"families", families},
                 {"ops", p.ops},
                 {"system_id", p.system_id},
                 {"protocol", p.protocol},
                 {"train_samples", p.train_samples},
                 {"test_samples", p.test_samples},
                 {"train_s", p.train_s},
                 {"run_overhead_ms", p.run_overhead_ms},
                 {"kernel_times", p.kernel_times},
                 {"label_calibration", {{"stores", p.calibration.stores},
                                        {"scale", p.calibration.scale},
                                        {"items", p.calibration.items}}},
                 {"model_context", {{"kernel_scale", p.context.kernel_scale},
                                    {"ms_per_mb", p.context.ms_per_mb},
                                    {"cache_bytes", p.context.cache_bytes},
                                    {"models", p.context.models},
                                    {"mape_before", p.context.mape_before},
                                    {"mape_after", p.context.mape_after}}},
                 {"target", "latency ms (value_ms of the store rows)"},
                 {"features", p.feature_names}};
  json norm = json::array();
  for (size_t j = 0; j < p.normalizer.mean.size(); ++j)
    norm.push_back({{"feature", j < p.feature_names.size() ? p.feature_names[j] : ""},
                    {"box_cox", static_cast<bool>(p.normalizer.box_cox[j])},
                    {"lambda", p.normalizer.lambda[j]},
                    {"mean", p.normalizer.mean[j]},
                    {"stddev", p.normalizer.stddev[j]}});
  header["normalization"] = norm;
  json errors = json::object();
  for (const auto& [f, e] : p.test_errors) errors[f] = MetricsJson(e);
  header["test_errors"] = errors;
  std::string data;
  json models = json::object();
  for (const auto& [group, reg] : p.models) {
    std::string params;
    std::vector<std::string> blobs;
    DLB_RETURN_IF_ERROR(reg->Save(&params, &blobs));
    json b = json::array();
    for (const std::string& blob : blobs) {
      b.push_back({{"offset", data.size()}, {"length", blob.size()}});
      data += blob;
    }
    models[group] = {{"kind", ModelKindName(reg->kind())}, {"params", json::parse(params)}, {"blobs", b}};
  }
  header["models"] = models;
  const std::string h = header.dump(1);
  // Renamed over the target: `predictor context -o` may name its input.
  return WriteFileAtomically(path, kMagic + std::string("\n") + std::to_string(h.size()) + "\n" + h + "\n" + data);
}

Status LoadPredictor(const std::string& path, Predictor* p) {
  std::string bytes;
  {
    std::ifstream file(path, std::ios::binary);
    if (!file) return Status::NotFound(path + ": cannot open");
    bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  p->file_id = HashBytes(bytes).Hex();
  std::istringstream in(std::move(bytes));
  std::string magic, len_line;
  std::getline(in, magic);
  if (magic != kMagic) return Status::Corruption(path + ": not a dlbricks predictor file");
  std::getline(in, len_line);
  size_t len = 0;
  try {
    len = std::stoull(len_line);
  } catch (...) {
    return Status::Corruption(path + ": bad header length");
  }
  if (len > (size_t{1} << 30)) return Status::Corruption(path + ": header length out of range");
  std::string h(len, '\0');
  in.read(h.data(), static_cast<std::streamsize>(len));
  if (static_cast<size_t>(in.gcount()) != len || in.get() != '\n') return Status::Corruption(path + ": truncated header");
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json header = json::parse(h, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return Status::Corruption(path + ": header is not JSON");
  try {
    p->format_version = header.at("format_version").get<int>();
    if (p->format_version > kFormatVersion)
      return Status::Unsupported(fmt::format("{}: predictor format {} is newer than this build reads ({})", path,
                                             p->format_version, kFormatVersion));
    DLB_RETURN_IF_ERROR(ParseModelKind(header.at("model_kind").get<std::string>(), &p->kind).WithPrefix(path));
    p->per_family = header.at("per_family").get<bool>();
    p->feature_names = header.at("features").get<std::vector<std::string>>();
    // Features are matched by name: this build must compute every feature the file uses.
    const std::vector<std::string>& known = FeatureNames();
    for (const std::string& f : p->feature_names)
      if (std::find(known.begin(), known.end(), f) == known.end())
        return Status::Unsupported(path + ": feature '" + f + "' is unknown to this build (retrain the predictor)");
    p->ops.clear();
    if (header.contains("ops")) {
      for (const std::string& op : header.at("ops").get<std::vector<std::string>>()) p->ops.insert(op);
    } else {  // format 1: the op one-hot features name the ops it was trained on
      for (const std::string& f : p->feature_names)
        if (f.rfind("op_", 0) == 0) p->ops.insert(f.substr(3));
    }
    p->system_id = header.value("system_id", "");
    p->protocol = header.value("protocol", "");
    p->created_at = header.value("created_at", "");
    p->tool_version = header.value("tool_version", "");
    p->train_samples = header.value("train_samples", 0);
    p->test_samples = header.value("test_samples", 0);
    p->train_s = header.value("train_s", 0.0);
    p->run_overhead_ms = header.value("run_overhead_ms", 0.0);  // absent before 0.2: no correction
    p->kernel_times = header.value("kernel_times", false);
    if (header.contains("label_calibration")) {  // since format 5
      const json& c = header["label_calibration"];
      p->calibration.stores = c.value("stores", 0);
      p->calibration.scale = c.value("scale", std::map<std::string, double>{});
      p->calibration.items = c.value("items", std::map<std::string, int>{});
    }
    p->context = ModelContext{};
    if (header.contains("model_context")) {  // since format 7
      const json& c = header["model_context"];
      p->context.kernel_scale = c.at("kernel_scale").get<double>();
      p->context.ms_per_mb = c.at("ms_per_mb").get<double>();
      p->context.cache_bytes = c.at("cache_bytes").get<double>();
      p->context.models = c.at("models").get<std::vector<std::string>>();
      p->context.mape_before = c.value("mape_before", 0.0);
      p->context.mape_after = c.value("mape_after", 0.0);
      if (p->context.fitted() && !(p->context.kernel_scale > 0 && p->context.ms_per_mb >= 0 &&
                                   p->context.cache_bytes >= 0))
        return Status::Corruption(path + ": model_context has a non-positive scale or a negative rate");
    }
    FeatureNormalizer& n = p->normalizer;
    n = FeatureNormalizer{};
    for (const json& f : header.at("normalization")) {
      n.box_cox.push_back(f.at("box_cox").get<bool>());
      n.lambda.push_back(f.at("lambda").get<double>());
      n.mean.push_back(f.at("mean").get<double>());
      n.stddev.push_back(f.at("stddev").get<double>());
    }
    if (n.mean.size() != p->feature_names.size()) return Status::Corruption(path + ": normalization/feature count mismatch");
    for (const auto& [f, e] : header.at("test_errors").items())
      p->test_errors[f] = {e.at("n").get<int>(), e.at("mape").get<double>(), e.at("rmse_ms").get<double>(),
                           e.at("mae_ms").get<double>(), e.at("r2").get<double>()};
    p->models.clear();
    for (const auto& [group, m] : header.at("models").items()) {
      ModelKind kind;
      DLB_RETURN_IF_ERROR(ParseModelKind(m.at("kind").get<std::string>(), &kind).WithPrefix(path));
      std::vector<std::string> blobs;
      for (const json& b : m.at("blobs")) {
        const size_t off = b.at("offset").get<size_t>(), blen = b.at("length").get<size_t>();
        if (off > data.size() || blen > data.size() - off) return Status::Corruption(path + ": blob beyond end of file");
        blobs.push_back(data.substr(off, blen));
      }
      std::shared_ptr<Regressor> reg;
      const json& params = m.at("params");
      Status st = kind == ModelKind::kXgboost  ? predict_internal::LoadXgboost(params, blobs, &reg)
                  : kind == ModelKind::kLinear ? predict_internal::LoadLinear(params, &reg)
                                               : predict_internal::LoadNet(kind, params, blobs, &reg);
      DLB_RETURN_IF_ERROR(st.WithPrefix(path + ": model '" + group + "'"));
      p->models[group] = reg;
    }
  } catch (const json::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  if (p->models.empty()) return Status::Corruption(path + ": no models");
  return Status::OK();
}

// ---- Integration --------------------------------------------------------------------------

std::vector<PredictedLayer> PredictGraphLayers(const Predictor& p, const Graph& graph) {
  std::vector<PredictedLayer> out;
  for (int i = 0; i < static_cast<int>(graph.layers.size()); ++i) {
    PredictedLayer l;
    l.layer = i;
    l.op_type = graph.layers[i].op_type;
    l.family = OpFamily(l.op_type);
    l.brick_id = BrickSignature(graph, i, i + 1);
    if (!l.family.empty()) l.ms = p.PredictLayer(DescribeLayer(graph, i));
    out.push_back(std::move(l));
  }
  return out;
}

int FillPredictedBricks(const Predictor& p, const Graph& graph, const ModelDecomposition& decomposition,
                        BrickLatencies* latencies) {
  int filled = 0;
  for (const BrickInstance& b : decomposition.bricks) {
    if (b.size() != 1 || latencies->count(b.id)) continue;
    const LayerDescriptor d = DescribeLayer(graph, b.begin);
    const std::optional<double> ms = p.PredictLayer(d);
    if (!ms) continue;
    BrickLatency l;
    l.ms = *ms;
    l.source = BrickSource::kPredicted;
    l.uncertainty_ms = *ms * p.RelativeError(OpFamily(d.op_type));
    (*latencies)[b.id] = l;
    ++filled;
  }
  return filled;
}

}  // namespace dlbricks
