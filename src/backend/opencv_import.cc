// External data inlining and OpenCV-DNN-4.6 importer rewrites (see opencv_import.h).
#include "opencv_import.h"

#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
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

Status InlineTensor(const std::string& model_path, ExternalFiles* files, onnx::TensorProto* t, int* inlined) {
  if (t->data_location() != onnx::TensorProto::EXTERNAL) return Status::OK();
  ++*inlined;
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

Status InlineGraph(const std::string& model_path, ExternalFiles* files, onnx::GraphProto* g, int* inlined) {
  for (auto& t : *g->mutable_initializer()) DLB_RETURN_IF_ERROR(InlineTensor(model_path, files, &t, inlined));
  for (auto& node : *g->mutable_node()) {
    for (auto& a : *node.mutable_attribute()) {
      if (a.has_t()) DLB_RETURN_IF_ERROR(InlineTensor(model_path, files, a.mutable_t(), inlined));
      for (auto& t : *a.mutable_tensors()) DLB_RETURN_IF_ERROR(InlineTensor(model_path, files, &t, inlined));
      if (a.has_g()) DLB_RETURN_IF_ERROR(InlineGraph(model_path, files, a.mutable_g(), inlined));
      for (auto& sub : *a.mutable_graphs()) DLB_RETURN_IF_ERROR(InlineGraph(model_path, files, &sub, inlined));
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

// The elements of a FLOAT tensor.
std::optional<std::vector<float>> FloatValues(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  const auto n = static_cast<size_t>(Elements(t));
  if (t.float_data_size() > 0) {
    if (static_cast<size_t>(t.float_data_size()) != n) return std::nullopt;
    return std::vector<float>(t.float_data().begin(), t.float_data().end());
  }
  if (t.raw_data().size() != n * sizeof(float)) return std::nullopt;
  std::vector<float> v(n);
  std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  return v;
}

// values of dims `from` broadcast to dims `to` (same rank; from[i] is 1 or to[i]) as a FLOAT tensor.
onnx::TensorProto BroadcastFloats(const std::vector<float>& values, const std::vector<int64_t>& from,
                                  const std::vector<int64_t>& to) {
  const size_t rank = to.size();
  std::vector<int64_t> stride(rank, 0);  // source stride per target axis; 0 where broadcast
  int64_t s = 1;
  for (size_t i = rank; i-- > 0;) {
    stride[i] = from[i] == 1 ? 0 : s;
    s *= from[i];
  }
  int64_t count = 1;
  for (int64_t d : to) count *= d;
  std::vector<float> out(static_cast<size_t>(count));
  std::vector<int64_t> index(rank, 0);
  for (int64_t k = 0; k < count; ++k) {
    int64_t src = 0;
    for (size_t i = 0; i < rank; ++i) src += index[i] * stride[i];
    out[static_cast<size_t>(k)] = values[static_cast<size_t>(src)];
    for (size_t i = rank; i-- > 0;) {
      if (++index[i] < to[i]) break;
      index[i] = 0;
    }
  }
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : to) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float)));
  return t;
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

// The rewrites that need static shapes, node by node into a new node list.
class ShapeRewriter {
 public:
  using Constants = std::unordered_map<std::string, const onnx::TensorProto*>;
  using Shapes = std::unordered_map<std::string, std::vector<int64_t>>;

  ShapeRewriter(onnx::GraphProto* g, const Constants& constants, const Shapes& shapes, OpenCvRewrites* done)
      : g_(g), constants_(constants), shapes_(shapes), done_(done), fresh_(*g) {}

  // Mul/Div (one computed 1-element operand, or a constant that OpenCV would scale along the
  // wrong axis); Add/Sub with a constant.
  static bool Candidate(const Constants& constants, const onnx::NodeProto& n) {
    if ((n.op_type() == "Mul" || n.op_type() == "Div" || n.op_type() == "Add" || n.op_type() == "Sub") &&
        n.input_size() == 2)
      return !constants.count(n.input(0)) || !constants.count(n.input(1));
    return false;
  }

  void Run() {
    std::vector<onnx::NodeProto> nodes(g_->node().begin(), g_->node().end());
    out_.reserve(nodes.size());
    for (onnx::NodeProto& n : nodes) {
      const bool rewritten = Candidate(constants_, n) && (ExpandScalarOperand(n) || ScaleAlongTrailingAxes(n) ||
                                                          BiasInOpenCvLayout(n));
      if (!rewritten) out_.push_back(std::move(n));
    }
    g_->clear_node();
    for (auto& n : out_) *g_->add_node() = std::move(n);
  }

 private:
  const std::vector<int64_t>* ShapeOf(const std::string& name) const {
    auto it = shapes_.find(name);
    return it == shapes_.end() ? nullptr : &it->second;
  }

  void Emit(const std::string& op, std::vector<std::string> inputs, const std::string& output) {
    out_.push_back(MakeNode(op, std::move(inputs), output));
  }

  // Reshape(x, dims) → a fresh value.
  std::string Reshaped(const std::string& x, const std::vector<int64_t>& dims, const std::string& base) {
    const std::string target = fresh_.Make(base + "/shape");
    AddInt64s(g_, target, dims);
    const std::string y = fresh_.Make(base);
    Emit("Reshape", {x, target}, y);
    return y;
  }

  // Add/Sub of a constant c: its importer adds c from axis rank(x) - rank(c) over c's element
  // count, so c must match x from its first non-1 axis q to its last non-1 axis r. Leading ones
  // (swin's {1, 3, 49, 49} bias) are dropped; ones inside [q, r] (its {1, 64, 1, 49, 49} mask)
  // are materialised by repeating the values, which broadcasts identically.
  bool BiasInOpenCvLayout(onnx::NodeProto& n) {
    if (n.op_type() != "Add" && n.op_type() != "Sub") return false;
    const int c_at = constants_.count(n.input(1)) ? 1 : 0;
    if (!constants_.count(n.input(c_at)) || constants_.count(n.input(1 - c_at))) return false;
    if (n.op_type() == "Sub" && c_at == 0) return false;
    const onnx::TensorProto& c = *constants_.at(n.input(c_at));
    const std::vector<int64_t>* x = ShapeOf(n.input(1 - c_at));
    const std::vector<int64_t>* o = ShapeOf(n.output(0));
    if (!x || !o || *x != *o || Elements(c) <= 1 || c.dims_size() > static_cast<int>(x->size())) return false;
    std::vector<int64_t> dims(x->size() - static_cast<size_t>(c.dims_size()), 1);  // c aligned to x's rank
    dims.insert(dims.end(), c.dims().begin(), c.dims().end());
    size_t q = 0, r = dims.size() - 1;
    while (dims[q] == 1) ++q;
    while (dims[r] == 1) --r;
    const bool interior = !std::equal(dims.begin() + static_cast<std::ptrdiff_t>(q),
                                      dims.begin() + static_cast<std::ptrdiff_t>(r) + 1,
                                      x->begin() + static_cast<std::ptrdiff_t>(q));
    if (!interior && q + static_cast<size_t>(c.dims_size()) == dims.size()) return false;  // already fits
    onnx::TensorProto* c2 = g_->add_initializer();
    if (interior) {
      std::optional<std::vector<float>> values = FloatValues(c);
      if (!values) {
        g_->mutable_initializer()->RemoveLast();
        return false;
      }
      std::vector<int64_t> full = dims;
      for (size_t i = q; i <= r; ++i) full[i] = (*x)[i];
      *c2 = BroadcastFloats(*values, dims, full);
      dims = full;
    } else {
      *c2 = c;
    }
    c2->set_name(fresh_.Make(n.input(c_at) + "/opencv_layout"));
    c2->clear_dims();
    for (size_t i = q; i < dims.size(); ++i) c2->add_dims(dims[i]);
    n.set_input(c_at, c2->name());
    out_.push_back(std::move(n));
    ++done_->bias_layouts;
    return true;
  }

  // Mul/Div of x by a computed 1-element v: OpenCV's Scale layer cannot broadcast v, so it is
  // expanded first: v[1x1] · ones[1xN], reshaped to the output's shape (same values).
  bool ExpandScalarOperand(onnx::NodeProto& n) {
    if (n.op_type() != "Mul" && n.op_type() != "Div") return false;
    if (constants_.count(n.input(0)) || constants_.count(n.input(1))) return false;
    const std::vector<int64_t>* a = ShapeOf(n.input(0));
    const std::vector<int64_t>* b = ShapeOf(n.input(1));
    const std::vector<int64_t>* o = ShapeOf(n.output(0));
    if (!a || !b || !o) return false;
    int small = -1;
    if (Product(*b) == 1 && Product(*a) > 1) small = 1;
    else if (Product(*a) == 1 && Product(*b) > 1) small = 0;
    if (small < 0 || Product(*o) != Product(small == 1 ? *a : *b)) return false;
    const int64_t count = Product(*o);
    const std::string base = n.input(small) + "/expanded";
    const std::string row = Reshaped(n.input(small), {1, 1}, base + "/row");
    const std::string ones = fresh_.Make(base + "/ones");
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(ones);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(1);
    t->add_dims(count);
    const std::vector<float> one_values(static_cast<size_t>(count), 1.0f);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(one_values.data()), one_values.size() * sizeof(float)));
    const std::string wide = fresh_.Make(base + "/wide");
    Emit("MatMul", {row, ones}, wide);
    n.set_input(small, Reshaped(wide, *o, base));
    out_.push_back(std::move(n));
    ++done_->scalar_broadcasts;
    return true;
  }

  // Mul/Div of x[S] by a constant c whose dims match S from axis p > 1 on (e.g. LayerNorm's
  // gamma [C] on [N, T, C]): OpenCV scales from axis 1 and fails. x is reshaped to
  // [prod(S[:p]), S[p:]...] so c starts at axis 1, and the result back to S.
  bool ScaleAlongTrailingAxes(onnx::NodeProto& n) {
    if (n.op_type() != "Mul" && n.op_type() != "Div") return false;
    const int c_at = constants_.count(n.input(1)) ? 1 : 0;
    if (!constants_.count(n.input(c_at)) || constants_.count(n.input(1 - c_at))) return false;
    if (n.op_type() == "Div" && c_at == 0) return false;  // c / x is not a scale
    const onnx::TensorProto& c = *constants_.at(n.input(c_at));
    const std::vector<int64_t>* x = ShapeOf(n.input(1 - c_at));
    const std::vector<int64_t>* o = ShapeOf(n.output(0));
    if (!x || !o || *x != *o || Elements(c) <= 1 || c.dims_size() > static_cast<int>(x->size())) return false;
    std::vector<int64_t> cdims(c.dims().begin(), c.dims().end());
    while (!cdims.empty() && cdims.front() == 1) cdims.erase(cdims.begin());
    const size_t p = x->size() - cdims.size();
    if (p <= 1 || !std::equal(cdims.begin(), cdims.end(), x->begin() + static_cast<std::ptrdiff_t>(p))) return false;
    onnx::TensorProto* c2 = g_->add_initializer();
    *c2 = c;
    c2->set_name(fresh_.Make(n.input(c_at) + "/trailing"));
    c2->clear_dims();
    for (int64_t d : cdims) c2->add_dims(d);
    std::vector<int64_t> folded = {Product(std::vector<int64_t>(x->begin(), x->begin() + static_cast<std::ptrdiff_t>(p)))};
    folded.insert(folded.end(), cdims.begin(), cdims.end());
    const std::string result = n.output(0);
    n.set_input(1 - c_at, Reshaped(n.input(1 - c_at), folded, n.input(1 - c_at) + "/folded"));
    n.set_input(c_at, c2->name());
    n.set_output(0, fresh_.Make(result + "/folded"));
    const std::string scaled = n.output(0);
    out_.push_back(std::move(n));
    const std::string target = fresh_.Make(result + "/shape");
    AddInt64s(g_, target, *o);
    Emit("Reshape", {scaled, target}, result);
    ++done_->trailing_scales;
    return true;
  }

  onnx::GraphProto* g_;
  const Constants& constants_;
  const Shapes& shapes_;
  OpenCvRewrites* done_;
  FreshNames fresh_;
  std::vector<onnx::NodeProto> out_;
};

}  // namespace

Status InlineExternalData(const std::string& model_path, onnx::ModelProto* model, int* inlined) {
  ExternalFiles files(model_path);
  int count = 0;
  Status st = InlineGraph(model_path, &files, model->mutable_graph(), &count);
  if (inlined) *inlined = count;
  return st;
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

  // Its importer also asserts that every graph output declares a shape.
  auto unshaped = [](const onnx::ValueInfoProto& vi) {
    return !vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape();
  };
  int outputs_unshaped = 0;
  for (const auto& vi : g->output()) outputs_unshaped += unshaped(vi);
  const auto constants = Constants(*g);
  bool any = outputs_unshaped > 0;
  for (const auto& n : g->node()) any = any || ShapeRewriter::Candidate(constants, n);
  if (!any) return Status::OK();
  const auto shapes = InferStaticShapes(model);
  for (const auto& vi : g->output()) done->output_shapes += outputs_unshaped > 0 && !unshaped(vi);
  ShapeRewriter(g, constants, shapes, done).Run();
  return Status::OK();
}

}  // namespace dlbricks::backend_internal
