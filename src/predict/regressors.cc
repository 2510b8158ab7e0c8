// Baselines in the same harness: XGBoost (libxgboost C API) on log latency, and linear
// regression of latency on MACs and bytes (weighted so it minimises relative error).
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include "internal.h"

namespace dlbricks::predict_internal {
namespace {

using json = nlohmann::json;

#define DLB_XGB(call)                                                                   \
  do {                                                                                  \
    if ((call) != 0) return Status::Internal(std::string("xgboost: ") + XGBGetLastError()); \
  } while (0)

size_t FeatureIndex(const std::string& name) {
  const auto& names = FeatureNames();
  return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

// The work a layer does, in MACs plus bytes moved: with the target ln(ms / work) a tree's
// constant leaves extrapolate linearly in work past the largest layers of the sweep.
double Work(const std::vector<double>& raw) {
  static const size_t macs = FeatureIndex("macs"), br = FeatureIndex("bytes_read"), bw = FeatureIndex("bytes_written");
  return std::max(1.0, raw[macs] + raw[br] + raw[bw]);
}

std::vector<float> Flatten(const Matrix& z) {
  std::vector<float> out;
  out.reserve(z.size() * (z.empty() ? 0 : z[0].size()));
  for (const auto& row : z)
    for (double v : row) out.push_back(static_cast<float>(v));
  return out;
}

class XgbRegressor : public Regressor {
 public:
  // training: how it was trained (loss, sample weights), kept in the file for the record.
  XgbRegressor(bool per_work, json training) : per_work_(per_work), training_(std::move(training)) {}
  ~XgbRegressor() override {
    if (booster_) XGBoosterFree(booster_);
  }
  XgbRegressor(const XgbRegressor&) = delete;
  XgbRegressor& operator=(const XgbRegressor&) = delete;
  ModelKind kind() const override { return ModelKind::kXgboost; }

  Status Create(DMatrixHandle train) {
    DLB_XGB(XGBoosterCreate(train ? &train : nullptr, train ? 1 : 0, &booster_));
    return Status::OK();
  }
  BoosterHandle booster() const { return booster_; }
  // Predictions come a kernel at a time (PredictModel): an OpenMP team per row costs more than
  // the trees, and spins for its turn when another process holds the cores.
  Status PredictOnOneThread() {
    DLB_XGB(XGBoosterSetParam(booster_, "nthread", "1"));
    return Status::OK();
  }

  std::vector<double> PredictMs(const Matrix& raw, const Matrix& z) const override {
    std::vector<double> ms(z.size(), 0.0);
    if (z.empty()) return ms;
    const std::vector<float> flat = Flatten(z);
    DMatrixHandle d = nullptr;
    if (XGDMatrixCreateFromMat(flat.data(), z.size(), z[0].size(), NAN, &d) != 0) return ms;
    bst_ulong len = 0;
    const float* out = nullptr;
    if (XGBoosterPredict(booster_, d, 0, 0, 0, &len, &out) == 0)
      for (size_t i = 0; i < len && i < ms.size(); ++i)
        ms[i] = std::exp(static_cast<double>(out[i])) * (per_work_ ? Work(raw[i]) : 1.0);
    XGDMatrixFree(d);
    return ms;
  }

  // XGBoost's own JSON model format, which later XGBoost versions load.
  Status Save(std::string* params, std::vector<std::string>* blobs) const override {
    bst_ulong len = 0;
    const char* buf = nullptr;
    DLB_XGB(XGBoosterSaveModelToBuffer(booster_, "{\"format\": \"json\"}", &len, &buf));
    json p = {{"format", "xgboost-json"}, {"blob", blobs->size()}, {"target", per_work_ ? "ln_ms_per_work" : "ln_ms"}};
    if (!training_.is_null()) p["training"] = training_;
    *params = p.dump();
    blobs->emplace_back(buf, len);
    return Status::OK();
  }

 private:
  BoosterHandle booster_ = nullptr;
  bool per_work_;  // label ln(ms / Work) instead of ln(ms)
  json training_;
};

// ms = a + b * MACs + c * bytes.
class LinearRegressor : public Regressor {
 public:
  LinearRegressor(std::vector<double> coef, size_t macs, size_t bytes_read, size_t bytes_written)
      : coef_(std::move(coef)), macs_(macs), br_(bytes_read), bw_(bytes_written) {}
  ModelKind kind() const override { return ModelKind::kLinear; }
  std::vector<double> PredictMs(const Matrix& raw, const Matrix&) const override {
    std::vector<double> ms;
    for (const auto& r : raw) ms.push_back(std::max(1e-6, coef_[0] + coef_[1] * r[macs_] + coef_[2] * (r[br_] + r[bw_])));
    return ms;
  }
  Status Save(std::string* params, std::vector<std::string>*) const override {
    *params = json{{"terms", {"1", "macs", "bytes_read+bytes_written"}}, {"coef", coef_}}.dump();
    return Status::OK();
  }

 private:
  std::vector<double> coef_;
  size_t macs_, br_, bw_;
};


}  // namespace

Status TrainXgboost(const Matrix& raw, const Matrix& z, const std::vector<double>& ms, const TrainOptions& o,
                    Trained* out) {
  if (z.empty() || z.size() != ms.size()) return Status::InvalidArgument("training: no samples");
  std::string objective;
  if (o.xgb_loss == "squared") objective = "reg:squarederror";
  else if (o.xgb_loss == "huber") objective = "reg:pseudohubererror";
  else if (o.xgb_loss == "absolute") objective = "reg:absoluteerror";
  else return Status::InvalidArgument("xgboost loss must be squared, huber or absolute, not '" + o.xgb_loss + "'");
  if (o.xgb_max_depth < 1 || o.xgb_max_depth > 20)
    return Status::InvalidArgument(fmt::format("--xgb-depth must be 1 to 20, not {}", o.xgb_max_depth));
  if (!(o.xgb_eta > 0 && o.xgb_eta <= 1))
    return Status::InvalidArgument(fmt::format("--xgb-eta must be in (0, 1], not {:g}", o.xgb_eta));
  if (!(o.xgb_huber_slope > 0)) return Status::InvalidArgument("xgboost huber slope must be > 0");
  const std::vector<float> flat = Flatten(z);
  std::vector<float> label(ms.size()), weight;
  for (size_t i = 0; i < ms.size(); ++i)
    label[i] = static_cast<float>(std::log(std::max(ms[i], 1e-6) / (o.xgb_per_work ? Work(raw[i]) : 1.0)));
  if (o.xgb_weight_power != 0) {
    double sum = 0;
    for (double t : ms) weight.push_back(static_cast<float>(std::pow(std::max(t, 1e-6), o.xgb_weight_power)));
    for (float w : weight) sum += w;
    for (float& w : weight) w = static_cast<float>(w * static_cast<double>(weight.size()) / sum);  // mean 1
  }
  // The trees start at the labels' median: a robust loss's steps are small far from it.
  std::vector<float> sorted = label;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  DMatrixHandle d = nullptr;
  DLB_XGB(XGDMatrixCreateFromMat(flat.data(), z.size(), z[0].size(), NAN, &d));
  json training = {{"loss", o.xgb_loss},
                   {"weight_power", o.xgb_weight_power},
                   {"rounds", o.xgb_rounds},
                   {"max_depth", o.xgb_max_depth},
                   {"eta", o.xgb_eta}};
  if (o.xgb_loss == "huber") training["huber_slope"] = o.xgb_huber_slope;
  auto reg = std::make_shared<XgbRegressor>(o.xgb_per_work, training);
  Status st = reg->Create(d);
  if (st.ok() && XGDMatrixSetFloatInfo(d, "label", label.data(), label.size()) != 0)
    st = Status::Internal(std::string("xgboost: ") + XGBGetLastError());
  if (st.ok() && !weight.empty() && XGDMatrixSetFloatInfo(d, "weight", weight.data(), weight.size()) != 0)
    st = Status::Internal(std::string("xgboost: ") + XGBGetLastError());
  const std::pair<const char*, std::string> params[] = {
      {"objective", objective}, {"base_score", std::to_string(sorted[sorted.size() / 2])},
      {"huber_slope", std::to_string(o.xgb_huber_slope)}, {"max_depth", std::to_string(o.xgb_max_depth)}, {"eta", std::to_string(o.xgb_eta)}, {"subsample", "0.9"},
      {"colsample_bytree", "0.9"}, {"min_child_weight", "2"}, {"nthread", "2"}, {"seed", std::to_string(o.seed)}};
  for (const auto& [k, v] : params)
    if (st.ok() && XGBoosterSetParam(reg->booster(), k, v.c_str()) != 0)
      st = Status::Internal(std::string("xgboost: ") + XGBGetLastError());
  for (int i = 0; st.ok() && i < o.xgb_rounds; ++i)
    if (XGBoosterUpdateOneIter(reg->booster(), i, d) != 0) st = Status::Internal(std::string("xgboost: ") + XGBGetLastError());
  XGDMatrixFree(d);
  if (st.ok()) st = reg->PredictOnOneThread();
  DLB_RETURN_IF_ERROR(st);
  out->regressor = reg;
  return Status::OK();
}

Status LoadXgboost(const json& params, const std::vector<std::string>& blobs, std::shared_ptr<Regressor>* out) {
  const size_t blob = params.value("blob", size_t{0});
  if (blob >= blobs.size()) return Status::Corruption("xgboost: blob index out of range");
  const std::string target = params.value("target", std::string("ln_ms"));  // absent in files before 0.2
  if (target != "ln_ms" && target != "ln_ms_per_work") return Status::Unsupported("xgboost: unknown target '" + target + "'");
  auto reg = std::make_shared<XgbRegressor>(target == "ln_ms_per_work", params.value("training", json()));
  DLB_RETURN_IF_ERROR(reg->Create(nullptr));
  if (XGBoosterLoadModelFromBuffer(reg->booster(), blobs[blob].data(), blobs[blob].size()) != 0)
    return Status::Corruption(std::string("xgboost model: ") + XGBGetLastError());
  DLB_RETURN_IF_ERROR(reg->PredictOnOneThread());
  *out = reg;
  return Status::OK();
}

Status TrainLinear(const Matrix& raw, const std::vector<double>& ms, Trained* out) {
  if (raw.empty() || raw.size() != ms.size()) return Status::InvalidArgument("training: no samples");
  const size_t im = FeatureIndex("macs"), ir = FeatureIndex("bytes_read"), iw = FeatureIndex("bytes_written");
  // Weighted least squares, weight 1/ms^2: minimises the squared relative error. Columns are
  // scaled to unit magnitude so the 3x3 normal equations are well conditioned.
  double scale[3] = {1, 1, 1};
  for (const auto& r : raw) {
    scale[1] = std::max(scale[1], r[im]);
    scale[2] = std::max(scale[2], r[ir] + r[iw]);
  }
  double a[3][4] = {};
  for (size_t i = 0; i < raw.size(); ++i) {
    const double x[3] = {1, raw[i][im] / scale[1], (raw[i][ir] + raw[i][iw]) / scale[2]};
    const double w = 1 / std::max(ms[i] * ms[i], 1e-12);
    for (int p = 0; p < 3; ++p) {
      for (int q = 0; q < 3; ++q) a[p][q] += w * x[p] * x[q];
      a[p][3] += w * x[p] * ms[i];
    }
  }
  for (int p = 0; p < 3; ++p) a[p][p] += 1e-9 * (a[p][p] + 1);  // ridge: constant columns
  for (int c = 0; c < 3; ++c) {  // Gaussian elimination with partial pivoting
    int piv = c;
    for (int r = c + 1; r < 3; ++r)
      if (std::abs(a[r][c]) > std::abs(a[piv][c])) piv = r;
    std::swap(a[c], a[piv]);
    if (std::abs(a[c][c]) < 1e-300) return Status::Internal("linear regression: singular system");
    for (int r = 0; r < 3; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (int k = c; k < 4; ++k) a[r][k] -= f * a[c][k];
    }
  }
  std::vector<double> coef(3);
  for (int c = 0; c < 3; ++c) coef[c] = a[c][3] / a[c][c] / scale[c];
  out->regressor = std::make_shared<LinearRegressor>(coef, im, ir, iw);
  return Status::OK();
}

Status LoadLinear(const json& params, std::shared_ptr<Regressor>* out) {
  std::vector<double> coef = params.value("coef", std::vector<double>{});
  if (coef.size() != 3) return Status::Corruption("linear: expected 3 coefficients");
  *out = std::make_shared<LinearRegressor>(coef, FeatureIndex("macs"), FeatureIndex("bytes_read"),
                                           FeatureIndex("bytes_written"));
  return Status::OK();
}

}  // namespace dlbricks::predict_internal
