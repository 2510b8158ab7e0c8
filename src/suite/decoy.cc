// Decoy models (DLBricks section 1: "fake or dummy models can be inserted"): random but
// plausible conv/gemm chains whose bricks mix with the real ones, so a brick cannot be
// attributed to a model.
#include <fmt/format.h>

#include <random>

#include "dlbricks/suite.h"

namespace dlbricks {

namespace {

class DecoyWriter {
 public:
  DecoyWriter(onnx::ModelProto* model, std::mt19937_64* rng) : graph_(model->mutable_graph()), rng_(rng) {}

  template <typename T>
  T Pick(std::initializer_list<T> choices) {
    std::uniform_int_distribution<size_t> d(0, choices.size() - 1);
    return *(choices.begin() + d(*rng_));
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(*rng_); }

  // A float initializer; values never leave this process (only the graph shape is used).
  std::string Weight(std::vector<int64_t> dims, float fill) {
    std::string name = fmt::format("p{}", graph_->initializer_size());
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) t->add_float_data(fill);
    return name;
  }

  std::string Node(const std::string& op, std::vector<std::string> inputs, onnx::NodeProto** out = nullptr) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    std::string name = fmt::format("v{}", graph_->node_size());
    node->set_name(name);
    for (auto& i : inputs) node->add_input(i);
    node->add_output(name);
    if (out) *out = node;
    return name;
  }

  static void Ints(onnx::NodeProto* node, const std::string& name, std::vector<int64_t> v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  onnx::GraphProto* graph_;
  std::mt19937_64* rng_;
};

void SetInput(onnx::GraphProto* g, const std::string& name, std::vector<int64_t> dims, bool output) {
  onnx::ValueInfoProto* vi = output ? g->add_output() : g->add_input();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

}  // namespace

onnx::ModelProto MakeDecoyModel(uint64_t seed, int64_t opset) {
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.add_opset_import()->set_version(opset);
  model.mutable_graph()->set_name("decoy");
  std::mt19937_64 rng(seed);
  DecoyWriter w(&model, &rng);

  int64_t channels = w.Pick<int64_t>({3, 3, 16, 32, 64});
  int64_t size = w.Pick<int64_t>({224, 112, 56, 32, 28});
  SetInput(model.mutable_graph(), "x", {1, channels, size, size}, false);
  std::string x = "x";
  const int blocks = std::uniform_int_distribution<int>(3, 12)(rng);
  for (int b = 0; b < blocks; ++b) {
    const int64_t k = w.Pick<int64_t>({1, 3, 3, 5});
    const int64_t stride = size > 7 && w.Chance(0.3) ? 2 : 1;
    const int64_t out = w.Pick<int64_t>({16, 24, 32, 64, 96, 128, 256});
    const bool depthwise = k == 3 && out == channels && w.Chance(0.3);
    const int64_t group = depthwise ? channels : 1;
    onnx::NodeProto* conv = nullptr;
    std::string block_in = x;
    std::vector<std::string> conv_in = {x, w.Weight({out, channels / group, k, k}, 0.01f)};
    if (w.Chance(0.5)) conv_in.push_back(w.Weight({out}, 0.0f));
    x = w.Node("Conv", conv_in, &conv);
    DecoyWriter::Ints(conv, "kernel_shape", {k, k});
    DecoyWriter::Ints(conv, "pads", {k / 2, k / 2, k / 2, k / 2});
    DecoyWriter::Ints(conv, "strides", {stride, stride});
    if (group > 1) {
      auto* a = conv->add_attribute();
      a->set_name("group");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(group);
    }
    size = (size + 2 * (k / 2) - k) / stride + 1;
    if (w.Chance(0.6)) {
      x = w.Node("BatchNormalization", {x, w.Weight({out}, 1.0f), w.Weight({out}, 0.0f), w.Weight({out}, 0.0f),
                                        w.Weight({out}, 1.0f)});
    }
    if (stride == 1 && out == channels && w.Chance(0.4)) x = w.Node("Add", {x, block_in});
    x = w.Node(w.Pick<std::string>({"Relu", "Relu", "Relu", "Sigmoid", "HardSwish"}), {x});
    if (size >= 8 && w.Chance(0.15)) {
      onnx::NodeProto* pool = nullptr;
      x = w.Node("MaxPool", {x}, &pool);
      DecoyWriter::Ints(pool, "kernel_shape", {2, 2});
      DecoyWriter::Ints(pool, "strides", {2, 2});
      size /= 2;
    }
    channels = out;
  }
  x = w.Node("GlobalAveragePool", {x});
  x = w.Node("Flatten", {x});
  int64_t hidden = channels;
  if (w.Chance(0.4)) {
    hidden = w.Pick<int64_t>({256, 512, 1024});
    x = w.Node("Relu", {w.Node("Gemm", {x, w.Weight({channels, hidden}, 0.01f), w.Weight({hidden}, 0.0f)})});
  }
  const int64_t classes = w.Pick<int64_t>({10, 100, 1000});
  x = w.Node("Gemm", {x, w.Weight({hidden, classes}, 0.01f), w.Weight({classes}, 0.0f)});
  SetInput(model.mutable_graph(), x, {1, classes}, true);
  return model;
}

}  // namespace dlbricks
