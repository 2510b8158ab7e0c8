#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>

#include "dlbricks/report.h"
#include "report_testing.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

using nlohmann::json;

// A report with fixed context and two small tables: the golden reporters' input.
ReportData GoldenData() {
  ReportData d;
  d.title = "golden";
  d.generated_at = "2026-01-02T03:04:05Z";
  d.tool_version = "0.1.0";
  d.host = "testhost";
  d.db_path = "r.db";
  d.inputs = {"r.db"};
  ReportSystem s;
  s.label = "S1";
  s.id = "0123456789abcdef0123456789abcdef";
  s.fingerprint_json = R"({"backend":{"name":"fake","options":{"threads":"1"},"version":"1"},"cpu":{"logical_cores":2,"model":"TestCPU"},"memory_mib":2048})";
  s.summary = SystemSummary(s.fingerprint_json);
  s.protocols = {"dlbricks"};
  s.model_rows = 2;
  d.systems.push_back(s);
  ReportFigure f;
  f.id = "fig_a";
  f.title = "A";
  f.source = "Paper Fig. 1";
  f.table.columns = {"system", "model", "batch", "latency_ms"};
  f.table.rows = {{std::string("S1"), std::string("net,1"), int64_t{1}, 0.25},
                  {std::string("S1"), std::string("net \"2\""), int64_t{2}, std::monostate{}}};
  f.vega_lite = R"({"mark":"point"})";
  d.figures.push_back(f);
  ReportFigure missing;
  missing.id = "fig_b";
  missing.title = "B";
  missing.source = "Paper Fig. 2";
  missing.missing = "run `dlbricks measure`";
  d.figures.push_back(missing);
  return d;
}

TEST(ReportReporters, GoldenCsv) {
  EXPECT_EQ(ReportCsv(GoldenData()),
            "table,label,system_id,system,protocols\n"
            "systems,S1,0123456789abcdef0123456789abcdef,\"TestCPU, 2 cores, 2 GiB; fake 1 (threads=1)\",dlbricks\n"
            "\n"
            "table,system,model,batch,latency_ms\n"
            "fig_a,S1,\"net,1\",1,0.25\n"
            "fig_a,S1,\"net \"\"2\"\"\",2,\n");
}

TEST(ReportReporters, GoldenJson) {
  const json j = json::parse(ReportJson(GoldenData()));
  const json expected = json::parse(R"j({
    "schema_version": 1, "command": "report",
    "context": {"dlbricks_version": "0.1.0", "host": "testhost", "date": "2026-01-02T03:04:05Z"},
    "title": "golden", "inputs": ["r.db"],
    "systems": [{"label": "S1", "id": "0123456789abcdef0123456789abcdef",
                 "summary": "TestCPU, 2 cores, 2 GiB; fake 1 (threads=1)",
                 "fingerprint": {"backend": {"name": "fake", "options": {"threads": "1"}, "version": "1"},
                                 "cpu": {"logical_cores": 2, "model": "TestCPU"}, "memory_mib": 2048},
                 "protocols": ["dlbricks"], "brick_rows": 0, "model_rows": 2, "op_profile_rows": 0,
                 "prediction_rows": 0}],
    "suite": {"columns": [], "rows": []},
    "figures": [
      {"id": "fig_a", "title": "A", "source": "Paper Fig. 1", "present": true,
       "columns": ["system", "model", "batch", "latency_ms"],
       "rows": [["S1", "net,1", 1, 0.25], ["S1", "net \"2\"", 2, null]]},
      {"id": "fig_b", "title": "B", "source": "Paper Fig. 2", "present": false,
       "missing": "run `dlbricks measure`", "columns": [], "rows": []}]})j");
  EXPECT_EQ(j, expected) << j.dump(2);
}

TEST(ReportReporters, HtmlIsSelfContained) {
  ReportData d = GoldenData();
  d.figures[0].table.rows[0][1] = std::string("</script><b>x</b>");
  const std::string html = ReportHtml(d);
  // Vega, Vega-Lite and vega-embed are inlined; nothing is fetched.
  EXPECT_NE(html.find("vegaEmbed"), std::string::npos);
  EXPECT_NE(html.find("vegaLite"), std::string::npos);
  EXPECT_GT(html.size(), 700000u);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // Text from the data never closes a script element or injects markup.
  EXPECT_EQ(html.find("<b>x</b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"), std::string::npos);
  const std::string specs = html.substr(html.find("id=\"dlb-specs\""));
  EXPECT_EQ(specs.find("</script><b>"), std::string::npos);
  EXPECT_NE(specs.find("\\u003c/script><b>x\\u003c/b>"), std::string::npos);
  EXPECT_NE(html.find("data-expected=\"1\""), std::string::npos);
  EXPECT_NE(html.find("Left out: run `dlbricks measure`"), std::string::npos);
  EXPECT_NE(html.find("S1 fingerprint"), std::string::npos);
}

