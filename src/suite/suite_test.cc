// GenerateSuite and `dlbricks generate`: folder format (docs/suite.md), privacy, bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

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

  // Every decoy brick runs like a real one.
  for (const Json& brick : m["bricks"]) {
    onnx::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(testing::ReadFile(dir.File("suite/" + brick["file"].get<std::string>()))));
    EXPECT_NO_THROW(testing::RunOrt(model, testing::RandomInputs(model)));
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
      std::string bytes = AllBytes(o.out_dir);
      EXPECT_EQ(bytes.find("zqx"), std::string::npos);
      EXPECT_EQ(bytes.find("Secret"), std::string::npos);
      for (float v : {1234.5678f, -8765.4321f, 4242.4242f, -31.337f, 777.125f}) {
        char pattern[sizeof(float)];
        std::memcpy(pattern, &v, sizeof v);
        EXPECT_EQ(bytes.find(std::string(pattern, sizeof pattern)), std::string::npos) << v;
      }
      // The mapping (kept private) is where the model name lives.
      EXPECT_NE(testing::ReadFile(o.private_mapping).find("zqxSecretModel"), std::string::npos);
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
