#include <gtest/gtest.h>

#include <filesystem>

#include "dlbricks/measure.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

ProtocolOptions Preset(const std::string& name) {
  ProtocolOptions o;
  EXPECT_TRUE(ProtocolPreset(name, &o).ok());
  return o;
}

TEST(ProtocolTest, PresetsMatchThePapers) {
  const ProtocolOptions d = Preset("dlbricks");
  EXPECT_EQ(d.min_runs, 100);
  EXPECT_EQ(d.max_runs, 100);
  EXPECT_EQ(d.headline, Headline::kTrimmedMean);
  EXPECT_DOUBLE_EQ(d.trim, 0.2);
  const ProtocolOptions e = Preset("embench");
  EXPECT_EQ(e.warmup_runs, 10);
  EXPECT_EQ(e.min_runs, 50);
  EXPECT_EQ(e.max_runs, 50);
  EXPECT_DOUBLE_EQ(e.cool_off_s, 2);
  EXPECT_EQ(e.headline, Headline::kMin);
  ProtocolOptions o;
  EXPECT_EQ(ProtocolPreset("fastest", &o).ExitCode(), 2);
}

TEST(ProtocolTest, KeyIsPresetNameUnlessChanged) {
  ProtocolOptions d = Preset("dlbricks");
  EXPECT_EQ(ProtocolKey(d), "dlbricks");
  EXPECT_EQ(ProtocolKey(Preset("embench")), "embench");
  d.min_runs = d.max_runs = 20;
  const std::string key = ProtocolKey(d);
  EXPECT_EQ(key.rfind("custom:", 0), 0u);
  EXPECT_EQ(key.size(), 7u + 12u);
  ProtocolOptions d2 = Preset("dlbricks");
  d2.min_runs = d2.max_runs = 20;
  EXPECT_EQ(ProtocolKey(d2), key);
  d2.max_runs = 21;
  EXPECT_NE(ProtocolKey(d2), key);
}

// Keys already in users' stores must never change: custom keys pinned to their values from
// before --rounds existed (rounds = 1 adds nothing to the canonical text).
TEST(ProtocolTest, ExistingCustomKeysAreStable) {
  ProtocolOptions d = Preset("dlbricks");
  d.min_runs = d.max_runs = 20;
  EXPECT_EQ(ProtocolKey(d), "custom:d26ebec1c306");
  ProtocolOptions e = Preset("embench");
  e.cache_flush_bytes = 64 << 20;
  EXPECT_EQ(ProtocolKey(e), "custom:05e27834614c");
  ProtocolOptions a = Preset("auto");
  a.max_time_s = 5;
  EXPECT_EQ(ProtocolKey(a), "custom:dbe040cb66c3");
  ProtocolOptions r = Preset("dlbricks");  // the key docs/results.md quotes for the repro runs
  r.warmup_runs = 2;
  r.min_runs = r.max_runs = 10;
  EXPECT_EQ(ProtocolKey(r), "custom:92c87f628b91");
}

TEST(ProtocolTest, FixedCountStopsExactly) {
  const ProtocolOptions d = Preset("dlbricks");
  EXPECT_FALSE(ShouldStop(d, std::vector<double>(99, 1.0), 10.0));
  EXPECT_TRUE(ShouldStop(d, std::vector<double>(100, 1.0), 0.001));
}

TEST(ProtocolTest, MinTimeAndCapsAndCiTarget) {
  ProtocolOptions o = Preset("auto");  // >= 10 runs, >= 0.5 s, CI within 2%, caps 10000 / 20 s
  std::vector<double> steady(20, 1.0);
  EXPECT_FALSE(ShouldStop(o, steady, 0.4));  // too little time
  EXPECT_TRUE(ShouldStop(o, steady, 0.6));   // CI of identical samples has zero width
  std::vector<double> noisy;
  for (int i = 0; i < 20; ++i) noisy.push_back(1.0 + 0.1 * i);
  EXPECT_FALSE(ShouldStop(o, noisy, 0.6));   // CI half-width ~30% of the median
  EXPECT_TRUE(ShouldStop(o, noisy, 20.0));   // time cap
  std::vector<double> many(10000, 1.0);
  many[0] = 50;
  EXPECT_TRUE(ShouldStop(o, many, 0.01));    // run cap
  // Noise that shrinks with n: 2% is reached once there are enough samples.
  std::vector<double> jitter;
  for (int i = 0; i < 400; ++i) jitter.push_back(1.0 + 0.05 * ((i * 37) % 100) / 100.0);
  EXPECT_TRUE(ShouldStop(o, jitter, 1.0));
}

