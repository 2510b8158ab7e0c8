// GenerateSuite and `dlbricks generate`: folder format (docs/suite.md), privacy, bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "dlbricks/suite.h"
#include "ort_test_util.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

Json ReadJson(const std::string& path) { return Json::parse(testing::ReadFile(path)); }

// A private suite with decoys in <dir>/suite, mapping in <dir>/<mapping>.
SuiteOptions PrivateOptions(const testing::TempDir& dir, int G, DecomposeMode mode, const std::string& mapping,
                            int decoys) {
  SuiteOptions o;
  o.decompose = DecomposeOptions{G, mode};
  o.out_dir = dir.File("suite");
  o.private_mapping = dir.File(mapping);
  o.decoys = decoys;
  o.decoy_seed = 11;
  return o;
}

// Every file of a folder, concatenated (what an attacker could grep).
std::string AllBytes(const std::string& dir) {
  std::string all;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    all += e.path().filename().string() + "\n";
    if (e.is_regular_file()) all += testing::ReadFile(e.path().string());
  }
  return all;
}

TEST(GenerateSuite, WritesTheContractFormat) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  std::string b = testing::SmallConvNet(5).Write(dir.path(), "b.onnx");
  SuiteOptions o;
  o.decompose = DecomposeOptions{2, DecomposeMode::kChain};
  o.out_dir = dir.File("suite");
  SuiteSummary s;
  Status st = GenerateSuite({a, b}, o, &s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Json m = ReadJson(dir.File("suite/manifest.json"));
  EXPECT_EQ(m["schema_version"], 1);
  EXPECT_EQ(m["tool_version"], "0.1.0");
  EXPECT_EQ(m["granularity"], 2);
  EXPECT_EQ(m["mode"], "chain");
  EXPECT_EQ(m["decoys"], 0);
  ASSERT_EQ(m["models"].size(), 2u);
  EXPECT_EQ(s.models, 2);
  EXPECT_EQ(s.unique_bricks, static_cast<int64_t>(m["bricks"].size()));
  EXPECT_EQ(s.instances, 2 * static_cast<int64_t>(m["models"][0]["bricks"].size()));
  EXPECT_EQ(s.model_bricks, s.instances / 2);  // the two models share every brick
  EXPECT_NEAR(s.suite_macs, s.corpus_macs / 2, 1e-6 * s.corpus_macs);
  std::string previous;
  for (const Json& brick : m["bricks"]) {
    std::string id = brick["id"];
    EXPECT_EQ(id.size(), 32u);
    EXPECT_LT(previous, id);  // sorted by id
    previous = id;
    EXPECT_EQ(brick["file"], "bricks/" + id + ".onnx");
    EXPECT_TRUE(fs::exists(dir.File("suite/" + brick["file"].get<std::string>())));
    EXPECT_EQ(brick["op_types"].size(), brick["layers"].get<size_t>());
    EXPECT_EQ(brick["inputs"][0]["dtype"], "f32");
    EXPECT_TRUE(brick["macs"].is_number_integer() && brick["flops"].is_number_integer());
    EXPECT_GE(brick["macs"].get<int64_t>(), 0);
    EXPECT_TRUE(brick.contains("flops") && brick.contains("params") && brick.contains("outputs"));
  }
  // SmallConvNet's weights are all under 4 KiB: every one inline, no pool.
  EXPECT_FALSE(m.contains("weight_pool"));
  EXPECT_EQ(s.pool_bytes, 0);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.File("suite/bricks")), fs::directory_iterator()),
            static_cast<long>(m["bricks"].size()));
  const Json& model = m["models"][0];
  EXPECT_EQ(model["name"], "a");
  int at = 0;
  for (const Json& inst : model["bricks"]) {
    EXPECT_EQ(inst["begin"], at);
    at = inst["end"];
  }
  EXPECT_EQ(at, model["layers"]);
  ASSERT_FALSE(model["edges"].empty());
  EXPECT_EQ(model["edges"][0], Json::array({0, 1}));

  // Same input, same bytes (synthetic weights are keyed by brick id).
  o.out_dir = dir.File("again");
  ASSERT_TRUE(GenerateSuite({a, b}, o, &s).ok());
  EXPECT_EQ(AllBytes(dir.File("suite")), AllBytes(dir.File("again")));
}

