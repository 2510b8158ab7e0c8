// External data inlining and OpenCV-DNN-4.6 importer rewrites (see opencv_import.h).
#include "opencv_import.h"

#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

namespace dlbricks::backend_internal {
namespace {

namespace fs = std::filesystem;

// Bytes per element of fixed-size ONNX types; 0 for strings and unknown types.
int64_t ElementBytes(int32_t dtype) {
  switch (dtype) {
    case onnx::TensorProto::FLOAT: case onnx::TensorProto::INT32: case onnx::TensorProto::UINT32: return 4;
    case onnx::TensorProto::DOUBLE: case onnx::TensorProto::INT64: case onnx::TensorProto::UINT64:
    case onnx::TensorProto::COMPLEX64: return 8;
    case onnx::TensorProto::COMPLEX128: return 16;
    case onnx::TensorProto::FLOAT16: case onnx::TensorProto::BFLOAT16: case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16: return 2;
    case onnx::TensorProto::INT8: case onnx::TensorProto::UINT8: case onnx::TensorProto::BOOL: return 1;
    default: return 0;
  }
}

// Open external files, by location, so a shared weight pool is opened once.
class ExternalFiles {
 public:
  ExternalFiles(const std::string& model_path) : model_path_(model_path) {
    dir_ = fs::path(model_path).parent_path();
    if (dir_.empty()) dir_ = ".";
  }

  Status Read(const std::string& tensor_name, const std::string& location, int64_t offset,
              std::optional<int64_t> length, std::string* bytes) {
    const fs::path rel = fs::path(location).lexically_normal();
    const std::string where = model_path_ + ": tensor '" + tensor_name + "': external data '" + location + "'";
    if (location.empty() || rel.is_absolute() || rel.has_root_name() || rel.empty() || *rel.begin() == "..")
      return Status::Corruption(where + " is not a path inside the model's folder");
    const fs::path file = dir_ / rel;
    std::error_code ec;
    // Symlinks are resolved before the containment check.
    const fs::path real = fs::weakly_canonical(file, ec);
    const fs::path real_dir = fs::weakly_canonical(dir_, ec);
    const auto mismatch = std::mismatch(real_dir.begin(), real_dir.end(), real.begin(), real.end());
    if (ec || mismatch.first != real_dir.end()) return Status::Corruption(where + " leaves the model's folder");
    auto it = open_.find(file.string());
    if (it == open_.end()) {
      auto in = std::make_unique<std::ifstream>(file, std::ios::binary);
      if (!*in) return Status::NotFound(file.string() + ": cannot open external data of " + model_path_);
      const uint64_t size = fs::file_size(file, ec);
      if (ec) return Status::IOError(file.string() + ": " + ec.message());
      it = open_.emplace(file.string(), Open{std::move(in), static_cast<int64_t>(size)}).first;
    }
    Open& f = it->second;
    const int64_t n = length ? *length : f.size - offset;
    if (offset < 0 || n < 0 || offset > f.size || n > f.size - offset)
      return Status::Corruption(file.string() + ": tensor '" + tensor_name + "' of " + model_path_ + " wants bytes [" +
                                std::to_string(offset) + ", " + std::to_string(offset + n) + ") but the file has " +
                                std::to_string(f.size));
    bytes->resize(static_cast<size_t>(n));
    f.in->clear();
    f.in->seekg(offset);
    f.in->read(bytes->data(), n);
    if (f.in->gcount() != n) return Status::IOError(file.string() + ": short read of tensor '" + tensor_name + "'");
    return Status::OK();
  }

