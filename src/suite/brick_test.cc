// Bricks load and run in ONNX Runtime, and with source weights they reproduce the original
// model's intermediate tensors (CONVENTIONS.md 7: test decomposed results against the whole).
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cstring>
#include <map>
#include <set>

#include "dlbricks/suite.h"
#include "ort_test_util.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using testing::FloatTensor;
using testing::TensorMap;

Graph Load(const testing::ModelBuilder& b, const testing::TempDir& dir, const std::string& file) {
  Graph g;
  Status st = LoadGraph(b.Write(dir.path(), file), IngestOptions{}, &g);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return g;
}

// Every window any mode produces for any G, once.
std::set<std::pair<int, int>> AllWindows(const Graph& g) {
  std::set<std::pair<int, int>> windows;
  const int n = static_cast<int>(g.layers.size());
  for (int G = 1; G <= n; ++G) {
    for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag, DecomposeMode::kOverlap}) {
      for (auto w : FindModelSubgraphs(g, DecomposeOptions{G, mode})) windows.insert(w);
    }
  }
  return windows;
}

// SmallConvNet plus a branchy tail (two parallel convs into a Concat), so dag windows with
// several inputs and chain splits both occur.
testing::ModelBuilder BranchyNet() {
  testing::ModelBuilder b = testing::SmallConvNet(3);
  testing::ModelBuilder m;
  m.Input("x", {1, 4, 8, 8});
  m.Weight("wa", {6, 4, 1, 1}).Weight("wb", {6, 4, 3, 3}).Weight("wc", {5, 12, 1, 1});
  m.Node("Conv", {"x", "wa"}, {"a"});
  auto& cb = m.Node("Conv", {"x", "wb"}, {"b"});
  testing::AttrInts(cb, "pads", {1, 1, 1, 1});
  m.Node("Relu", {"b"}, {"br"});
  auto& cat = m.Node("Concat", {"a", "br"}, {"cat"});
  testing::AttrInt(cat, "axis", 1);
  m.Node("Conv", {"cat", "wc"}, {"y"});
  m.Node("Sigmoid", {"y"}, {"out"});
  m.Output("out");
  return m;
}

// Every float weight that may go to the pool goes there (tests use tiny nets).
BrickExportOptions PoolEverything() {
  BrickExportOptions o;
  o.weight_pool = kWeightPoolFile;
  o.pool_min_bytes = 0;
  return o;
}

BrickExportOptions SourceWeights() {
  BrickExportOptions o;
  o.use_source_weights = true;
  return o;
}

// Writes the brick as <dir>/brick.onnx with a pool long enough for it; returns the path.
std::string WriteWithPool(const testing::TempDir& dir, const onnx::ModelProto& model) {
  const std::string path = dir.File("brick.onnx");
  testing::WriteFile(path, model.SerializeAsString());
  EXPECT_TRUE(WriteWeightPool(dir.File(kWeightPoolFile), WeightPoolExtent(model)).ok());
  return path;
}

int ExternalInitializers(const onnx::ModelProto& model) {
  int n = 0;
  for (const auto& t : model.graph().initializer()) n += t.data_location() == onnx::TensorProto::EXTERNAL;
  return n;
}

TEST(BuildBrickModel, EveryBrickRunsInOnnxRuntime) {
  testing::TempDir dir;
  for (const auto& [file, builder] : {std::pair{"small.onnx", testing::SmallConvNet()}, {"branchy.onnx", BranchyNet()}}) {
    Graph g = Load(builder, dir, file);
    std::set<std::pair<int, int>> windows = AllWindows(g);
    ASSERT_GT(windows.size(), g.layers.size());
    int pooled = 0;
    for (auto [begin, end] : windows) {
      SCOPED_TRACE(BrickSignatureText(g, begin, end));
      BrickInterface io = WindowInterface(g, begin, end);
      for (bool pool : {false, true}) {
        onnx::ModelProto model;
        ASSERT_TRUE(BuildBrickModel(g, begin, end, pool ? PoolEverything() : BrickExportOptions{}, &model).ok());
        TensorMap out;
        if (pool) {
          // From a file: ORT and the checker resolve the pool next to it.
          pooled += ExternalInitializers(model);
          const std::string path = WriteWithPool(dir, model);
          EXPECT_NO_THROW(onnx::checker::check_model(path));
          ASSERT_NO_THROW(out = testing::RunOrtFile(path, testing::RandomInputs(model)));
        } else {
          EXPECT_EQ(ExternalInitializers(model), 0);
          EXPECT_NO_THROW(onnx::checker::check_model(model));
          ASSERT_NO_THROW(out = testing::RunOrt(model, testing::RandomInputs(model)));
        }
        ASSERT_EQ(out.size(), io.outputs.size());
        for (size_t k = 0; k < io.outputs.size(); ++k) {
          const FloatTensor& t = out["output_" + std::to_string(k)];
          EXPECT_EQ(t.dims, g.values[static_cast<size_t>(io.outputs[k])].type.dims);
          EXPECT_TRUE(testing::AllFinite(t.data));
        }
      }
    }
    EXPECT_GT(pooled, 0);
  }
}

