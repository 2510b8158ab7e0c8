// Flags shared by `dlbricks run` and `dlbricks measure` (defined in cmd_run.cc): backend
// options and protocol overrides map one-to-one onto BackendOptions / ProtocolOptions.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "dlbricks/measure.h"

namespace dlbricks::cli {

struct MeasureFlags {
  RunOptions options;
  std::string db;
  std::string protocol = "dlbricks";
  std::vector<std::string> backend_options;  // KEY=VALUE
  bool no_spinning = false;
  bool no_isolate = false;
  bool json = false;
  // Protocol overrides, applied over the preset when given.
  int warmup_runs = 0, min_runs = 0, max_runs = 0;
  double warmup_s = 0, min_time_s = 0, max_time_s = 0, ci_target = 0, cool_off_s = 0;
  double cache_flush_mib = 0;
  bool rewarm_inputs = false;
  int rounds = 1;
  bool fastest_round = false;
  double cold_weights_mib = 0;
};

void AddMeasureFlags(CLI::App* cmd, MeasureFlags* flags);
// --cold-weights MIB (`run` and `validate`, with --pack); resolved into options.cold_weight_bytes.
void AddColdWeightsFlag(CLI::App* cmd, MeasureFlags* flags);
// Checks what needs --pack (--pack-rounds N >= 1, --cold-weights MIB >= 0) and sets
// options.cold_weight_bytes.
Status ResolvePackFlags(const CLI::App& cmd, MeasureFlags* flags);
// --profile-ops and --profile-runs (`run` and `measure`).
void AddProfileFlags(CLI::App* cmd, MeasureFlags* flags);
// Resolves the preset and overrides into flags->options (InvalidArgument on bad values).
Status ResolveMeasureFlags(const CLI::App& cmd, MeasureFlags* flags);
// --cache-flush MIB and --rewarm-inputs (`run`, `measure`, `predictor sweep`).
void AddCacheFlushFlags(CLI::App* cmd, double* cache_flush_mib, bool* rewarm_inputs);
// --cache-flush MIB in bytes (`run`, `measure`, `predictor sweep`); InvalidArgument outside
// [0, 8192] MiB or NaN, before any cast.
Status CacheFlushBytes(double mib, int64_t* bytes);
// Opens the --db store for writing.
Status OpenRunStore(const MeasureFlags& flags, std::unique_ptr<Store>* store);

}  // namespace dlbricks::cli