TEST(ReportReporters, WriteReportPicksFormatByExtension) {
  testing::TempDir dir;
  const ReportData d = GoldenData();
  ASSERT_TRUE(WriteReport(d, dir.File("r.json")).ok());
  EXPECT_EQ(testing::ReadFile(dir.File("r.json")), ReportJson(d));
  ASSERT_TRUE(WriteReport(d, dir.File("r.csv")).ok());
  EXPECT_EQ(testing::ReadFile(dir.File("r.csv")), ReportCsv(d));
  Status st = WriteReport(d, dir.File("r.pdf"));
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("r.pdf"), std::string::npos);
  st = WriteReport(d, dir.File("no/such/dir/r.html"));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("r.html"), std::string::npos);
}

TEST(SystemSummary, NamesCpuMemoryBackend) {
  EXPECT_EQ(SystemSummary(R"({"cpu":{"model":"X","logical_cores":8},"memory_mib":16384,)"
                          R"("backend":{"name":"onnxruntime","version":"1.30.0","options":{"threads":"4"}}})"),
            "X, 8 cores, 16 GiB; onnxruntime 1.30.0 (threads=4)");
  EXPECT_EQ(SystemSummary("not json"), "unknown system");
}

TEST(ParseValidationJson, RoundTripsValidationJson) {
  ValidationReport r;
  r.system_id = "ab";
  r.fingerprint_json = R"({"cpu":{"model":"X"}})";
  r.protocol = "dlbricks";
  r.construction = "sequential";
  r.mode = "chain";
  r.rows = {{"m", 2, 1.5, 2.0, 0.75, 4, 0}};
  GranularitySummary g;
  g.granularity = 2;
  g.models = 1;
  g.instances = 4;
  g.unique_bricks = 3;
  g.geomean_normalised = 0.75;
  g.speedup_latency = 1.25;
  r.summaries = {g};
  ValidationReport back;
  Status st = ParseValidationJson(ValidationJson(r), "v.json", &back);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(back.system_id, "ab");
  ASSERT_EQ(back.rows.size(), 1u);
  EXPECT_EQ(back.rows[0].model, "m");
  EXPECT_EQ(back.rows[0].granularity, 2);
  EXPECT_DOUBLE_EQ(back.rows[0].normalised, 0.75);
  ASSERT_EQ(back.summaries.size(), 1u);
  EXPECT_EQ(back.summaries[0].unique_bricks, 3);
  EXPECT_DOUBLE_EQ(back.summaries[0].speedup_latency, 1.25);
  EXPECT_EQ(json::parse(back.fingerprint_json)["cpu"]["model"], "X");
}

TEST(ParseValidationJson, BadFilesNameTheFileAndTheProblem) {
  ValidationReport r;
  for (const char* text : {"", "[1]", R"({"schema_version":1})", R"({"schema_version":"1"})",
                           R"({"schema_version":1,"system_id":"a","protocol":"p","models":[{"model":"m"}],"granularities":[]})"}) {
    Status st = ParseValidationJson(text, "v.json", &r);
    EXPECT_EQ(st.ExitCode(), 2) << text;
    EXPECT_EQ(st.message().rfind("v.json: ", 0), 0u) << st.message();
  }
  EXPECT_EQ(ParseValidationJson(R"({"schema_version":2})", "v.json", &r).ExitCode(), 2);
}

// Every figure from hand-made sources: present iff its data is.
TEST(BuildFigures, LeavesOutFiguresWithoutDataAndNamesTheCommand) {
  ReportSources none;
  std::vector<ReportFigure> figs = BuildFigures(none);
  ASSERT_EQ(figs.size(), 10u);
  for (const ReportFigure& f : figs) {
    EXPECT_FALSE(f.missing.empty()) << f.id;
    EXPECT_NE(f.missing.find("dlbricks"), std::string::npos) << f.id;
  }
  EXPECT_NE(figs[3].missing.find("dlbricks validate"), std::string::npos);
  EXPECT_NE(figs[6].missing.find("dlbricks measure"), std::string::npos);
  EXPECT_EQ(figs[9].id, "resperfnet_fig4_predicted_vs_measured");
  EXPECT_NE(figs[9].missing.find("dlbricks predictor eval P.dlbp --db FILE"), std::string::npos);
}

