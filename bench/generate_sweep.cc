// Sweep of benchmark generation (issue 3, docs/results.md): for every mode and G = 1..max-G,
// brick instances, unique bricks, suite MACs vs corpus MACs, decomposition time and (with
// --export) the time and size of writing the whole suite (and of its shared weight pool),
// compared with loading the models.
//   generate_sweep MODEL... [--max-g 10] [--modes chain,dag,overlap] [--export DIR] [--load-weights]
//                  [--inline-weights] [--json FILE]
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "dlbricks/suite.h"

namespace {

using namespace dlbricks;
namespace fs = std::filesystem;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

uint64_t FolderBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmark-generation sweep over G and modes"};
  std::vector<std::string> paths;
  int max_g = 10;
  std::string export_dir, json_path;
  std::vector<std::string> mode_names = {"chain", "dag", "overlap"};
  app.add_option("models", paths, "ONNX models")->required();
  app.add_option("--max-g", max_g, "largest G (default 10)");
  app.add_option("--export", export_dir, "also write each suite below DIR (removed after measuring)");
  app.add_option("--json", json_path, "write the rows as JSON");
  bool load_weights = false;
  app.add_flag("--load-weights", load_weights, "read weight bytes while loading (generate does not)");
  bool inline_weights = false;
  app.add_flag("--inline-weights", inline_weights, "export every weight inline (no shared pool: the old format)");
  app.add_option("--modes", mode_names, "modes to sweep (default chain,dag,overlap)")->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  std::vector<Graph> graphs;
  std::vector<std::string> skipped;
  double load_seconds = 0, corpus_macs = 0;
  int64_t layers = 0;
  for (const std::string& p : paths) {
    Graph g;
    auto t = std::chrono::steady_clock::now();
    IngestOptions ingest;
    ingest.load_weights = load_weights;
    Status st = LoadGraph(p, ingest, &g);
    if (!st.ok()) {
      std::fprintf(stderr, "skipped: %s\n", st.message().c_str());
      skipped.push_back(p);
      continue;
    }
    load_seconds += Since(t);
    corpus_macs += g.totals.macs;
    layers += static_cast<int64_t>(g.layers.size());
    graphs.push_back(std::move(g));
  }
  std::vector<const Graph*> corpus;
  for (const Graph& g : graphs) corpus.push_back(&g);
  std::printf("models %zu (skipped %zu), layers %lld, corpus MACs %.4g, load %.3f s\n\n", graphs.size(), skipped.size(),
              static_cast<long long>(layers), corpus_macs, load_seconds);
  std::printf("| mode | G | instances | unique | unique %% | suite/corpus MACs | decompose s | export s | suite GB | pool GB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");

  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const std::string& name : mode_names) {
    DecomposeMode mode;
    if (Status st = ParseDecomposeMode(name, &mode); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 2;
    }
    double decompose_total = 0, export_total = 0, bytes_total = 0;
    std::set<Hash128> all_g;  // bricks of G = 1..max together: a suite shared by every G
    double all_g_macs = 0;
    for (int G = 1; G <= max_g; ++G) {
      DecomposeOptions options{G, mode};
      auto t = std::chrono::steady_clock::now();
      CorpusDecomposition d;
      Status st = DecomposeCorpus(corpus, options, &d);
      const double decompose = Since(t);
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
      }
      double suite_macs = 0;
      for (const UniqueBrick& b : d.bricks) {
        const Graph& g = *corpus[static_cast<size_t>(b.model)];
        double macs = 0;
        for (int i = b.begin; i < b.end; ++i) macs += g.layers[static_cast<size_t>(i)].cost.macs;
        suite_macs += macs;
        if (all_g.insert(b.id).second) all_g_macs += macs;
      }
      double export_s = 0;
      uint64_t bytes = 0;
      int64_t pool_bytes = 0;
      if (!export_dir.empty()) {
        SuiteOptions so;
        so.decompose = options;
        so.out_dir = (fs::path(export_dir) / "suite").string();
        so.force = true;
        so.weight_pool = !inline_weights;
        SuiteSummary summary;
        st = GenerateSuite(corpus, so, &summary);
        if (!st.ok()) {
          std::fprintf(stderr, "%s\n", st.message().c_str());
          return 1;
        }
        export_s = summary.generate_seconds;
        pool_bytes = summary.pool_bytes;
        bytes = FolderBytes(so.out_dir);
        fs::remove_all(so.out_dir);
      }
      decompose_total += decompose;
      export_total += export_s;
      bytes_total += static_cast<double>(bytes);
      const double unique_pct = 100.0 * static_cast<double>(d.bricks.size()) / static_cast<double>(d.instances);
      std::printf("| %s | %d | %lld | %zu | %.1f | %.1f%% | %.3f | %.2f | %.3f | %.3f |\n", DecomposeModeName(mode).c_str(),
                  G, static_cast<long long>(d.instances), d.bricks.size(), unique_pct, 100.0 * suite_macs / corpus_macs,
                  decompose, export_s, static_cast<double>(bytes) / 1e9, static_cast<double>(pool_bytes) / 1e9);
      std::fflush(stdout);
      rows.push_back({{"mode", DecomposeModeName(mode)}, {"G", G}, {"instances", d.instances},
                      {"unique", d.bricks.size()}, {"unique_percent", unique_pct}, {"suite_macs", suite_macs},
                      {"corpus_macs", corpus_macs}, {"decompose_seconds", decompose}, {"export_seconds", export_s},
                      {"suite_bytes", bytes}, {"pool_bytes", pool_bytes}});
    }
    std::printf("| %s | 1..%d total | | %zu (union) | | %.1f%% | %.3f | %.2f | %.2f | |\n", DecomposeModeName(mode).c_str(),
                max_g, all_g.size(), 100.0 * all_g_macs / corpus_macs, decompose_total, export_total, bytes_total / 1e9);
  }
  std::printf("\nload time of the models: %.3f s\n", load_seconds);
  if (!json_path.empty()) {
    nlohmann::ordered_json out = {{"schema_version", 1}, {"models", graphs.size()}, {"skipped", skipped},
                                  {"layers", layers}, {"load_seconds", load_seconds}, {"rows", rows}};
    std::ofstream(json_path) << out.dump(2) << "\n";
  }
  return 0;
}
