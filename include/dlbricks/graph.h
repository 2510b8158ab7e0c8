// Stage 1: ONNX ingest. Loads a model with libonnx, canonicalises it (folds Identity,
// Constant and initializer-only / shape-only subgraphs), infers static shapes, and
// builds a DAG of layers with stable signatures and costs (DESIGN.md "Key definitions").
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dlbricks/hash.h"
#include "dlbricks/status.h"

namespace dlbricks {

// A tensor's element type (onnx::TensorProto_DataType) and static shape.
struct TensorType {
  int32_t dtype = 0;          // onnx::TensorProto_DataType; 0 = undefined
  std::vector<int64_t> dims;  // all >= 0 after ingest
  int64_t Elements() const;   // product of dims (1 for a scalar)
  int64_t Bytes() const;      // Elements() * element size
  std::string ToString() const;  // e.g. "f32[1x3x224x224]"
};

// Size in bytes of one element of an ONNX dtype (0 if unknown).
int64_t DtypeSize(int32_t dtype);
// Short dtype name, e.g. "f32", "i64".
std::string DtypeName(int32_t dtype);

// Classification rule (ingest): integer and bool tensors are kConstant. A floating tensor is
// kWeight if it has more than 8 elements or feeds a learned-parameter input (Conv/ConvTranspose
// W and B, Gemm B and C, MatMul B, BatchNormalization/LayerNormalization/InstanceNormalization
// scale, bias, mean, var, PRelu slope); any other floating tensor with <= 8 elements is a
// semantic kConstant (Pow exponent, Resize scales, a GELU's 1/sqrt(2), Clip bounds, epsilons).
enum class ValueKind {
  kGraphInput,  // fed by the user at run time
  kActivation,  // produced by a layer
  kWeight,      // learned tensor (float initializer or folded from initializers); synthetic in bricks
  kConstant,    // semantic constant (shape, axes, indices, scales, small scalars): its value is
                // part of the layer signature and is copied into bricks
};

// One tensor of the canonical graph.
struct Value {
  std::string name;  // source name: never exported into a suite
  TensorType type;
  ValueKind kind = ValueKind::kActivation;
  int producer = -1;               // index into Graph::layers, or -1
  std::vector<int> consumers;      // distinct layer indices, in topological order
  bool is_graph_output = false;
  const onnx::TensorProto* data = nullptr;  // kWeight / kConstant: the tensor (owned by Graph)
};

// Work done by one layer. has_rule=false means the op table has no cost rule for this op:
// the numbers are zero and reports say so instead of counting silently.
struct LayerCost {
  double macs = 0;           // multiply-accumulates
  double flops = 0;          // floating-point operations (2*MACs for GEMM-like ops, plus others)
  int64_t params = 0;        // learned parameters (BN running stats are not params, as in torch)
  int64_t bytes_read = 0;    // activation + weight bytes read
  int64_t bytes_written = 0; // output bytes written
  bool has_rule = true;
  LayerCost& operator+=(const LayerCost& o);
};

// One ONNX node that does work. Ingest folds Identity, inference-mode Dropout, Constant and
// every node computable from constants or static shapes (Shape -> Gather -> Concat chains,
// ConstantOfShape, initializer-only subgraphs) with a small constant evaluator; a node with
// constant inputs the evaluator cannot compute stays a layer.
struct Layer {
  std::string name;     // source node name: never exported into a suite
  std::string op_type;
  std::string domain;   // "" for the default ONNX domain
  onnx::NodeProto node; // the node with every attribute's default filled in, sorted by name
  std::vector<int> inputs;   // Value ids in node input order; -1 for an omitted optional input
  std::vector<int> outputs;  // Value ids in node output order
  int64_t since_version = 0; // ONNX schema version defining the op (part of the signature)
  Hash128 signature;         // hash of signature_text
  std::string signature_text;  // op, domain, attributes, input/output/weight types (+ constant values)
  LayerCost cost;

  // Inputs that are activations or graph inputs (what a brick must be fed with).
  std::vector<int> DataInputs(const struct Graph& g) const;
};

struct Graph {
  std::string name;  // file stem
  std::string path;  // file it was loaded from
  int64_t opset = 0; // default-domain opset
  std::vector<Value> values;
  std::vector<Layer> layers;   // topological order (stable: source order where free)
  std::vector<int> inputs;     // graph-input Value ids
  std::vector<int> outputs;    // graph-output Value ids
  LayerCost totals;            // sum over layers (params: a weight shared by layers counts once)
  std::vector<std::string> ops_without_rule;  // distinct op types the cost table lacks
  int64_t weight_bytes = 0;    // bytes of weight tensors (kWeight values)
  // Owns every tensor Value::data points at.
  std::vector<std::unique_ptr<onnx::TensorProto>> tensors;
  std::map<std::string, int64_t> opset_imports;  // domain -> version
  std::unordered_map<std::string, int> value_index;  // Value::name -> id
  int64_t file_bytes = 0;      // size of the model file
  double read_seconds = 0;     // wall time reading + parsing the file (weight bytes dominate)
  double total_seconds = 0;    // wall time of LoadGraph

  int FindValue(const std::string& name) const;  // -1 if absent
};

struct IngestOptions {
  // Fixed shapes for graph inputs, by input name (--input-shape NAME=1x3x224x224). Default: none.
  std::map<std::string, std::vector<int64_t>> input_shapes;
  // If > 0, sets the leading dim of every graph input (re-batching). Default: 0 = keep.
  int64_t batch = 0;
  // Run onnx::checker on the loaded model. Default: true.
  bool check = true;
  // Read weight bytes into memory. false (what analyze uses): floating tensors over 4 KiB keep
  // no bytes; their TensorProto refers to them as ONNX external data inside the model file
  // itself (location = file name, offset, length), read on demand. Signatures, shapes and
  // costs are identical either way. Default: true.
  bool load_weights = true;
  // Largest number of elements a declared or inferred tensor may have. Default: 2^34.
  int64_t max_elements = int64_t{1} << 34;
};

// Parses "NAME=1x3x224x224" into options->input_shapes.
Status ParseInputShape(const std::string& text, IngestOptions* options);

// Loads, checks, canonicalises and analyses one ONNX file.
// REQUIRES: graph != nullptr. On error, the message names the file and the problem.
Status LoadGraph(const std::string& path, const IngestOptions& options, Graph* graph);

// Writes the canonical model (folded, static shapes, original weights) as ONNX: what
// strict importers such as OpenCV DNN can load.
Status SaveCanonicalModel(const Graph& graph, const std::string& path);

}  // namespace dlbricks