TEST(ProtocolTest, ValidateRejectsNonsense) {
  ProtocolOptions o = Preset("dlbricks");
  o.max_runs = 10;
  EXPECT_EQ(ValidateProtocol(o).ExitCode(), 2);
  o = Preset("dlbricks");
  o.trim = 0.5;
  EXPECT_FALSE(ValidateProtocol(o).ok());
  o = Preset("dlbricks");
  o.warmup_runs = 0;
  EXPECT_FALSE(ValidateProtocol(o).ok());
}

TEST(ProtocolTest, RoundsSplitTheBudgetAndEnterTheKeyOnlyWhenNotOne) {
  ProtocolOptions o = Preset("dlbricks");
  o.rounds = 1;
  EXPECT_EQ(ProtocolKey(o), "dlbricks");
  o.rounds = 3;
  const std::string key3 = ProtocolKey(o);
  EXPECT_EQ(key3.rfind("custom:", 0), 0u);
  o.rounds = 2;
  EXPECT_NE(ProtocolKey(o), key3);
  o.rounds = 3;
  o.min_time_s = 0.9;
  const ProtocolOptions r = RoundProtocol(o);
  EXPECT_EQ(r.min_runs, 34);  // ceil(100 / 3)
  EXPECT_EQ(r.max_runs, 34);
  EXPECT_DOUBLE_EQ(r.min_time_s, 0.3);
  EXPECT_DOUBLE_EQ(r.max_time_s, 100);
  EXPECT_EQ(r.warmup_runs, o.warmup_runs);
  EXPECT_EQ(r.rounds, 1);
  EXPECT_EQ(ProtocolKey(RoundProtocol(Preset("embench"))), "embench");  // rounds = 1: unchanged
  o.fastest_round = true;  // enters the key; each round is timed plainly
  EXPECT_NE(ProtocolKey(o), ProtocolKey(RoundProtocol(o)));
  EXPECT_NE(ProtocolKey(o), key3);
  EXPECT_FALSE(RoundProtocol(o).fastest_round);
  o.rounds = 1;
  const Status one = ValidateProtocol(o);
  EXPECT_EQ(one.ExitCode(), 2);
  EXPECT_NE(one.message().find("--fastest-round needs --rounds >= 2"), std::string::npos) << one.message();
  o.fastest_round = false;
  o.rounds = 0;
  const Status st = ValidateProtocol(o);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("--rounds must be >= 1"), std::string::npos) << st.message();
}

std::unique_ptr<Backend> Fake() {
  std::unique_ptr<Backend> b;
  EXPECT_TRUE(BackendRegistry::Create("fake", &b).ok());
  return b;
}

TEST(ProtocolTest, TimesFakeModelWithFixedCount) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("m.onnx"), "fake model bytes");
  auto backend = Fake();
  ProtocolOptions o = Preset("dlbricks");
  o.min_runs = o.max_runs = 30;
  ItemTiming t;
  ASSERT_TRUE(TimeModelFile(*backend, dir.File("m.onnx"), BackendOptions{}, o, &t).ok());
  ASSERT_EQ(t.samples_ms.size(), 30u);
  for (double v : t.samples_ms) EXPECT_GE(v, 0.05);
  EXPECT_GE(t.first_run_ms, 0.05);
  EXPECT_GE(t.session_create_ms, 0.0);
  EXPECT_DOUBLE_EQ(t.value_ms, t.stats.trimmed_mean);
  EXPECT_GE(t.wall_s * 1000, t.stats.mean * 30);
  // The latency is the fake's deterministic one: a second measurement agrees.
  ItemTiming t2;
  ASSERT_TRUE(TimeModelFile(*backend, dir.File("m.onnx"), BackendOptions{}, o, &t2).ok());
  EXPECT_NEAR(t2.stats.median, t.stats.median, 0.05 * t.stats.median);
}

