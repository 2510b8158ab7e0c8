// dlbricks generate MODEL... -G N [--mode chain|dag|overlap] -o SUITE [--force] [--private FILE]
//                   [--decoys N] [--input-shape NAME=1x3x224x224] [--json]
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "decompose_flags.h"
#include "dlbricks/suite.h"

namespace dlbricks::cli {

namespace {

struct GenerateFlags {
  std::vector<std::string> models;
  DecomposeFlags decompose;
  std::vector<std::string> input_shapes;
  bool json = false;
  SuiteOptions options;
};

void PrintSummary(const SuiteOptions& o, const SuiteSummary& s, bool json) {
  const double unique_pct = s.instances ? 100.0 * static_cast<double>(s.model_bricks) / static_cast<double>(s.instances) : 0;
  if (json) {
    nlohmann::ordered_json j = {{"schema_version", kSuiteSchemaVersion},
                                {"suite", o.out_dir},
                                {"granularity", o.decompose.granularity},
                                {"mode", DecomposeModeName(o.decompose.mode)},
                                {"models", s.models},
                                {"layers", s.layers},
                                {"brick_instances", s.instances},
                                {"model_bricks", s.model_bricks},
                                {"unique_bricks", s.unique_bricks},
                                {"unique_percent", unique_pct},
                                {"decoys", s.decoys},
                                {"corpus_macs", s.corpus_macs},
                                {"suite_macs", s.suite_macs},
                                {"load_seconds", s.load_seconds},
                                {"generate_seconds", s.generate_seconds},
                                {"decompose_seconds", s.decompose_seconds}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("%s", fmt::format("suite {} (G={}, mode {})\n", o.out_dir, o.decompose.granularity,
                                DecomposeModeName(o.decompose.mode)).c_str());
  std::printf("%s", fmt::format("  models {}  layers {}  brick instances {}\n", s.models, s.layers, s.instances).c_str());
  std::printf("%s", fmt::format("  unique bricks {} ({:.1f}% of instances){}\n", s.model_bricks, unique_pct,
                                s.decoys ? fmt::format(", {} with {} decoys", s.unique_bricks, s.decoys) : "").c_str());
  std::printf("%s", fmt::format("  MACs: suite {:.4g} vs corpus {:.4g} ({:.1f}%)\n", s.suite_macs, s.corpus_macs,
                                s.corpus_macs > 0 ? 100.0 * s.suite_macs / s.corpus_macs : 0.0).c_str());
  std::printf("%s", fmt::format("  time: load {:.3f} s, generate {:.3f} s (decompose {:.3f} s)\n", s.load_seconds,
                                s.generate_seconds, s.decompose_seconds).c_str());
  if (!o.private_mapping.empty()) std::printf("  model mapping (private): %s\n", o.private_mapping.c_str());
}

}  // namespace

void RegisterGenerate(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Decompose models into unique bricks and write a benchmark suite");
  cmd->add_option("models", flags->models, "ONNX model files")->required();
  cmd->add_option("-G,--granularity", flags->options.decompose.granularity, "maximum layers per brick (G >= 1)")
      ->required();
  AddDecomposeFlags(cmd, &flags->decompose);
  cmd->add_option("-o,--output", flags->options.out_dir, "suite folder")->required();
  cmd->add_flag("--force", flags->options.force, "replace the suite in a non-empty folder");
  cmd->add_option("--private", flags->options.private_mapping,
                  "write the model -> bricks mapping to FILE (outside the suite) instead of manifest.json");
  cmd->add_option("--decoys", flags->options.decoys, "mix N generated dummy models into the suite");
  cmd->add_option("--input-shape", flags->input_shapes, "NAME=1x3x224x224 for models with dynamic inputs");
  cmd->add_flag("--json", flags->json, "print the summary as JSON");
  cmd->callback([flags, &ctx] {
    SuiteOptions& o = flags->options;
    Status st = ResolveDecomposeFlags(flags->decompose, &o.decompose);
    for (const std::string& s : flags->input_shapes) {
      if (st.ok()) st = ParseInputShape(s, &o.ingest);
    }
    SuiteSummary summary;
    if (st.ok()) st = GenerateSuite(flags->models, o, &summary);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    PrintSummary(o, summary, flags->json);
  });
}

}  // namespace dlbricks::cli
