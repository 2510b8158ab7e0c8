// Backends: run one ONNX model on one inference engine (DESIGN.md "Real components").
// A backend is found by name in a registry; each prepares a model once (session creation,
// synthetic inputs) and then runs it repeatedly inside the measurement protocol.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dlbricks/status.h"

namespace dlbricks {

// Every option that can change a latency is explicit here and recorded in the system
// fingerprint (BackendOptionsRecord), so results are keyed by them.
struct BackendOptions {
  int intra_op_threads = 1;               // threads inside one operator; opencv: cv::setNumThreads
  int inter_op_threads = 1;               // onnxruntime only (parallel execution mode)
  std::string opt_level = "all";          // onnxruntime graph optimisation: disable|basic|extended|all
  std::string execution_mode = "sequential";  // onnxruntime: sequential|parallel
  bool allow_spinning = true;             // onnxruntime thread-pool spinning (ORT default: on)
  // Backend-specific extras as key=value (--backend-option); recorded verbatim.
  // onnxruntime: session config entries (onnxruntime_session_options_config_keys.h), e.g.
  // session.set_denormal_as_zero=1. fake: "latency_scale" (default 1) multiplies every
  // simulated latency; "profile_bias_us" (default 0) is added to every profiled kernel.
  std::map<std::string, std::string> extra;
};

// A graph input's type: ONNX dtype (onnx::TensorProto_DataType) and static dims.
struct TensorInfo {
  std::string name;
  int32_t dtype = 1;  // FLOAT
  std::vector<int64_t> dims;
};

// A model ready to run: session created, synthetic inputs allocated once (outside any
// timed region). Not thread-safe.
class PreparedModel {
 public:
  virtual ~PreparedModel() = default;
  // One inference on the synthetic inputs. The only call inside the timed loop.
  virtual Status Run() = 0;
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  // Float outputs of the last Run(), flattened (for sanity checks such as "all finite").
  virtual Status LastOutputs(std::vector<std::vector<float>>* outputs) const = 0;
  // Reads every byte of the synthetic inputs (one load per cache line), outside any timed
  // region: after a cache flush the inputs are back in cache, as a layer inside a model finds
  // the activation its producer just wrote while its weights were evicted by the layers before
  // (ProtocolOptions::rewarm_inputs). Returns the bytes read. Default: none, 0.
  virtual int64_t TouchInputs() { return 0; }
};

// Time spent in one operator type over one profiled inference (EmBench Fig. 4).
struct OpTypeTime {
  std::string op_type;
  double ms = 0;      // per inference: each kernel's median over the profiled inferences, summed
  double calls = 0;   // kernel invocations per inference
};

// One kernel of the graph an engine actually ran (after its rewrites: fusions, layout
// changes), from a profiled run.
struct NodeTime {
  std::string name, op_type;
  double ms = 0;      // median over the profiled inferences, times calls
  double calls = 0;   // invocations per inference
  std::vector<std::string> inputs, outputs;  // tensor names in the rewritten graph, initializers left out
};

// Called after every inference of a profiling run (Backend::ProfileOps), with the model being
// profiled (so a caller that flushes the caches can re-read its inputs).
using ProfileHook = std::function<void(bool next_profiled, PreparedModel& model)>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Engine version as reported by the engine itself at run time.
  virtual std::string version() const = 0;
  // The options that apply to this backend, normalised to strings (threads, levels, ...).
  virtual std::map<std::string, std::string> RecordOptions(const BackendOptions& options) const = 0;
  // REQUIRES: model_path names an ONNX file with static input shapes (opencv: canonicalised
  // with SaveCanonicalModel). Bad model → Status naming the file.
  virtual Status Prepare(const std::string& model_path, const BackendOptions& options,
                         std::unique_ptr<PreparedModel>* model) = 0;
  // Per-operator profiling, a separate opt-in run: at least `runs` inferences after the
  // warm-up (onnxruntime and opencv share src/backend/profile_loop.h: 10 inferences or 1 s,
  // whichever ends first; then at least 30 ms of inferences, at most 2000), summed by operator
  // type. `on_run` (may be empty) is called after every inference, so a watchdog sees a long
  // profile progress; `next_profiled` is true once the warm-up is over (a caller can then
  // prepare the caches for the next one). Default: Unsupported.
  virtual Status ProfileOps(const std::string& model_path, const BackendOptions& options, int runs,
                            const ProfileHook& on_run, std::vector<OpTypeTime>* times);
  // The same profiling run, kernel by kernel, with each kernel's place in the rewritten graph
  // (what packed profiling needs to tell which packed brick a fused or inserted kernel
  // belongs to). Default: Unsupported.
  virtual Status ProfileNodes(const std::string& model_path, const BackendOptions& options, int runs,
                              const ProfileHook& on_run, std::vector<NodeTime>* nodes);
};

// Kernel times summed by operator type (what ProfileOps reports).
std::vector<OpTypeTime> SumNodesByOpType(const std::vector<NodeTime>& nodes);

// Backends by name: "onnxruntime", "opencv", "fake" (tests only; never a default).
class BackendRegistry {
 public:
  static Status Create(const std::string& name, std::unique_ptr<Backend>* backend);
  static std::vector<std::string> Names();
};

// Checks the option values (levels, modes, thread counts) before any work starts.
Status ValidateBackendOptions(const BackendOptions& options);

// Deterministic synthetic input data: a float tensor is filled from a fixed-seed generator
// in [0, 1); integer and bool tensors are zeros (safe as indices).
void FillSyntheticFloats(int64_t count, uint32_t seed, float* out);

}  // namespace dlbricks
