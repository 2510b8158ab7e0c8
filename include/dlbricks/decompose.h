// Stage 2: decomposition of models into bricks (DLBricks section 3.1, Algorithms 1 and 2).
//
// A brick instance is a window [begin, end) of layer positions in Graph::layers (topological
// order). Its identity (BrickSignature) is a hash of the canonical description of the
// sub-network: the layer signatures in window order plus the internal topology written with
// positions (which layer output feeds which layer input slot, which brick input index, which
// values leave the brick), never names or weight values. Equal ids = the same DL network modulo
// weights (paper section 3.1).
//
// Runnability rules (docs/suite.md "Runnability"):
//  - chain: a window is runnable iff every layer other than the first has at least one data
//    input (activation or graph input) and takes ALL of its data inputs from layers inside the
//    window. The brick inputs are then exactly the first layer's data inputs. This is the
//    paper's "layer sequence is a chain of layers": a single-entry sub-network; a Concat or Add
//    whose producers are not all in the window is not runnable (paper footnote 1), and neither
//    is a window holding two parallel branches fed from outside.
//  - dag: any data input produced outside the window becomes a brick input. A window is
//    runnable iff its layers are weakly connected, where two layers are linked when one feeds
//    the other or both read the same outside tensor. A disconnected window is handled like an
//    unrunnable chain window (Algorithm 2: split off the layer at begin, shift).
//  - overlap (paper section 6, future work): every window [p, p+k), k = 1..G, that is runnable
//    under the chain rule, for every start p. Instances overlap; construction picks the cover
//    (e.g. a DP over positions minimising latency). Edges are not listed in this mode: call
//    BrickEdges on the chosen (non-overlapping) cover.
//  - stitch (a flag on chain or dag, DecomposeOptions::stitch): after a brick of two or more
//    units, the next brick starts at that brick's last unit (the seam) instead of after it, and
//    the seam is a brick of its own. Construction sums the bricks and subtracts the seams.
//    Under a cost model where a brick's latency is the sum of its units and of the interactions
//    between adjacent units inside it, plus terms that depend only on its entry and exit
//    (layout reorders at the boundary, the per-run overhead), the subtraction cancels the entry
//    and exit terms at every seam, so the sum equals the whole chain's latency, and every
//    adjacent pair of units is measured together at least once. When no window of two or more
//    units starting at the seam is runnable, the cut is a plain one (Algorithms 1-2).
// A single layer is always runnable, so every layer is covered in every mode.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dlbricks/graph.h"
#include "dlbricks/hash.h"
#include "dlbricks/status.h"

