// Decomposition flags shared by generate, estimate and validate: they must describe a suite
// the same way in every command, or construction looks up bricks nobody generated.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "dlbricks/decompose.h"

namespace dlbricks::cli {

struct DecomposeFlags {
  std::string mode = "chain";   // the paper's algorithm
  std::string fusion = "none";  // G counts layers, as in the paper
  bool stitch = false;
};

inline void AddDecomposeFlags(CLI::App* cmd, DecomposeFlags* flags) {
  cmd->add_option("--mode", flags->mode, "decomposition: chain (default, the paper), dag or overlap");
  cmd->add_option("--fusion", flags->fusion, "none (default: G counts layers) or onnxruntime (G counts fused kernels)");
  cmd->add_flag("--stitch", flags->stitch,
                "consecutive bricks share one unit (the seam, measured alone and subtracted): cancels "
                "per-brick boundary costs; chain or dag, G >= 2");
}

// Fills mode, fusion and stitch of *options (granularity is left alone).
inline Status ResolveDecomposeFlags(const DecomposeFlags& flags, DecomposeOptions* options) {
  DLB_RETURN_IF_ERROR(ParseDecomposeMode(flags.mode, &options->mode));
  DLB_RETURN_IF_ERROR(ParseFusionRules(flags.fusion, &options->fusion));
  options->stitch = flags.stitch;
  if (flags.stitch && options->mode == DecomposeMode::kOverlap) {
    return Status::InvalidArgument("--stitch needs --mode chain or dag");
  }
  return Status::OK();
}

// "1..10", "1,2,4" or "3".
inline Status ParseGranularities(const std::string& text, std::vector<int>* out) {
  out->clear();
  auto bad = [&] { return Status::InvalidArgument("-G '" + text + "': expected N, A..B or a comma list"); };
  try {
    if (auto dots = text.find(".."); dots != std::string::npos) {
      int a = std::stoi(text.substr(0, dots)), b = std::stoi(text.substr(dots + 2));
      if (a > b || b - a > 1000) return bad();
      for (int g = a; g <= b; ++g) out->push_back(g);
    } else {
      size_t pos = 0;
      while (pos <= text.size()) {
        size_t comma = text.find(',', pos);
        std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        size_t used = 0;
        out->push_back(std::stoi(part, &used));
        if (used != part.size()) return bad();
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
  } catch (const std::exception&) {
    return bad();
  }
  for (int g : *out) {
    if (g < 1) return Status::InvalidArgument("-G '" + text + "': granularity must be >= 1");
  }
  return Status::OK();
}

}  // namespace dlbricks::cli