TEST(GenerateSuite, StitchedSuiteListsItsSeamsAsBricks) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  SuiteOptions o;
  o.decompose = DecomposeOptions{2, DecomposeMode::kDag, FusionRules::kNone};
  o.decompose.stitch = true;
  o.out_dir = dir.File("suite");
  SuiteSummary s;
  ASSERT_TRUE(GenerateSuite({a}, o, &s).ok());
  Json m = ReadJson(dir.File("suite/manifest.json"));
  EXPECT_EQ(m["stitch"], true);
  EXPECT_EQ(m["fusion"], "none");
  const Json& model = m["models"][0];
  ASSERT_FALSE(model["seams"].empty());
  EXPECT_TRUE(model["edges"].empty());
  std::set<std::string> ids;
  for (const Json& brick : m["bricks"]) ids.insert(brick["id"]);
  for (const Json& seam : model["seams"]) {
    EXPECT_EQ(seam["end"].get<int>() - seam["begin"].get<int>(), 1);
    EXPECT_TRUE(ids.count(seam["id"])) << seam;  // measured like any brick
  }
  // Consecutive bricks overlap exactly at a seam, or meet at a plain cut.
  std::set<int> seam_begins;
  for (const Json& seam : model["seams"]) seam_begins.insert(seam["begin"].get<int>());
  for (size_t i = 1; i < model["bricks"].size(); ++i) {
    int prev_end = model["bricks"][i - 1]["end"], begin = model["bricks"][i]["begin"];
    EXPECT_TRUE(begin == prev_end || (begin == prev_end - 1 && seam_begins.count(begin))) << i;
  }
}

TEST(GenerateSuite, PrivateMappingAndDecoys) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  SuiteOptions o = PrivateOptions(dir, 1, DecomposeMode::kChain, "mapping.json", 3);
  SuiteSummary s;
  Status st = GenerateSuite({a}, o, &s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Json m = ReadJson(dir.File("suite/manifest.json"));
  EXPECT_FALSE(m.contains("models"));
  EXPECT_EQ(m["decoys"], 3);
  EXPECT_GT(s.unique_bricks, s.model_bricks);
  EXPECT_EQ(static_cast<int64_t>(m["bricks"].size()), s.unique_bricks);
  Json mapping = ReadJson(o.private_mapping);
  ASSERT_EQ(mapping["models"].size(), 1u);  // decoys are never listed
  EXPECT_EQ(mapping["models"][0]["name"], "a");
  EXPECT_EQ(mapping["granularity"], 1);

  // Every decoy brick runs like a real one (decoy weights are large: from the pool).
  EXPECT_TRUE(m.contains("weight_pool"));
  for (const Json& brick : m["bricks"]) {
    const std::string path = dir.File("suite/" + brick["file"].get<std::string>());
    onnx::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(testing::ReadFile(path)));
    EXPECT_NO_THROW(testing::RunOrtFile(path, testing::RandomInputs(model)));
  }

  // The mapping may not live inside the suite.
  o.out_dir = dir.File("suite2");
  o.private_mapping = dir.File("suite2/models.json");
  st = GenerateSuite({a}, o, &s);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
}

// A model whose every name and weight is distinctive.
testing::ModelBuilder SecretModel() {
  testing::ModelBuilder b;
  b.Input("zqxInput", {1, 3, 8, 8});
  std::vector<float> pattern(4 * 3 * 3 * 3);
  const float planted[4] = {1234.5678f, -8765.4321f, 4242.4242f, -31.337f};
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = planted[i % 4];
  b.WeightValues("zqxConvWeight", {4, 3, 3, 3}, pattern);
  auto& conv = b.Node("Conv", {"zqxInput", "zqxConvWeight"}, {"zqxConvOut"}, "zqxConvNode");
  testing::AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"zqxConvOut"}, {"zqxReluOut"}, "zqxReluNode");
  b.WeightValues("zqxFcWeight", {4 * 8 * 8, 5}, std::vector<float>(4 * 8 * 8 * 5, 777.125f));
  b.Node("Flatten", {"zqxReluOut"}, {"zqxFlat"}, "zqxFlattenNode");
  b.Node("MatMul", {"zqxFlat", "zqxFcWeight"}, {"zqxLogits"}, "zqxMatMulNode");
  b.Output("zqxLogits");
  return b;
}