TEST(BuildBrickModel, SourceWeightsReproduceTheModel) {
  testing::TempDir dir;
  for (const auto& [file, builder] : {std::pair{"small.onnx", testing::SmallConvNet()}, {"branchy.onnx", BranchyNet()}}) {
    Graph g = Load(builder, dir, file);
    onnx::ModelProto original = builder.Build();
    TensorMap tensors = testing::RunWithIntermediates(original, testing::RandomInputs(original, 42));
    for (auto [begin, end] : AllWindows(g)) {
      SCOPED_TRACE(BrickSignatureText(g, begin, end));
      onnx::ModelProto brick;
      ASSERT_TRUE(BuildBrickModel(g, begin, end, SourceWeights(), &brick).ok());
      BrickInterface io = WindowInterface(g, begin, end);
      TensorMap feed;
      for (size_t k = 0; k < io.inputs.size(); ++k) {
        const std::string& source = g.values[static_cast<size_t>(io.inputs[k])].name;
        ASSERT_TRUE(tensors.count(source)) << source;
        feed["input_" + std::to_string(k)] = tensors[source];
      }
      TensorMap out = testing::RunOrt(brick, feed);
      for (size_t k = 0; k < io.outputs.size(); ++k) {
        const std::string& source = g.values[static_cast<size_t>(io.outputs[k])].name;
        ASSERT_TRUE(tensors.count(source)) << source;
        const FloatTensor& got = out["output_" + std::to_string(k)];
        EXPECT_EQ(got.dims, tensors[source].dims);
        EXPECT_LE(testing::RelativeError(got.data, tensors[source].data), 1e-4) << source;
      }
    }
  }
}

// A brick file, ingested again, has the brick's id: identity survives export, with the pool too
// (external data in the brick's own folder).
TEST(BuildBrickModel, ExportedBrickReingestsToTheSameSignature) {
  testing::TempDir dir;
  for (const auto& [file, builder] : {std::pair{"small.onnx", testing::SmallConvNet()}, {"branchy.onnx", BranchyNet()}}) {
    Graph g = Load(builder, dir, file);
    for (auto [begin, end] : AllWindows(g)) {
      SCOPED_TRACE(BrickSignatureText(g, begin, end));
      for (const BrickExportOptions& options : {BrickExportOptions{}, PoolEverything()}) {
        onnx::ModelProto model;
        ASSERT_TRUE(BuildBrickModel(g, begin, end, options, &model).ok());
        const std::string path = WriteWithPool(dir, model);
        Graph brick;
        Status st = LoadGraph(path, IngestOptions{}, &brick);
        ASSERT_TRUE(st.ok()) << st.ToString();
        const int n = static_cast<int>(brick.layers.size());
        ASSERT_EQ(n, end - begin);
        for (int i = 0; i < n; ++i) {
          EXPECT_EQ(brick.layers[static_cast<size_t>(i)].signature, g.layers[static_cast<size_t>(begin + i)].signature);
        }
        EXPECT_EQ(BrickSignature(brick, 0, n), BrickSignature(g, begin, end));
      }
    }
  }
}

