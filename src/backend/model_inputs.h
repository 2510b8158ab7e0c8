// Internal to the backend module: reading a model's graph inputs without an engine.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "dlbricks/backend.h"

namespace dlbricks::backend_internal {

// Parses the ONNX file and lists its graph inputs that are not initializers, with
// static dims (a symbolic or unknown dim becomes 1). Bad file → Status naming it.
Status ReadModelInputs(const std::string& path, std::vector<TensorInfo>* inputs);
// The same for a model already parsed from `path` (named in messages).
Status ModelInputs(const std::string& path, const onnx::ModelProto& model, std::vector<TensorInfo>* inputs);
// Reads and parses an ONNX file; Corruption naming it if it is not a model.
Status ReadModelProto(const std::string& path, onnx::ModelProto* model);

// Reads a whole file; NotFound / IOError naming it.
Status ReadFileBytes(const std::string& path, std::string* bytes);

// Elements of a tensor with these dims (1 for a scalar).
int64_t ElementCount(const std::vector<int64_t>& dims);

// Loads one byte of every 64-byte cache line of [data, data + bytes), so the buffer is in cache
// (PreparedModel::TouchInputs). Returns bytes.
int64_t ReadEveryLine(const char* data, size_t bytes);

// An ONNX Runtime profile (its JSON trace) kernel by kernel (name, op type, median ms x calls,
// calls; no graph places), over the inferences after the first `warmup_runs` (at least 1).
// Bad or short trace → Status naming the file.
Status ProfileNodeMedians(const std::string& trace_path, int warmup_runs, std::vector<NodeTime>* nodes);

}  // namespace dlbricks::backend_internal
