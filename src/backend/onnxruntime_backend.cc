// ONNX Runtime (C++ API, CPU execution provider).
#include <onnxruntime_cxx_api.h>
#include <onnxruntime_session_options_config_keys.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "dlbricks/backend.h"
#include "dlbricks/scoped_paths.h"
#include "model_inputs.h"
#include "profile_loop.h"

namespace dlbricks {
namespace {

// One environment per process (ORT requires it to outlive every session).
// Telemetry goes off before it is created: ORT 1.30's POSIX telemetry reads
// /proc/self/cmdline and walks it recursively, overflowing the stack once the command line
// passes ~50 KB (`measure` with ~550 model paths crashed every item, issue 4). It also
// writes a database under ~/.cache and tries HTTPS uploads, which have no place in timing.
Ort::Env& OrtEnvironment() {
  static Ort::Env env = [] {
    setenv("ORT_DISABLE_TELEMETRY", "1", 1);
    return Ort::Env(ORT_LOGGING_LEVEL_ERROR, "dlbricks");
  }();
  return env;
}

GraphOptimizationLevel ToOrtLevel(const std::string& level) {
  if (level == "disable") return ORT_DISABLE_ALL;
  if (level == "basic") return ORT_ENABLE_BASIC;
  if (level == "extended") return ORT_ENABLE_EXTENDED;
  return ORT_ENABLE_ALL;
}

Ort::SessionOptions MakeSessionOptions(const BackendOptions& o) {
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(o.intra_op_threads);
  so.SetInterOpNumThreads(o.inter_op_threads);
  so.SetGraphOptimizationLevel(ToOrtLevel(o.opt_level));
  so.SetExecutionMode(o.execution_mode == "parallel" ? ORT_PARALLEL : ORT_SEQUENTIAL);
  so.AddConfigEntry(kOrtSessionOptionsConfigAllowIntraOpSpinning, o.allow_spinning ? "1" : "0");
  so.AddConfigEntry(kOrtSessionOptionsConfigAllowInterOpSpinning, o.allow_spinning ? "1" : "0");
  for (const auto& [key, value] : o.extra) so.AddConfigEntry(key.c_str(), value.c_str());
  return so;
}

class OrtPreparedModel : public PreparedModel {
 public:
  // profile_prefix != nullptr: the session records an ORT profile (never in latency runs).
  // optimized_out non-empty: the session also writes the graph it runs there (its weights to
  // optimized_out + ".data").
  Status Init(const std::string& path, const BackendOptions& options, const char* profile_prefix = nullptr,
              const std::string& optimized_out = {}) {
    try {
      Ort::Env& env = OrtEnvironment();  // first: no ORT object before telemetry is off
      Ort::SessionOptions so = MakeSessionOptions(options);
      if (profile_prefix) so.EnableProfiling(profile_prefix);
      if (!optimized_out.empty()) {
        so.SetOptimizedModelFilePath(optimized_out.c_str());
        const std::string data = std::filesystem::path(optimized_out).filename().string() + ".data";
        so.AddConfigEntry(kOrtSessionOptionsOptimizedModelExternalInitializersFileName, data.c_str());
        so.AddConfigEntry(kOrtSessionOptionsOptimizedModelExternalInitializersMinSizeInBytes, "64");
      }
      session_ = std::make_unique<Ort::Session>(env, path.c_str(), so);
      Ort::AllocatorWithDefaultOptions alloc;
      Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
      for (size_t i = 0; i < session_->GetInputCount(); ++i) {
        TensorInfo info;
        info.name = session_->GetInputNameAllocated(i, alloc).get();
        Ort::TypeInfo type = session_->GetInputTypeInfo(i);
        if (type.GetONNXType() != ONNX_TYPE_TENSOR)
          return Status::Unsupported(path + ": input '" + info.name + "' is not a tensor");
        auto tinfo = type.GetTensorTypeAndShapeInfo();
        info.dtype = static_cast<int32_t>(tinfo.GetElementType());
        for (int64_t d : tinfo.GetShape()) info.dims.push_back(d > 0 ? d : 1);
        DLB_RETURN_IF_ERROR(AddInput(path, info, mem, i));
        inputs_.push_back(std::move(info));
      }
      for (const auto& in : inputs_) input_names_.push_back(in.name.c_str());
      for (size_t i = 0; i < session_->GetOutputCount(); ++i)
        output_name_store_.push_back(session_->GetOutputNameAllocated(i, alloc).get());
      for (const auto& n : output_name_store_) output_names_.push_back(n.c_str());
    } catch (const Ort::Exception& e) {
      return Status::Corruption(path + ": onnxruntime: " + e.what());
    }
    return Status::OK();
  }

  Status Run() override {
    try {
      outputs_ = session_->Run(run_options_, input_names_.data(), input_values_.data(), input_values_.size(),
                               output_names_.data(), output_names_.size());
    } catch (const Ort::Exception& e) {
      return Status::Internal(std::string("onnxruntime run: ") + e.what());
    }
    return Status::OK();
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }

