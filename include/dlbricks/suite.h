// Stage 3: suite export. Each unique brick becomes a standalone ONNX model (static shapes,
// synthetic weights, canonical names) and the suite folder gets a manifest.json; the folder
// format is fixed in docs/suite.md (contract with `run` and `estimate`).
#pragma once

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dlbricks/decompose.h"
#include "dlbricks/graph.h"
#include "dlbricks/status.h"

namespace dlbricks {

inline constexpr int kSuiteSchemaVersion = 1;

// Shared synthetic weight pool (docs/suite.md "Weight pool"): one file of fixed-seed floats per
// suite, next to the brick files; large float weights of every brick are ONNX external data
// into it, so a suite writes each weight byte once instead of once per brick.
inline constexpr char kWeightPoolFile[] = "weights.bin";  // in bricks/
inline constexpr int64_t kWeightPoolAlignment = 64;       // every pool offset is a multiple

struct BrickExportOptions {
  // TEST ONLY: copy the source weight values instead of synthesising them (for comparing a
  // brick with the original model). A suite must never be written with this. Default: false.
  bool use_source_weights = false;
  // Pool file (relative to the brick file's folder) that large synthetic weights reference.
  // Default: "" = every weight inline (a self-contained model that runs from memory).
  std::string weight_pool;
  // Float32 weights of more than this many bytes go to the pool; weights that must be
  // positive (BatchNormalization variance, divisors), other dtypes and constants stay inline.
  // Default: 4096.
  int64_t pool_min_bytes = 4096;
};

// What the manifest says about one brick.
struct BrickInfo {
  Hash128 id;                         // BrickSignature
  std::vector<std::string> op_types;  // one per layer, window order
  int layers = 0;
  std::vector<TensorType> inputs;     // in input_0, input_1, ... order
  std::vector<TensorType> outputs;    // in output_0, ... order
  LayerCost cost;                     // sum over the window's layers
};

BrickInfo DescribeBrick(const Graph& graph, int begin, int end);

// The brick's entry in manifest.json's "bricks" (docs/suite.md): id, file, op types, layers,
// input and output types, whole MACs and FLOPs, params.
nlohmann::ordered_json ManifestBrickJson(const BrickInfo& info);

// Builds the standalone model of window [begin, end) (runnable under the mode it came from):
// graph inputs "input_<k>" (WindowInterface order), outputs "output_<k>", nodes "n<i>",
// activations "t<i>", weights "w<i>" (synthetic: a fixed-seed RNG keyed by the brick id, small
// values, positive where an op needs it, e.g. BatchNormalization variance; with
// options.weight_pool, large ones are external data at pool offsets keyed by the brick id),
// constants "c<i>" (values copied: they are part of the layer signature). Opset imports are
// copied.
// REQUIRES: 0 <= begin < end <= graph.layers.size(). Unsupported for layers holding subgraphs.
Status BuildBrickModel(const Graph& graph, int begin, int end, const BrickExportOptions& options,
                       onnx::ModelProto* model);

// "bricks/<id>.onnx", relative to the suite folder.
std::string BrickFileName(const Hash128& id);

// Bytes of the pool a brick reads: the largest offset + length of its external data (0: none).
int64_t WeightPoolExtent(const onnx::ModelProto& brick);

// Writes a pool of `bytes` bytes (rounded up to kWeightPoolAlignment): float32 uniform in
// [-0.1, 0.1) (SynthesiseWeight's range) from a fixed seed, never from a source model. A
// shorter pool is a prefix of a longer one. Errors: IOError naming the file.
Status WriteWeightPool(const std::string& path, int64_t bytes);

struct SuiteOptions {
  DecomposeOptions decompose;  // G (default 1) and mode (default chain)
  std::string out_dir;         // suite folder (required); created if missing
  // Replace an existing non-empty suite folder (removes its manifest.json and bricks/ only).
  // Default: false = InvalidArgument naming the folder.
  bool force = false;
  // If set, the model -> bricks mapping goes to this file instead of manifest.json, so the suite
  // alone reveals no model. Must lie outside out_dir. Default: "" (mapping in the manifest).
  std::string private_mapping;
  // Dummy models (random plausible conv/gemm chains) decomposed into the suite like real ones
  // (paper section 1); they are not listed in any mapping. Default: 0.
  int decoys = 0;
  // Seed for the decoys. Default: 0 = from std::random_device (a fixed public seed would let
  // anyone regenerate and subtract them); tests set it.
  uint64_t decoy_seed = 0;
  IngestOptions ingest;  // for model paths (input shapes); defaults as in graph.h
  // Large synthetic weights go to bricks/weights.bin, written once. Default: true; false =
  // every weight inline in its brick (the
  // format before the pool).
  bool weight_pool = true;
  int64_t pool_min_bytes = 4096;  // BrickExportOptions::pool_min_bytes. Default: 4096.
  // A weights.bin written by an earlier suite. Pool content is prefix-stable (a shorter pool is
  // the start of a longer one), so when this file is at least as long as the suite needs it is
  // hard-linked into the suite instead of writing the same bytes again; the suite stays
  // self-contained (its own directory entry; copying the folder copies the bytes). Falls back
  // to writing when it is too short or cannot be linked. Default: "" (write).
  std::string shared_pool;
};

struct SuiteSummary {
  std::string suite_dir;       // the folder written
  std::string private_mapping; // the mapping file written ("" when in the manifest)
  int models = 0;              // real input models
  int64_t layers = 0;          // layers in the real models
  int64_t instances = 0;       // brick instances in the real models, before dedupe
  int64_t unique_bricks = 0;   // bricks written (real + decoy)
  int64_t model_bricks = 0;    // unique bricks used by the real models
  int decoys = 0;
  double corpus_macs = 0;      // sum of the real models' MACs
  double suite_macs = 0;       // sum of the MACs of the bricks written
  int64_t pool_bytes = 0;      // size of bricks/weights.bin (0: no brick references a pool)
  std::string pool_path;       // that file ("" without a pool)
  bool pool_linked = false;    // hard-linked from SuiteOptions::shared_pool, not written
  double load_seconds = 0;     // LoadGraph of the input models (0 when given Graphs)
  double generate_seconds = 0; // decoys + decomposition + export + writing
  double decompose_seconds = 0;// of which Algorithms 1-2, signatures and dedupe
};

// Decomposes the models and writes the suite folder (docs/suite.md).
// Errors: G < 1, a non-empty out_dir without force, or an unwritable folder -> InvalidArgument
// naming the folder; bad model files -> the graph module's Status (file + problem).
Status GenerateSuite(const std::vector<std::string>& model_paths, const SuiteOptions& options,
                     SuiteSummary* summary);
// REQUIRES: no null graphs.
Status GenerateSuite(const std::vector<const Graph*>& graphs, const SuiteOptions& options,
                     SuiteSummary* summary);

// One suite per G in `granularities`, from one load of the models: folder
// <options.out_dir>/G<g> for each G, every suite after the first linking the weight pool of
// the earlier ones when long enough (SuiteOptions::shared_pool). options.decompose.granularity
// is ignored. summaries[i] belongs to granularities[i]; summaries[0].load_seconds is the load.
Status GenerateSuites(const std::vector<std::string>& model_paths, const SuiteOptions& options,
                      const std::vector<int>& granularities, std::vector<SuiteSummary>* summaries);

// A random plausible conv/gemm chain (a decoy) with opset `opset`, deterministic in seed.
onnx::ModelProto MakeDecoyModel(uint64_t seed, int64_t opset = 17);

}  // namespace dlbricks
