// corpus_check: ingest numbers of the torchvision corpus against published values (issue 2).
// Params exactly as torchvision / EmBench Table 1; MACs within 2% of torchvision's documented
// GFLOPS (which count MACs). A missing model file is a failure, not a skip.
//
//   build/<dir>/bench/corpus_check [MODELS_DIR=models]
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "dlbricks/graph.h"

namespace {

struct Expectation {
  const char* model;
  int64_t params;  // exact; 0 = not checked
  double gmacs;    // within 2%; 0 = not checked
};

constexpr Expectation kPublished[] = {
    {"alexnet", 61100840, 0.71},
    {"vgg16", 138357544, 15.47},
    {"squeezenet1_1", 1235496, 0},
    {"resnet50", 0, 4.09},
    {"mobilenet_v2", 0, 0.30},
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "models";
  int failures = 0;
  fmt::print("{:<16} {:>14} {:>14} {:>9} {:>9} {:>7}  {}\n", "model", "params", "expected", "GMACs", "expected",
             "diff", "result");
  for (const auto& e : kPublished) {
    std::string path = (std::filesystem::path(dir) / (std::string(e.model) + ".onnx")).string();
    dlbricks::IngestOptions opt;
    opt.load_weights = false;
    dlbricks::Graph g;
    dlbricks::Status st = dlbricks::LoadGraph(path, opt, &g);
    if (!st.ok()) {
      fmt::print("{:<16} FAIL: {}\n", e.model, st.message());
      ++failures;
      continue;
    }
    double gmacs = g.totals.macs / 1e9;
    bool ok = true;
    if (e.params) ok = ok && g.totals.params == e.params;
    double diff = e.gmacs ? (gmacs - e.gmacs) / e.gmacs : 0;
    if (e.gmacs) ok = ok && std::fabs(diff) <= 0.02;
    fmt::print("{:<16} {:>14} {:>14} {:>9.3f} {:>9} {:>6.2f}%  {}\n", e.model, g.totals.params,
               e.params ? std::to_string(e.params) : "-", gmacs, e.gmacs ? fmt::format("{:.2f}", e.gmacs) : "-",
               100 * diff, ok ? "ok" : "FAIL");
    failures += ok ? 0 : 1;
  }
  fmt::print("{}\n", failures ? fmt::format("{} check(s) failed", failures) : std::string("all checks passed"));
  return failures ? 1 : 0;
}