 private:
  struct Open {
    std::unique_ptr<std::ifstream> in;
    int64_t size = 0;
  };
  std::string model_path_;
  fs::path dir_;
  std::map<std::string, Open> open_;
};

Status InlineTensor(const std::string& model_path, ExternalFiles* files, onnx::TensorProto* t) {
  if (t->data_location() != onnx::TensorProto::EXTERNAL) return Status::OK();
  std::string location;
  int64_t offset = 0;
  std::optional<int64_t> length;
  for (const auto& kv : t->external_data()) {
    auto number = [&](int64_t* out) {
      try {
        size_t used = 0;
        *out = std::stoll(kv.value(), &used);
        return used == kv.value().size();
      } catch (const std::exception&) {
        return false;
      }
    };
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset" || kv.key() == "length") {
      int64_t v = 0;
      if (!number(&v))
        return Status::Corruption(model_path + ": tensor '" + t->name() + "': external data " + kv.key() + " '" +
                                  kv.value() + "' is not a number");
      if (kv.key() == "offset") offset = v;
      else length = v;
    }
  }
  std::string bytes;
  DLB_RETURN_IF_ERROR(files->Read(t->name(), location, offset, length, &bytes));
  int64_t elements = 1;
  for (int64_t d : t->dims()) elements *= d;
  const int64_t width = ElementBytes(t->data_type());
  if (width == 0)
    return Status::Unsupported(model_path + ": tensor '" + t->name() + "': external data of type " +
                               std::to_string(t->data_type()) + " is not supported");
  if (static_cast<int64_t>(bytes.size()) != elements * width)
    return Status::Corruption(model_path + ": tensor '" + t->name() + "': external data '" + location + "' has " +
                              std::to_string(bytes.size()) + " bytes, its dims need " +
                              std::to_string(elements * width));
  t->set_raw_data(std::move(bytes));
  t->clear_external_data();
  t->set_data_location(onnx::TensorProto::DEFAULT);
  return Status::OK();
}

Status InlineGraph(const std::string& model_path, ExternalFiles* files, onnx::GraphProto* g) {
  for (auto& t : *g->mutable_initializer()) DLB_RETURN_IF_ERROR(InlineTensor(model_path, files, &t));
  for (auto& node : *g->mutable_node()) {
    for (auto& a : *node.mutable_attribute()) {
      if (a.has_t()) DLB_RETURN_IF_ERROR(InlineTensor(model_path, files, a.mutable_t()));
      for (auto& t : *a.mutable_tensors()) DLB_RETURN_IF_ERROR(InlineTensor(model_path, files, &t));
      if (a.has_g()) DLB_RETURN_IF_ERROR(InlineGraph(model_path, files, a.mutable_g()));
      for (auto& sub : *a.mutable_graphs()) DLB_RETURN_IF_ERROR(InlineGraph(model_path, files, &sub));
    }
  }
  return Status::OK();
}

// ---- Rewrites ------------------------------------------------------------------------------

// Constant tensors by value name: initializers and Constant nodes' `value`.
std::unordered_map<std::string, const onnx::TensorProto*> Constants(const onnx::GraphProto& g) {
  std::unordered_map<std::string, const onnx::TensorProto*> c;
  for (const auto& t : g.initializer()) c[t.name()] = &t;
  for (const auto& node : g.node()) {
    if (node.op_type() != "Constant" || node.output_size() != 1) continue;
    for (const auto& a : node.attribute())
      if (a.name() == "value" && a.has_t()) c[node.output(0)] = &a.t();
  }
  return c;
}

int64_t Elements(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= d;
  return n;
}

// The value of a one-element tensor whose elements are T, from the typed field or raw_data.
template <typename T, typename Field>
std::optional<T> ScalarOf(const onnx::TensorProto& t, const Field& typed) {
  if (Elements(t) != 1) return std::nullopt;
  if (typed.size() == 1) return static_cast<T>(typed.Get(0));
  if (t.raw_data().size() != sizeof(T)) return std::nullopt;
  T v{};
  std::memcpy(&v, t.raw_data().data(), sizeof v);
  return v;
}

std::optional<float> ScalarFloat(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  return ScalarOf<float>(t, t.float_data());
}

std::optional<int64_t> ScalarInt(const onnx::TensorProto& t) {
  if (t.data_type() == onnx::TensorProto::INT64) return ScalarOf<int64_t>(t, t.int64_data());
  if (t.data_type() == onnx::TensorProto::INT32) return ScalarOf<int32_t>(t, t.int32_data());
  return std::nullopt;
}

bool HasAttribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return true;
  return false;
}

// A name no value or node of the graph uses yet.
class FreshNames {
 public:
  explicit FreshNames(const onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) used_.insert(t.name());
    for (const auto& vi : g.input()) used_.insert(vi.name());
    for (const auto& node : g.node()) {
      used_.insert(node.name());
      for (const auto& o : node.output()) used_.insert(o);
    }
  }
  std::string Make(const std::string& base) {
    std::string name = base;
    for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
    used_.insert(name);
    return name;
  }

 private:
  std::set<std::string> used_;
};

void AddInt64s(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
}

