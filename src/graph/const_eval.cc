// A small constant evaluator for the integer / shape subgraphs that exporters emit
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) and for initializer-only nodes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "internal.h"

namespace dlbricks::graph_internal {

namespace {

using onnx::TensorProto;

bool IsRealType(int32_t dtype) {
  return dtype == TensorProto::FLOAT || dtype == TensorProto::DOUBLE;
}

bool IsIntType(int32_t dtype) {
  switch (dtype) {
    case TensorProto::UINT8:
    case TensorProto::INT8:
    case TensorProto::UINT16:
    case TensorProto::INT16:
    case TensorProto::INT32:
    case TensorProto::INT64:
    case TensorProto::BOOL:
    case TensorProto::UINT32:
    case TensorProto::UINT64:
      return true;
    default:
      return false;
  }
}

int64_t Product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

template <typename T>
void ReadRaw(const std::string& raw, std::vector<int64_t>* ints, std::vector<double>* reals, bool real) {
  size_t n = raw.size() / sizeof(T);
  if (real) {
    reals->resize(n);
  } else {
    ints->resize(n);
  }
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    if (real) {
      (*reals)[i] = static_cast<double>(v);
    } else {
      (*ints)[i] = static_cast<int64_t>(v);
    }
  }
}

template <typename T>
void WriteRaw(const ConstTensor& c, std::string* raw) {
  int64_t n = c.Elements();
  raw->resize(static_cast<size_t>(n) * sizeof(T));
  for (int64_t i = 0; i < n; ++i) {
    T v = c.IsReal() ? static_cast<T>(c.reals[i]) : static_cast<T>(c.ints[i]);
    std::memcpy(raw->data() + i * sizeof(T), &v, sizeof(T));
  }
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  const auto* a = FindAttr(n, name);
  return a ? a->i() : dflt;
}

bool AttrInts(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t>* out) {
  const auto* a = FindAttr(n, name);
  if (!a) return false;
  out->assign(a->ints().begin(), a->ints().end());
  return true;
}

// Normalises a possibly negative axis; false if out of range.
bool NormAxis(int64_t* axis, int64_t rank) {
  if (*axis < 0) *axis += rank;
  return *axis >= 0 && *axis < rank;
}

double Get(const ConstTensor& c, int64_t i) {
  return c.IsReal() ? c.reals[i] : static_cast<double>(c.ints[i]);
}

ConstTensor Make(int32_t dtype, std::vector<int64_t> dims) {
  ConstTensor t;
  t.dtype = dtype;
  t.dims = std::move(dims);
  if (t.IsReal()) {
    t.reals.resize(static_cast<size_t>(t.Elements()));
  } else {
    t.ints.resize(static_cast<size_t>(t.Elements()));
  }
  return t;
}

// Copies element `src_i` of `src` into element `dst_i` of `dst` (same dtype family).
void CopyElem(const ConstTensor& src, int64_t src_i, ConstTensor* dst, int64_t dst_i) {
  if (dst->IsReal()) {
    dst->reals[dst_i] = Get(src, src_i);
  } else {
    dst->ints[dst_i] = src.IsReal() ? static_cast<int64_t>(src.reals[src_i]) : src.ints[src_i];
  }
}

std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int64_t i = static_cast<int64_t>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

bool BroadcastDims(const std::vector<const ConstTensor*>& ins, std::vector<int64_t>* out) {
  size_t rank = 0;
  for (const auto* t : ins) rank = std::max(rank, t->dims.size());
  out->assign(rank, 1);
  for (const auto* t : ins) {
    size_t off = rank - t->dims.size();
    for (size_t i = 0; i < t->dims.size(); ++i) {
      int64_t d = t->dims[i];
      int64_t& o = (*out)[off + i];
      if (d == o || d == 1) continue;
      if (o != 1) return false;
      o = d;
    }
  }
  return true;
}

// Index into `t` of output element `flat` under broadcasting to `out_dims`.
int64_t BroadcastIndex(const ConstTensor& t, const std::vector<int64_t>& out_dims,
                       const std::vector<int64_t>& out_strides, int64_t flat) {
  size_t off = out_dims.size() - t.dims.size();
  int64_t idx = 0, stride = 1;
  for (int64_t i = static_cast<int64_t>(t.dims.size()) - 1; i >= 0; --i) {
    int64_t coord = (flat / out_strides[off + i]) % out_dims[off + i];
    if (t.dims[i] != 1) idx += coord * stride;
    stride *= t.dims[i];
  }
  return idx;
}

using Binary = std::function<double(double, double)>;

bool EvalElementwise(const std::string& op, const std::vector<const ConstTensor*>& ins, int64_t max_elements,
                     ConstTensor* out) {
  std::vector<int64_t> dims;
  if (!BroadcastDims(ins, &dims) || Product(dims) > max_elements) return false;
  bool compare = op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
                 op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor";
  int32_t dtype = compare ? static_cast<int32_t>(TensorProto::BOOL) : ins[0]->dtype;
  if (op == "Where") dtype = ins[1]->dtype;
  *out = Make(dtype, dims);
  auto strides = Strides(dims);
  bool integer = !IsRealType(ins[op == "Where" ? 1 : 0]->dtype);
  Binary f;
  if (op == "Add") f = [](double a, double b) { return a + b; };
  else if (op == "Sub") f = [](double a, double b) { return a - b; };
  else if (op == "Mul") f = [](double a, double b) { return a * b; };
  else if (op == "Div") f = [integer](double a, double b) { return integer ? (b == 0 ? 0 : std::trunc(a / b)) : a / b; };
  else if (op == "Pow") f = [](double a, double b) { return std::pow(a, b); };
  else if (op == "Min") f = [](double a, double b) { return std::min(a, b); };
  else if (op == "Max") f = [](double a, double b) { return std::max(a, b); };
  else if (op == "Mod") f = [](double a, double b) { return b == 0 ? 0 : a - b * std::floor(a / b); };
  else if (op == "Equal") f = [](double a, double b) { return a == b ? 1.0 : 0.0; };
  else if (op == "Less") f = [](double a, double b) { return a < b ? 1.0 : 0.0; };
  else if (op == "Greater") f = [](double a, double b) { return a > b ? 1.0 : 0.0; };
  else if (op == "LessOrEqual") f = [](double a, double b) { return a <= b ? 1.0 : 0.0; };
  else if (op == "GreaterOrEqual") f = [](double a, double b) { return a >= b ? 1.0 : 0.0; };
  else if (op == "And") f = [](double a, double b) { return (a != 0 && b != 0) ? 1.0 : 0.0; };
  else if (op == "Or") f = [](double a, double b) { return (a != 0 || b != 0) ? 1.0 : 0.0; };
  else if (op == "Xor") f = [](double a, double b) { return ((a != 0) != (b != 0)) ? 1.0 : 0.0; };
  int64_t n = out->Elements();
  for (int64_t i = 0; i < n; ++i) {
    double v;
    if (op == "Where") {
      double c = Get(*ins[0], BroadcastIndex(*ins[0], dims, strides, i));
      const ConstTensor* src = c != 0 ? ins[1] : ins[2];
      v = Get(*src, BroadcastIndex(*src, dims, strides, i));
    } else {
      if (!f) return false;
      v = Get(*ins[0], BroadcastIndex(*ins[0], dims, strides, i));
      for (size_t k = 1; k < ins.size(); ++k) v = f(v, Get(*ins[k], BroadcastIndex(*ins[k], dims, strides, i)));
    }
    if (out->IsReal()) {
      out->reals[i] = v;
    } else {
      out->ints[i] = static_cast<int64_t>(v);
    }
  }
  return true;
}

bool EvalUnary(const std::string& op, const ConstTensor& x, ConstTensor* out) {
  std::function<double(double)> f;
  if (op == "Neg") f = [](double a) { return -a; };
  else if (op == "Abs") f = [](double a) { return std::fabs(a); };
  else if (op == "Sqrt") f = [](double a) { return std::sqrt(a); };
  else if (op == "Floor") f = [](double a) { return std::floor(a); };
  else if (op == "Ceil") f = [](double a) { return std::ceil(a); };
  else if (op == "Reciprocal") f = [](double a) { return 1.0 / a; };
  else if (op == "Not") f = [](double a) { return a != 0 ? 0.0 : 1.0; };
  else return false;
  *out = Make(x.dtype, x.dims);
  for (int64_t i = 0; i < x.Elements(); ++i) {
    double v = f(Get(x, i));
    if (out->IsReal()) {
      out->reals[i] = v;
    } else {
      out->ints[i] = static_cast<int64_t>(v);
    }
  }
  return true;
}

// Resolves a Reshape target shape (0 copies the input dim unless allowzero, -1 is inferred).
bool ReshapeDims(const std::vector<int64_t>& in_dims, const std::vector<int64_t>& target, bool allowzero,
                 std::vector<int64_t>* out) {
  out->clear();
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allowzero) {
      if (i >= in_dims.size()) return false;
      d = in_dims[i];
    }
    if (d == -1) {
      if (infer >= 0) return false;
      infer = static_cast<int64_t>(i);
      d = 1;
    } else if (d < 0) {
      return false;
    } else {
      known *= d;
    }
    out->push_back(d);
  }
  int64_t total = Product(in_dims);
  if (infer >= 0) {
    if (known == 0 || total % known != 0) return false;
    (*out)[infer] = total / known;
  }
  return Product(*out) == total;
}