TEST(GenerateSuite, NoSourceNameOrWeightByteInTheSuite) {
  testing::TempDir dir;
  onnx::ModelProto proto = SecretModel().Build();
  proto.mutable_graph()->set_name("zqxGraphName");
  std::string path = dir.File("zqxSecretModel.onnx");
  testing::WriteFile(path, proto.SerializeAsString());
  for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag, DecomposeMode::kOverlap}) {
    for (int G : {1, 2, 4}) {
      SuiteOptions o = PrivateOptions(dir, G, mode, "private.json", 1);
      o.force = true;
      SuiteSummary s;
      Status st = GenerateSuite({path}, o, &s);
      ASSERT_TRUE(st.ok()) << st.ToString();
      // The FC weight (5 KiB) is pooled: the pool file is grepped like every other byte.
      const std::string pool = testing::ReadFile(o.out_dir + "/bricks/" + kWeightPoolFile);
      ASSERT_GT(pool.size(), 5120u);
      std::string bytes = AllBytes(o.out_dir);
      ASSERT_NE(bytes.find(pool), std::string::npos);
      // Every source name, whole, in every byte; the 3-byte prefix outside the pool (4 MiB of
      // random bytes hold any given 3 bytes with probability ~1/4).
      for (const char* name : {"zqxInput", "zqxConvWeight", "zqxConvOut", "zqxConvNode", "zqxReluOut", "zqxReluNode",
                               "zqxFcWeight", "zqxFlat", "zqxFlattenNode", "zqxLogits", "zqxMatMulNode",
                               "zqxGraphName", "zqxSecretModel"}) {
        EXPECT_EQ(bytes.find(name), std::string::npos) << name;
      }
      std::string outside_pool = bytes;
      outside_pool.erase(outside_pool.find(pool), pool.size());
      EXPECT_EQ(outside_pool.find("zqx"), std::string::npos);
      EXPECT_EQ(outside_pool.find("Secret"), std::string::npos);
      for (float v : {1234.5678f, -8765.4321f, 4242.4242f, -31.337f, 777.125f}) {
        char pattern[sizeof(float)];
        std::memcpy(pattern, &v, sizeof v);
        EXPECT_EQ(bytes.find(std::string(pattern, sizeof pattern)), std::string::npos) << v;
        EXPECT_EQ(pool.find(std::string(pattern, sizeof pattern)), std::string::npos) << v;
      }
      // The mapping (kept private) is where the model name lives.
      EXPECT_NE(testing::ReadFile(o.private_mapping).find("zqxSecretModel"), std::string::npos);
    }
  }
}

// Conv weights of 9-18 KiB (pooled), a BatchNormalization and a 1.3 KiB Gemm (inline).
testing::ModelBuilder WideConvNet(uint32_t seed) {
  testing::ModelBuilder b;
  b.Input("x", {1, 16, 8, 8});
  b.Weight("w1", {16, 16, 3, 3}, seed);
  testing::AttrInts(b.Node("Conv", {"x", "w1"}, {"c1"}), "pads", {1, 1, 1, 1});
  b.Weight("s", {16}, seed + 1).Weight("o", {16}, seed + 2).Weight("m", {16}, seed + 3);
  b.WeightValues("v", {16}, std::vector<float>(16, 1.0f));
  b.Node("BatchNormalization", {"c1", "s", "o", "m", "v"}, {"bn"});
  b.Node("Relu", {"bn"}, {"r1"});
  b.Weight("w2", {32, 16, 3, 3}, seed + 4);
  b.Node("Conv", {"r1", "w2"}, {"c2"});
  b.Node("Relu", {"c2"}, {"r2"});
  b.Node("GlobalAveragePool", {"r2"}, {"gap"});
  b.Node("Flatten", {"gap"}, {"flat"});
  b.Weight("fc", {32, 10}, seed + 5);
  b.Node("MatMul", {"flat", "fc"}, {"y"});
  b.Output("y");
  return b;
}

