// Test-only: run an in-memory ONNX model in ONNX Runtime on float tensors.
#pragma once

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnxruntime_cxx_api.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dlbricks/graph.h"

namespace dlbricks::testing {

struct FloatTensor {
  std::vector<int64_t> dims;
  std::vector<float> data;
};
using TensorMap = std::map<std::string, FloatTensor>;

inline Ort::Env& OrtEnv() {
  static Ort::Env env = [] {
    setenv("ORT_DISABLE_TELEMETRY", "1", 1);  // as the backend does (see onnxruntime_backend.cc)
    return Ort::Env(ORT_LOGGING_LEVEL_ERROR, "dlbricks-test");
  }();
  return env;
}

inline Ort::SessionOptions OneThread() {
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  return options;
}

// Runs a session with the given inputs (by graph-input name); returns every graph output.
inline TensorMap RunSession(Ort::Session& session, const TensorMap& inputs) {
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<const char*> in_names;
  std::vector<Ort::Value> in_values;
  for (const auto& [name, t] : inputs) {
    in_names.push_back(name.c_str());
    auto& data = const_cast<std::vector<float>&>(t.data);
    in_values.push_back(Ort::Value::CreateTensor<float>(mem, data.data(), data.size(), t.dims.data(), t.dims.size()));
  }
  Ort::AllocatorWithDefaultOptions alloc;
  std::vector<std::string> out_names;
  for (size_t i = 0; i < session.GetOutputCount(); ++i) out_names.push_back(session.GetOutputNameAllocated(i, alloc).get());
  std::vector<const char*> out_ptrs;
  for (const auto& n : out_names) out_ptrs.push_back(n.c_str());
  std::vector<Ort::Value> outs = session.Run(Ort::RunOptions{nullptr}, in_names.data(), in_values.data(), in_values.size(),
                                             out_ptrs.data(), out_ptrs.size());
  TensorMap result;
  for (size_t i = 0; i < outs.size(); ++i) {
    auto info = outs[i].GetTensorTypeAndShapeInfo();
    FloatTensor t;
    t.dims = info.GetShape();
    if (info.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      const float* p = outs[i].GetTensorData<float>();
      t.data.assign(p, p + info.GetElementCount());
    }
    result[out_names[i]] = std::move(t);
  }
  return result;
}

// Runs an in-memory model (no external data). Throws Ort::Exception when it does not load or run.
inline TensorMap RunOrt(const onnx::ModelProto& model, const TensorMap& inputs) {
  std::string bytes = model.SerializeAsString();
  Ort::Session session(OrtEnv(), bytes.data(), bytes.size(), OneThread());
  return RunSession(session, inputs);
}

// Runs a model file; ORT resolves external data (the weight pool) relative to its folder.
inline TensorMap RunOrtFile(const std::string& path, const TensorMap& inputs) {
  Ort::Session session(OrtEnv(), path.c_str(), OneThread());
  return RunSession(session, inputs);
}

// Runs a float model with every node output as an extra graph output; the result also holds
// the inputs, so any brick input can be looked up by source name.
inline TensorMap RunWithIntermediates(onnx::ModelProto model, const TensorMap& inputs) {
  onnx::shape_inference::InferShapes(model);
  std::set<std::string> floats;  // only float tensors are compared (shape chains are int64)
  for (const auto& vi : model.graph().value_info()) {
    if (vi.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT) floats.insert(vi.name());
  }
  std::set<std::string> outputs;
  for (const auto& o : model.graph().output()) outputs.insert(o.name());
  for (const auto& node : model.graph().node()) {
    for (const auto& name : node.output()) {
      if (floats.count(name) && outputs.insert(name).second) {
        auto* vi = model.mutable_graph()->add_output();
        vi->set_name(name);
        vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
      }
    }
  }
  TensorMap all = RunOrt(model, inputs);
  for (const auto& [name, t] : inputs) all[name] = t;
  return all;
}

// Random float inputs for every graph input of `model` (static shapes), fixed seed.
inline TensorMap RandomInputs(const onnx::ModelProto& model, uint32_t seed = 7767517) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  TensorMap inputs;
  for (const auto& in : model.graph().input()) {
    FloatTensor t;
    int64_t n = 1;
    for (const auto& d : in.type().tensor_type().shape().dim()) {
      t.dims.push_back(d.dim_value());
      n *= d.dim_value();
    }
    t.data.resize(static_cast<size_t>(n));
    for (float& v : t.data) v = dist(rng);
    inputs[in.name()] = std::move(t);
  }
  return inputs;
}

// max |a - b| / max |b| (0 when both are zero).
inline double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

inline bool AllFinite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

}  // namespace dlbricks::testing