bool EvalGather(const onnx::NodeProto& n, const ConstTensor& data, const ConstTensor& idx, ConstTensor* out) {
  int64_t rank = static_cast<int64_t>(data.dims.size());
  int64_t axis = AttrInt(n, "axis", 0);
  if (!NormAxis(&axis, rank) || idx.IsReal()) return false;
  std::vector<int64_t> dims(data.dims.begin(), data.dims.begin() + axis);
  dims.insert(dims.end(), idx.dims.begin(), idx.dims.end());
  dims.insert(dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  *out = Make(data.dtype, dims);
  int64_t outer = Product(std::vector<int64_t>(data.dims.begin(), data.dims.begin() + axis));
  int64_t inner = Product(std::vector<int64_t>(data.dims.begin() + axis + 1, data.dims.end()));
  int64_t axis_dim = data.dims[axis];
  int64_t k = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < idx.Elements(); ++j) {
      int64_t ix = idx.ints[j];
      if (ix < 0) ix += axis_dim;
      if (ix < 0 || ix >= axis_dim) return false;
      for (int64_t i = 0; i < inner; ++i) CopyElem(data, (o * axis_dim + ix) * inner + i, out, k++);
    }
  }
  return true;
}

bool EvalConcat(const onnx::NodeProto& n, const std::vector<const ConstTensor*>& ins, ConstTensor* out) {
  if (ins.empty()) return false;
  int64_t rank = static_cast<int64_t>(ins[0]->dims.size());
  int64_t axis = AttrInt(n, "axis", 0);
  if (!NormAxis(&axis, rank)) return false;
  std::vector<int64_t> dims = ins[0]->dims;
  dims[axis] = 0;
  for (const auto* t : ins) {
    if (static_cast<int64_t>(t->dims.size()) != rank) return false;
    dims[axis] += t->dims[axis];
  }
  *out = Make(ins[0]->dtype, dims);
  int64_t outer = Product(std::vector<int64_t>(dims.begin(), dims.begin() + axis));
  int64_t k = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (const auto* t : ins) {
      int64_t chunk = Product(std::vector<int64_t>(t->dims.begin() + axis, t->dims.end()));
      for (int64_t i = 0; i < chunk; ++i) CopyElem(*t, o * chunk + i, out, k++);
    }
  }
  return true;
}

