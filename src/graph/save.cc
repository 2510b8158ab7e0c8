// SaveCanonicalModel: the folded, static-shape model with the original weights, which strict
// importers (OpenCV DNN) accept.
#include <filesystem>
#include <fstream>

#include "internal.h"

namespace dlbricks {

namespace {

void SetType(const Value& v, onnx::ValueInfoProto* vi) {
  vi->set_name(v.name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(v.type.dtype);
  auto* shape = tt->mutable_shape();
  for (int64_t d : v.type.dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

Status SaveCanonicalModel(const Graph& graph, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("dlbricks");
  for (const auto& [domain, version] : graph.opset_imports) {
    auto* imp = model.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph.name);
  for (int id : graph.inputs) SetType(graph.values[id], g->add_input());
  for (const Value& v : graph.values) {
    if (v.data) {
      onnx::TensorProto* t = g->add_initializer();
      *t = *v.data;
      if (t->data_location() == onnx::TensorProto::EXTERNAL) {
        // Loaded with load_weights=false (or external data): the canonical model embeds the bytes.
        Status st = graph_internal::ResolveExternalData(std::filesystem::path(graph.path).parent_path(), true, t);
        if (!st.ok()) return st.WithPrefix(graph.path);
      }
    } else if (v.kind == ValueKind::kActivation && !v.is_graph_output) {
      SetType(v, g->add_value_info());
    }
  }
  for (const Layer& layer : graph.layers) *g->add_node() = layer.node;
  for (int id : graph.outputs) SetType(graph.values[id], g->add_output());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError(path + ": cannot open for writing");
  if (!model.SerializeToOstream(&out)) return Status::IOError(path + ": write failed");
  return Status::OK();
}

}  // namespace dlbricks
