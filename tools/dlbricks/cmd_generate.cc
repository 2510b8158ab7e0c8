// dlbricks generate MODEL... -G N|A..B|a,b [--mode chain|dag|overlap] [--fusion ...] [--stitch] -o SUITE
//                   [--force] [--private FILE]
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
  std::string granularities;
  DecomposeFlags decompose;
  std::vector<std::string> input_shapes;
  bool json = false;
  SuiteOptions options;
};

double UniquePercent(const SuiteSummary& s) {
  return s.instances ? 100.0 * static_cast<double>(s.model_bricks) / static_cast<double>(s.instances) : 0;
}

nlohmann::ordered_json SummaryJson(const DecomposeOptions& d, const SuiteSummary& s) {
  return {{"schema_version", kSuiteSchemaVersion},
          {"suite", s.suite_dir},
          {"granularity", d.granularity},
          {"mode", DecomposeModeName(d.mode)},
          {"fusion", FusionRulesName(d.fusion)},
          {"stitch", d.stitch},
          {"models", s.models},
          {"layers", s.layers},
          {"brick_instances", s.instances},
          {"model_bricks", s.model_bricks},
          {"unique_bricks", s.unique_bricks},
          {"unique_percent", UniquePercent(s)},
          {"decoys", s.decoys},
          {"corpus_macs", s.corpus_macs},
          {"suite_macs", s.suite_macs},
          {"pool_bytes", s.pool_bytes},
          {"pool_linked", s.pool_linked},
          {"load_seconds", s.load_seconds},
          {"generate_seconds", s.generate_seconds},
          {"decompose_seconds", s.decompose_seconds}};
}

std::string SummaryText(const DecomposeOptions& d, const SuiteSummary& s) {
  std::string t = fmt::format("suite {} (G={}, mode {}{})\n", s.suite_dir, d.granularity,
                              DecomposeModeName(d.mode), d.stitch ? "+stitch" : "");
  t += fmt::format("  models {}  layers {}  brick instances {}\n", s.models, s.layers, s.instances);
  t += fmt::format("  unique bricks {} ({:.1f}% of instances){}\n", s.model_bricks, UniquePercent(s),
                   s.decoys ? fmt::format(", {} with {} decoys", s.unique_bricks, s.decoys) : "");
  t += fmt::format("  MACs: suite {:.4g} vs corpus {:.4g} ({:.1f}%)\n", s.suite_macs, s.corpus_macs,
                   s.corpus_macs > 0 ? 100.0 * s.suite_macs / s.corpus_macs : 0.0);
  if (s.pool_bytes > 0) {
    t += fmt::format("  weight pool {:.1f} MB ({})\n", static_cast<double>(s.pool_bytes) / 1e6,
                     s.pool_linked ? "linked from an earlier suite" : "written");
  }
  t += fmt::format("  time: load {:.3f} s, generate {:.3f} s (decompose {:.3f} s)\n", s.load_seconds,
                   s.generate_seconds, s.decompose_seconds);
  if (!s.private_mapping.empty()) t += "  model mapping (private): " + s.private_mapping + "\n";
  return t;
}

}  // namespace

void RegisterGenerate(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Decompose models into unique bricks and write a benchmark suite");
  cmd->add_option("models", flags->models, "ONNX model files")->required();
  cmd->add_option("-G,--granularity", flags->granularities,
                  "maximum layers per brick (G >= 1); A..B or a,b writes one suite per G into SUITE/G<g>")
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
    std::vector<int> gs;
    if (st.ok()) st = ParseGranularities(flags->granularities, &gs);
    std::vector<SuiteSummary> summaries(1);
    if (st.ok() && gs.size() == 1) {
      o.decompose.granularity = gs[0];
      st = GenerateSuite(flags->models, o, &summaries[0]);
    } else if (st.ok()) {
      st = GenerateSuites(flags->models, o, gs, &summaries);
    }
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    std::string text;
    for (size_t i = 0; i < summaries.size(); ++i) {
      DecomposeOptions d = o.decompose;
      d.granularity = gs[i];
      all.push_back(SummaryJson(d, summaries[i]));
      text += SummaryText(d, summaries[i]);
    }
    std::fputs(flags->json ? ((gs.size() == 1 ? all[0] : all).dump(2) + "\n").c_str() : text.c_str(), stdout);
  });
}

}  // namespace dlbricks::cli
