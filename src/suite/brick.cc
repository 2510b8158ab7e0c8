// Brick export: one window of a Graph as a standalone ONNX model with canonical names and
// synthetic weights (DESIGN.md "Brick").
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "dlbricks/suite.h"

namespace dlbricks {

namespace {

// Weight inputs that must be positive for the op to stay finite (a variance, a divisor, ...).
bool NeedsPositive(const std::string& op, size_t slot) {
  return (op == "BatchNormalization" && slot == 4) || (op == "Div" && slot == 1) ||
         ((op == "Sqrt" || op == "Log" || op == "Reciprocal" || op == "Pow") && slot == 0);
}

uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;  // tiny values flush to zero
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7bffu);
  return static_cast<uint16_t>(sign | (exp << 10) | ((x >> 13) & 0x3ffu));
}

// splitmix64: fast and good enough for synthetic weights (the big bricks hold 10^8 values).
class WeightRng {
 public:
  explicit WeightRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, lo + width).
  float Real(float lo, float width) { return lo + width * static_cast<float>(Next() >> 40) * 0x1.0p-24f; }
  int Small(int lo, int count) { return lo + static_cast<int>(Next() % static_cast<uint64_t>(count)); }

 private:
  uint64_t state_;
};

// Every synthetic signed float, inline or pooled, is uniform in [lo, lo + width).
constexpr float kWeightLo = -0.1f, kWeightWidth = 0.2f;
// Public and fixed: the pool is the same bytes for every suite and derived from no model.
constexpr uint32_t kPoolSeed = 0x646c6272;  // "dlbr"
// A brick's pooled weights start at one of this many aligned slots (4 MiB of spread), so
// different bricks read different bytes while the pool stays about the largest brick's size.
constexpr uint64_t kPoolSlots = 65536;

int64_t AlignUp(int64_t n) { return (n + kWeightPoolAlignment - 1) / kWeightPoolAlignment * kWeightPoolAlignment; }

// Chris Wellons' lowbias32 integer hash.
uint32_t LowBias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// Pool floats [first, first + n): a hash of each float's index, so the loop vectorises (a
// suite's pool is ~10^8 floats; AVX2 where the CPU has it).
// REQUIRES: [first, first + n) does not cross a multiple of 2^32.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void FillPool(uint64_t first, size_t n, float* out) {
  const uint32_t key = LowBias32(static_cast<uint32_t>(first >> 32) ^ kPoolSeed);
  const uint32_t low = static_cast<uint32_t>(first);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t h = LowBias32((low + static_cast<uint32_t>(i)) ^ key);
    out[i] = kWeightLo + kWeightWidth * static_cast<float>(h >> 8) * 0x1.0p-24f;
  }
}

template <typename T, typename Gen>
void Fill(std::string* raw, int64_t n, Gen gen) {
  raw->resize(static_cast<size_t>(n) * sizeof(T));
  char* p = raw->data();
  for (int64_t i = 0; i < n; ++i, p += sizeof(T)) {
    T v = gen();
    std::memcpy(p, &v, sizeof(T));
  }
}

// Deterministic values for a weight: the RNG is keyed by the brick id and the weight's index,
// so equal bricks get equal files on every machine. Small values (no overflow through deep
// bricks); positive ones where the op needs them.
Status SynthesiseWeight(const Hash128& id, int index, const TensorType& type, bool positive,
                        onnx::TensorProto* t) {
  WeightRng rng(id.hi ^ (id.lo * 0x9e3779b97f4a7c15ULL) ^ static_cast<uint64_t>(index));
  const float lo = positive ? 0.5f : kWeightLo, width = positive ? 1.0f : kWeightWidth;
  auto real = [&] { return rng.Real(lo, width); };
  const int ilo = positive ? 1 : -2, icount = positive ? 3 : 6;  // [1,3] or [-2,3]
  auto small = [&] { return rng.Small(ilo, icount); };
  auto unsigned_small = [&] { return std::abs(rng.Small(ilo, icount)); };
  t->set_data_type(type.dtype);
  for (int64_t d : type.dims) t->add_dims(d);
  const int64_t n = type.Elements();
  std::string* raw = t->mutable_raw_data();
  using TP = onnx::TensorProto;
  switch (type.dtype) {
    case TP::FLOAT: Fill<float>(raw, n, real); break;
    case TP::DOUBLE: Fill<double>(raw, n, [&] { return static_cast<double>(real()); }); break;
    case TP::FLOAT16: Fill<uint16_t>(raw, n, [&] { return FloatToHalf(real()); }); break;
    case TP::BFLOAT16:
      Fill<uint16_t>(raw, n, [&] { return static_cast<uint16_t>(std::bit_cast<uint32_t>(real()) >> 16); });
      break;
    case TP::INT8: Fill<int8_t>(raw, n, small); break;
    case TP::UINT8: Fill<uint8_t>(raw, n, unsigned_small); break;
    case TP::INT16: Fill<int16_t>(raw, n, small); break;
    case TP::UINT16: Fill<uint16_t>(raw, n, unsigned_small); break;
    case TP::INT32: Fill<int32_t>(raw, n, small); break;
    case TP::UINT32: Fill<uint32_t>(raw, n, unsigned_small); break;
    case TP::INT64: Fill<int64_t>(raw, n, small); break;
    case TP::UINT64: Fill<uint64_t>(raw, n, unsigned_small); break;
    case TP::BOOL: Fill<uint8_t>(raw, n, [&] { return static_cast<uint8_t>(small() > 0); }); break;
    default:
      return Status::Unsupported(fmt::format("cannot synthesise a weight of type {}", type.ToString()));
  }
  return Status::OK();
}