TEST(BuildFigures, ThroughputFlopsAndOpShareFromRows) {
  ReportSources src;
  src.model_costs.push_back({"net", "sig", 2e9, 10});
  Measurement m;
  m.key = {"sys", "model", "sig", 4, "embench"};
  m.name = "renamed";  // matched by signature
  m.value_ms = 8;
  src.model_rows.emplace_back("S1", m);
  src.op_profiles.push_back({"S1", {"sys", "model", "sig", 1, "net", "Conv", 3, 1}});
  src.op_profiles.push_back({"S1", {"sys", "model", "sig", 1, "net", "Relu", 1, 1}});
  src.op_profiles.push_back({"S1", {"sys", "model", "sig", 8, "net", "Conv", 50, 1}});  // larger batch: ignored
  std::vector<ReportFigure> figs = BuildFigures(src);
  auto find = [&](const std::string& id) -> const ReportFigure& {
    for (const ReportFigure& f : figs)
      if (f.id == id) return f;
    ADD_FAILURE() << id;
    return figs[0];
  };
  const ReportFigure& f1 = find("embench_fig1_flops_vs_latency");
  ASSERT_TRUE(f1.missing.empty()) << f1.missing;
  ASSERT_EQ(f1.table.rows.size(), 1u);
  EXPECT_DOUBLE_EQ(std::get<double>(f1.table.rows[0][4]), 8.0);  // 2 GFLOPs x batch 4
  const ReportFigure& f2 = find("embench_fig2_throughput_vs_batch");
  EXPECT_DOUBLE_EQ(std::get<double>(f2.table.rows[0][5]), 500.0);  // 4 / 8 ms
  const ReportFigure& f4 = find("embench_fig4_op_time_share");
  ASSERT_EQ(f4.table.rows.size(), 2u);
  EXPECT_DOUBLE_EQ(std::get<double>(f4.table.rows[0][7]), 75.0);
  EXPECT_DOUBLE_EQ(std::get<double>(f4.table.rows[1][7]), 25.0);
  // Specs are valid JSON naming their table's columns.
  for (const ReportFigure& f : figs) {
    if (!f.missing.empty()) continue;
    const json spec = json::parse(f.vega_lite);
    const json& body = spec.contains("spec") ? spec["spec"] : spec;
    const json encoding = body.contains("encoding") ? body["encoding"] : json::object();
    for (const auto& [channel, enc] : encoding.items()) {
      if (!enc.contains("field") || enc["field"] == "speedup" || enc["field"] == "definition") continue;
      EXPECT_NE(std::find(f.table.columns.begin(), f.table.columns.end(), enc["field"]), f.table.columns.end())
          << f.id << " " << channel;
    }
  }
}

TEST(TableCsv, InspectAndAnalyzeRows) {
  testing::TempDir dir;
  const std::string path = testing::SmallConvNet(1).Write(dir.path(), "net.onnx");
  Graph g;
  ASSERT_TRUE(LoadGraph(path, {}, &g).ok());
  const std::string inspect = InspectCsv(g);
  EXPECT_EQ(std::count(inspect.begin(), inspect.end(), '\n'), 1 + static_cast<long>(g.layers.size()));
  EXPECT_EQ(inspect.rfind("index,name,op,domain,inputs,weights,outputs,signature,macs,", 0), 0u);
  EXPECT_NE(inspect.find("\n0,"), std::string::npos);
  EXPECT_NE(inspect.find(",Conv,,f32[1x3x16x16],"), std::string::npos) << inspect;
  CorpusAnalysis corpus;
  ASSERT_TRUE(AnalyzeCorpus({path, path}, {}, &corpus).ok());
  const std::string analyze = AnalysisCsv(corpus);
  EXPECT_EQ(analyze.substr(0, analyze.find('\n')),
            "model,path,opset,layers,unique_layers,unique_percent,repeated_layers,macs,flops,params");
  EXPECT_NE(analyze.find("\nnet," + path + ",17,9,8,88.8889,1,"), std::string::npos) << analyze;
}

class GatherReportTest : public report_testing::FakeWorldTest {};