onnx::NodeProto MakeNode(const std::string& op, std::vector<std::string> inputs, const std::string& output) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(output);
  for (auto& i : inputs) n.add_input(i);
  n.add_output(output);
  return n;
}

void SetFloatAttribute(onnx::NodeProto* node, const std::string& name, float v) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

bool RewriteClip(const std::unordered_map<std::string, const onnx::TensorProto*>& constants, onnx::NodeProto* node) {
  if (node->op_type() != "Clip" || node->input_size() < 2) return false;
  std::optional<float> bounds[2];
  for (int i = 1; i < node->input_size() && i < 3; ++i) {
    if (node->input(i).empty()) continue;
    auto it = constants.find(node->input(i));
    if (it == constants.end()) return false;  // computed bounds: nothing OpenCV 4.6 can take
    bounds[i - 1] = ScalarFloat(*it->second);
    if (!bounds[i - 1]) return false;
  }
  node->mutable_input()->DeleteSubrange(1, node->input_size() - 1);
  if (bounds[0]) SetFloatAttribute(node, "min", *bounds[0]);
  if (bounds[1]) SetFloatAttribute(node, "max", *bounds[1]);
  return true;
}

bool DropTrailingEmptyInputs(onnx::NodeProto* node) {
  bool changed = false;
  while (node->input_size() > 0 && node->input(node->input_size() - 1).empty()) {
    node->mutable_input()->RemoveLast();
    changed = true;
  }
  return changed;
}

bool AddKernelShape(const std::unordered_map<std::string, const onnx::TensorProto*>& constants,
                    onnx::NodeProto* node) {
  if (node->op_type() != "Conv" || node->input_size() < 2 || HasAttribute(*node, "kernel_shape")) return false;
  auto it = constants.find(node->input(1));
  if (it == constants.end() || it->second->dims_size() < 3) return false;
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name("kernel_shape");
  a->set_type(onnx::AttributeProto::INTS);
  for (int i = 2; i < it->second->dims_size(); ++i) a->add_ints(it->second->dims(i));
  return true;
}

// Static shapes of every value ONNX shape inference can type; value_info it adds is removed.
std::unordered_map<std::string, std::vector<int64_t>> InferStaticShapes(onnx::ModelProto* model) {
  const int kept = model->graph().value_info_size();
  std::unordered_map<std::string, std::vector<int64_t>> shapes;
  try {
    onnx::shape_inference::InferShapes(*model);
  } catch (const std::exception&) {
    // Partial inference is still useful; nodes without a shape are left alone.
  }
  auto add = [&](const onnx::ValueInfoProto& vi) {
    if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) return;
    std::vector<int64_t> dims;
    for (const auto& d : vi.type().tensor_type().shape().dim()) {
      if (!d.has_dim_value()) return;
      dims.push_back(d.dim_value());
    }
    shapes[vi.name()] = dims;
  };
  for (const auto& vi : model->graph().input()) add(vi);
  for (const auto& vi : model->graph().value_info()) add(vi);
  for (const auto& vi : model->graph().output()) add(vi);
  auto* vis = model->mutable_graph()->mutable_value_info();
  if (vis->size() > kept) vis->DeleteSubrange(kept, vis->size() - kept);
  return shapes;
}

int64_t Product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace

Status InlineExternalData(const std::string& model_path, onnx::ModelProto* model) {
  ExternalFiles files(model_path);
  return InlineGraph(model_path, &files, model->mutable_graph());
}