// Lays a brick's pooled weights out back to back (in weight-index order, each aligned) from a
// start slot keyed by the brick id: no two weights of one brick alias, like in a real model,
// and the offsets depend on nothing but the brick, so its file is the same in every suite.
class PoolCursor {
 public:
  PoolCursor(const Hash128& id, const BrickExportOptions& options)
      : options_(options),
        next_(static_cast<int64_t>(((id.lo ^ (id.hi * 0x9e3779b97f4a7c15ULL)) % kPoolSlots)) * kWeightPoolAlignment) {}

  bool Takes(const TensorType& type, bool positive) const {
    return !options_.weight_pool.empty() && !positive && type.dtype == onnx::TensorProto::FLOAT &&
           type.Elements() * 4 > options_.pool_min_bytes;
  }

  // REQUIRES: Takes(type, false).
  void Reference(const TensorType& type, onnx::TensorProto* t) {
    const int64_t length = type.Elements() * 4;
    t->set_data_type(type.dtype);
    for (int64_t d : type.dims) t->add_dims(d);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* e = t->add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    add("location", options_.weight_pool);
    add("offset", std::to_string(next_));
    add("length", std::to_string(length));
    next_ += AlignUp(length);
  }

 private:
  const BrickExportOptions& options_;
  int64_t next_;
};

// Copies a node's attributes without names or doc strings that could carry source text.
Status CopyAttributes(const onnx::NodeProto& from, onnx::NodeProto* to) {
  for (const onnx::AttributeProto& a : from.attribute()) {
    if (a.has_g() || a.graphs_size() > 0) {
      return Status::Unsupported(fmt::format("{} layers hold subgraphs and cannot be exported as bricks",
                                             from.op_type()));
    }
    onnx::AttributeProto* copy = to->add_attribute();
    *copy = a;
    copy->clear_doc_string();
    if (copy->has_t()) {
      copy->mutable_t()->clear_name();
      copy->mutable_t()->clear_doc_string();
    }
    for (onnx::TensorProto& t : *copy->mutable_tensors()) {
      t.clear_name();
      t.clear_doc_string();
    }
  }
  return Status::OK();
}

void SetValueInfo(const std::string& name, const TensorType& type, onnx::ValueInfoProto* vi) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type.dtype);
  auto* shape = tt->mutable_shape();
  for (int64_t d : type.dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

std::string BrickFileName(const Hash128& id) { return "bricks/" + id.Hex() + ".onnx"; }

int64_t WeightPoolExtent(const onnx::ModelProto& brick) {
  int64_t extent = 0;
  for (const onnx::TensorProto& t : brick.graph().initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    int64_t offset = 0, length = 0;
    for (const auto& e : t.external_data()) {
      if (e.key() == "offset") offset = std::atoll(e.value().c_str());
      if (e.key() == "length") length = std::atoll(e.value().c_str());
    }
    extent = std::max(extent, offset + length);
  }
  return extent;
}

Status WriteWeightPool(const std::string& path, int64_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<float> chunk(1 << 18);  // 1 MiB; chunks start at multiples of 2^18 floats
  const uint64_t floats = static_cast<uint64_t>(AlignUp(bytes) / 4);
  for (uint64_t first = 0; first < floats && out; first += chunk.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(floats - first, chunk.size()));
    FillPool(first, n, chunk.data());
    out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(n * sizeof(float)));
  }
  if (!out.flush()) return Status::IOError(fmt::format("{}: cannot write the weight pool", path));
  return Status::OK();
}

