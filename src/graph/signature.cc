// Layer signature (DLBricks section 2.2: same type, shape and parameters, ignoring weights):
// a canonical text of op, domain, op version, attributes with defaults filled in, input,
// output and weight types, and the values of semantic constants. Never names or weight values.
#include <onnx/defs/schema.h>

#include <algorithm>
#include <cstdio>

#include "internal.h"

namespace dlbricks::graph_internal {

namespace {

// Above this many elements a constant enters the signature as a hash of its bytes.
constexpr int64_t kMaxInlineConstant = 64;

std::string Real(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string Dims(const google::protobuf::RepeatedField<int64_t>& dims) {
  std::string s;
  for (int i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

std::string TensorValueText(const onnx::TensorProto& t) {
  std::string head = DtypeName(t.data_type()) + "[" + Dims(t.dims()) + "]";
  ConstTensor c;
  if (DecodeTensor(t, &c) && c.Elements() <= kMaxInlineConstant) {
    std::string s = head + "{";
    for (int64_t i = 0; i < c.Elements(); ++i) {
      if (i) s += ",";
      s += c.IsReal() ? Real(c.reals[i]) : std::to_string(c.ints[i]);
    }
    return s + "}";
  }
  return head + "#" + HashBytes(t.raw_data().empty() ? t.SerializeAsString() : t.raw_data()).Hex();
}

std::string AttributeText(const onnx::AttributeProto& a) {
  std::string s = a.name() + "=";
  switch (a.type()) {
    case onnx::AttributeProto::INT: return s + std::to_string(a.i());
    case onnx::AttributeProto::FLOAT: return s + Real(a.f());
    case onnx::AttributeProto::STRING: return s + "'" + a.s() + "'";
    case onnx::AttributeProto::TENSOR: return s + TensorValueText(a.t());
    case onnx::AttributeProto::INTS: {
      s += "[";
      for (int i = 0; i < a.ints_size(); ++i) s += (i ? "," : "") + std::to_string(a.ints(i));
      return s + "]";
    }
    case onnx::AttributeProto::FLOATS: {
      s += "[";
      for (int i = 0; i < a.floats_size(); ++i) s += (i ? "," : "") + Real(a.floats(i));
      return s + "]";
    }
    case onnx::AttributeProto::STRINGS: {
      s += "[";
      for (int i = 0; i < a.strings_size(); ++i) s += (i ? ",'" : "'") + a.strings(i) + "'";
      return s + "]";
    }
    default:
      // Subgraphs and other rare kinds: their serialised form (names included, rare in CNNs).
      return s + "#" + HashBytes(a.SerializeAsString()).Hex();
  }
}

const onnx::OpSchema* SchemaOf(int64_t opset, const Layer& layer) {
  if (opset <= 0) return nullptr;
  return onnx::OpSchemaRegistry::Schema(layer.op_type, static_cast<int>(opset), layer.domain);
}

}  // namespace

void FillAttributeDefaults(int64_t opset, Layer* layer) {
  const onnx::OpSchema* schema = SchemaOf(opset, *layer);
  if (!schema) return;
  for (const auto& [name, attr] : schema->attributes()) {
    if (attr.default_value.type() == onnx::AttributeProto::UNDEFINED) continue;
    bool present = std::any_of(layer->node.attribute().begin(), layer->node.attribute().end(),
                               [&](const onnx::AttributeProto& a) { return a.name() == name; });
    if (present) continue;
    auto* a = layer->node.add_attribute();
    *a = attr.default_value;
    a->set_name(name);
  }
  // Sorted attributes make the node itself canonical too.
  auto* attrs = layer->node.mutable_attribute();
  std::sort(attrs->begin(), attrs->end(),
            [](const onnx::AttributeProto& a, const onnx::AttributeProto& b) { return a.name() < b.name(); });
  layer->since_version = schema->SinceVersion();
}

void ComputeLayerSignature(const Graph& g, Layer* layer) {
  std::string s = "op=" + layer->op_type + ";domain=" + layer->domain + ";since=" +
                  std::to_string(layer->since_version) + ";";
  for (const auto& a : layer->node.attribute()) s += AttributeText(a) + ";";
  for (size_t k = 0; k < layer->inputs.size(); ++k) {
    s += "in" + std::to_string(k) + "=";
    int id = layer->inputs[k];
    if (id < 0) {
      s += "none;";
      continue;
    }
    const Value& v = g.values[id];
    switch (v.kind) {
      case ValueKind::kWeight: s += "weight:" + v.type.ToString(); break;
      case ValueKind::kConstant: s += "const:" + (v.data ? TensorValueText(*v.data) : v.type.ToString()); break;
      default: s += v.type.ToString(); break;
    }
    s += ";";
  }
  for (size_t k = 0; k < layer->outputs.size(); ++k) {
    int id = layer->outputs[k];
    s += "out" + std::to_string(k) + "=" + (id < 0 ? std::string("none") : g.values[id].type.ToString()) + ";";
  }
  layer->signature_text = std::move(s);
  layer->signature = HashBytes(layer->signature_text);
}

}  // namespace dlbricks::graph_internal