bool EvalSlice(const ConstTensor& x, std::vector<int64_t> starts, std::vector<int64_t> ends,
               std::vector<int64_t> axes, std::vector<int64_t> steps, ConstTensor* out) {
  int64_t rank = static_cast<int64_t>(x.dims.size());
  if (axes.empty()) {
    axes.resize(starts.size());
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) return false;
  std::vector<int64_t> begin(rank, 0), step(rank, 1), dims = x.dims;
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = axes[i];
    if (!NormAxis(&a, rank) || steps[i] == 0) return false;
    int64_t d = x.dims[a], s = starts[i], e = ends[i], st = steps[i];
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      dims[a] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      dims[a] = s > e ? (s - e - st - 1) / (-st) : 0;
    }
    begin[a] = s;
    step[a] = st;
  }
  *out = Make(x.dtype, dims);
  auto in_strides = Strides(x.dims);
  auto out_strides = Strides(dims);
  for (int64_t i = 0; i < out->Elements(); ++i) {
    int64_t src = 0;
    for (int64_t a = 0; a < rank; ++a) {
      int64_t c = (i / out_strides[a]) % dims[a];
      src += (begin[a] + c * step[a]) * in_strides[a];
    }
    CopyElem(x, src, out, i);
  }
  return true;
}

bool EvalTranspose(const onnx::NodeProto& n, const ConstTensor& x, ConstTensor* out) {
  int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> perm;
  if (!AttrInts(n, "perm", &perm)) {
    perm.resize(rank);
    for (int64_t i = 0; i < rank; ++i) perm[i] = rank - 1 - i;
  }
  if (static_cast<int64_t>(perm.size()) != rank) return false;
  std::vector<int64_t> dims(rank);
  for (int64_t i = 0; i < rank; ++i) {
    if (perm[i] < 0 || perm[i] >= rank) return false;
    dims[i] = x.dims[perm[i]];
  }
  *out = Make(x.dtype, dims);
  auto in_strides = Strides(x.dims);
  auto out_strides = Strides(dims);
  for (int64_t i = 0; i < out->Elements(); ++i) {
    int64_t src = 0;
    for (int64_t a = 0; a < rank; ++a) src += ((i / out_strides[a]) % dims[a]) * in_strides[perm[a]];
    CopyElem(x, src, out, i);
  }
  return true;
}

