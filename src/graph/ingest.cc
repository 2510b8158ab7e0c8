// LoadGraph: read -> external data -> input shapes -> DAG order -> checker -> shape inference
// and constant folding (to a fixed point) -> Graph with classified values, signatures, costs.
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <climits>
#include <filesystem>
#include <fstream>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "internal.h"

namespace dlbricks {

namespace {

namespace fs = std::filesystem;
using graph_internal::ConstTensor;

// Tensors above this many elements are not decoded for folding (decoding uses 8 bytes/element).
constexpr int64_t kFoldMaxElements = int64_t{1} << 22;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::string FirstLine(const std::exception& e) {
  std::string msg = e.what();
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

// Product of dims, saturating at INT64_MAX so absurd declarations cannot overflow.
int64_t SafeElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d <= 0) return d == 0 ? 0 : n;
    if (n > INT64_MAX / d) return INT64_MAX;
    n *= d;
  }
  return n;
}

int64_t TensorElements(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) return INT64_MAX;
    if (d > 0 && n > INT64_MAX / d) return INT64_MAX;
    n *= d;
  }
  return n;
}

Status CheckElements(const std::string& what, const std::vector<int64_t>& dims, int64_t max_elements) {
  int64_t n = SafeElements(dims);
  if (n > max_elements) {
    return Status::InvalidArgument(what + " has shape " + DimsText(dims) + " (" + std::to_string(n) +
                                   " elements), above the limit of " + std::to_string(max_elements));
  }
  return Status::OK();
}

Status ReadModel(const std::string& path, bool load_weights, onnx::ModelProto* model, Graph* g) {
  auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return Status::NotFound("no such file");
  if (fs::is_directory(status)) return Status::InvalidArgument("is a directory, not an ONNX model file");
  int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return Status::IOError("cannot stat: " + ec.message());
  if (size == 0) return Status::Corruption("not an ONNX model (empty file)");
  DLB_RETURN_IF_ERROR(graph_internal::ReadModelFile(path, load_weights, model, &g->file_bytes));
  g->read_seconds = Seconds(start);
  if (!model->has_graph()) return Status::Corruption("not an ONNX model (no graph)");
  if (model->ir_version() <= 0) return Status::Corruption("not an ONNX model (no ir_version)");
  if (model->opset_import_size() == 0) return Status::Corruption("not an ONNX model (no opset_import)");
  return Status::OK();
}

}  // namespace

namespace graph_internal {

// Validates a tensor's external data (location inside the model's folder, bounds) and, if
// `load`, reads it into raw_data.
Status ResolveExternalData(const fs::path& model_dir, bool load, onnx::TensorProto* t) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t->external_data()) {
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = std::atoll(kv.value().c_str());
    if (kv.key() == "length") length = std::atoll(kv.value().c_str());
  }
  std::string what = "external data '" + location + "' of tensor '" + t->name() + "'";
  if (location.empty()) return Status::Corruption("tensor '" + t->name() + "' has external data without a location");
  fs::path loc(location);
  if (loc.is_absolute() || loc.has_root_name() || loc.has_root_directory()) {
    return Status::InvalidArgument(what + " is an absolute path; only paths inside the model's folder are allowed");
  }
  for (const auto& part : loc.lexically_normal()) {
    if (part == "..") return Status::InvalidArgument(what + " escapes the model's folder via '..'");
  }
  fs::path full = model_dir / loc;
  std::error_code ec;
  // Symlinks may not lead outside the folder either.
  fs::path real_dir = fs::weakly_canonical(model_dir, ec);
  fs::path real_file = fs::weakly_canonical(full, ec);
  auto rel = real_file.lexically_relative(real_dir);
  if (rel.empty() || *rel.begin() == "..") return Status::InvalidArgument(what + " resolves outside the model's folder");
  if (!fs::is_regular_file(full, ec)) return Status::NotFound(what + ": no such file");
  int64_t file_size = static_cast<int64_t>(fs::file_size(full, ec));
  if (offset < 0 || offset > file_size) return Status::Corruption(what + ": offset beyond the end of the file");
  if (length < 0) length = file_size - offset;
  if (offset + length > file_size) return Status::Corruption(what + ": length beyond the end of the file");
  int64_t elem = DtypeSize(t->data_type());
  if (elem > 0 && length != TensorElements(*t) * elem) {
    return Status::Corruption(what + ": " + std::to_string(length) + " bytes do not match its shape");
  }
  if (!load) return Status::OK();
  std::ifstream in(full, std::ios::binary);
  in.seekg(offset);
  std::string* raw = t->mutable_raw_data();
  raw->resize(static_cast<size_t>(length));
  in.read(raw->data(), length);
  if (in.gcount() != length) return Status::IOError(what + ": short read");
  t->clear_external_data();
  t->set_data_location(onnx::TensorProto::DEFAULT);
  return Status::OK();
}

}  // namespace graph_internal