namespace dlbricks {

enum class DecomposeMode {
  kChain,    // Algorithms 1-2 with the chain runnability rule (paper-faithful)
  kDag,      // same windows; outside tensors become brick inputs
  kOverlap,  // every runnable chain window of 1..G layers at every start (paper section 6)
};

// "chain" | "dag" | "overlap".
std::string DecomposeModeName(DecomposeMode mode);
// Parses a mode name; InvalidArgument naming the accepted values otherwise.
Status ParseDecomposeMode(const std::string& text, DecomposeMode* mode);

// Which layers a runtime fuses into one kernel, so bricks never cut through a fusion.
enum class FusionRules {
  kNone,         // every layer is its own unit (the paper)
  kOnnxRuntime,  // ONNX Runtime CPU, optimisation level basic and above: Conv absorbs a
                 // following BatchNormalization, constant Add/Mul and one activation;
                 // Gemm, and MatMul + constant Add, absorb one activation; x * Sigmoid(x)
                 // and x * HardSigmoid(x) are one unit (SiLU runs as one QuickGelu kernel);
                 // HardSwish (x * HardSigmoid(x), alpha 1/6) on a Conv's output joins the
                 // Conv's unit (the NCHWc convolution's activation)
};
std::string FusionRulesName(FusionRules rules);
// "none" | "onnxruntime"; InvalidArgument otherwise.
Status ParseFusionRules(const std::string& text, FusionRules* rules);

struct DecomposeOptions {
  int granularity = 1;                      // G: maximum units (layers, or fused kernels) per brick; >= 1
  DecomposeMode mode = DecomposeMode::kChain;  // default: the paper's algorithm
  FusionRules fusion = FusionRules::kNone;  // default: none (G counts layers, as in the paper)
  bool stitch = false;  // bricks overlap by one unit, seams subtracted (see above); chain/dag. Default: false
};

// Start positions of the units of Graph::layers under `rules`, plus layers.size() at the end.
// A unit is a run of adjacent layers a runtime executes as one fused kernel (nn-Meter's
// "kernel"): each layer after the first takes its only data input from the previous one,
// which has no other consumer. With kNone every layer is a unit. Algorithms 1 and 2 then
// run over units instead of layers, so G=1 bricks are kernels.
std::vector<int> FusionUnits(const Graph& graph, FusionRules rules);

// One occurrence of a brick in a model: layers [begin, end) of Graph::layers.
struct BrickInstance {
  int begin = 0;
  int end = 0;
  Hash128 id;  // BrickSignature of the window
  int size() const { return end - begin; }
};

struct ModelDecomposition {
  std::string model;                       // Graph::name (never written into a suite)
  int layers = 0;                          // Graph::layers.size()
  std::vector<BrickInstance> bricks;       // in order of begin (then end)
  // Brick-instance index pairs (a, b): a tensor produced in a is consumed in b. Deduplicated,
  // sorted. Empty in overlap mode (see BrickEdges).
  std::vector<std::pair<int, int>> edges;
  // Stitched decompositions: the single-unit instances shared by two consecutive bricks, in
  // order; construction subtracts them. Empty otherwise.
  std::vector<BrickInstance> seams;
};

// The tensors a window exchanges with the rest of the model, in canonical order.
struct BrickInterface {
  // Value ids fed to the brick, in order of first use (layer order, then input slot).
  std::vector<int> inputs;
  // Value ids leaving the brick: produced in the window and consumed outside it, a graph
  // output, or consumed by nobody (so the last layer's work is never dead). Layer order,
  // then output slot.
  std::vector<int> outputs;
};

// Window [begin, end) of graph.layers. REQUIRES: 0 <= begin < end <= graph.layers.size().
bool IsRunnableChain(const Graph& graph, int begin, int end);
bool IsRunnableDag(const Graph& graph, int begin, int end);
BrickInterface WindowInterface(const Graph& graph, int begin, int end);
// Canonical description hashed by BrickSignature (exposed for tests and debugging).
std::string BrickSignatureText(const Graph& graph, int begin, int end);
Hash128 BrickSignature(const Graph& graph, int begin, int end);

// Algorithm 2 (SplitModel), iterative: tries [begin, end); if not runnable, emits the single
// layer at begin and retries [begin+1, end+1) (clamped to the model). Returns the windows
// emitted and sets *next to the end of the last one.
std::vector<std::pair<int, int>> SplitModel(const Graph& graph, int begin, int end, DecomposeMode mode,
                                            int* next);
// The same over units: `units` from FusionUnits; begin/end/next are unit indices and the
// windows returned are layer ranges.
std::vector<std::pair<int, int>> SplitModelUnits(const Graph& graph, const std::vector<int>& units, int begin,
                                                 int end, DecomposeMode mode, int* next);
// Algorithm 1 (FindModelSubgraphs): a non-overlapping cover of all layers by runnable windows
// of at most G layers (chain/dag), or all runnable windows (overlap).
// REQUIRES: options.granularity >= 1.
std::vector<std::pair<int, int>> FindModelSubgraphs(const Graph& graph, const DecomposeOptions& options);

// A stitched cover (DecomposeOptions::stitch): windows in order, each after the first either
// starting at the previous window's last unit (then that unit is a seam) or after it.
struct StitchedCover {
  std::vector<std::pair<int, int>> windows;  // layer ranges
  std::vector<std::pair<int, int>> seams;    // layer ranges of the shared units
};
// REQUIRES: options.granularity >= 1; options.mode is chain or dag.
StitchedCover StitchModelSubgraphs(const Graph& graph, const DecomposeOptions& options);

// Data-flow edges between non-overlapping instances (a -> b when b consumes a tensor made in a).
std::vector<std::pair<int, int>> BrickEdges(const Graph& graph, const std::vector<BrickInstance>& bricks);

// Decomposes one model. InvalidArgument if options.granularity < 1 or stitch with overlap.
Status DecomposeModel(const Graph& graph, const DecomposeOptions& options, ModelDecomposition* out);

// One unique brick across a corpus: its id and where it first occurs (to export it).
struct UniqueBrick {
  Hash128 id;
  int model = 0;     // index into the models given to DecomposeCorpus
  int begin = 0;     // window in that model
  int end = 0;
  int instances = 0; // occurrences across the corpus
};

struct CorpusDecomposition {
  std::vector<ModelDecomposition> models;
  std::vector<UniqueBrick> bricks;  // deduplicated by id, sorted by id (no model order leaks)
  int64_t instances = 0;            // brick instances before dedupe
};

// Decomposes every model and dedupes bricks by id. REQUIRES: no null pointers.
Status DecomposeCorpus(const std::vector<const Graph*>& graphs, const DecomposeOptions& options,
                       CorpusDecomposition* out);

}  // namespace dlbricks
