// Internal to the backend module: reading a model's graph inputs without an engine.
#pragma once

#include <string>
#include <vector>

#include "dlbricks/backend.h"

namespace dlbricks::backend_internal {

// Parses the ONNX file and lists its graph inputs that are not initializers, with
// static dims (a symbolic or unknown dim becomes 1). Bad file → Status naming it.
Status ReadModelInputs(const std::string& path, std::vector<TensorInfo>* inputs);

// Reads a whole file; NotFound / IOError naming it.
Status ReadFileBytes(const std::string& path, std::string* bytes);

// Elements of a tensor with these dims (1 for a scalar).
int64_t ElementCount(const std::vector<int64_t>& dims);

}  // namespace dlbricks::backend_internal
