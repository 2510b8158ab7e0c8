#include <gtest/gtest.h>

#include "dlbricks/analysis.h"

namespace dlbricks {
namespace {

Hash128 H(uint64_t v) { return Hash128{0, v}; }

ModelStats Stats(const std::string& name, std::vector<uint64_t> sigs, int64_t layers) {
  ModelStats m;
  m.name = name;
  m.layers = layers;
  for (uint64_t s : sigs) {
    m.signatures.push_back(H(s));
    m.signature_ops.push_back(s < 10 ? "Conv" : "Relu");
  }
  m.unique_layers = static_cast<int64_t>(sigs.size());
  return m;
}

TEST(SummarizeCorpus, TotalsUniqueAndJaccard) {
  CorpusAnalysis c;
  c.models.push_back(Stats("a", {1, 2, 3, 11}, 10));
  c.models.push_back(Stats("b", {2, 3, 4, 11, 12}, 7));
  c.models.push_back(Stats("c", {20}, 1));
  c.models[0].repeated_by_op = {{"Conv", 4}, {"Relu", 2}};
  c.models[1].repeated_by_op = {{"Conv", 2}};
  SummarizeCorpus(&c);
  EXPECT_EQ(c.total_layers, 18);
  EXPECT_EQ(c.unique_layers, 7);  // {1,2,3,4,11,12,20}
  EXPECT_NEAR(c.unique_percent, 100.0 * 7 / 18, 1e-9);
  EXPECT_EQ(c.repeated_by_op.at("Conv"), 6);
  EXPECT_EQ(c.repeated_by_op.at("Relu"), 2);
  // Shared by >= 2 models: 2, 3 (Conv) and 11 (Relu).
  EXPECT_EQ(c.cross_model_by_op.at("Conv"), 2);
  EXPECT_EQ(c.cross_model_by_op.at("Relu"), 1);
  // |{2,3,11}| / |{1,2,3,4,11,12}| = 3/6.
  EXPECT_DOUBLE_EQ(c.jaccard[0][1], 0.5);
  EXPECT_DOUBLE_EQ(c.jaccard[1][0], 0.5);
  EXPECT_DOUBLE_EQ(c.jaccard[0][2], 0.0);
  EXPECT_DOUBLE_EQ(c.jaccard[2][2], 1.0);
}

TEST(AnalysisJson, CarriesSchemaVersion) {
  CorpusAnalysis c;
  c.models.push_back(Stats("a", {1}, 1));
  SummarizeCorpus(&c);
  std::string j = AnalysisJson(c);
  EXPECT_NE(j.find("\"schema_version\": 1"), std::string::npos);
  EXPECT_NE(j.find("\"unique_layers\": 1"), std::string::npos);
}

}  // namespace
}  // namespace dlbricks