TEST(BuildBrickModel, CanonicalNamesAndDeterministicSyntheticWeights) {
  testing::TempDir dir;
  Graph g1 = Load(testing::SmallConvNet(1), dir, "one.onnx");
  Graph g2 = Load(testing::SmallConvNet(9), dir, "two.onnx");  // other weights, same bricks
  const int n = static_cast<int>(g1.layers.size());
  for (int begin = 0; begin < n; ++begin) {
    onnx::ModelProto m1, m2, p1, p2;
    ASSERT_TRUE(BuildBrickModel(g1, begin, begin + 1, BrickExportOptions{}, &m1).ok());
    ASSERT_TRUE(BuildBrickModel(g2, begin, begin + 1, BrickExportOptions{}, &m2).ok());
    EXPECT_EQ(m1.SerializeAsString(), m2.SerializeAsString());
    ASSERT_TRUE(BuildBrickModel(g1, begin, begin + 1, PoolEverything(), &p1).ok());
    ASSERT_TRUE(BuildBrickModel(g2, begin, begin + 1, PoolEverything(), &p2).ok());
    EXPECT_EQ(p1.SerializeAsString(), p2.SerializeAsString());  // pool offsets too
    for (int i = 0; i < m1.graph().input_size(); ++i) EXPECT_EQ(m1.graph().input(i).name(), "input_" + std::to_string(i));
    for (int i = 0; i < m1.graph().output_size(); ++i) EXPECT_EQ(m1.graph().output(i).name(), "output_" + std::to_string(i));
    EXPECT_EQ(m1.graph().node(0).name(), "n0");
    for (const auto& init : m1.graph().initializer()) {
      EXPECT_TRUE(init.name()[0] == 'w' || init.name()[0] == 'c') << init.name();
      if (g1.layers[static_cast<size_t>(begin)].op_type == "BatchNormalization" && init.name() == "w3") {
        const float* v = reinterpret_cast<const float*>(init.raw_data().data());
        for (int64_t k = 0; k < init.dims(0); ++k) EXPECT_GT(v[k], 0.0f);  // variance
      }
    }
  }
}

struct PoolRef {
  std::string location;
  int64_t offset = -1, length = -1;
};

PoolRef RefOf(const onnx::TensorProto& t) {
  PoolRef r;
  for (const auto& e : t.external_data()) {
    if (e.key() == "location") r.location = e.value();
    if (e.key() == "offset") r.offset = std::stoll(e.value());
    if (e.key() == "length") r.length = std::stoll(e.value());
  }
  return r;
}

// Different bricks read different pool bytes; one brick's weights never alias each other.
TEST(BuildBrickModel, PoolOffsetsAreAlignedDisjointAndDifferPerBrick) {
  testing::TempDir dir;
  Graph g = Load(testing::SmallConvNet(), dir, "net.onnx");
  std::map<Hash128, int64_t> first_offset;  // brick id -> offset of its first pooled weight
  for (auto [begin, end] : AllWindows(g)) {
    onnx::ModelProto model;
    ASSERT_TRUE(BuildBrickModel(g, begin, end, PoolEverything(), &model).ok());
    std::vector<PoolRef> refs;
    for (const auto& t : model.graph().initializer()) {
      if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
      PoolRef r = RefOf(t);
      EXPECT_EQ(r.location, kWeightPoolFile);
      EXPECT_EQ(r.offset % kWeightPoolAlignment, 0);
      int64_t elements = 1;
      for (int64_t d : t.dims()) elements *= d;
      EXPECT_EQ(r.length, elements * 4);
      for (const PoolRef& other : refs) {
        EXPECT_TRUE(r.offset >= other.offset + other.length || other.offset >= r.offset + r.length);
      }
      refs.push_back(r);
    }
    if (!refs.empty()) first_offset[BrickSignature(g, begin, end)] = refs.front().offset;
  }
  // Conv alone vs Conv+BN+Relu: different bricks, same first weight shape, other bytes.
  std::set<int64_t> distinct;
  for (const auto& [id, offset] : first_offset) distinct.insert(offset);
  ASSERT_GE(first_offset.size(), 4u);
  EXPECT_EQ(distinct.size(), first_offset.size());
  EXPECT_NE(first_offset[BrickSignature(g, 0, 1)], first_offset[BrickSignature(g, 0, 3)]);
}

