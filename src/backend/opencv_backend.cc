// OpenCV DNN (CPU, its own OPENCV backend). Its ONNX importer is strict, so callers feed
// it models written by SaveCanonicalModel (static shapes, folded shape arithmetic).
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <filesystem>

#include "dlbricks/backend.h"
#include "model_inputs.h"
#include "opencv_import.h"

namespace dlbricks {
namespace {

class OpenCvPreparedModel : public PreparedModel {
 public:
  Status Init(const std::string& path, const BackendOptions& options) {
    // Its importer reads no external data and rejects some standard forms: it gets an
    // equivalent model built in memory (opencv_import.h).
    onnx::ModelProto proto;
    DLB_RETURN_IF_ERROR(backend_internal::ReadModelProto(path, &proto));
    DLB_RETURN_IF_ERROR(backend_internal::ModelInputs(path, proto, &inputs_));
    int inlined = 0;
    DLB_RETURN_IF_ERROR(backend_internal::InlineExternalData(path, &proto, &inlined));
    backend_internal::OpenCvRewrites rewrites;
    DLB_RETURN_IF_ERROR(backend_internal::RewriteForOpenCv(path, &proto, &rewrites));
    std::string bytes;  // empty: the file is imported as it is
    if ((inlined > 0 || rewrites.total() > 0) && !proto.SerializeToString(&bytes))
      return Status::Internal(path + ": cannot serialise the model for opencv");
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
};

}  // namespace

std::unique_ptr<Backend> NewOpenCvBackend() { return std::make_unique<OpenCvBackend>(); }

}  // namespace dlbricks