bool EvalCast(int32_t to, const ConstTensor& x, ConstTensor* out) {
  if (!IsRealType(to) && !IsIntType(to)) return false;
  *out = Make(to, x.dims);
  for (int64_t i = 0; i < x.Elements(); ++i) {
    double v = Get(x, i);
    if (to == TensorProto::BOOL) v = v != 0 ? 1 : 0;
    if (out->IsReal()) {
      out->reals[i] = v;
    } else {
      out->ints[i] = x.IsReal() ? static_cast<int64_t>(v) : x.ints[i];
      if (to == TensorProto::BOOL) out->ints[i] = v != 0;
    }
  }
  return true;
}

// Axes for Squeeze/Unsqueeze: an attribute before opset 13, an optional input after.
bool AxesOf(const onnx::NodeProto& n, int64_t opset, const std::vector<EvalInput>& in, std::vector<int64_t>* axes) {
  axes->clear();
  if (opset < 13) {
    AttrInts(n, "axes", axes);
    return true;
  }
  if (in.size() < 2 || !in[1].value) return in.size() < 2;
  *axes = in[1].value->ints;
  return true;
}

}  // namespace

int64_t ConstTensor::Elements() const { return Product(dims); }
bool ConstTensor::IsReal() const { return IsRealType(dtype); }

