// ResPerfNet (residual 1-D CNN, paper Figure 1) and the PerfNet MLP in LibTorch, trained with
// MAPLE + L2, Adam and step decay (paper Appendix E). The only LibTorch translation unit.
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "internal.h"

namespace dlbricks::predict_internal {
namespace {

using json = nlohmann::json;

// Two same-width convolutions and an element-wise add (one residual block).
struct ResBlockImpl : torch::nn::Module {
  explicit ResBlockImpl(int64_t ch)
      : c1(register_module("c1", torch::nn::Conv1d(torch::nn::Conv1dOptions(ch, ch, 3).padding(1)))),
        c2(register_module("c2", torch::nn::Conv1d(torch::nn::Conv1dOptions(ch, ch, 3).padding(1)))) {}
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(x + c2(torch::relu(c1(x)))); }
  torch::nn::Conv1d c1, c2;
};
TORCH_MODULE(ResBlock);

// 3 head convolutions (128, 64, 32 filters, kernel 3, stride 1), each followed by two residual
// blocks of its width: 15 convolutions, 6 adds; then FC 128-128-128, dropout 0.2, FC 1.
struct ResPerfNetImpl : torch::nn::Module {
  explicit ResPerfNetImpl(int64_t features) {
    const int64_t widths[3] = {128, 64, 32};
    int64_t in = 1;
    for (int s = 0; s < 3; ++s) {
      heads.push_back(register_module("head" + std::to_string(s),
                                      torch::nn::Conv1d(torch::nn::Conv1dOptions(in, widths[s], 3).padding(1))));
      blocks.push_back(register_module("block" + std::to_string(s) + "a", ResBlock(widths[s])));
      blocks.push_back(register_module("block" + std::to_string(s) + "b", ResBlock(widths[s])));
      in = widths[s];
    }
    fc1 = register_module("fc1", torch::nn::Linear(32 * features, 128));
    fc2 = register_module("fc2", torch::nn::Linear(128, 128));
    fc3 = register_module("fc3", torch::nn::Linear(128, 128));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    out = register_module("out", torch::nn::Linear(128, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x.unsqueeze(1);  // [batch, 1 channel, features]
    for (int s = 0; s < 3; ++s) {
      x = torch::relu(heads[s](x));
      x = blocks[2 * s](x);
      x = blocks[2 * s + 1](x);
    }
    x = x.flatten(1);
    x = torch::relu(fc1(x));
    x = torch::relu(fc2(x));
    x = torch::relu(fc3(x));
    return out(drop(x)).squeeze(1);
  }
  std::vector<torch::nn::Conv1d> heads;
  std::vector<ResBlock> blocks;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr}, out{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(ResPerfNet);

// PerfNet: fully connected 256-128-64, dropout 0.2, FC 1.
struct PerfNetImpl : torch::nn::Module {
  explicit PerfNetImpl(int64_t features)
      : fc1(register_module("fc1", torch::nn::Linear(features, 256))),
        fc2(register_module("fc2", torch::nn::Linear(256, 128))),
        fc3(register_module("fc3", torch::nn::Linear(128, 64))),
        drop(register_module("drop", torch::nn::Dropout(0.2))),
        out(register_module("out", torch::nn::Linear(64, 1))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = torch::relu(fc1(x));
    x = torch::relu(fc2(x));
    x = torch::relu(fc3(x));
    return out(drop(x)).squeeze(1);
  }
  torch::nn::Linear fc1, fc2, fc3;
  torch::nn::Dropout drop;
  torch::nn::Linear out;
};
TORCH_MODULE(PerfNet);

std::shared_ptr<torch::nn::Module> MakeNet(ModelKind kind, int64_t features) {
  if (kind == ModelKind::kResPerfNet) return ResPerfNet(features).ptr();
  return PerfNet(features).ptr();
}

torch::Tensor Forward(ModelKind kind, torch::nn::Module& m, const torch::Tensor& x) {
  if (kind == ModelKind::kResPerfNet) return static_cast<ResPerfNetImpl&>(m).forward(x);
  return static_cast<PerfNetImpl&>(m).forward(x);
}

torch::Tensor ToTensor(const Matrix& z) {
  const int64_t n = static_cast<int64_t>(z.size()), f = z.empty() ? 0 : static_cast<int64_t>(z[0].size());
  torch::Tensor t = torch::empty({n, f}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (const auto& row : z)
    for (double v : row) *p++ = static_cast<float>(v);
  return t;
}

// The network predicts u = log(1 + scale * ms); MAPLE (paper Eq. 7) on u is then
// |u_pred - u| / u, identical to the paper's form with y = exp(u_pred) - 1 and no domain issue.
torch::Tensor Maple(const torch::Tensor& u_pred, const torch::Tensor& u) { return ((u_pred - u).abs() / u).mean(); }

class NetRegressor : public Regressor {
 public:
  NetRegressor(ModelKind kind, int64_t features, double scale)
      : kind_(kind), features_(features), scale_(scale), net_(MakeNet(kind, features)) {}
  ModelKind kind() const override { return kind_; }
  torch::nn::Module& net() { return *net_; }

  std::vector<double> PredictMs(const Matrix&, const Matrix& z) const override {
    torch::NoGradGuard guard;
    net_->eval();
    std::vector<double> ms;
    ms.reserve(z.size());
    const size_t chunk = 4096;
    for (size_t b = 0; b < z.size(); b += chunk) {
      Matrix part(z.begin() + static_cast<std::ptrdiff_t>(b), z.begin() + static_cast<std::ptrdiff_t>(std::min(z.size(), b + chunk)));
      torch::Tensor u = Forward(kind_, *net_, ToTensor(part)).contiguous();
      const float* p = u.data_ptr<float>();
      for (int64_t i = 0; i < u.size(0); ++i) ms.push_back(std::max(0.0, std::expm1(static_cast<double>(p[i]))) / scale_);
    }
    return ms;
  }

  // Every parameter by name: shape in the JSON, float32 values little-endian in one blob each.
  Status Save(std::string* out, std::vector<std::string>* blobs) const override {
    json params = {{"features", features_}, {"target_scale", scale_}, {"tensors", json::array()}};
    for (const auto& p : net_->named_parameters()) {
      torch::Tensor t = p.value().detach().contiguous().to(torch::kFloat32);
      params["tensors"].push_back({{"name", p.key()}, {"shape", t.sizes().vec()}, {"blob", blobs->size()}});
      blobs->emplace_back(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<size_t>(t.numel()) * sizeof(float));
    }
    *out = params.dump();
    return Status::OK();
  }

  Status Load(const json& params, const std::vector<std::string>& blobs) {
    auto named = net_->named_parameters();
    size_t loaded = 0;
    torch::NoGradGuard guard;
    for (const json& t : params.at("tensors")) {
      const std::string name = t.at("name").get<std::string>();
      const size_t blob = t.at("blob").get<size_t>();
      torch::Tensor* dst = named.find(name);
      if (!dst) return Status::Corruption("tensor '" + name + "' is not a parameter of " + ModelKindName(kind_));
      if (blob >= blobs.size()) return Status::Corruption("tensor '" + name + "': blob index out of range");
      if (t.at("shape").get<std::vector<int64_t>>() != dst->sizes().vec() ||
          blobs[blob].size() != static_cast<size_t>(dst->numel()) * sizeof(float))
        return Status::Corruption("tensor '" + name + "': shape or size does not match the architecture");
      std::memcpy(dst->data_ptr<float>(), blobs[blob].data(), blobs[blob].size());
      ++loaded;
    }
    if (loaded != named.size()) return Status::Corruption(ModelKindName(kind_) + ": parameters missing from the file");
    return Status::OK();
  }

 private:
  ModelKind kind_;
  int64_t features_;
  double scale_;
  std::shared_ptr<torch::nn::Module> net_;
};

}  // namespace

Status TrainNet(ModelKind kind, const Matrix& z, const std::vector<double>& ms, const TrainOptions& o, Trained* out) {
  if (z.empty() || z.size() != ms.size()) return Status::InvalidArgument("training: no samples");
  torch::manual_seed(o.seed);
  at::set_num_threads(2);
  auto reg = std::make_shared<NetRegressor>(kind, static_cast<int64_t>(z[0].size()), o.target_scale);
  torch::nn::Module& net = reg->net();
  const torch::Tensor x = ToTensor(z);
  std::vector<float> u(ms.size());
  for (size_t i = 0; i < ms.size(); ++i) u[i] = static_cast<float>(std::log1p(o.target_scale * std::max(ms[i], 0.0)));
  const torch::Tensor y = torch::from_blob(u.data(), {static_cast<int64_t>(u.size())}, torch::kFloat32).clone();
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.l2));
  const int64_t n = x.size(0);
  const auto start = std::chrono::steady_clock::now();
  for (int e = 0; e < o.epochs; ++e) {
    // Step decay: lr * gamma^(floor(e / eta)).
    const double lr = o.lr * std::pow(o.decay_gamma, e / std::max(1, o.decay_every));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    net.train();
    const torch::Tensor perm = torch::randperm(n, torch::kLong);
    double sum = 0;
    int batches = 0;
    for (int64_t b = 0; b < n; b += o.batch_size) {
      const torch::Tensor idx = perm.slice(0, b, std::min(n, b + o.batch_size));
      opt.zero_grad();
      torch::Tensor loss = Maple(Forward(kind, net, x.index_select(0, idx)), y.index_select(0, idx));
      loss.backward();
      opt.step();
      sum += loss.item<double>();
      ++batches;
    }
    out->loss_curve.push_back(sum / std::max(1, batches));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.verbose) std::fprintf(stderr, "%s epoch %d: MAPLE %.4f lr %.2g (%.0f s)\n", ModelKindName(kind).c_str(), e,
                                out->loss_curve.back(), lr, elapsed);
    if (o.max_train_s > 0 && elapsed > o.max_train_s) break;
  }
  out->regressor = reg;
  return Status::OK();
}

Status LoadNet(ModelKind kind, const json& params, const std::vector<std::string>& blobs,
               std::shared_ptr<Regressor>* out) {
  try {
    const int64_t features = params.at("features").get<int64_t>();
    if (features <= 0 || features > 4096) return Status::Corruption("bad feature count");
    auto reg = std::make_shared<NetRegressor>(kind, features, params.at("target_scale").get<double>());
    DLB_RETURN_IF_ERROR(reg->Load(params, blobs));
    *out = reg;
  } catch (const json::exception& e) {
    return Status::Corruption(ModelKindName(kind) + " parameters: " + e.what());
  }
  return Status::OK();
}

}  // namespace dlbricks::predict_internal