namespace {

std::vector<int64_t> DeclaredDims(const onnx::ValueInfoProto& vi, bool* all_static) {
  std::vector<int64_t> dims;
  *all_static = vi.type().has_tensor_type() && vi.type().tensor_type().has_shape();
  if (!*all_static) return dims;
  for (const auto& d : vi.type().tensor_type().shape().dim()) {
    if (d.has_dim_value() && d.dim_value() >= 0) {
      dims.push_back(d.dim_value());
    } else {
      *all_static = false;
      dims.push_back(-1);
    }
  }
  return dims;
}

void SetDims(onnx::ValueInfoProto* vi, const std::vector<int64_t>& dims) {
  auto* shape = vi->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->clear_dim();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

// Applies --input-shape / --batch and requires every graph input to be static.
Status ApplyInputShapes(const IngestOptions& options, onnx::GraphProto* graph) {
  std::unordered_set<std::string> initializers;
  for (const auto& t : graph->initializer()) initializers.insert(t.name());
  std::set<std::string> names;
  std::string listed;
  for (const auto& vi : graph->input()) {
    if (initializers.count(vi.name()) || !names.insert(vi.name()).second) continue;
    listed += (listed.empty() ? "" : ", ") + vi.name();
  }
  for (const auto& kv : options.input_shapes) {
    if (!names.count(kv.first)) {
      return Status::InvalidArgument("--input-shape names '" + kv.first + "', which is not a graph input (inputs: " +
                                     listed + ")");
    }
  }
  bool changed = false;
  for (auto& vi : *graph->mutable_input()) {
    if (initializers.count(vi.name())) continue;
    bool all_static = false;
    std::vector<int64_t> dims = DeclaredDims(vi, &all_static);
    auto it = options.input_shapes.find(vi.name());
    if (it != options.input_shapes.end()) {
      if (!vi.type().tensor_type().has_shape() || dims.size() == it->second.size()) {
        dims = it->second;
      } else {
        return Status::InvalidArgument("--input-shape " + vi.name() + "=" + DimsText(it->second) + " has rank " +
                                       std::to_string(it->second.size()) + " but the input has rank " +
                                       std::to_string(dims.size()));
      }
      SetDims(&vi, dims);
      changed = true;
      all_static = true;
    }
    if (options.batch > 0 && !dims.empty()) {
      dims[0] = options.batch;
      SetDims(&vi, dims);
      changed = true;
      all_static = true;
      for (int64_t d : dims) all_static = all_static && d >= 0;
    }
    if (!all_static) {
      std::vector<int64_t> hint = dims;
      for (int64_t& d : hint) d = d < 0 ? 1 : d;
      std::string hint_text = hint.empty() ? "1x3x224x224" : DimsText(hint);
      return Status::InvalidArgument("graph input '" + vi.name() + "' has a dynamic or unknown shape; pass " +
                                     "--input-shape " + vi.name() + "=" + hint_text);
    }
  }
  if (changed) {
    // Shapes recorded by the exporter are stale now: infer them again.
    graph->clear_value_info();
    for (auto& out : *graph->mutable_output()) {
      if (out.type().has_tensor_type()) out.mutable_type()->mutable_tensor_type()->clear_shape();
    }
  }
  return Status::OK();
}

Status CheckDeclaredSizes(const onnx::GraphProto& graph, int64_t max_elements) {
  auto check_vi = [&](const onnx::ValueInfoProto& vi) {
    bool all_static = false;
    std::vector<int64_t> dims = DeclaredDims(vi, &all_static);
    return CheckElements("tensor '" + vi.name() + "'", dims, max_elements);
  };
  for (const auto& vi : graph.input()) DLB_RETURN_IF_ERROR(check_vi(vi));
  for (const auto& vi : graph.output()) DLB_RETURN_IF_ERROR(check_vi(vi));
  for (const auto& vi : graph.value_info()) DLB_RETURN_IF_ERROR(check_vi(vi));
  for (const auto& t : graph.initializer()) {
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    for (int64_t d : dims) {
      if (d < 0) return Status::Corruption("initializer '" + t.name() + "' has a negative dim");
    }
    DLB_RETURN_IF_ERROR(CheckElements("initializer '" + t.name() + "'", dims, max_elements));
    int64_t elem = DtypeSize(t.data_type());
    if (t.has_raw_data() && elem > 0 && static_cast<int64_t>(t.raw_data().size()) != SafeElements(dims) * elem) {
      return Status::Corruption("initializer '" + t.name() + "' has " + std::to_string(t.raw_data().size()) +
                                " data bytes, its shape " + DimsText(dims) + " needs " +
                                std::to_string(SafeElements(dims) * elem));
    }
  }
  return Status::OK();
}

int64_t OpsetOf(const std::map<std::string, int64_t>& imports, const std::string& domain) {
  auto it = imports.find(domain == "ai.onnx" ? "" : domain);
  return it == imports.end() ? -1 : it->second;
}

// Validates ops and edges and reorders nodes topologically (Kahn, ties by source order).
Status SortNodes(const std::map<std::string, int64_t>& imports, int64_t ir_version, onnx::GraphProto* graph) {
  const int n = graph->node_size();
  std::unordered_set<std::string> available = {""};
  for (const auto& vi : graph->input()) available.insert(vi.name());
  for (const auto& t : graph->initializer()) available.insert(t.name());
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    const auto& node = graph->node(i);
    std::string label = "node '" + node.name() + "' (" + node.op_type() + ")";
    int64_t version = OpsetOf(imports, node.domain());
    std::string domain = node.domain().empty() ? "ai.onnx" : node.domain();
    if (version < 0) return Status::InvalidArgument(label + " uses domain '" + domain + "', which the model does not import");
    if (!onnx::OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(version), node.domain())) {
      return Status::InvalidArgument("unknown op '" + node.op_type() + "' (domain " + domain + ", opset " +
                                     std::to_string(version) + ") at " + label);
    }
    for (const auto& out : node.output()) {
      if (out.empty()) continue;
      if (available.count(out) || !producer.emplace(out, i).second) {
        return Status::Corruption(label + " writes '" + out + "', which is already defined");
      }
    }
  }
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (int i = 0; i < n; ++i) {
    const auto& node = graph->node(i);
    for (const auto& in : node.input()) {
      if (available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end()) {
        return Status::Corruption("node '" + node.name() + "' (" + node.op_type() + ") reads '" + in +
                                  "', which no node, graph input or initializer produces");
      }
      users[it->second].push_back(i);
      ++pending[i];
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(n);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int u : users[i]) {
      if (--pending[u] == 0) ready.push(u);
    }
  }
  if (static_cast<int>(order.size()) < n) {
    // Walk producers among the unsorted nodes until one repeats: that node is on a cycle.
    int cur = 0;
    while (pending[cur] == 0) ++cur;
    std::vector<bool> seen(n, false);
    while (!seen[cur]) {
      seen[cur] = true;
      for (const auto& in : graph->node(cur).input()) {
        auto it = producer.find(in);
        if (it != producer.end() && pending[it->second] > 0) {
          cur = it->second;
          break;
        }
      }
    }
    const auto& node = graph->node(cur);
    return Status::Corruption("graph has a cycle through node '" + node.name() + "' (" + node.op_type() + ")");
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> sorted;
  for (int i : order) sorted.Add()->Swap(graph->mutable_node(i));
  graph->mutable_node()->Swap(&sorted);
  // Each node against its schema (attribute types, arity) before anything evaluates or infers it.
  onnx::checker::CheckerContext ctx;
  ctx.set_ir_version(static_cast<int>(ir_version));
  std::unordered_map<std::string, int> opsets;
  for (const auto& [domain, version] : imports) opsets[domain] = static_cast<int>(version);
  ctx.set_opset_imports(opsets);
  onnx::checker::LexicalScopeContext lex;
  for (const auto& name : available) lex.add(name);
  for (const auto& [name, index] : producer) lex.add(name);
  for (const auto& node : graph->node()) {
    try {
      onnx::checker::check_node(node, ctx, lex);
    } catch (const std::exception& e) {
      return Status::Corruption("node '" + node.name() + "' (" + node.op_type() + ") fails the ONNX checker: " +
                                FirstLine(e));
    }
  }
  return Status::OK();
}

// check_model(ModelProto) resolves external data against the working directory; this is the
// same check with the model's folder as the base (weights left on disk are external data).
Status RunChecker(const onnx::ModelProto& model, const fs::path& model_dir) {
  try {
    if (model.ir_version() > onnx::Version::IR_VERSION) {
      return Status::Unsupported("IR version " + std::to_string(model.ir_version()) + " is newer than libonnx's " +
                                 std::to_string(onnx::Version::IR_VERSION));
    }
    onnx::checker::CheckerContext ctx;
    ctx.set_ir_version(static_cast<int>(model.ir_version()));
    std::unordered_map<std::string, int> opsets;
    for (const auto& imp : model.opset_import()) opsets[imp.domain()] = static_cast<int>(imp.version());
    ctx.set_opset_imports(opsets);
    ctx.set_model_dir(model_dir.string());
    onnx::checker::LexicalScopeContext lex;
    onnx::checker::check_model_local_functions(model, ctx, lex);
    onnx::checker::check_graph(model.graph(), ctx, lex);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return Status::Corruption("fails the ONNX checker: " + msg);
  }
  return Status::OK();
}

bool StaticType(const onnx::TypeProto& type, TensorType* out) {
  if (!type.has_tensor_type() || !type.tensor_type().has_shape()) return false;
  out->dtype = type.tensor_type().elem_type();
  out->dims.clear();
  for (const auto& d : type.tensor_type().shape().dim()) {
    if (!d.has_dim_value() || d.dim_value() < 0) return false;
    out->dims.push_back(d.dim_value());
  }
  return out->dtype != 0;
}

// Static types of every named value (after FoldAndInferShapes has written value_info).
std::unordered_map<std::string, TensorType> CollectTypes(const onnx::GraphProto& graph) {
  std::unordered_map<std::string, TensorType> types;
  auto add = [&](const onnx::ValueInfoProto& vi) {
    TensorType t;
    if (StaticType(vi.type(), &t)) types[vi.name()] = t;
  };
  for (const auto& vi : graph.input()) add(vi);
  for (const auto& vi : graph.value_info()) add(vi);
  for (const auto& vi : graph.output()) add(vi);
  for (const auto& t : graph.initializer()) {
    types[t.name()] = TensorType{t.data_type(), std::vector<int64_t>(t.dims().begin(), t.dims().end())};
  }
  return types;
}

// Turns a Constant node's attribute into a tensor; false for forms we cannot express.
bool ConstantNodeTensor(const onnx::NodeProto& node, onnx::TensorProto* t) {
  if (node.attribute_size() != 1) return false;
  const auto& a = node.attribute(0);
  t->Clear();
  if (a.name() == "value") {
    *t = a.t();
  } else if (a.name() == "value_float") {
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(a.f());
  } else if (a.name() == "value_floats") {
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(a.floats_size());
    for (float f : a.floats()) t->add_float_data(f);
  } else if (a.name() == "value_int") {
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_int64_data(a.i());
  } else if (a.name() == "value_ints") {
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(a.ints_size());
    for (int64_t i : a.ints()) t->add_int64_data(i);
  } else {
    return false;
  }
  t->set_name(node.output(0));
  return t->data_location() != onnx::TensorProto::EXTERNAL;
}

void TypeOfTensor(const onnx::TensorProto& t, onnx::TypeProto* type) {
  auto* tt = type->mutable_tensor_type();
  tt->set_elem_type(t.data_type());
  auto* shape = tt->mutable_shape();
  shape->clear_dim();
  for (int64_t d : t.dims()) shape->add_dim()->set_dim_value(d);
}

// Dropout is the identity at inference when not training (or its ratio is 0) and nobody
// reads its mask.
template <typename Decode>
bool IsInferenceDropout(const onnx::NodeProto& node, const std::unordered_set<std::string>& consumed,
                        Decode& decode) {
  if (node.op_type() != "Dropout" || node.input_size() < 1) return false;
  if (node.output_size() > 1 && !node.output(1).empty() && consumed.count(node.output(1))) return false;
  auto scalar = [&](int i, double dflt, double* v) {
    *v = dflt;
    if (node.input_size() <= i || node.input(i).empty()) return true;
    const ConstTensor* c = decode(node.input(i));
    if (!c || c->Elements() != 1) return false;
    *v = c->IsReal() ? c->reals[0] : static_cast<double>(c->ints[0]);
    return true;
  };
  double ratio = 0, training = 0;
  if (!scalar(1, 0.5, &ratio) || !scalar(2, 0, &training)) return false;
  return training == 0 || ratio == 0;
}

// One pass in topological order that folds and infers together, so a shape computed by a
// folded Shape -> Gather -> Concat chain is a constant by the time its Reshape is inferred:
// drops Identity, turns Constant nodes into initializers, evaluates nodes whose inputs are
// known (graph_internal::EvaluateNode), and runs each remaining node's ONNX type-and-shape
// inference function with the constants as input data. Writes value_info for every output.
Status FoldAndInferShapes(const std::map<std::string, int64_t>& imports, int64_t max_elements,
                          const fs::path& model_dir, onnx::GraphProto* graph) {
  const int64_t opset = OpsetOf(imports, "");
  // Exporter-declared types serve where inference knows less.
  std::unordered_map<std::string, onnx::TypeProto> declared;
  for (const auto& vi : graph->value_info()) declared[vi.name()] = vi.type();
  for (const auto& vi : graph->output()) declared[vi.name()] = vi.type();
  std::unordered_map<std::string, onnx::TypeProto> types;  // node-based: pointers stay valid
  std::unordered_map<std::string, onnx::TypeProto*> type_ptrs;
  std::unordered_map<std::string, TensorType> static_types;
  auto set_type = [&](const std::string& name, const onnx::TypeProto& type) {
    onnx::TypeProto& slot = types[name];
    slot = type;
    type_ptrs[name] = &slot;
    TensorType t;
    if (StaticType(slot, &t)) {
      static_types[name] = t;
    } else {
      static_types.erase(name);
    }
  };
  std::unordered_map<std::string, const onnx::TensorProto*> data;
  for (const auto& vi : graph->input()) set_type(vi.name(), vi.type());
  for (const auto& t : graph->initializer()) {
    onnx::TypeProto type;
    TypeOfTensor(t, &type);
    set_type(t.name(), type);
    data[t.name()] = &t;
  }
  std::unordered_set<std::string> graph_outputs;
  for (const auto& o : graph->output()) graph_outputs.insert(o.name());
  std::unordered_map<std::string, ConstTensor> decoded;
  std::unordered_map<std::string, std::string> alias;  // Identity output -> its input
  std::deque<onnx::TensorProto> new_inits;             // stable addresses for `data`
  std::vector<bool> drop(graph->node_size(), false);
  std::unordered_set<std::string> consumed(graph_outputs);
  for (const auto& node : graph->node()) consumed.insert(node.input().begin(), node.input().end());

  auto decode = [&](const std::string& name) -> const ConstTensor* {
    if (auto it = decoded.find(name); it != decoded.end()) return &it->second;
    auto it = data.find(name);
    if (it == data.end() || TensorElements(*it->second) > kFoldMaxElements) {
      return nullptr;
    }
    ConstTensor c;
    if (it->second->data_location() == onnx::TensorProto::EXTERNAL) {
      onnx::TensorProto loaded = *it->second;  // weights left on disk: read them now
      if (!graph_internal::ResolveExternalData(model_dir, true, &loaded).ok()) return nullptr;
      if (!graph_internal::DecodeTensor(loaded, &c)) return nullptr;
    } else if (!graph_internal::DecodeTensor(*it->second, &c)) {
      return nullptr;
    }
    return &decoded.emplace(name, std::move(c)).first->second;
  };
  auto add_constant = [&](onnx::TensorProto&& t) -> Status {
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    DLB_RETURN_IF_ERROR(CheckElements("constant '" + t.name() + "'", dims, max_elements));
    new_inits.push_back(std::move(t));
    const onnx::TensorProto& stored = new_inits.back();
    onnx::TypeProto type;
    TypeOfTensor(stored, &type);
    set_type(stored.name(), type);
    data[stored.name()] = &stored;
    return Status::OK();
  };

  for (int i = 0; i < graph->node_size(); ++i) {
    onnx::NodeProto* node = graph->mutable_node(i);
    for (auto& in : *node->mutable_input()) {
      if (auto it = alias.find(in); it != alias.end()) in = it->second;
    }
    const std::string& op = node->op_type();
    bool onnx_domain = node->domain().empty() || node->domain() == "ai.onnx";
    if (onnx_domain && (op == "Identity" || IsInferenceDropout(*node, consumed, decode)) &&
        !graph_outputs.count(node->output(0))) {
      alias[node->output(0)] = node->input(0);
      drop[i] = true;
      continue;
    }
    if (onnx_domain && op == "Constant") {
      onnx::TensorProto t;
      if (ConstantNodeTensor(*node, &t)) {
        DLB_RETURN_IF_ERROR(add_constant(std::move(t)));
        drop[i] = true;
        continue;
      }
    }
    // Only nodes whose inputs are all constants, or whose result is a static shape, can fold:
    // decoding is skipped for the rest (it would read every weight).
    bool all_constant = true;
    for (const auto& in : node->input()) all_constant = all_constant && (in.empty() || data.count(in));
    if (onnx_domain && (all_constant || op == "Shape" || op == "Size")) {
      std::vector<graph_internal::EvalInput> ins;
      for (const auto& in : node->input()) {
        graph_internal::EvalInput e;
        if (!in.empty()) {
          if (all_constant) e.value = decode(in);
          if (auto it = static_types.find(in); it != static_types.end()) e.type = &it->second;
        }
        ins.push_back(e);
      }
      std::vector<ConstTensor> outs;
      if (graph_internal::EvaluateNode(*node, opset, ins, kFoldMaxElements, &outs) &&
          static_cast<int>(outs.size()) == node->output_size()) {
        for (int k = 0; k < node->output_size(); ++k) {
          onnx::TensorProto t;
          graph_internal::EncodeTensor(outs[k], &t);
          t.set_name(node->output(k));
          decoded[t.name()] = std::move(outs[k]);
          DLB_RETURN_IF_ERROR(add_constant(std::move(t)));
        }
        drop[i] = true;
        continue;
      }
    }
    // A layer: infer its output types.
    const auto* schema =
        onnx::OpSchemaRegistry::Schema(op, static_cast<int>(OpsetOf(imports, node->domain())), node->domain());
    std::vector<onnx::TypeProto> inferred(node->output_size());
    if (schema && schema->has_type_and_shape_inference_function()) {
      try {
        onnx::shape_inference::InferenceContextImpl ctx(*node, type_ptrs, data, {}, nullptr);
        schema->GetTypeAndShapeInferenceFunction()(ctx);
        for (int k = 0; k < node->output_size(); ++k) inferred[k] = *ctx.getOutputType(k);
      } catch (const std::exception& e) {
        return Status::Corruption("shape inference failed at node '" + node->name() + "' (" + op +
                                  "): " + FirstLine(e));
      }
    }
    for (int k = 0; k < node->output_size(); ++k) {
      const std::string& out = node->output(k);
      if (out.empty()) continue;
      TensorType t;
      auto it = declared.find(out);
      if (!StaticType(inferred[k], &t) && it != declared.end() && StaticType(it->second, &t)) {
        set_type(out, it->second);
      } else {
        set_type(out, inferred[k]);
      }
    }
  }
  // Layers need static shapes; data-dependent ones (NonZero, ...) are reported here, before
  // the checker complains about the graph output's missing shape instead.
  for (int i = 0; i < graph->node_size(); ++i) {
    if (drop[i]) continue;
    const auto& node = graph->node(i);
    for (const auto& out : node.output()) {
      if (!out.empty() && !static_types.count(out)) {
        return Status::Unsupported("cannot infer a static shape for '" + out + "' (output of node '" + node.name() +
                                   "' (" + node.op_type() + "))");
      }
    }
  }
  for (auto& out : *graph->mutable_output()) {
    if (auto it = alias.find(out.name()); it != alias.end()) out.set_name(it->second);
    if (auto it = types.find(out.name()); it != types.end()) {
      TensorType t;
      if (StaticType(it->second, &t) || !out.has_type()) *out.mutable_type() = it->second;
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < graph->node_size(); ++i) {
    if (!drop[i]) kept.Add()->Swap(graph->mutable_node(i));
  }
  graph->mutable_node()->Swap(&kept);
  std::unordered_set<std::string> initializer_names;
  for (const auto& t : graph->initializer()) initializer_names.insert(t.name());
  for (auto& t : new_inits) graph->add_initializer()->Swap(&t);
  // Initializers nothing reads any more (folded intermediates) go away.
  std::unordered_set<std::string> used;
  for (const auto& node : graph->node()) {
    for (const auto& in : node.input()) used.insert(in);
  }
  for (const auto& o : graph->output()) used.insert(o.name());
  google::protobuf::RepeatedPtrField<onnx::TensorProto> live;
  for (auto& t : *graph->mutable_initializer()) {
    if (used.count(t.name())) live.Add()->Swap(&t);
  }
  graph->mutable_initializer()->Swap(&live);
  // Old IR versions list initializers as inputs too: unused ones go with them.
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (auto& vi : *graph->mutable_input()) {
    if (used.count(vi.name()) || !initializer_names.count(vi.name())) inputs.Add()->Swap(&vi);
  }
  graph->mutable_input()->Swap(&inputs);
  graph->clear_value_info();
  for (const auto& node : graph->node()) {
    for (const auto& out : node.output()) {
      if (out.empty() || graph_outputs.count(out)) continue;
      auto* vi = graph->add_value_info();
      vi->set_name(out);
      *vi->mutable_type() = types[out];
    }
  }
  return Status::OK();
}

ValueKind ClassifyTensor(const Graph& g, const Value& v) {
  int32_t dt = v.type.dtype;
  bool real = dt == onnx::TensorProto::FLOAT || dt == onnx::TensorProto::DOUBLE || dt == onnx::TensorProto::FLOAT16 ||
              dt == onnx::TensorProto::BFLOAT16;
  if (!real) return ValueKind::kConstant;
  if (v.type.Elements() > 8) return ValueKind::kWeight;
  int id = g.FindValue(v.name);
  for (int c : v.consumers) {
    const Layer& l = g.layers[c];
    for (size_t k = 0; k < l.inputs.size(); ++k) {
      if (l.inputs[k] == id && graph_internal::IsParameterSlot(l.op_type, static_cast<int>(k))) {
        return ValueKind::kWeight;
      }
    }
  }
  return ValueKind::kConstant;
}

int AddValue(Graph* g, const std::string& name, const TensorType& type, ValueKind kind) {
  Value v;
  v.name = name;
  v.type = type;
  v.kind = kind;
  int id = static_cast<int>(g->values.size());
  g->values.push_back(std::move(v));
  g->value_index[name] = id;
  return id;
}

Status BuildGraph(onnx::ModelProto* model, const IngestOptions& options, Graph* g) {
  onnx::GraphProto* graph = model->mutable_graph();
  auto types = CollectTypes(*graph);
  auto type_of = [&](const std::string& name, const std::string& what, TensorType* t) -> Status {
    auto it = types.find(name);
    if (it == types.end()) {
      return Status::Unsupported("cannot infer a static shape for '" + name + "' (" + what + ")");
    }
    *t = it->second;
    return CheckElements("tensor '" + name + "'", t->dims, options.max_elements);
  };
  std::unordered_map<std::string, int> init_index;
  for (int i = 0; i < graph->initializer_size(); ++i) init_index[graph->initializer(i).name()] = i;
  for (const auto& vi : graph->input()) {
    if (init_index.count(vi.name())) continue;
    TensorType t;
    DLB_RETURN_IF_ERROR(type_of(vi.name(), "graph input", &t));
    g->inputs.push_back(AddValue(g, vi.name(), t, ValueKind::kGraphInput));
  }
  auto value_for_init = [&](const std::string& name) {
    int id = g->FindValue(name);
    if (id >= 0) return id;
    onnx::TensorProto* src = graph->mutable_initializer(init_index.at(name));
    auto owned = std::make_unique<onnx::TensorProto>();
    owned->Swap(src);  // moves the weight bytes, no copy
    TensorType t{owned->data_type(), std::vector<int64_t>(owned->dims().begin(), owned->dims().end())};
    id = AddValue(g, name, t, ValueKind::kWeight);
    g->values[id].data = owned.get();
    g->tensors.push_back(std::move(owned));
    return id;
  };
  for (auto& node : *graph->mutable_node()) {
    Layer layer;
    layer.name = node.name();
    layer.op_type = node.op_type();
    layer.domain = node.domain() == "ai.onnx" ? "" : node.domain();
    const int layer_id = static_cast<int>(g->layers.size());
    std::string what = "input of node '" + node.name() + "' (" + node.op_type() + ")";
    for (const auto& in : node.input()) {
      int id = -1;
      if (!in.empty()) {
        id = init_index.count(in) ? value_for_init(in) : g->FindValue(in);
        if (id < 0) return Status::Internal("value '" + in + "' read before it is produced");
        auto& consumers = g->values[id].consumers;
        if (consumers.empty() || consumers.back() != layer_id) consumers.push_back(layer_id);  // Add(x, x): once
      }
      layer.inputs.push_back(id);
    }
    what = "output of node '" + node.name() + "' (" + node.op_type() + ")";
    for (const auto& out : node.output()) {
      int id = -1;
      if (!out.empty()) {
        TensorType t;
        DLB_RETURN_IF_ERROR(type_of(out, what, &t));
        id = AddValue(g, out, t, ValueKind::kActivation);
        g->values[id].producer = layer_id;
      }
      layer.outputs.push_back(id);
    }
    layer.node.Swap(&node);
    g->layers.push_back(std::move(layer));
  }
  for (const auto& vi : graph->output()) {
    int id = init_index.count(vi.name()) ? value_for_init(vi.name()) : g->FindValue(vi.name());
    if (id < 0) return Status::Corruption("graph output '" + vi.name() + "' is produced by nothing");
    g->values[id].is_graph_output = true;
    g->outputs.push_back(id);
  }
  for (auto& v : g->values) {
    if (v.data) v.kind = ClassifyTensor(*g, v);
    if (v.kind == ValueKind::kWeight) g->weight_bytes += v.type.Bytes();
  }
  std::set<std::string> without_rule;
  for (auto& layer : g->layers) {
    int64_t version = OpsetOf(g->opset_imports, layer.domain);
    graph_internal::FillAttributeDefaults(version, &layer);
    if (!graph_internal::ComputeLayerCost(*g, &layer)) without_rule.insert(layer.op_type);
    graph_internal::ComputeLayerSignature(*g, &layer);
    g->totals += layer.cost;
  }
  // A weight shared by several layers is one set of parameters (as torch counts).
  g->totals.params = 0;
  for (int id = 0; id < static_cast<int>(g->values.size()); ++id) {
    const Value& v = g->values[id];
    if (v.kind != ValueKind::kWeight) continue;
    bool counted = false;
    for (int c : v.consumers) {
      const Layer& l = g->layers[c];
      for (size_t k = 0; k < l.inputs.size() && !counted; ++k) {
        counted = l.inputs[k] == id && !graph_internal::IsStatisticsSlot(l.op_type, static_cast<int>(k));
      }
    }
    if (counted) g->totals.params += v.type.Elements();
  }
  g->totals.has_rule = without_rule.empty();
  g->ops_without_rule.assign(without_rule.begin(), without_rule.end());
  return Status::OK();
}

Status LoadGraphImpl(const std::string& path, const IngestOptions& options, Graph* g) {
  onnx::ModelProto model;
  DLB_RETURN_IF_ERROR(ReadModel(path, options.load_weights, &model, g));
  for (const auto& imp : model.opset_import()) {
    g->opset_imports[imp.domain() == "ai.onnx" ? "" : imp.domain()] = imp.version();
  }
  g->opset = OpsetOf(g->opset_imports, "");
  if (g->opset <= 0) return Status::Corruption("not an ONNX model (no default-domain opset_import)");
  onnx::GraphProto* graph = model.mutable_graph();
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  for (auto& t : *graph->mutable_initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    // Without weights, floating tensors stay on disk (validated); constants are always needed.
    bool floating = t.data_type() == onnx::TensorProto::FLOAT || t.data_type() == onnx::TensorProto::DOUBLE ||
                    t.data_type() == onnx::TensorProto::FLOAT16 || t.data_type() == onnx::TensorProto::BFLOAT16;
    DLB_RETURN_IF_ERROR(graph_internal::ResolveExternalData(dir, options.load_weights || !floating, &t));
  }
  DLB_RETURN_IF_ERROR(CheckDeclaredSizes(*graph, options.max_elements));
  DLB_RETURN_IF_ERROR(ApplyInputShapes(options, graph));
  DLB_RETURN_IF_ERROR(SortNodes(g->opset_imports, model.ir_version(), graph));
  DLB_RETURN_IF_ERROR(FoldAndInferShapes(g->opset_imports, options.max_elements, dir, graph));
  // Checked after folding: the checker wants shapes on graph outputs, which only inference on
  // the folded graph can supply for exporter-style dynamic reshapes.
  if (options.check && !getenv("DLB_NOCHECK")) DLB_RETURN_IF_ERROR(RunChecker(model, dir));
  return BuildGraph(&model, options, g);
}

// Names inside a corrupt file may hold any bytes: escape control characters so the message
// stays one printable line.
Status OneLine(const Status& st) {
  if (st.ok()) return st;
  std::string msg;
  for (unsigned char c : st.message()) {
    if (c < 0x20 || c == 0x7f) {
      msg += fmt::format("\\x{:02x}", c);
    } else {
      msg += static_cast<char>(c);
    }
  }
  switch (st.code()) {
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(msg);
    case Status::Code::kNotFound: return Status::NotFound(msg);
    case Status::Code::kCorruption: return Status::Corruption(msg);
    case Status::Code::kIOError: return Status::IOError(msg);
    case Status::Code::kUnsupported: return Status::Unsupported(msg);
    default: return Status::Internal(msg);
  }
}

}  // namespace

Status LoadGraph(const std::string& path, const IngestOptions& options, Graph* graph) {
  auto start = std::chrono::steady_clock::now();
  *graph = Graph{};
  graph->path = path;
  graph->name = fs::path(path).stem().string();
  Status st = LoadGraphImpl(path, options, graph);
  graph->total_seconds = Seconds(start);
  return OneLine(st).WithPrefix(path);
}

}  // namespace dlbricks
