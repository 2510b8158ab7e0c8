// OpenCV DNN (CPU, its own OPENCV backend). Its ONNX importer is strict, so callers feed
// it models written by SaveCanonicalModel (static shapes, folded shape arithmetic).
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <queue>
#include <set>
#include <string_view>

#include "dlbricks/backend.h"
#include "model_inputs.h"
#include "opencv_import.h"
#include "profile_loop.h"

namespace dlbricks {
namespace {

// An ONNX node of the graph OpenCV imported (after RewriteForOpenCv), as profiling needs it.
struct ImportedNode {
  std::string name, op_type;
  std::vector<std::string> inputs, outputs;  // initializers and absent optionals left out
};

// The graph OpenCV imported: its nodes by the name OpenCV gives their layers (LayerNameOf),
// and its outputs.
struct ImportedGraph {
  std::map<std::string, ImportedNode> nodes;
  std::set<std::string> outputs;
};

// OpenCV layer types → ONNX op types, for the layers its importer adds on its own (a layer
// that stands for an ONNX node reports that node's op type). Types not listed pass unchanged
// (Concat, Flatten, Reshape, Softmax, Identity, ...); a Pooling or an Eltwise has no single
// ONNX op, so those helpers keep OpenCV's name.
constexpr std::pair<std::string_view, std::string_view> kOnnxOpOfLayerType[] = {
    {"Convolution", "Conv"},   {"Deconvolution", "ConvTranspose"}, {"InnerProduct", "Gemm"},
    {"ReLU", "Relu"},          {"BatchNorm", "BatchNormalization"}, {"Permute", "Transpose"},
    {"Padding", "Pad"},        {"Scale", "Mul"},
};

std::string OnnxOpOfLayerType(const std::string& type) {
  for (const auto& [cv_type, onnx_op] : kOnnxOpOfLayerType)
    if (type == cv_type) return std::string(onnx_op);
  return type;
}

// The name OpenCV 4.6's ONNX importer gives the layer of a node: "onnx_node!<name>", or
// "onnx_node_output_<i>!<output i>" for a nameless node (its first named output).
std::string LayerNameOf(const onnx::NodeProto& n) {
  if (!n.name().empty()) return "onnx_node!" + n.name();
  for (int i = 0; i < n.output_size(); ++i)
    if (!n.output(i).empty()) return "onnx_node_output_" + std::to_string(i) + "!" + n.output(i);
  return {};
}

// OpenCV's importer, and the shape inference RewriteForOpenCv runs, read nodes in file order:
// a node must follow its inputs' producers (as ONNX requires, but a brick pack, written brick by
// brick with each brick's glue first, does not). Reorders the nodes so, keeping the file's order
// among nodes that are ready together; returns whether anything moved.
bool SortNodesTopologically(onnx::GraphProto* g) {
  const int n = g->node_size();
  std::map<std::string, int> producer;
  for (int i = 0; i < n; ++i)
    for (const std::string& o : g->node(i).output()) producer.emplace(o, i);
  std::vector<int> waiting(static_cast<size_t>(n), 0);
  std::vector<std::vector<int>> consumers(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    for (const std::string& in : g->node(i).input())
      if (auto it = producer.find(in); it != producer.end() && it->second != i) {
        consumers[static_cast<size_t>(it->second)].push_back(i);
        ++waiting[static_cast<size_t>(i)];
      }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i)
    if (waiting[static_cast<size_t>(i)] == 0) ready.push(i);
  std::vector<int> order;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int c : consumers[static_cast<size_t>(i)])
      if (--waiting[static_cast<size_t>(c)] == 0) ready.push(c);
  }
  if (static_cast<int>(order.size()) != n || std::is_sorted(order.begin(), order.end())) return false;  // a cycle: left to the importer
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  nodes.Swap(g->mutable_node());
  for (int i : order) g->add_node()->Swap(nodes.Mutable(i));
  return true;
}

