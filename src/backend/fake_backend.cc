// Deterministic fake backend for tests (nn-Meter's DebugBackend): every model "runs" for a
// latency derived from a hash of its bytes, by spinning on the clock. Never a default.
// Misbehaviour hooks for isolation tests: a model whose file name or bytes contain
// "dlbricks-fake:crash" / "dlbricks-fake:hang" (or whose file name contains "crash" /
// "hang") aborts / sleeps forever on its first Run().
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "dlbricks/backend.h"
#include "dlbricks/hash.h"
#include "model_inputs.h"

namespace dlbricks {
namespace {

enum class Misbehave { kNone, kCrash, kHang };

class FakePreparedModel : public PreparedModel {
 public:
  FakePreparedModel(std::chrono::nanoseconds latency, Misbehave m, uint64_t seed)
      : latency_(latency), misbehave_(m), seed_(seed) {}

  Status Run() override {
    if (misbehave_ == Misbehave::kCrash) std::abort();
    if (misbehave_ == Misbehave::kHang)
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    const auto end = std::chrono::steady_clock::now() + latency_;
    while (std::chrono::steady_clock::now() < end) {
    }
    ++runs_;
    return Status::OK();
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }

  Status LastOutputs(std::vector<std::vector<float>>* outputs) const override {
    outputs->assign(1, std::vector<float>(4));
    FillSyntheticFloats(4, static_cast<uint32_t>(seed_), outputs->front().data());
    return Status::OK();
  }

 private:
  std::chrono::nanoseconds latency_;
  Misbehave misbehave_;
  uint64_t seed_;
  int64_t runs_ = 0;
  std::vector<TensorInfo> inputs_;
};

class FakeBackend : public Backend {
 public:
  std::string name() const override { return "fake"; }
  std::string version() const override { return "1"; }

  std::map<std::string, std::string> RecordOptions(const BackendOptions& o) const override {
    std::map<std::string, std::string> r = {{"threads", std::to_string(o.intra_op_threads)}};
    for (const auto& [k, v] : o.extra) r["extra." + k] = v;
    return r;
  }

  Status Prepare(const std::string& path, const BackendOptions& options,
                 std::unique_ptr<PreparedModel>* model) override {
    std::string bytes;
    double us = 0;
    DLB_RETURN_IF_ERROR(Latency(path, options, &bytes, &us));
    const std::string file = std::filesystem::path(path).filename().string();
    Misbehave m = Misbehave::kNone;
    if (bytes.find("dlbricks-fake:crash") != std::string::npos || file.find("crash") != std::string::npos)
      m = Misbehave::kCrash;
    else if (bytes.find("dlbricks-fake:hang") != std::string::npos || file.find("hang") != std::string::npos)
      m = Misbehave::kHang;
    *model = std::make_unique<FakePreparedModel>(
        std::chrono::nanoseconds(static_cast<int64_t>(us * 1000.0)), m, HashBytes(bytes).hi);
    return Status::OK();
  }

  // Deterministic, not timed: 80% of the latency in "FakeKernel", 20% in an NCHWc-style
  // "ReorderInput" (so kernel-time exclusion of reorders is testable).
  Status ProfileOps(const std::string& path, const BackendOptions& options, int runs, const ProfileHook&,
                    std::vector<OpTypeTime>* times) override {
    if (runs < 1) return Status::InvalidArgument("profiling needs at least one run");
    std::string bytes;
    double us = 0;
    DLB_RETURN_IF_ERROR(Latency(path, options, &bytes, &us));
    double bias_us = 0;  // a profiler's own cost per kernel (validate --profiler-bias tests)
    DLB_RETURN_IF_ERROR(NumberOption(options, "profile_bias_us", 0, /*positive=*/false, &bias_us));
    *times = {{"FakeKernel", (0.8 * us + bias_us) / 1000.0, 1}, {"ReorderInput", (0.2 * us + bias_us) / 1000.0, 1}};
    return Status::OK();
  }

 private:
  // 50..500 us (x latency_scale), fixed per model bytes.
  static Status Latency(const std::string& path, const BackendOptions& options, std::string* bytes, double* us) {
    DLB_RETURN_IF_ERROR(ValidateBackendOptions(options));
    DLB_RETURN_IF_ERROR(backend_internal::ReadFileBytes(path, bytes));
    double scale = 1.0;
    DLB_RETURN_IF_ERROR(NumberOption(options, "latency_scale", 1.0, /*positive=*/true, &scale));
    *us = (50.0 + static_cast<double>(HashBytes(*bytes).lo % 451)) * scale;
    return Status::OK();
  }

  // A numeric --backend-option (absent: fallback); positive: > 0, else >= 0.
  static Status NumberOption(const BackendOptions& options, const std::string& key, double fallback, bool positive,
                             double* value) {
    *value = fallback;
    auto it = options.extra.find(key);
    if (it == options.extra.end()) return Status::OK();
    char* end = nullptr;
    *value = std::strtod(it->second.c_str(), &end);
    if (end == it->second.c_str() || *end != '\0' || !(positive ? *value > 0 : *value >= 0))
      return Status::InvalidArgument("fake backend: " + key + " must be a " + (positive ? "positive" : "non-negative") +
                                     " number");
    return Status::OK();
  }
};

}  // namespace

std::unique_ptr<Backend> NewFakeBackend() { return std::make_unique<FakeBackend>(); }

}  // namespace dlbricks
