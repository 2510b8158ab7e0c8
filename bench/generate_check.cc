// Real-model check of brick export (issue 3, docs/results.md): every unique brick of the given
// models, for each G and mode, loads and runs in ONNX Runtime with synthetic weights, as a suite
// holds them (large weights in a shared pool file next to the bricks, run from the files); with
// --source-weights each brick (weights inline) is also fed the original model's intermediate
// tensors and compared with the model's own tensors (max relative error).
//   generate_check MODEL... [-G 1,2,5] [--source-weights] [--input-range lo,hi] [--scratch DIR]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdlib.h>

#include "dlbricks/suite.h"
#include "ort_test_util.h"

namespace {

using namespace dlbricks;
using testing::TensorMap;

bool AllFloatInputs(const onnx::ModelProto& m) {
  for (const auto& i : m.graph().input()) {
    if (i.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Run every brick of real models in ONNX Runtime"};
  std::vector<std::string> paths;
  std::vector<int> gs = {1, 2, 5};
  bool source_weights = false;
  std::vector<float> range = {-1.0f, 1.0f};
  app.add_option("models", paths, "ONNX models")->required();
  app.add_option("-G", gs, "granularities")->delimiter(',');
  app.add_flag("--source-weights", source_weights, "compare with the model's intermediate tensors");
  app.add_option("--input-range", range, "synthetic brick inputs uniform in [lo,hi) (default -1,1)")
      ->delimiter(',')
      ->expected(2);
  std::string scratch;
  app.add_option("--scratch", scratch, "folder for the pool bricks of one model at a time (default: a temp folder)");
  CLI11_PARSE(app, argc, argv);
  namespace fs = std::filesystem;
  const bool own_scratch = scratch.empty();
  if (own_scratch) {
    std::string tmpl = (fs::temp_directory_path() / "generate_check-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "cannot create a temporary folder\n");
      return 1;
    }
    scratch = tmpl;
  }
  const fs::path bricks_dir = fs::path(scratch) / "bricks";

  int failures = 0;
  for (const std::string& path : paths) {
    Graph g;
    Status st = LoadGraph(path, IngestOptions{}, &g);
    if (!st.ok()) {
      std::printf("%s: skipped (%s)\n", path.c_str(), st.message().c_str());
      continue;
    }
    TensorMap tensors;
    if (source_weights) {
      // Graph inputs from the ingested (static) types.
      TensorMap feed;
      std::mt19937 rng(7767517);
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      for (int v : g.inputs) {
        testing::FloatTensor t;
        t.dims = g.values[static_cast<size_t>(v)].type.dims;
        t.data.resize(static_cast<size_t>(g.values[static_cast<size_t>(v)].type.Elements()));
        for (float& x : t.data) x = dist(rng);
        feed[g.values[static_cast<size_t>(v)].name] = std::move(t);
      }
      onnx::ModelProto original;
      std::ifstream in(path, std::ios::binary);
      original.ParseFromIstream(&in);
      tensors = testing::RunWithIntermediates(std::move(original), feed);
    }
    std::set<std::pair<int, int>> windows;
    for (int G : gs) {
      for (DecomposeMode mode : {DecomposeMode::kChain, DecomposeMode::kDag, DecomposeMode::kOverlap}) {
        for (auto w : FindModelSubgraphs(g, DecomposeOptions{G, mode})) windows.insert(w);
      }
    }
    // Export first (the pool is written once, as long as the bricks need), then run.
    std::set<Hash128> seen;
    int ran = 0, skipped = 0, failed = 0, nonfinite = 0, compared = 0;
    double worst = 0;
    std::error_code ec;
    fs::remove_all(bricks_dir, ec);
    fs::create_directories(bricks_dir, ec);
    BrickExportOptions export_options;
    export_options.use_source_weights = source_weights;
    if (!source_weights) export_options.weight_pool = kWeightPoolFile;
    struct Exported {
      int begin, end;
      onnx::ModelProto model;
      std::string path;
    };
    std::vector<Exported> bricks;
    int64_t pool_extent = 0;
    for (auto [begin, end] : windows) {
      const Hash128 id = BrickSignature(g, begin, end);
      if (!seen.insert(id).second) continue;
      Exported e{begin, end, {}, (bricks_dir / (id.Hex() + ".onnx")).string()};
      st = BuildBrickModel(g, begin, end, export_options, &e.model);
      if (!st.ok() || !AllFloatInputs(e.model)) {
        ++skipped;
        continue;
      }
      if (!source_weights) {
        std::ofstream out(e.path, std::ios::binary);
        e.model.SerializeToOstream(&out);
        pool_extent = std::max(pool_extent, WeightPoolExtent(e.model));
      }
      bricks.push_back(std::move(e));
    }
    if (pool_extent > 0) {
      if (Status ps = WriteWeightPool((bricks_dir / kWeightPoolFile).string(), pool_extent); !ps.ok()) {
        std::fprintf(stderr, "%s\n", ps.message().c_str());
        return 1;
      }
    }
    for (const Exported& e : bricks) {
      const int begin = e.begin, end = e.end;
      const onnx::ModelProto& brick = e.model;
      BrickInterface io = WindowInterface(g, begin, end);
      TensorMap feed;
      if (source_weights) {
        for (size_t k = 0; k < io.inputs.size(); ++k) feed["input_" + std::to_string(k)] = tensors[g.values[static_cast<size_t>(io.inputs[k])].name];
      } else {
        feed = testing::RandomInputs(brick);
        for (auto& [name, t] : feed) {
          for (float& x : t.data) x = range[0] + (x + 1.0f) / 2.0f * (range[1] - range[0]);
        }
      }
      try {
        TensorMap out = source_weights ? testing::RunOrt(brick, feed) : testing::RunOrtFile(e.path, feed);
        bool ok = true;
        for (size_t k = 0; k < io.outputs.size(); ++k) {
          const auto& got = out["output_" + std::to_string(k)];
          ok = ok && testing::AllFinite(got.data);
          auto it = tensors.find(g.values[static_cast<size_t>(io.outputs[k])].name);
          if (source_weights && it != tensors.end() && !it->second.data.empty()) {
            worst = std::max(worst, testing::RelativeError(got.data, it->second.data));
            ++compared;
          }
        }
        ++ran;
        if (!ok) {
          ++nonfinite;
          std::printf("  non-finite output: %s", BrickSignatureText(g, begin, end).c_str());
        }
      } catch (const Ort::Exception& e) {
        ++failed;
        std::printf("  ORT failed on %s\n  %s", e.what(), BrickSignatureText(g, begin, end).c_str());
      }
    }
    failures += failed;
    int pooled = 0;
    for (const Exported& e : bricks) pooled += WeightPoolExtent(e.model) > 0;
    std::printf("%s: %zu layers, G %s: %zu windows, %zu unique bricks (%d with pool weights, pool %.1f MB), ran %d, "
                "ORT failed %d, non-finite outputs %d, skipped %d",
                g.name.c_str(), g.layers.size(), fmt::format("{}", fmt::join(gs, ",")).c_str(), windows.size(),
                seen.size(), pooled, static_cast<double>(pool_extent) / 1e6, ran, failed, nonfinite, skipped);
    if (source_weights) std::printf(", compared %d outputs, max relative error %.2e", compared, worst);
    std::printf("\n");
    std::fflush(stdout);
  }
  std::error_code ec;
  fs::remove_all(own_scratch ? fs::path(scratch) : bricks_dir, ec);
  return failures ? 1 : 0;
}