TEST_F(GatherReportTest, EveryFigureWithDataIsPresent) {
  ReportOptions o;
  o.db = world_->db;
  o.models = world_->models;
  o.suite_dir = world_->suite;
  o.validation_files = {world_->validation_json};
  ReportData d;
  Status st = GatherReport(o, &d);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(d.systems.size(), 2u);
  ASSERT_EQ(d.figures.size(), 10u);
  for (const ReportFigure& f : d.figures) {
    EXPECT_TRUE(f.missing.empty()) << f.id << ": " << f.missing;
    EXPECT_FALSE(f.table.rows.empty()) << f.id;
  }
  // Fig. 5: SmallConvNet's two Relus share a signature: 8 unique of 9.
  const ReportFigure& f5 = d.figures[0];
  EXPECT_EQ(std::get<std::string>(f5.table.rows[0][0]), "convnet");
  EXPECT_EQ(std::get<int64_t>(f5.table.rows[0][1]), 9);
  EXPECT_EQ(std::get<int64_t>(f5.table.rows[0][2]), 8);
  // Fig. 2: 2 models x 3 batches on the fast system only.
  const ReportFigure& f2 = d.figures[7];
  ASSERT_EQ(f2.id, "embench_fig2_throughput_vs_batch");
  EXPECT_EQ(f2.table.rows.size(), 6u);
  // Suite coverage: both systems measured every brick of the suite.
  ASSERT_EQ(d.suite.rows.size(), 2u);
  for (const auto& row : d.suite.rows) EXPECT_EQ(std::get<int64_t>(row[5]), std::get<int64_t>(row[6]));
  // The page renders from this record.
  const std::string html = ReportHtml(d);
  EXPECT_NE(html.find("data-expected=\"10\""), std::string::npos);
}

// ResPerfNet Fig. 4 from the predictions stored by BuildFakeWorld (as `predictor eval` writes).
TEST_F(GatherReportTest, PredictedVsMeasuredFromStoredPredictions) {
  ReportOptions o;
  o.db = world_->db;
  ReportData d;
  ASSERT_TRUE(GatherReport(o, &d).ok());
  EXPECT_EQ(d.systems[0].id, world_->fast_system);
  EXPECT_EQ(d.systems[0].prediction_rows, 5);
  EXPECT_EQ(d.systems[1].prediction_rows, 0);
  const ReportFigure& f = d.figures[9];
  ASSERT_EQ(f.id, "resperfnet_fig4_predicted_vs_measured");
  ASSERT_TRUE(f.missing.empty()) << f.missing;
  ASSERT_EQ(f.table.rows.size(), 5u);
  auto col = [&f](const std::string& name) {
    return std::find(f.table.columns.begin(), f.table.columns.end(), name) - f.table.columns.begin();
  };
  const auto& first = f.table.rows[0];  // ordered by split, family, item
  EXPECT_EQ(std::get<std::string>(first[col("system")]), "S1");
  EXPECT_EQ(std::get<std::string>(first[col("predictor")]), "xgboost feedface");
  EXPECT_EQ(std::get<std::string>(first[col("predictor_id")]), "feedface0123456789abcdef01234567");
  EXPECT_EQ(std::get<std::string>(first[col("protocol")]), "dlbricks");
  EXPECT_DOUBLE_EQ(std::get<double>(first[col("ape_percent")]), 20.0);
  // The unmeasured layer is listed without a measurement or an error.
  const auto& unmeasured = f.table.rows[3];
  EXPECT_EQ(std::get<std::string>(unmeasured[col("item_id")]), "04");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(unmeasured[col("measured_ms")]));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(unmeasured[col("ape_percent")]));
  // Per-family MAPE: test conv (20+10)/2, test gemm 0, train conv 10, then every family.
  ASSERT_EQ(f.summary.columns[6], "mape_percent");
  ASSERT_EQ(f.summary.rows.size(), 5u);
  const std::vector<std::tuple<std::string, std::string, int64_t, double>> want = {
      {"test", "conv", 2, 15.0}, {"test", "gemm", 1, 0.0}, {"train", "conv", 1, 10.0},
      {"test", "all", 3, 10.0},  {"train", "all", 1, 10.0}};
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& row = f.summary.rows[i];
    EXPECT_EQ(std::get<std::string>(row[3]), std::get<0>(want[i])) << i;
    EXPECT_EQ(std::get<std::string>(row[4]), std::get<1>(want[i])) << i;
    EXPECT_EQ(std::get<int64_t>(row[5]), std::get<2>(want[i])) << i;
    EXPECT_NEAR(std::get<double>(row[6]), std::get<3>(want[i]), 1e-9) << i;
  }
  // The spec: log-log scatter of predicted vs measured, coloured by family, with y = x.
  const json spec = json::parse(f.vega_lite);
  const json& layers = spec["spec"]["layer"];
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0]["encoding"]["x"]["field"], "measured_ms");
  EXPECT_EQ(layers[0]["encoding"]["y"]["field"], "predicted_ms");
  EXPECT_EQ(layers[0]["encoding"]["x"]["scale"]["type"], "log");
  EXPECT_EQ(layers[0]["encoding"]["y"]["scale"]["type"], "log");
  EXPECT_EQ(layers[0]["encoding"]["color"]["field"], "family");
  EXPECT_EQ(layers[1]["encoding"]["x"]["field"], layers[1]["encoding"]["y"]["field"]);
  // JSON and CSV carry the summary too; the HTML prints it above the data.
  const json j = json::parse(ReportJson(d));
  EXPECT_EQ(j["figures"][9]["summary"]["rows"].size(), 5u);
  EXPECT_NE(ReportCsv(d).find("\nresperfnet_fig4_predicted_vs_measured_summary,S1,xgboost feedface,"),
            std::string::npos);
  const std::string html = ReportHtml(d);
  EXPECT_NE(html.find("Summary: Predicted vs measured time per layer"), std::string::npos);
}

