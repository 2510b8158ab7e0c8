// Internal pieces of the graph module shared between its .cc files.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "dlbricks/graph.h"

namespace dlbricks::graph_internal {

// A constant tensor during folding: integer and bool values in `ints`, floating values in
// `reals` (exactly one is used, chosen by dtype).
struct ConstTensor {
  int32_t dtype = 0;
  std::vector<int64_t> dims;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  int64_t Elements() const;
  bool IsReal() const;
};

// Decodes a TensorProto with inline data (raw_data or typed fields). False if the dtype or
// layout is not supported (string, complex, float16 ...).
bool DecodeTensor(const onnx::TensorProto& t, ConstTensor* out);
void EncodeTensor(const ConstTensor& c, onnx::TensorProto* out);

// Input of a node to the constant evaluator: a known tensor, or (for Shape/Size) only the
// static type of an activation.
struct EvalInput {
  const ConstTensor* value = nullptr;  // null if absent or not constant
  const TensorType* type = nullptr;    // static type if known
};

// Evaluates one node whose inputs are constants (or whose result depends only on static
// shapes, like Shape). Returns false if the op or a case is not supported: the node then stays
// a layer. `max_elements` bounds every result.
bool EvaluateNode(const onnx::NodeProto& node, int64_t opset, const std::vector<EvalInput>& inputs,
                  int64_t max_elements, std::vector<ConstTensor>* outputs);

// Reads and parses an ONNX file (reader.cc); see IngestOptions::load_weights.
Status ReadModelFile(const std::string& path, bool load_weights, onnx::ModelProto* model, int64_t* file_bytes);
// Validates a tensor's external data location (inside `model_dir`, within bounds, size matching
// the shape) and, if `load`, reads the bytes into raw_data.
Status ResolveExternalData(const std::filesystem::path& model_dir, bool load, onnx::TensorProto* t);

// Op table (ops.cc).
// True if input `index` of `op_type` is a learned parameter slot (Conv W/B, BN, Gemm B/C ...).
bool IsParameterSlot(const std::string& op_type, int index);
// True if input `index` of `op_type` holds statistics that torch does not count as parameters
// (BatchNormalization running mean and variance).
bool IsStatisticsSlot(const std::string& op_type, int index);
// Fills layer->cost; returns false (and has_rule=false) if the op has no cost rule.
bool ComputeLayerCost(const Graph& g, Layer* layer);

// Signature (signature.cc): fills node defaults and the canonical text + hash.
void FillAttributeDefaults(int64_t opset, Layer* layer);
void ComputeLayerSignature(const Graph& g, Layer* layer);

}  // namespace dlbricks::graph_internal