void AppendUnique(const std::vector<std::string>& from, std::vector<std::string>* to) {
  for (const std::string& s : from)
    if (std::find(to->begin(), to->end(), s) == to->end()) to->push_back(s);
}

class OpenCvPreparedModel : public PreparedModel {
 public:
  // imported (may be null): the nodes of the graph OpenCV is given, for ProfiledNodes.
  Status Init(const std::string& path, const BackendOptions& options,
              ImportedGraph* imported = nullptr) {
    // Its importer reads no external data and rejects some standard forms: it gets an
    // equivalent model built in memory (opencv_import.h).
    onnx::ModelProto proto;
    DLB_RETURN_IF_ERROR(backend_internal::ReadModelProto(path, &proto));
    DLB_RETURN_IF_ERROR(backend_internal::ModelInputs(path, proto, &inputs_));
    int inlined = 0;
    DLB_RETURN_IF_ERROR(backend_internal::InlineExternalData(path, &proto, &inlined));
    const bool sorted = SortNodesTopologically(proto.mutable_graph());
    backend_internal::OpenCvRewrites rewrites;
    DLB_RETURN_IF_ERROR(backend_internal::RewriteForOpenCv(path, &proto, &rewrites));
    std::string bytes;  // empty: the file is imported as it is
    if ((inlined > 0 || sorted || rewrites.total() > 0) && !proto.SerializeToString(&bytes))
      return Status::Internal(path + ": cannot serialise the model for opencv");
    if (imported) Imported(proto.graph(), imported);
    proto.Clear();
    cv::setNumThreads(options.intra_op_threads);
    try {
      net_ = bytes.empty() ? cv::dnn::readNetFromONNX(path) : cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
      if (net_.empty()) return Status::Corruption(path + ": opencv could not import the model");
      net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
      for (size_t i = 0; i < inputs_.size(); ++i) {
        const TensorInfo& in = inputs_[i];
        if (in.dtype != 1)
          return Status::Unsupported(path + ": opencv backend feeds float inputs only ('" + in.name + "')");
        std::vector<int> dims(in.dims.begin(), in.dims.end());
        if (dims.empty()) dims.push_back(1);
        cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F);
        FillSyntheticFloats(static_cast<int64_t>(blob.total()), 1234u + static_cast<uint32_t>(i),
                            blob.ptr<float>());
        blobs_.push_back(blob);
        net_.setInput(blobs_.back(), in.name);
      }
      out_names_ = net_.getUnconnectedOutLayersNames();
    } catch (const cv::Exception& e) {
      return Status::Corruption(path + ": opencv: " + e.what());
    }
    return Status::OK();
  }

  Status Run() override {
    try {
      net_.forward(outputs_, out_names_);
    } catch (const cv::Exception& e) {
      return Status::Internal(std::string("opencv forward: ") + e.what());
    }
    return Status::OK();
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }

  int64_t TouchInputs() override {
    int64_t bytes = 0;
    for (const cv::Mat& blob : blobs_) bytes += backend_internal::ReadEveryLine(blob.ptr<char>(), blob.total() * blob.elemSize());
    return bytes;
  }

  // Appends each layer's time in the last Run() (ms) to layer_ms_. getPerfProfile's vector is
  // indexed by layer id - 1: it leaves out the input layer (id 0), as getLayerNames does. A
  // layer OpenCV fused into another reports 0.
  Status RecordLayerTimes() {
    std::vector<double> ticks;
    try {
      net_.getPerfProfile(ticks);
    } catch (const cv::Exception& e) {
      return Status::Internal(std::string("opencv getPerfProfile: ") + e.what());
    }
    if (layer_ms_.empty()) layer_ms_.resize(ticks.size());
    if (ticks.size() != layer_ms_.size())
      return Status::Internal("opencv getPerfProfile: the layer count changed between inferences");
    const double ms_per_tick = 1000.0 / cv::getTickFrequency();
    for (size_t i = 0; i < ticks.size(); ++i) layer_ms_[i].push_back(ticks[i] * ms_per_tick);
    return Status::OK();
  }

  // The recorded layers as kernels: each layer's median time, its ONNX node's name, op type and
  // tensors (`nodes` from Init), and OpenCV's layer names standing for layer outputs, so that
  // the layers the importer added itself (named "<node layer>/<suffix>", reported under their
  // node's name) connect to their neighbours. A fused layer (always 0) is dropped; its tensors
  // go to the layer it was fused into (its first producer), which now reads and writes them.
  // Layers skipped in place stay, as 0 ms kernels: a Concat whose inputs were written into its
  // output (or with one input), and a skipped layer fed by the graph inputs only (a brick of one
  // such layer still has its profile, and constructs as 0).
  // No kernels: the input layer (it feeds every graph input, and would join packed bricks) and
  // the Identity layers the importer names after the graph outputs (a model has one, each
  // brick would add its own).
  Status ProfiledNodes(const ImportedGraph& graph, std::vector<NodeTime>* out) const {
    const std::map<std::string, ImportedNode>& nodes = graph.nodes;
    out->clear();
    std::map<int, size_t> kernel_of_layer;  // layer id → index in *out (fused: its host's)
    try {
      for (int id = 1; id <= static_cast<int>(layer_ms_.size()); ++id) {
        const cv::Ptr<cv::dnn::Layer> layer = net_.getLayer(id);
        if (layer->type == "Identity" && graph.outputs.count(layer->name)) continue;
        NodeTime k;
        k.calls = 1;
        const ImportedNode* node = nullptr;
        std::string suffix;  // of an importer-made layer's name after its node's layer name
        for (std::string prefix = layer->name; !node;) {
          if (auto it = nodes.find(prefix); it != nodes.end()) {
            node = &it->second;
          } else if (const size_t slash = prefix.rfind('/'); slash != std::string::npos && slash > 0) {
            suffix = prefix.substr(slash) + suffix;
            prefix.resize(slash);
          } else {
            break;
          }
        }
        if (node && suffix.empty()) {
          k.name = node->name;
          k.op_type = node->op_type;
          k.inputs = node->inputs;
          k.outputs = node->outputs;
        } else {
          k.name = node && !node->name.empty() ? node->name + suffix : layer->name;
          k.op_type = OnnxOpOfLayerType(layer->type);
        }
        k.outputs.push_back(layer->name);
        const std::vector<cv::Ptr<cv::dnn::Layer>> producers = net_.getLayerInputs(id);
        for (const cv::Ptr<cv::dnn::Layer>& producer : producers)
          if (net_.getLayerId(producer->name) > 0) AppendUnique({producer->name}, &k.inputs);
        const std::vector<double>& ms = layer_ms_[static_cast<size_t>(id - 1)];
        const bool ran = *std::max_element(ms.begin(), ms.end()) > 0;
        auto host = producers.empty() ? kernel_of_layer.end()
                                      : kernel_of_layer.find(net_.getLayerId(producers.front()->name));
        if (ran || layer->type == "Concat" || host == kernel_of_layer.end()) {
          k.ms = ran ? backend_internal::KernelMedian(ms) : 0;
          kernel_of_layer[id] = out->size();
          out->push_back(std::move(k));
          continue;
        }
        kernel_of_layer[id] = host->second;
        NodeTime& h = (*out)[host->second];
        AppendUnique(k.inputs, &h.inputs);
        AppendUnique(k.outputs, &h.outputs);
      }
    } catch (const cv::Exception& e) {
      return Status::Internal(std::string("opencv layers: ") + e.what());
    }
    for (NodeTime& k : *out)
      std::erase_if(k.inputs, [&](const std::string& t) {
        return std::find(k.outputs.begin(), k.outputs.end(), t) != k.outputs.end();
      });
    return Status::OK();
  }

  Status LastOutputs(std::vector<std::vector<float>>* outputs) const override {
    outputs->clear();
    for (const cv::Mat& m : outputs_) {
      if (m.depth() != CV_32F || !m.isContinuous()) continue;
      outputs->emplace_back(m.ptr<float>(), m.ptr<float>() + m.total());
    }
    return Status::OK();
  }

 private:
  cv::dnn::Net net_;
  std::vector<TensorInfo> inputs_;
  std::vector<cv::Mat> blobs_;
  std::vector<std::string> out_names_;
  std::vector<cv::Mat> outputs_;
  std::vector<std::vector<double>> layer_ms_;  // per layer id - 1: ms in each recorded Run()

  static void Imported(const onnx::GraphProto& graph, ImportedGraph* imported) {
    std::set<std::string> weights;
    for (const auto& t : graph.initializer()) weights.insert(t.name());
    for (const onnx::NodeProto& n : graph.node()) {
      ImportedNode node{n.name(), n.op_type(), {}, {}};
      for (const std::string& in : n.input())
        if (!in.empty() && !weights.count(in)) node.inputs.push_back(in);
      for (const std::string& o : n.output())
        if (!o.empty()) node.outputs.push_back(o);
      imported->nodes.emplace(LayerNameOf(n), std::move(node));
    }
    for (const auto& o : graph.output()) imported->outputs.insert(o.name());
  }
};