// A store with one system and one stored prediction, then `sql` run on it by hand.
std::string HandEditedStore(const testing::TempDir& dir, const std::string& name, const std::string& sql) {
  const std::string db = dir.File(name);
  {
    std::unique_ptr<Store> s;
    EXPECT_TRUE(OpenStore(db, {}, &s).ok());
    EXPECT_TRUE(s->PutSystem({"0123456789abcdef0123456789abcdef", "{}"}).ok());
    PredictionRow r;
    r.system_id = "0123456789abcdef0123456789abcdef";
    r.item_id = "ab";
    r.predictor_id = "cd";
    r.predictor_kind = "xgboost";
    r.split = "test";
    r.predicted_ms = 1;
    EXPECT_TRUE(s->PutPredictions({r}).ok());
  }
  sqlite3* raw = nullptr;
  EXPECT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(raw, ("PRAGMA journal_mode = DELETE; " + sql).c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  return db;
}

// A version-1 store (no predictions table) is reported as is, read-only: the figure is left
// out naming the command, and the file is not migrated.
TEST(GatherReport, VersionOneStoreHasNoPredictionsAndIsLeftAsIs) {
  testing::TempDir dir;
  const std::string db =
      HandEditedStore(dir, "v1.db", "DROP TABLE predictions; UPDATE schema_version SET version = 1");
  const std::string before = testing::ReadFile(db);
  ReportOptions o;
  o.db = db;
  ReportData d;
  Status st = GatherReport(o, &d);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_NE(d.figures[9].missing.find("dlbricks predictor eval"), std::string::npos);
  EXPECT_EQ(testing::ReadFile(db), before);
}

// A corrupt predictions row: one line naming the store, nothing written.
TEST(GatherReport, CorruptPredictionRowIsOneLineError) {
  testing::TempDir dir;
  const std::string db = HandEditedStore(dir, "bad.db", "UPDATE predictions SET measured_ms = x'00ff'");
  const std::string before = testing::ReadFile(db);
  testing::ExpectOneLineError(testing::RunCli({"report", "--db", db, "-o", dir.File("r.html")}), "bad.db");
  EXPECT_FALSE(std::filesystem::exists(dir.File("r.html")));
  EXPECT_EQ(testing::ReadFile(db), before);
}

TEST(GatherReport, BadStoreFilesAreNamedAndLeftUntouched) {
  testing::TempDir dir;
  ReportOptions o;
  o.db = dir.File("absent.db");
  ReportData d;
  Status st = GatherReport(o, &d);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("absent.db"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(o.db));

  std::string junk(4096, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919 + 13) % 251);
  o.db = dir.File("junk.db");
  testing::WriteFile(o.db, junk);
  st = GatherReport(o, &d);
  EXPECT_EQ(st.ExitCode(), 2);
  EXPECT_NE(st.message().find("junk.db"), std::string::npos);
  EXPECT_EQ(testing::ReadFile(o.db), junk);
}

}  // namespace
}  // namespace dlbricks
