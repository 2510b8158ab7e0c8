// Shared between the predictor's translation units (LibTorch stays in nets.cc).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dlbricks/predict.h"

namespace dlbricks::predict_internal {

using Matrix = std::vector<std::vector<double>>;

// A trained regressor plus how it is rebuilt from the predictor file.
struct Trained {
  std::shared_ptr<Regressor> regressor;
  std::vector<double> loss_curve;  // NN: training loss per epoch
};

// ResPerfNet / PerfNet MLP (nets.cc). ms: measured latencies of the rows of z.
Status TrainNet(ModelKind kind, const Matrix& z, const std::vector<double>& ms, const TrainOptions& options,
                Trained* out);
Status LoadNet(ModelKind kind, const nlohmann::json& params, const std::vector<std::string>& blobs,
               std::shared_ptr<Regressor>* out);

// XGBoost and linear (regressors.cc).
Status TrainXgboost(const Matrix& raw, const Matrix& z, const std::vector<double>& ms, const TrainOptions& options,
                    Trained* out);
Status LoadXgboost(const nlohmann::json& params, const std::vector<std::string>& blobs,
                   std::shared_ptr<Regressor>* out);
Status TrainLinear(const Matrix& raw, const std::vector<double>& ms, Trained* out);
Status LoadLinear(const nlohmann::json& params, std::shared_ptr<Regressor>* out);

}  // namespace dlbricks::predict_internal
