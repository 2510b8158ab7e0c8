// Opens a real report in headless Chromium (Debian `chromium`, installed by scripts/setup.sh):
// no console errors or warnings, every expected figure drawn as SVG, and a screenshot.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <regex>

#include "report_testing.h"
#include "testing/model_builder.h"

namespace dlbricks {
namespace {

std::string Chromium() {
  if (const char* env = std::getenv("DLBRICKS_CHROMIUM")) return env;
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (std::filesystem::exists(path)) return path;
  return "";
}

// Runs headless Chromium on a file with extra flags; stdout and stderr go to files.
int RunChromium(const std::string& chromium, const std::string& profile, const std::string& flags,
                const std::string& page, const std::string& out, const std::string& err) {
  const std::string cmd = "timeout 180 " + chromium +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --disable-dev-shm-usage --enable-logging=stderr --v=0 --user-data-dir=" +
                          profile + " " + flags + " 'file://" + page + "' >" + out + " 2>" + err;
  return std::system(cmd.c_str());
}

std::string Attr(const std::string& dom, const std::string& element_id, const std::string& attr) {
  const size_t at = dom.find("id=\"" + element_id + "\"");
  if (at == std::string::npos) return "<no element>";
  const size_t begin = dom.rfind('<', at);
  const size_t end = dom.find('>', at);
  std::smatch m;
  const std::string tag = dom.substr(begin, end - begin);
  if (!std::regex_search(tag, m, std::regex(attr + "=\"([^\"]*)\""))) return "<no attribute>";
  return m[1];
}

TEST(ReportBrowser, RendersEveryFigureWithoutConsoleErrors) {
  const std::string chromium = Chromium();
  ASSERT_FALSE(chromium.empty()) << "chromium not found: run scripts/setup.sh (installs Debian chromium)";
  testing::TempDir dir;
  report_testing::FakeWorld world;
  report_testing::BuildFakeWorld(dir.path(), &world);
  const std::string page = dir.File("report.html");
  testing::CommandResult res =
      testing::RunCli({"report", "--db", world.db, "--models", world.models[0], world.models[1], "--suite",
                       world.suite, "--validation", world.validation_json, "-o", page});
  ASSERT_EQ(res.exit_code, 0) << res.err;

  // Vega renders asynchronously: the virtual-time budget lets it finish before the DOM dump.
  std::filesystem::create_directories(dir.File("profile"));
  int rc = RunChromium(chromium, dir.File("profile"), "--virtual-time-budget=30000 --dump-dom", page,
                       dir.File("dom.html"), dir.File("chromium.log"));
  const std::string log = testing::ReadFile(dir.File("chromium.log"));
  ASSERT_EQ(rc, 0) << log;
  const std::string dom = testing::ReadFile(dir.File("dom.html"));
  ASSERT_FALSE(dom.empty()) << log;
  EXPECT_EQ(Attr(dom, "dlb-status", "data-done"), "1") << log;
  EXPECT_EQ(Attr(dom, "dlb-status", "data-expected"), "10");
  EXPECT_EQ(Attr(dom, "dlb-status", "data-rendered"), "10");
  EXPECT_EQ(Attr(dom, "dlb-status", "data-errors"), "0");
  EXPECT_EQ(Attr(dom, "dlb-status", "data-warnings"), "0");
  // The page's own error list is empty, and Chromium logged no uncaught exception.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("<pre id=\"dlb-errors\">([^<]*)</pre>")));
  EXPECT_EQ(m[1].str(), "");
  EXPECT_EQ(log.find("Uncaught"), std::string::npos) << log;
  // Every figure's container holds an SVG drawn by vega-embed.
  for (const char* id : {"dlbricks_fig5_unique_layers", "dlbricks_fig6_repeated_layer_types", "dlbricks_fig7_jaccard",
                         "dlbricks_fig10_normalised_latency", "dlbricks_fig11_geomean_vs_g",
                         "dlbricks_fig12_speedup_vs_g", "embench_fig1_flops_vs_latency",
                         "embench_fig2_throughput_vs_batch", "embench_fig4_op_time_share",
                         "resperfnet_fig4_predicted_vs_measured"}) {
    const std::string chart = std::string("id=\"chart-") + id + "\"";
    const size_t at = dom.find(chart);
    ASSERT_NE(at, std::string::npos) << id;
    EXPECT_EQ(Attr(dom, std::string("chart-") + id, "data-rendered"), "1") << id;
    const size_t svg = dom.find("<svg", at);
    const size_t next = dom.find("id=\"chart-", at + chart.size());
    EXPECT_TRUE(svg != std::string::npos && svg < next) << id << ": no svg";
  }

  // A screenshot of the page, kept next to the test's other output.
  const std::string shot = (std::filesystem::temp_directory_path() / "dlbricks-report-browser-test.png").string();
  rc = RunChromium(chromium, dir.File("profile"),
                   "--virtual-time-budget=30000 --hide-scrollbars --window-size=1280,2400 --screenshot=" + shot, page,
                   dir.File("shot.out"), dir.File("shot.log"));
  ASSERT_EQ(rc, 0) << testing::ReadFile(dir.File("shot.log"));
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 20000u);
  std::cout << "screenshot: " << shot << "\n";
}

}  // namespace
}  // namespace dlbricks