bool DecodeTensor(const onnx::TensorProto& t, ConstTensor* out) {
  if (t.data_location() == TensorProto::EXTERNAL) return false;
  if (!IsRealType(t.data_type()) && !IsIntType(t.data_type())) return false;
  out->dtype = t.data_type();
  out->dims.assign(t.dims().begin(), t.dims().end());
  for (int64_t d : out->dims) {
    if (d < 0) return false;
  }
  out->ints.clear();
  out->reals.clear();
  bool real = out->IsReal();
  int64_t n = out->Elements();
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    switch (t.data_type()) {
      case TensorProto::FLOAT: ReadRaw<float>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::DOUBLE: ReadRaw<double>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::UINT8: ReadRaw<uint8_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::BOOL: ReadRaw<uint8_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::INT8: ReadRaw<int8_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::UINT16: ReadRaw<uint16_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::INT16: ReadRaw<int16_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::INT32: ReadRaw<int32_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::INT64: ReadRaw<int64_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::UINT32: ReadRaw<uint32_t>(raw, &out->ints, &out->reals, real); break;
      case TensorProto::UINT64: ReadRaw<uint64_t>(raw, &out->ints, &out->reals, real); break;
      default: return false;
    }
  } else if (t.data_type() == TensorProto::FLOAT) {
    out->reals.assign(t.float_data().begin(), t.float_data().end());
  } else if (t.data_type() == TensorProto::DOUBLE) {
    out->reals.assign(t.double_data().begin(), t.double_data().end());
  } else if (t.data_type() == TensorProto::INT64) {
    out->ints.assign(t.int64_data().begin(), t.int64_data().end());
  } else if (t.data_type() == TensorProto::UINT32 || t.data_type() == TensorProto::UINT64) {
    out->ints.assign(t.uint64_data().begin(), t.uint64_data().end());
  } else {
    out->ints.assign(t.int32_data().begin(), t.int32_data().end());
  }
  size_t have = real ? out->reals.size() : out->ints.size();
  return static_cast<int64_t>(have) == n;
}

void EncodeTensor(const ConstTensor& c, onnx::TensorProto* out) {
  out->set_data_type(c.dtype);
  out->clear_dims();
  for (int64_t d : c.dims) out->add_dims(d);
  std::string* raw = out->mutable_raw_data();
  switch (c.dtype) {
    case TensorProto::FLOAT: WriteRaw<float>(c, raw); break;
    case TensorProto::DOUBLE: WriteRaw<double>(c, raw); break;
    case TensorProto::UINT8:
    case TensorProto::BOOL: WriteRaw<uint8_t>(c, raw); break;
    case TensorProto::INT8: WriteRaw<int8_t>(c, raw); break;
    case TensorProto::UINT16: WriteRaw<uint16_t>(c, raw); break;
    case TensorProto::INT16: WriteRaw<int16_t>(c, raw); break;
    case TensorProto::INT32: WriteRaw<int32_t>(c, raw); break;
    case TensorProto::UINT32: WriteRaw<uint32_t>(c, raw); break;
    case TensorProto::UINT64: WriteRaw<uint64_t>(c, raw); break;
    default: WriteRaw<int64_t>(c, raw); break;
  }
}

