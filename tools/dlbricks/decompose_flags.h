// Decomposition flags shared by generate, estimate and validate: they must describe a suite
// the same way in every command, or construction looks up bricks nobody generated.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

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

}  // namespace dlbricks::cli