  int64_t TouchInputs() override {
    int64_t bytes = 0;
    for (const std::vector<char>& buf : buffers_) bytes += backend_internal::ReadEveryLine(buf.data(), buf.size());
    return bytes;
  }

  // Ends profiling; returns the trace file ORT wrote.
  std::string EndProfiling() {
    Ort::AllocatorWithDefaultOptions alloc;
    return session_->EndProfilingAllocated(alloc).get();
  }

  Status LastOutputs(std::vector<std::vector<float>>* outputs) const override {
    outputs->clear();
    for (const Ort::Value& v : outputs_) {
      if (!v.IsTensor()) continue;
      auto info = v.GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) continue;
      const float* p = v.GetTensorData<float>();
      outputs->emplace_back(p, p + info.GetElementCount());
    }
    return Status::OK();
  }

 private:
  Status AddInput(const std::string& path, const TensorInfo& info, const Ort::MemoryInfo& mem, size_t index) {
    const int64_t n = backend_internal::ElementCount(info.dims);
    const auto type = static_cast<ONNXTensorElementDataType>(info.dtype);
    size_t elem = 0;
    switch (type) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: elem = 4; break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: elem = 8; break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: elem = 4; break;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: elem = 1; break;
      default:
        return Status::Unsupported(path + ": input '" + info.name + "' has unsupported dtype " +
                                   std::to_string(info.dtype));
    }
    buffers_.emplace_back(static_cast<size_t>(n) * elem, 0);
    auto& buf = buffers_.back();
    if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
      FillSyntheticFloats(n, 1234u + static_cast<uint32_t>(index), reinterpret_cast<float*>(buf.data()));
    input_values_.push_back(Ort::Value::CreateTensor(mem, buf.data(), buf.size(), info.dims.data(),
                                                     info.dims.size(), type));
    return Status::OK();
  }

  std::unique_ptr<Ort::Session> session_;
  Ort::RunOptions run_options_;
  std::vector<TensorInfo> inputs_;
  std::vector<std::vector<char>> buffers_;  // owns input data (tensors alias it)
  std::vector<Ort::Value> input_values_;
  std::vector<const char*> input_names_;
  std::vector<std::string> output_name_store_;
  std::vector<const char*> output_names_;
  std::vector<Ort::Value> outputs_;
};

}  // namespace

namespace backend_internal {

// Reads ORT profiler "Node" events ("<node>_kernel_time", args.op_name), skipping everything
// up to the end of the first `warmup_runs` "model_run"s (the warm-up inferences). Each kernel
// counts with its median time over the inferences, read between the trace's whole microseconds
// (TruncatedMicrosecondMedian): a host preemption inflates the few inferences it hits, not the
// kernel's time (a mean over 20 inferences of a 0.1 ms brick moved by 20-30% between runs on a
// shared VM).
Status ProfileNodeMedians(const std::string& trace_path, int warmup_runs, std::vector<NodeTime>* nodes) {
  std::ifstream in(trace_path);
  if (!in) return Status::IOError(trace_path + ": cannot open onnxruntime profile");
  nlohmann::json trace = nlohmann::json::parse(in, nullptr, false);
  if (!trace.is_array()) return Status::Corruption(trace_path + ": onnxruntime profile is not a JSON array");
  std::vector<std::pair<double, double>> model_runs;  // (ts, end) in us
  for (const auto& ev : trace)
    if (ev.value("name", "") == "model_run")
      model_runs.emplace_back(ev.value("ts", 0.0), ev.value("ts", 0.0) + ev.value("dur", 0.0));
  const size_t warm = static_cast<size_t>(std::max(1, warmup_runs));
  if (model_runs.size() <= warm)
    return Status::Internal(fmt::format("{}: profile holds {} inferences, no more than its {} warm-ups", trace_path,
                                        model_runs.size(), warm));
  std::sort(model_runs.begin(), model_runs.end());
  const double warm_end = model_runs[warm - 1].second;
  const double counted = static_cast<double>(model_runs.size() - warm);
  constexpr std::string_view kSuffix = "_kernel_time";
  std::map<std::string, std::pair<std::string, std::vector<double>>> by_node;  // node -> (op, us)
  for (const auto& ev : trace) {
    if (ev.value("cat", "") != "Node" || ev.value("ts", 0.0) < warm_end) continue;
    const std::string name = ev.value("name", "");
    if (!name.ends_with(kSuffix)) continue;
    if (!ev.contains("args") || !ev["args"].contains("op_name")) continue;
    auto& node = by_node[name.substr(0, name.size() - kSuffix.size())];
    node.first = ev["args"]["op_name"].get<std::string>();
    node.second.push_back(ev.value("dur", 0.0));
  }
  nodes->clear();
  for (auto& [name, node] : by_node) {
    NodeTime t;
    t.name = name;
    t.op_type = node.first;
    t.calls = static_cast<double>(node.second.size()) / counted;  // calls of this kernel per inference
    t.ms = TruncatedMicrosecondMedian(std::move(node.second)) / 1000.0 * t.calls;
    nodes->push_back(std::move(t));
  }
  return Status::OK();
}

}  // namespace backend_internal