// Only large float weights go to the pool: a variance, a divisor, a small bias and integer
// constants stay inline, as before the pool.
TEST(BuildBrickModel, SmallPositiveAndIntegerWeightsStayInline) {
  testing::TempDir dir;
  testing::ModelBuilder b;
  b.Input("x", {1, 2048, 1, 1});
  b.Weight("s", {2048}).Weight("o", {2048}).Weight("m", {2048}).Weight("v", {2048});
  b.Node("BatchNormalization", {"x", "s", "o", "m", "v"}, {"bn"});
  b.Weight("d", {1, 2048, 1, 1}).Weight("a", {1, 2048, 1, 1});
  b.Node("Div", {"bn", "d"}, {"dv"});
  b.Node("Add", {"dv", "a"}, {"ad"});
  b.Weight("cw", {16, 2048, 1, 1}).Weight("cb", {16});
  b.Node("Conv", {"ad", "cw", "cb"}, {"cv"});
  b.Int64s("shape", {1, 16});
  b.Node("Reshape", {"cv", "shape"}, {"r"});
  std::vector<int64_t> idx(1000);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i % 16);
  b.Int64s("idx", idx);
  auto& gather = b.Node("Gather", {"r", "idx"}, {"y"});
  testing::AttrInt(gather, "axis", 1);
  b.Output("y");
  Graph g = Load(b, dir, "inline.onnx");
  const int n = static_cast<int>(g.layers.size());
  ASSERT_EQ(n, 6);
  onnx::ModelProto model;
  BrickExportOptions options;  // default threshold
  options.weight_pool = kWeightPoolFile;
  ASSERT_TRUE(BuildBrickModel(g, 0, n, options, &model).ok());
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : model.graph().initializer()) inits[t.name()] = &t;
  auto external = [&](int node, int slot) {
    const auto* t = inits.at(model.graph().node(node).input(slot));
    return t->data_location() == onnx::TensorProto::EXTERNAL;
  };
  EXPECT_TRUE(external(0, 1) && external(0, 2) && external(0, 3));  // BN scale, bias, mean: 8 KiB
  EXPECT_FALSE(external(0, 4));                                     // BN variance: positive
  EXPECT_FALSE(external(1, 1));                                     // divisor: positive
  EXPECT_TRUE(external(2, 1));                                      // Add operand
  EXPECT_TRUE(external(3, 1));                                      // Conv weight
  EXPECT_FALSE(external(3, 2));                                     // bias: 64 bytes
  EXPECT_FALSE(external(4, 1));                                     // shape: int64 constant
  EXPECT_FALSE(external(5, 1));                                     // indices: int64 constant
  const auto* indices = inits.at(model.graph().node(5).input(1));
  EXPECT_EQ(indices->data_type(), onnx::TensorProto::INT64);
  EXPECT_EQ(ExternalInitializers(model), 5);

  const std::string path = WriteWithPool(dir, model);
  TensorMap out = testing::RunOrtFile(path, testing::RandomInputs(model));
  EXPECT_EQ(out["output_0"].data.size(), 1000u);
  EXPECT_TRUE(testing::AllFinite(out["output_0"].data));
}

TEST(WriteWeightPool, FixedSeedSmallSignedFloatsAndPrefixStable) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteWeightPool(dir.File("a.bin"), 1000).ok());
  ASSERT_TRUE(WriteWeightPool(dir.File("b.bin"), 3 << 20).ok());
  const std::string a = testing::ReadFile(dir.File("a.bin")), b = testing::ReadFile(dir.File("b.bin"));
  EXPECT_EQ(a.size(), 1024u);  // rounded up to the alignment
  EXPECT_EQ(b.size(), size_t{3} << 20);
  EXPECT_EQ(b.substr(0, a.size()), a);  // across the 1 MiB chunking, too
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), b.size());
  float lo = 1, hi = -1;
  for (float x : v) lo = std::min(lo, x), hi = std::max(hi, x);
  EXPECT_GE(lo, -0.1f);
  EXPECT_LT(hi, 0.1f);
  EXPECT_LT(lo, -0.099f);  // the whole range is used
  EXPECT_GT(hi, 0.099f);
  EXPECT_EQ(WriteWeightPool(dir.File("no/such/folder/w.bin"), 64).code(), Status::Code::kIOError);
}

TEST(DescribeBrick, SumsCostsAndListsTypes) {
  testing::TempDir dir;
  Graph g = Load(testing::SmallConvNet(), dir, "net.onnx");
  const int n = static_cast<int>(g.layers.size());
  BrickInfo all = DescribeBrick(g, 0, n);
  EXPECT_EQ(all.layers, n);
  EXPECT_EQ(all.op_types.front(), "Conv");
  EXPECT_DOUBLE_EQ(all.cost.macs, g.totals.macs);
  ASSERT_EQ(all.inputs.size(), 1u);
  EXPECT_EQ(all.inputs[0].dims, (std::vector<int64_t>{1, 3, 16, 16}));
  ASSERT_EQ(all.outputs.size(), 1u);
  EXPECT_EQ(all.outputs[0].dims, (std::vector<int64_t>{1, 10}));
}

TEST(MakeDecoyModel, LoadsAndIsDeterministic) {
  testing::TempDir dir;
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
    onnx::ModelProto m = MakeDecoyModel(seed);
    EXPECT_EQ(m.SerializeAsString(), MakeDecoyModel(seed).SerializeAsString());
    std::string path = dir.File("decoy" + std::to_string(seed) + ".onnx");
    testing::WriteFile(path, m.SerializeAsString());
    Graph g;
    Status st = LoadGraph(path, IngestOptions{}, &g);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_GE(g.layers.size(), 8u);
    EXPECT_GT(g.totals.macs, 0);
  }
  EXPECT_NE(MakeDecoyModel(1).SerializeAsString(), MakeDecoyModel(2).SerializeAsString());
}

}  // namespace
}  // namespace dlbricks