BrickInfo DescribeBrick(const Graph& g, int begin, int end) {
  BrickInfo info;
  info.id = BrickSignature(g, begin, end);
  info.layers = end - begin;
  for (int i = begin; i < end; ++i) {
    const Layer& layer = g.layers[static_cast<size_t>(i)];
    info.op_types.push_back(layer.op_type);
    info.cost += layer.cost;
  }
  BrickInterface io = WindowInterface(g, begin, end);
  for (int v : io.inputs) info.inputs.push_back(g.values[static_cast<size_t>(v)].type);
  for (int v : io.outputs) info.outputs.push_back(g.values[static_cast<size_t>(v)].type);
  return info;
}

Status BuildBrickModel(const Graph& g, int begin, int end, const BrickExportOptions& options,
                       onnx::ModelProto* model) {
  const Hash128 id = BrickSignature(g, begin, end);
  const BrickInterface io = WindowInterface(g, begin, end);
  model->Clear();
  model->set_ir_version(onnx::IR_VERSION);
  model->set_producer_name("dlbricks");
  model->set_producer_version("0.1.0");
  for (const auto& [domain, version] : g.opset_imports) {
    auto* imp = model->add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
  }
  if (g.opset_imports.empty()) model->add_opset_import()->set_version(g.opset);
  onnx::GraphProto* graph = model->mutable_graph();
  graph->set_name("brick");

  std::map<int, std::string> names;  // Value id -> canonical name
  for (size_t k = 0; k < io.inputs.size(); ++k) {
    names[io.inputs[k]] = fmt::format("input_{}", k);
    SetValueInfo(names[io.inputs[k]], g.values[static_cast<size_t>(io.inputs[k])].type, graph->add_input());
  }
  for (size_t k = 0; k < io.outputs.size(); ++k) names[io.outputs[k]] = fmt::format("output_{}", k);
  int weights = 0, constants = 0, activations = 0;
  PoolCursor pool(id, options);

  // Weights and constants become initializers the first time a layer reads them.
  auto name_input = [&](int v, const std::string& op, size_t slot) -> Status {
    if (names.count(v)) return Status::OK();
    const Value& val = g.values[static_cast<size_t>(v)];
    if (val.kind != ValueKind::kWeight && val.kind != ValueKind::kConstant) {
      return Status::Internal(fmt::format("brick input slot {} of {} is neither fed nor produced", slot, op));
    }
    onnx::TensorProto* t = graph->add_initializer();
    if (val.kind == ValueKind::kConstant || (options.use_source_weights && val.data)) {
      // Bytes left on disk would make the brick point at the source file.
      if (!val.data || val.data->data_location() == onnx::TensorProto::EXTERNAL) {
        return Status::Internal(fmt::format("input {} of {} was not loaded (IngestOptions::load_weights)", slot, op));
      }
      *t = *val.data;
      t->clear_doc_string();
    } else if (const bool positive = NeedsPositive(op, slot); pool.Takes(val.type, positive)) {
      pool.Reference(val.type, t);
    } else {
      DLB_RETURN_IF_ERROR(SynthesiseWeight(id, weights, val.type, positive, t));
    }
    names[v] = val.kind == ValueKind::kConstant ? fmt::format("c{}", constants++) : fmt::format("w{}", weights++);
    t->set_name(names[v]);
    return Status::OK();
  };

  for (int i = begin; i < end; ++i) {
    const Layer& layer = g.layers[static_cast<size_t>(i)];
    onnx::NodeProto* node = graph->add_node();
    node->set_name(fmt::format("n{}", i - begin));
    node->set_op_type(layer.op_type);
    if (!layer.domain.empty()) node->set_domain(layer.domain);
    for (size_t s = 0; s < layer.inputs.size(); ++s) {
      int v = layer.inputs[s];
      if (v < 0) {
        node->add_input("");
        continue;
      }
      DLB_RETURN_IF_ERROR(name_input(v, layer.op_type, s));
      node->add_input(names[v]);
    }
    for (int v : layer.outputs) {
      if (v < 0) {
        node->add_output("");
        continue;
      }
      if (!names.count(v)) names[v] = fmt::format("t{}", activations++);
      node->add_output(names[v]);
    }
    DLB_RETURN_IF_ERROR(CopyAttributes(layer.node, node));
  }
  for (size_t k = 0; k < io.outputs.size(); ++k) {
    SetValueInfo(names[io.outputs[k]], g.values[static_cast<size_t>(io.outputs[k])].type, graph->add_output());
  }
  return Status::OK();
}

}  // namespace dlbricks