TEST(ProtocolTest, CacheFlushIsOutsideTheTimedRegionAndInTheKey) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("m.onnx"), "fake model bytes");
  auto backend = Fake();
  ProtocolOptions o = Preset("dlbricks");
  o.min_runs = o.max_runs = 10;
  o.cache_flush_bytes = 64 << 20;  // rewriting 64 MiB takes milliseconds, far above the fake's latency
  EXPECT_NE(ProtocolKey(o), ProtocolKey(Preset("dlbricks")));
  EXPECT_TRUE(ProtocolKey(o).rfind("custom:", 0) == 0);
  ItemTiming t;
  ASSERT_TRUE(TimeModelFile(*backend, dir.File("m.onnx"), BackendOptions{}, o, &t).ok());
  ASSERT_EQ(t.samples_ms.size(), 10u);
  EXPECT_LT(t.stats.median, 1.0);  // fake latency is 0.05..0.5 ms: the flush is not timed
  EXPECT_GT(t.wall_s * 1000, t.stats.mean * 10);
  o.cache_flush_bytes = -1;
  EXPECT_EQ(ValidateProtocol(o).ExitCode(), 2);
}

// Counts what the protocol does to a model: inferences, and input reads since the last one.
class CountingModel : public PreparedModel {
 public:
  Status Run() override {
    ++runs_;
    if (touched_since_run_) ++runs_after_touch_;
    touched_since_run_ = false;
    return Status::OK();
  }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  Status LastOutputs(std::vector<std::vector<float>>* outputs) const override {
    outputs->clear();
    return Status::OK();
  }
  int64_t TouchInputs() override {
    ++touches_;
    touched_since_run_ = true;
    return 4;
  }
  int runs_ = 0, runs_after_touch_ = 0, touches_ = 0;

 private:
  bool touched_since_run_ = false;
  std::vector<TensorInfo> inputs_;
};

TEST(ProtocolTest, RewarmInputsReadsThemAfterEveryFlush) {
  ProtocolOptions o = Preset("dlbricks");
  o.min_runs = o.max_runs = 12;
  o.warmup_runs = 3;
  o.cache_flush_bytes = 1 << 20;
  {
    CountingModel m;  // flushed only: the inputs are never read again
    ItemTiming t;
    ASSERT_TRUE(TimePreparedModel(m, o, &t).ok());
    EXPECT_EQ(t.samples_ms.size(), 12u);
    EXPECT_EQ(m.touches_, 0);
  }
  const std::string flushed_key = ProtocolKey(o);
  o.rewarm_inputs = true;
  EXPECT_NE(ProtocolKey(o), flushed_key);
  CountingModel m;
  ItemTiming t;
  ASSERT_TRUE(TimePreparedModel(m, o, &t).ok());
  // Every timed run, and only those, follows a flush and then a read of the inputs.
  EXPECT_EQ(m.touches_, 12);
  EXPECT_EQ(m.runs_after_touch_, 12);
  EXPECT_EQ(m.runs_, 12 + 3);
  // Re-warming inputs means nothing without a flush before it.
  o.cache_flush_bytes = 0;
  const Status st = ValidateProtocol(o);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("--rewarm-inputs needs --cache-flush"), std::string::npos) << st.message();
}

TEST(ProtocolTest, AutoStopsOnTimeAndCi) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("m.onnx"), "another fake model");
  auto backend = Fake();
  ProtocolOptions o = Preset("auto");
  o.min_time_s = 0.2;
  o.warmup_s = 0.01;
  ItemTiming t;
  ASSERT_TRUE(TimeModelFile(*backend, dir.File("m.onnx"), BackendOptions{}, o, &t).ok());
  double timed = 0;
  for (double v : t.samples_ms) timed += v;
  EXPECT_GE(timed, 200.0);
  EXPECT_GE(t.samples_ms.size(), 10u);
  EXPECT_LE((t.stats.ci_high - t.stats.ci_low) / 2, 0.02 * t.stats.median);
  EXPECT_DOUBLE_EQ(t.value_ms, t.stats.median);
}

TEST(ProtocolTest, WarmupByTime) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("m.onnx"), "x");
  auto backend = Fake();
  ProtocolOptions o = Preset("dlbricks");
  o.warmup_runs = 1;
  o.warmup_s = 0.15;
  o.min_runs = o.max_runs = 5;
  ItemTiming t;
  ASSERT_TRUE(TimeModelFile(*backend, dir.File("m.onnx"), BackendOptions{}, o, &t).ok());
  EXPECT_GE(t.wall_s, 0.15);
}

TEST(ProtocolTest, LastLevelCacheComesFromSysfs) {
  const int64_t llc = LastLevelCacheBytes();
  EXPECT_GE(llc, 0);
  if (std::filesystem::exists("/sys/devices/system/cpu/cpu0/cache/index0/size")) {
    EXPECT_GE(llc, int64_t{32} << 10);  // at least an L1's size
  }
}

}  // namespace
}  // namespace dlbricks