class OpenCvBackend : public Backend {
 public:
  std::string name() const override { return "opencv"; }
  std::string version() const override { return cv::getVersionString(); }

  std::map<std::string, std::string> RecordOptions(const BackendOptions& o) const override {
    return {{"threads", std::to_string(o.intra_op_threads)}, {"dnn_backend", "opencv"}, {"dnn_target", "cpu"}};
  }

  Status Prepare(const std::string& path, const BackendOptions& options,
                 std::unique_ptr<PreparedModel>* model) override {
    DLB_RETURN_IF_ERROR(ValidateBackendOptions(options));
    if (!std::filesystem::is_regular_file(path)) return Status::NotFound(path + ": no such model file");
    auto m = std::make_unique<OpenCvPreparedModel>();
    DLB_RETURN_IF_ERROR(m->Init(path, options));
    *model = std::move(m);
    return Status::OK();
  }

  Status ProfileOps(const std::string& path, const BackendOptions& options, int runs, const ProfileHook& on_run,
                    std::vector<OpTypeTime>* times) override {
    std::vector<NodeTime> nodes;
    DLB_RETURN_IF_ERROR(ProfileNodes(path, options, runs, on_run, &nodes));
    *times = SumNodesByOpType(nodes);
    return Status::OK();
  }

  // Net::getPerfProfile after every profiled inference (RunProfileLoop); each layer counts
  // with its median, as onnxruntime's kernels do (ProfileNodeMedians).
  Status ProfileNodes(const std::string& path, const BackendOptions& options, int runs, const ProfileHook& on_run,
                      std::vector<NodeTime>* nodes) override {
    DLB_RETURN_IF_ERROR(ValidateBackendOptions(options));
    if (runs < 1) return Status::InvalidArgument("profile runs must be >= 1");
    if (!std::filesystem::is_regular_file(path)) return Status::NotFound(path + ": no such model file");
    OpenCvPreparedModel m;
    ImportedGraph imported;
    DLB_RETURN_IF_ERROR(m.Init(path, options, &imported));
    int warmups = 0;
    DLB_RETURN_IF_ERROR(
        backend_internal::RunProfileLoop(m, runs, on_run, [&] { return m.RecordLayerTimes(); }, &warmups));
    return m.ProfiledNodes(imported, nodes).WithPrefix(path);
  }
};

}  // namespace

std::unique_ptr<Backend> NewOpenCvBackend() { return std::make_unique<OpenCvBackend>(); }

}  // namespace dlbricks
