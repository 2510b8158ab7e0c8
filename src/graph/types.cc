// Small value types of graph.h: TensorType, dtype names, LayerCost, Graph lookups,
// --input-shape parsing.
#include <charconv>

#include "dlbricks/graph.h"

namespace dlbricks {

int64_t TensorType::Elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t TensorType::Bytes() const { return Elements() * DtypeSize(dtype); }

std::string TensorType::ToString() const {
  std::string s = DtypeName(dtype) + "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += "x";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

int64_t DtypeSize(int32_t dtype) {
  switch (dtype) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::UINT32:
      return 4;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64:
    case onnx::TensorProto::COMPLEX64:
      return 8;
    case onnx::TensorProto::COMPLEX128:
      return 16;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
      return 2;
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL:
      return 1;
    default:
      return 0;
  }
}

std::string DtypeName(int32_t dtype) {
  switch (dtype) {
    case onnx::TensorProto::FLOAT: return "f32";
    case onnx::TensorProto::DOUBLE: return "f64";
    case onnx::TensorProto::FLOAT16: return "f16";
    case onnx::TensorProto::BFLOAT16: return "bf16";
    case onnx::TensorProto::INT8: return "i8";
    case onnx::TensorProto::INT16: return "i16";
    case onnx::TensorProto::INT32: return "i32";
    case onnx::TensorProto::INT64: return "i64";
    case onnx::TensorProto::UINT8: return "u8";
    case onnx::TensorProto::UINT16: return "u16";
    case onnx::TensorProto::UINT32: return "u32";
    case onnx::TensorProto::UINT64: return "u64";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::COMPLEX64: return "c64";
    case onnx::TensorProto::COMPLEX128: return "c128";
    default: return "undef";
  }
}

LayerCost& LayerCost::operator+=(const LayerCost& o) {
  macs += o.macs;
  flops += o.flops;
  params += o.params;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  has_rule = has_rule && o.has_rule;
  return *this;
}

std::vector<int> Layer::DataInputs(const Graph& g) const {
  std::vector<int> ids;
  for (int id : inputs) {
    if (id < 0) continue;
    ValueKind k = g.values[id].kind;
    if (k == ValueKind::kActivation || k == ValueKind::kGraphInput) ids.push_back(id);
  }
  return ids;
}

int Graph::FindValue(const std::string& value_name) const {
  auto it = value_index.find(value_name);
  return it == value_index.end() ? -1 : it->second;
}

Status ParseInputShape(const std::string& text, IngestOptions* options) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("--input-shape '" + text + "': " + why + " (expected NAME=1x3x224x224)");
  };
  size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0) return bad("missing NAME=");
  std::string name = text.substr(0, eq);
  std::string dims_text = text.substr(eq + 1);
  std::vector<int64_t> dims;
  size_t pos = 0;
  while (pos <= dims_text.size()) {
    size_t x = dims_text.find_first_of("x,", pos);
    if (x == std::string::npos) x = dims_text.size();
    int64_t d = 0;
    const char* b = dims_text.data() + pos;
    const char* e = dims_text.data() + x;
    auto [ptr, ec] = std::from_chars(b, e, d);
    if (b == e || ec != std::errc() || ptr != e || d <= 0) return bad("dims must be positive integers");
    dims.push_back(d);
    pos = x + 1;
  }
  options->input_shapes[name] = dims;
  return Status::OK();
}

}  // namespace dlbricks