Status RewriteForOpenCv(const std::string& model_path, onnx::ModelProto* model, OpenCvRewrites* done) {
  (void)model_path;
  *done = OpenCvRewrites{};
  onnx::GraphProto* g = model->mutable_graph();
  {
    const auto constants = Constants(*g);
    for (auto& node : *g->mutable_node()) {
      done->empty_inputs_dropped += DropTrailingEmptyInputs(&node);
      done->clip_to_attributes += RewriteClip(constants, &node);
      done->kernel_shapes += AddKernelShape(constants, &node);
    }
  }

  // Candidates that need shapes: Mul/Div of two computed values; Gather by a scalar constant.
  const auto constants = Constants(*g);
  auto is_candidate = [&](const onnx::NodeProto& n) {
    if ((n.op_type() == "Mul" || n.op_type() == "Div") && n.input_size() == 2)
      return !constants.count(n.input(0)) && !constants.count(n.input(1));
    if (n.op_type() == "Gather" && n.input_size() == 2) {
      auto it = constants.find(n.input(1));
      return it != constants.end() && it->second->dims_size() == 0 && !constants.count(n.input(0));
    }
    return false;
  };
  // Its importer also asserts that every graph output declares a shape.
  auto unshaped = [](const onnx::ValueInfoProto& vi) {
    return !vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape();
  };
  int outputs_unshaped = 0;
  for (const auto& vi : g->output()) outputs_unshaped += unshaped(vi);
  bool any = outputs_unshaped > 0;
  for (const auto& n : g->node()) any = any || is_candidate(n);
  if (!any) return Status::OK();
  const auto shapes = InferStaticShapes(model);
  for (const auto& vi : g->output()) done->output_shapes += outputs_unshaped > 0 && !unshaped(vi);
  auto shape_of = [&](const std::string& name) -> const std::vector<int64_t>* {
    auto it = shapes.find(name);
    return it == shapes.end() ? nullptr : &it->second;
  };

  FreshNames fresh(*g);
  std::vector<onnx::NodeProto> nodes(g->node().begin(), g->node().end());
  std::vector<onnx::NodeProto> out;
  out.reserve(nodes.size());
  for (onnx::NodeProto& n : nodes) {
    if (!is_candidate(n)) {
      out.push_back(std::move(n));
      continue;
    }
    if (n.op_type() == "Gather") {
      // Gather(x, scalar i, axis) = Reshape(Gather(x, [i], axis), shape without that axis).
      const std::vector<int64_t>* out_shape = shape_of(n.output(0));
      auto idx = ScalarInt(*constants.at(n.input(1)));
      if (!out_shape || !idx) {
        out.push_back(std::move(n));
        continue;
      }
      const std::string index = fresh.Make(n.input(1) + "/as_1d");
      AddInt64s(g, index, {*idx});
      const std::string gathered = fresh.Make(n.output(0) + "/gathered");
      const std::string target = fresh.Make(n.output(0) + "/shape");
      AddInt64s(g, target, *out_shape);
      onnx::NodeProto gather = n;
      gather.set_input(1, index);
      gather.set_output(0, gathered);
      gather.set_name(fresh.Make(n.name() + "/1d"));
      out.push_back(std::move(gather));
      out.push_back(MakeNode("Reshape", {gathered, target}, n.output(0)));
      ++done->gather_scalar_index;
      continue;
    }
    // Mul/Div: which operand is a computed 1-element tensor broadcast over the other?
    const std::vector<int64_t>* a = shape_of(n.input(0));
    const std::vector<int64_t>* b = shape_of(n.input(1));
    const std::vector<int64_t>* o = shape_of(n.output(0));
    int small = -1;
    if (a && b && o) {
      if (Product(*b) == 1 && Product(*a) > 1) small = 1;
      else if (Product(*a) == 1 && Product(*b) > 1) small = 0;
    }
    if (small < 0 || Product(*o) != Product(small == 1 ? *a : *b)) {
      out.push_back(std::move(n));
      continue;
    }
    // v[1] → v[1x1] · ones[1xN] → reshaped to the output's shape: same values, no broadcast left.
    const int64_t count = Product(*o);
    const std::string base = n.input(small) + "/expanded";
    const std::string row_shape = fresh.Make(base + "/row_shape");
    AddInt64s(g, row_shape, {1, 1});
    const std::string row = fresh.Make(base + "/row");
    out.push_back(MakeNode("Reshape", {n.input(small), row_shape}, row));
    const std::string ones = fresh.Make(base + "/ones");
    onnx::TensorProto* t = g->add_initializer();
    t->set_name(ones);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(1);
    t->add_dims(count);
    const std::vector<float> one_values(static_cast<size_t>(count), 1.0f);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(one_values.data()), one_values.size() * sizeof(float)));
    const std::string wide = fresh.Make(base + "/wide");
    out.push_back(MakeNode("MatMul", {row, ones}, wide));
    const std::string target = fresh.Make(base + "/shape");
    AddInt64s(g, target, *o);
    const std::string expanded = fresh.Make(base);
    out.push_back(MakeNode("Reshape", {wide, target}, expanded));
    n.set_input(small, expanded);
    out.push_back(std::move(n));
    ++done->scalar_broadcasts;
  }
  g->clear_node();
  for (auto& n : out) *g->add_node() = std::move(n);
  return Status::OK();
}

}  // namespace dlbricks::backend_internal