namespace {

class OnnxRuntimeBackend : public Backend {
 public:
  std::string name() const override { return "onnxruntime"; }
  std::string version() const override { return OrtGetApiBase()->GetVersionString(); }

  std::map<std::string, std::string> RecordOptions(const BackendOptions& o) const override {
    std::map<std::string, std::string> r = {{"intra_op_threads", std::to_string(o.intra_op_threads)},
                                            {"inter_op_threads", std::to_string(o.inter_op_threads)},
                                            {"opt_level", o.opt_level},
                                            {"execution_mode", o.execution_mode},
                                            {"allow_spinning", o.allow_spinning ? "1" : "0"},
                                            {"execution_provider", "cpu"}};
    for (const auto& [key, value] : o.extra) r["config." + key] = value;  // session config entries
    return r;
  }

  Status Prepare(const std::string& path, const BackendOptions& options,
                 std::unique_ptr<PreparedModel>* model) override {
    DLB_RETURN_IF_ERROR(ValidateBackendOptions(options));
    if (!std::filesystem::is_regular_file(path)) return Status::NotFound(path + ": no such model file");
    auto m = std::make_unique<OrtPreparedModel>();
    DLB_RETURN_IF_ERROR(m->Init(path, options));
    *model = std::move(m);
    return Status::OK();
  }

  Status ProfileOps(const std::string& path, const BackendOptions& options, int runs,
                    const ProfileHook& on_run, std::vector<OpTypeTime>* times) override {
    std::vector<NodeTime> nodes;
    DLB_RETURN_IF_ERROR(Profile(path, options, runs, /*with_graph=*/false, on_run, &nodes));
    *times = SumNodesByOpType(nodes);
    return Status::OK();
  }

  Status ProfileNodes(const std::string& path, const BackendOptions& options, int runs,
                      const ProfileHook& on_run, std::vector<NodeTime>* nodes) override {
    return Profile(path, options, runs, /*with_graph=*/true, on_run, nodes);
  }

 private:
  // One profiling session (RunProfileLoop). with_graph: ORT also saves the graph it ran, and
  // each kernel gets its tensors from it.
  Status Profile(const std::string& path, const BackendOptions& options, int runs, bool with_graph,
                 const ProfileHook& on_run, std::vector<NodeTime>* nodes) {
    namespace fs = std::filesystem;
    DLB_RETURN_IF_ERROR(ValidateBackendOptions(options));
    if (runs < 1) return Status::InvalidArgument("profile runs must be >= 1");
    const std::string stem = (fs::temp_directory_path() / ("dlbricks_ortprof_" + std::to_string(getpid()))).string();
    const std::string optimized = with_graph ? stem + "_graph.onnx" : "";
    ScopedPaths cleanup;
    if (with_graph) {
      cleanup.Add(optimized);
      cleanup.Add(optimized + ".data");
    }
    std::string trace;
    int warmups = 0;
    {
      OrtPreparedModel m;
      DLB_RETURN_IF_ERROR(m.Init(path, options, stem.c_str(), optimized));
      // The warm-ups are in the trace too; ProfileNodeMedians skips them.
      DLB_RETURN_IF_ERROR(backend_internal::RunProfileLoop(m, runs, on_run, {}, &warmups));
      try {
        trace = m.EndProfiling();
      } catch (const Ort::Exception& e) {
        return Status::Internal(path + ": onnxruntime profiling: " + e.what());
      }
    }
    cleanup.Add(trace);
    DLB_RETURN_IF_ERROR(backend_internal::ProfileNodeMedians(trace, warmups, nodes));
    if (!with_graph) return Status::OK();
    onnx::ModelProto graph;
    DLB_RETURN_IF_ERROR(backend_internal::ReadModelProto(optimized, &graph));
    return PlaceNodes(optimized, graph.graph(), nodes);
  }

  // Gives every profiled kernel its input and output tensors from the saved graph.
  static Status PlaceNodes(const std::string& graph_path, const onnx::GraphProto& graph, std::vector<NodeTime>* nodes) {
    std::set<std::string> weights;
    for (const auto& t : graph.initializer()) weights.insert(t.name());
    std::map<std::string, const onnx::NodeProto*> by_name;
    for (const auto& n : graph.node()) by_name[n.name()] = &n;
    for (NodeTime& t : *nodes) {
      auto it = by_name.find(t.name);
      if (it == by_name.end())
        return Status::Internal(graph_path + ": profiled kernel '" + t.name + "' is not in the graph onnxruntime saved");
      for (const std::string& in : it->second->input())
        if (!in.empty() && !weights.count(in)) t.inputs.push_back(in);
      for (const std::string& out : it->second->output())
        if (!out.empty()) t.outputs.push_back(out);
    }
    return Status::OK();
  }
};

}  // namespace

std::unique_ptr<Backend> NewOnnxRuntimeBackend() { return std::make_unique<OnnxRuntimeBackend>(); }

}  // namespace dlbricks