bool EvaluateNode(const onnx::NodeProto& n, int64_t opset, const std::vector<EvalInput>& in,
                  int64_t max_elements, std::vector<ConstTensor>* outputs) {
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  outputs->assign(1, ConstTensor{});
  ConstTensor& out = (*outputs)[0];
  auto value = [&](size_t i) -> const ConstTensor* { return i < in.size() ? in[i].value : nullptr; };

  if (op == "Shape" || op == "Size") {
    if (in.empty() || !in[0].type) return false;
    const auto& dims = in[0].type->dims;
    if (op == "Size") {
      out = Make(TensorProto::INT64, {});
      out.ints[0] = Product(dims);
      return true;
    }
    int64_t rank = static_cast<int64_t>(dims.size());
    int64_t start = std::clamp<int64_t>(AttrInt(n, "start", 0), -rank, rank);
    int64_t end = std::clamp<int64_t>(AttrInt(n, "end", rank), -rank, rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    std::vector<int64_t> v;
    for (int64_t i = start; i < end; ++i) v.push_back(dims[i]);
    out = Make(TensorProto::INT64, {static_cast<int64_t>(v.size())});
    out.ints = v;
    return true;
  }
  if (op == "ConstantOfShape") {
    const ConstTensor* shape = value(0);
    if (!shape || shape->IsReal()) return false;
    for (int64_t d : shape->ints) {
      if (d < 0) return false;
    }
    if (Product(shape->ints) > max_elements) return false;
    ConstTensor fill;
    fill.dtype = TensorProto::FLOAT;
    fill.dims = {1};
    fill.reals = {0.0};
    if (const auto* a = FindAttr(n, "value"); a && !DecodeTensor(a->t(), &fill)) return false;
    out = Make(fill.dtype, shape->ints);
    for (int64_t i = 0; i < out.Elements(); ++i) CopyElem(fill, 0, &out, i);
    return true;
  }
  if (op == "Range") {
    const ConstTensor *s = value(0), *l = value(1), *d = value(2);
    if (!s || !l || !d) return false;
    double start = Get(*s, 0), limit = Get(*l, 0), delta = Get(*d, 0);
    if (delta == 0) return false;
    double count = std::max(std::ceil((limit - start) / delta), 0.0);
    if (count > static_cast<double>(max_elements)) return false;
    out = Make(s->dtype, {static_cast<int64_t>(count)});
    for (int64_t i = 0; i < out.Elements(); ++i) {
      double v = start + static_cast<double>(i) * delta;
      if (out.IsReal()) {
        out.reals[i] = v;
      } else {
        out.ints[i] = static_cast<int64_t>(v);
      }
    }
    return true;
  }
  // Every op below needs all its present inputs constant.
  std::vector<const ConstTensor*> vals;
  for (size_t i = 0; i < in.size(); ++i) {
    if (n.input(static_cast<int>(i)).empty()) {
      vals.push_back(nullptr);
      continue;
    }
    if (!in[i].value) return false;
    vals.push_back(in[i].value);
  }
  if (vals.empty() || !vals[0]) return false;
  const ConstTensor& x = *vals[0];

  if (op == "Identity") {
    out = x;
    return true;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Min" || op == "Max" ||
      op == "Mod" || op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
      op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor" || op == "Where") {
    if (op == "Mod" && AttrInt(n, "fmod", 0) != 0) return false;
    for (const auto* v : vals) {
      if (!v) return false;
    }
    if ((op == "Where") != (vals.size() == 3)) return false;
    return EvalElementwise(op, vals, max_elements, &out);
  }
  if (op == "Neg" || op == "Abs" || op == "Sqrt" || op == "Floor" || op == "Ceil" || op == "Reciprocal" ||
      op == "Not") {
    return EvalUnary(op, x, &out);
  }
  if (op == "Cast") return EvalCast(static_cast<int32_t>(AttrInt(n, "to", 0)), x, &out);
  if (op == "Gather") return vals.size() == 2 && vals[1] && EvalGather(n, x, *vals[1], &out);
  if (op == "Concat") {
    for (const auto* v : vals) {
      if (!v) return false;
    }
    return EvalConcat(n, vals, &out);
  }
  if (op == "Transpose") return EvalTranspose(n, x, &out);
  if (op == "Unsqueeze" || op == "Squeeze") {
    std::vector<int64_t> axes;
    if (!AxesOf(n, opset, in, &axes)) return false;
    out = x;
    if (op == "Unsqueeze") {
      int64_t rank = static_cast<int64_t>(x.dims.size() + axes.size());
      std::vector<bool> is_new(rank, false);
      for (int64_t a : axes) {
        if (!NormAxis(&a, rank) || is_new[a]) return false;
        is_new[a] = true;
      }
      out.dims.clear();
      size_t k = 0;
      for (int64_t i = 0; i < rank; ++i) out.dims.push_back(is_new[i] ? 1 : x.dims[k++]);
      return true;
    }
    int64_t rank = static_cast<int64_t>(x.dims.size());
    std::vector<bool> drop(rank, axes.empty());
    for (int64_t a : axes) {
      if (!NormAxis(&a, rank) || x.dims[a] != 1) return false;
      drop[a] = true;
    }
    out.dims.clear();
    for (int64_t i = 0; i < rank; ++i) {
      if (!(drop[i] && x.dims[i] == 1)) out.dims.push_back(x.dims[i]);
    }
    return true;
  }
  if (op == "Reshape") {
    if (vals.size() < 2 || !vals[1]) return false;
    out = x;
    return ReshapeDims(x.dims, vals[1]->ints, AttrInt(n, "allowzero", 0) != 0, &out.dims);
  }
  if (op == "Flatten") {
    int64_t rank = static_cast<int64_t>(x.dims.size());
    int64_t axis = AttrInt(n, "axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) return false;
    out = x;
    out.dims = {Product(std::vector<int64_t>(x.dims.begin(), x.dims.begin() + axis)),
                Product(std::vector<int64_t>(x.dims.begin() + axis, x.dims.end()))};
    return true;
  }
  if (op == "Expand") {
    if (vals.size() < 2 || !vals[1]) return false;
    ConstTensor shape_only;
    shape_only.dims = vals[1]->ints;
    std::vector<int64_t> dims;
    if (!BroadcastDims({&x, &shape_only}, &dims) || Product(dims) > max_elements) return false;
    out = Make(x.dtype, dims);
    auto strides = Strides(dims);
    for (int64_t i = 0; i < out.Elements(); ++i) CopyElem(x, BroadcastIndex(x, dims, strides, i), &out, i);
    return true;
  }
  if (op == "ScatterND") {
    if (vals.size() != 3 || !vals[1] || !vals[2] || vals[1]->IsReal() || vals[1]->dims.empty()) return false;
    const std::string reduction = FindAttr(n, "reduction") ? FindAttr(n, "reduction")->s() : "none";
    if (reduction != "none") return false;
    const ConstTensor &idx = *vals[1], &upd = *vals[2];
    size_t k = static_cast<size_t>(idx.dims.back());
    if (k > x.dims.size()) return false;
    int64_t slice = Product(std::vector<int64_t>(x.dims.begin() + k, x.dims.end()));
    int64_t tuples = idx.Elements() / std::max<int64_t>(static_cast<int64_t>(k), 1);
    if (upd.Elements() != tuples * slice) return false;
    auto strides = Strides(x.dims);
    out = x;
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t base = 0;
      for (size_t a = 0; a < k; ++a) {
        int64_t ix = idx.ints[t * k + a];
        if (ix < 0) ix += x.dims[a];
        if (ix < 0 || ix >= x.dims[a]) return false;
        base += ix * strides[a];
      }
      for (int64_t i = 0; i < slice; ++i) CopyElem(upd, t * slice + i, &out, base + i);
    }
    return true;
  }
  if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset < 10) {
      AttrInts(n, "starts", &starts);
      AttrInts(n, "ends", &ends);
      AttrInts(n, "axes", &axes);
    } else {
      if (vals.size() < 3 || !vals[1] || !vals[2]) return false;
      starts = vals[1]->ints;
      ends = vals[2]->ints;
      if (vals.size() > 3 && vals[3]) axes = vals[3]->ints;
      if (vals.size() > 4 && vals[4]) steps = vals[4]->ints;
    }
    return EvalSlice(x, starts, ends, axes, steps, &out);
  }
  return false;
}

}  // namespace dlbricks::graph_internal
