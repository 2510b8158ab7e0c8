// Backend registry, option checks and helpers shared by the backends.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "dlbricks/backend.h"
#include "model_inputs.h"

namespace dlbricks {

std::unique_ptr<Backend> NewOnnxRuntimeBackend();
std::unique_ptr<Backend> NewOpenCvBackend();
std::unique_ptr<Backend> NewFakeBackend();

namespace {
struct Entry {
  const char* name;
  std::unique_ptr<Backend> (*factory)();
};
// One line per backend.
constexpr Entry kBackends[] = {
    {"onnxruntime", &NewOnnxRuntimeBackend},
    {"opencv", &NewOpenCvBackend},
    {"fake", &NewFakeBackend},
};
}  // namespace

Status Backend::ProfileOps(const std::string&, const BackendOptions&, int, const ProfileHook&,
                           std::vector<OpTypeTime>*) {
  return Status::Unsupported("backend " + name() + " has no per-operator profiler");
}

std::vector<OpTypeTime> SumNodesByOpType(const std::vector<NodeTime>& nodes) {
  std::map<std::string, OpTypeTime> by_type;
  for (const NodeTime& n : nodes) {
    OpTypeTime& t = by_type[n.op_type];
    t.op_type = n.op_type;
    t.ms += n.ms;
    t.calls += n.calls;
  }
  std::vector<OpTypeTime> times;
  for (auto& [op, t] : by_type) times.push_back(t);
  return times;
}

Status Backend::ProfileNodes(const std::string&, const BackendOptions&, int, const ProfileHook&,
                             std::vector<NodeTime>*) {
  return Status::Unsupported("backend " + name() + " has no per-kernel profiler (packed profiling needs onnxruntime or opencv)");
}

Status BackendRegistry::Create(const std::string& name, std::unique_ptr<Backend>* backend) {
  for (const Entry& e : kBackends) {
    if (name == e.name) {
      *backend = e.factory();
      return Status::OK();
    }
  }
  std::string known;
  for (const Entry& e : kBackends) known += (known.empty() ? "" : ", ") + std::string(e.name);
  return Status::InvalidArgument("unknown backend '" + name + "' (known: " + known + ")");
}

std::vector<std::string> BackendRegistry::Names() {
  std::vector<std::string> names;
  for (const Entry& e : kBackends) names.emplace_back(e.name);
  return names;
}

Status ValidateBackendOptions(const BackendOptions& o) {
  if (o.intra_op_threads < 1) return Status::InvalidArgument("--threads must be >= 1");
  if (o.inter_op_threads < 1) return Status::InvalidArgument("--inter-op-threads must be >= 1");
  if (o.opt_level != "disable" && o.opt_level != "basic" && o.opt_level != "extended" && o.opt_level != "all")
    return Status::InvalidArgument("--opt-level must be disable|basic|extended|all, not '" + o.opt_level + "'");
  if (o.execution_mode != "sequential" && o.execution_mode != "parallel")
    return Status::InvalidArgument("--execution-mode must be sequential|parallel, not '" + o.execution_mode + "'");
  return Status::OK();
}

void FillSyntheticFloats(int64_t count, uint32_t seed, float* out) {
  // xorshift32: fixed, portable sequence (std distributions differ across libraries).
  // Values in [0, 1): a brick that starts inside a LayerNorm feeds its input to a Sqrt, and
  // negative inputs would time NaN paths instead of real work.
  uint32_t x = seed ? seed : 7767517u;
  for (int64_t i = 0; i < count; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
  }
}

namespace backend_internal {

Status ReadFileBytes(const std::string& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open model file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IOError(path + ": read error");
  *bytes = ss.str();
  return Status::OK();
}

int64_t ElementCount(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t ReadEveryLine(const char* data, size_t bytes) {
  unsigned char sum = 0;
  for (size_t i = 0; i < bytes; i += 64) sum = static_cast<unsigned char>(sum + static_cast<unsigned char>(data[i]));
  volatile unsigned char sink = sum;  // the loads are the point; keep them
  (void)sink;
  return static_cast<int64_t>(bytes);
}

Status ReadModelProto(const std::string& path, onnx::ModelProto* model) {
  std::string bytes;
  DLB_RETURN_IF_ERROR(ReadFileBytes(path, &bytes));
  if (!model->ParseFromString(bytes) || !model->has_graph())
    return Status::Corruption(path + ": not an ONNX model");
  return Status::OK();
}

Status ReadModelInputs(const std::string& path, std::vector<TensorInfo>* inputs) {
  onnx::ModelProto model;
  DLB_RETURN_IF_ERROR(ReadModelProto(path, &model));
  return ModelInputs(path, model, inputs);
}

Status ModelInputs(const std::string& path, const onnx::ModelProto& model, std::vector<TensorInfo>* inputs) {
  std::vector<std::string> initializers;
  for (const auto& t : model.graph().initializer()) initializers.push_back(t.name());
  inputs->clear();
  for (const auto& vi : model.graph().input()) {
    if (std::find(initializers.begin(), initializers.end(), vi.name()) != initializers.end()) continue;
    if (!vi.type().has_tensor_type())
      return Status::Unsupported(path + ": input '" + vi.name() + "' is not a tensor");
    TensorInfo info;
    info.name = vi.name();
    info.dtype = vi.type().tensor_type().elem_type();
    for (const auto& d : vi.type().tensor_type().shape().dim())
      info.dims.push_back(d.has_dim_value() && d.dim_value() > 0 ? d.dim_value() : 1);
    inputs->push_back(std::move(info));
  }
  return Status::OK();
}

}  // namespace backend_internal
}  // namespace dlbricks