// The pool is written once per suite, every large weight of every brick references it (and
// nothing else does), bricks run from the suite folder and re-ingest to their ids.
TEST(GenerateSuites, OneLoadManyGsOnePoolWritten) {
  testing::TempDir dir;
  std::string a = WideConvNet(1).Write(dir.path(), "a.onnx");
  std::string b = WideConvNet(7).Write(dir.path(), "b.onnx");
  SuiteOptions o;
  o.decompose.mode = DecomposeMode::kDag;
  o.out_dir = dir.File("suites");
  std::vector<SuiteSummary> s;
  Status st = GenerateSuites({a, b}, o, {1, 2, 3}, &s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_GT(s[0].load_seconds, 0);
  int written = 0;
  for (int g : {1, 2, 3}) {
    const SuiteSummary& one = s[static_cast<size_t>(g - 1)];
    EXPECT_EQ(one.suite_dir, dir.File("suites/G" + std::to_string(g)));
    Json m = ReadJson(one.suite_dir + "/manifest.json");
    EXPECT_EQ(m["granularity"], g);
    ASSERT_TRUE(m.contains("weight_pool"));
    const std::string pool = one.suite_dir + "/bricks/weights.bin";
    EXPECT_EQ(m["weight_pool"]["bytes"].get<int64_t>(), static_cast<int64_t>(fs::file_size(pool)));
    if (one.pool_linked) {
      EXPECT_TRUE(fs::equivalent(pool, s[0].pool_path) || fs::equivalent(pool, s[1].pool_path));
    } else {
      ++written;
    }
    // The same suite as GenerateSuite writes, apart from a linked pool's length.
    SuiteOptions single = o;
    single.decompose.granularity = g;
    single.out_dir = dir.File("single" + std::to_string(g));
    SuiteSummary alone;
    ASSERT_TRUE(GenerateSuite({a, b}, single, &alone).ok());
    EXPECT_EQ(alone.unique_bricks, one.unique_bricks);
    for (const Json& brick : m["bricks"]) {
      const std::string file = brick["file"];
      EXPECT_EQ(testing::ReadFile(one.suite_dir + "/" + file), testing::ReadFile(single.out_dir + "/" + file)) << file;
    }
  }
  EXPECT_GE(written, 1);
  // A long enough shared pool is always linked, a short one never.
  const std::string long_pool = dir.File("long.bin"), short_pool = dir.File("short.bin");
  ASSERT_TRUE(WriteWeightPool(long_pool, 64 << 20).ok());
  ASSERT_TRUE(WriteWeightPool(short_pool, 64).ok());
  SuiteOptions linked = o;
  linked.decompose.granularity = 2;
  linked.out_dir = dir.File("linked");
  linked.shared_pool = long_pool;
  SuiteSummary ls;
  ASSERT_TRUE(GenerateSuite({a, b}, linked, &ls).ok());
  EXPECT_TRUE(ls.pool_linked);
  EXPECT_TRUE(fs::equivalent(long_pool, ls.pool_path));
  linked.out_dir = dir.File("unlinked");
  linked.shared_pool = short_pool;
  ASSERT_TRUE(GenerateSuite({a, b}, linked, &ls).ok());
  EXPECT_FALSE(ls.pool_linked);
  EXPECT_FALSE(fs::equivalent(short_pool, ls.pool_path));
  // A folder already in use is refused before anything is written.
  EXPECT_EQ(GenerateSuites({a, b}, o, {1, 2}, &s).code(), Status::Code::kInvalidArgument);
}

TEST(GenerateSuite, OneWeightPoolReferencedByTheBricks) {
  testing::TempDir dir;
  std::string a = WideConvNet(1).Write(dir.path(), "a.onnx");
  std::string b = WideConvNet(7).Write(dir.path(), "b.onnx");
  for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag}) {
    SuiteOptions o;
    o.decompose = DecomposeOptions{2, mode};
    o.out_dir = dir.File("suite");
    o.force = true;
    SuiteSummary s;
    Status st = GenerateSuite({a, b}, o, &s);
    ASSERT_TRUE(st.ok()) << st.ToString();
    Json m = ReadJson(dir.File("suite/manifest.json"));
    ASSERT_TRUE(m.contains("weight_pool"));
    EXPECT_EQ(m["weight_pool"]["file"], "bricks/weights.bin");
    EXPECT_EQ(m["weight_pool"]["dtype"], "f32");
    const std::string pool_path = dir.File("suite/bricks/weights.bin");
    const int64_t pool_bytes = static_cast<int64_t>(fs::file_size(pool_path));
    EXPECT_EQ(m["weight_pool"]["bytes"].get<int64_t>(), pool_bytes);
    EXPECT_EQ(s.pool_bytes, pool_bytes);
    EXPECT_EQ(pool_bytes % kWeightPoolAlignment, 0);
    // Only the bricks and the one pool in bricks/.
    std::set<std::string> files;
    for (const auto& e : fs::directory_iterator(dir.File("suite/bricks"))) files.insert(e.path().filename().string());
    std::set<std::string> expected = {kWeightPoolFile};
    for (const Json& brick : m["bricks"]) expected.insert(fs::path(brick["file"].get<std::string>()).filename().string());
    EXPECT_EQ(files, expected);

    int64_t extent = 0;
    int pooled_bricks = 0;
    for (const Json& brick : m["bricks"]) {
      const std::string path = dir.File("suite/" + brick["file"].get<std::string>());
      onnx::ModelProto model;
      ASSERT_TRUE(model.ParseFromString(testing::ReadFile(path)));
      for (const auto& t : model.graph().initializer()) {
        if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
        EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT);
        for (const auto& e : t.external_data()) {
          if (e.key() == "location") {
            EXPECT_EQ(e.value(), kWeightPoolFile);
          }
        }
      }
      const int64_t brick_extent = WeightPoolExtent(model);
      pooled_bricks += brick_extent > 0;
      extent = std::max(extent, brick_extent);
      auto out = testing::RunOrtFile(path, testing::RandomInputs(model));
      for (const auto& [name, t] : out) EXPECT_TRUE(testing::AllFinite(t.data)) << name;
      Graph g;
      ASSERT_TRUE(LoadGraph(path, IngestOptions{}, &g).ok());
      EXPECT_EQ(BrickSignature(g, 0, static_cast<int>(g.layers.size())).Hex(), brick["id"]);
    }
    EXPECT_GE(pooled_bricks, 2);                                // both convs' bricks
    EXPECT_GT(extent, pool_bytes - kWeightPoolAlignment);       // as long as needed, no longer
    EXPECT_LE(extent, pool_bytes);

    // Fixed seed: the pool is the same bytes whatever the models (a prefix of any longer pool).
    ASSERT_TRUE(WriteWeightPool(dir.File("reference.bin"), pool_bytes + 4096).ok());
    const std::string pool = testing::ReadFile(pool_path);
    EXPECT_EQ(testing::ReadFile(dir.File("reference.bin")).substr(0, pool.size()), pool);

    // Byte-identical on regeneration, pool included.
    o.out_dir = dir.File("again");
    ASSERT_TRUE(GenerateSuite({a, b}, o, &s).ok());
    EXPECT_EQ(AllBytes(dir.File("suite")), AllBytes(dir.File("again")));

    // Without the pool: every weight inline, no pool file, no manifest entry.
    o.weight_pool = false;
    ASSERT_TRUE(GenerateSuite({a, b}, o, &s).ok());
    EXPECT_FALSE(fs::exists(dir.File("again/bricks/weights.bin")));
    EXPECT_FALSE(ReadJson(dir.File("again/manifest.json")).contains("weight_pool"));
    EXPECT_EQ(s.pool_bytes, 0);
    for (const auto& e : fs::directory_iterator(dir.File("again/bricks"))) {
      onnx::ModelProto model;
      ASSERT_TRUE(model.ParseFromString(testing::ReadFile(e.path().string())));
      EXPECT_EQ(WeightPoolExtent(model), 0);
    }
  }
}

TEST(GenerateSuite, RejectsBadOptionsBeforeLoading) {
  testing::TempDir dir;
  SuiteOptions o;
  o.out_dir = dir.File("suite");
  o.decompose.granularity = 0;
  SuiteSummary s;
  EXPECT_EQ(GenerateSuite(std::vector<std::string>{"/nonexistent.onnx"}, o, &s).code(),
            Status::Code::kInvalidArgument);
  o.decompose.granularity = 1;
  o.private_mapping = dir.File("no/such/folder/mapping.json");
  Status st = GenerateSuite(std::vector<std::string>{"/nonexistent.onnx"}, o, &s);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("no/such/folder/mapping.json"), std::string::npos);
  o.private_mapping.clear();
  st = GenerateSuite(std::vector<std::string>{dir.File("missing.onnx")}, o, &s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing.onnx"), std::string::npos);
}

// ---- CLI ----

TEST(GenerateCli, PrintsSummaryAndJson) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  auto r = testing::RunCli({"generate", a, "-G", "3", "--mode", "dag", "-o", dir.File("s")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("unique bricks"), std::string::npos);
  r = testing::RunCli({"generate", a, "-G", "2", "-o", dir.File("s"), "--force", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["granularity"], 2);
  EXPECT_EQ(j["models"], 1);
  EXPECT_GT(j["brick_instances"].get<int>(), 0);
  EXPECT_EQ(ReadJson(dir.File("s/manifest.json"))["granularity"], 2);
}

// `dlbricks run` measures a pool suite with ONNX Runtime (it resolves the pool next to each brick).
TEST(GenerateCli, PoolSuiteRunsWithOnnxRuntime) {
  testing::TempDir dir;
  std::string a = WideConvNet(1).Write(dir.path(), "a.onnx");
  auto r = testing::RunCli({"generate", a, "-G", "2", "-o", dir.File("s")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json m = ReadJson(dir.File("s/manifest.json"));
  ASSERT_TRUE(m.contains("weight_pool"));
  r = testing::RunCli({"run", dir.File("s"), "--backend", "onnxruntime", "--warmup-runs", "1", "--min-runs", "3",
                       "--max-runs", "3", "--db", dir.File("r.db"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["measured"].get<size_t>(), m["bricks"].size());
}

void ExpectBadInput(const testing::CommandResult& r, const std::string& needle) {
  testing::ExpectOneLineError(r, needle);
  EXPECT_EQ(r.err.rfind("dlbricks: ", 0), 0u) << r.err;
}

TEST(GenerateCli, BadInput) {
  testing::TempDir dir;
  std::string a = testing::SmallConvNet(1).Write(dir.path(), "a.onnx");
  ExpectBadInput(testing::RunCli({"generate", a, "-G", "0", "-o", dir.File("s")}), "G");
  ExpectBadInput(testing::RunCli({"generate", a, "-G", "1", "--mode", "tree", "-o", dir.File("s")}), "tree");
  // Unwritable: below a regular file, and inside /proc.
  ExpectBadInput(testing::RunCli({"generate", a, "-G", "1", "-o", a + "/suite"}), a + "/suite");
  ExpectBadInput(testing::RunCli({"generate", a, "-G", "1", "-o", "/proc/dlbricks-suite"}), "/proc/dlbricks-suite");
  // Non-empty folder without --force.
  fs::create_directories(dir.File("full"));
  testing::WriteFile(dir.File("full/notes.txt"), "mine");
  ExpectBadInput(testing::RunCli({"generate", a, "-G", "1", "-o", dir.File("full")}), dir.File("full"));
  EXPECT_EQ(testing::ReadFile(dir.File("full/notes.txt")), "mine");
  EXPECT_EQ(testing::RunCli({"generate", a, "-G", "1", "-o", dir.File("full"), "--force"}).exit_code, 0);
  EXPECT_EQ(testing::ReadFile(dir.File("full/notes.txt")), "mine");  // --force replaces only the suite
  // Bad model files: the graph module's message names the file.
  testing::WriteFile(dir.File("junk.onnx"), "not a model at all");
  ExpectBadInput(testing::RunCli({"generate", dir.File("junk.onnx"), "-G", "1", "-o", dir.File("j")}), "junk.onnx");
  ExpectBadInput(testing::RunCli({"generate", dir.File("none.onnx"), "-G", "1", "-o", dir.File("k")}), "none.onnx");
}

}  // namespace
}  // namespace dlbricks
