// dlbricks run SUITE --backend onnxruntime|opencv [--threads N] [--inter-op-threads N]
//   [--opt-level disable|basic|extended|all] [--execution-mode sequential|parallel]
//   [--protocol dlbricks|embench|auto] [--min-runs N ...] [--rounds R] [--timeout S] [--force] [--json] --db FILE
//   [--profile-ops [--profile-runs N]] [--pack N [--pack-rounds R] [--profiler-bias N]]
#include <cstdio>
#include <fmt/format.h>

#include "commands.h"
#include "measure_flags.h"

namespace dlbricks::cli {

void AddMeasureFlags(CLI::App* cmd, MeasureFlags* f) {
  BackendOptions& b = f->options.backend_options;
  cmd->add_option("--backend", f->options.backend, "onnxruntime (default) or opencv (fake: tests only)");
  cmd->add_option("--threads", b.intra_op_threads, "intra-op threads (default 1)");
  cmd->add_option("--inter-op-threads", b.inter_op_threads, "onnxruntime inter-op threads (default 1)");
  cmd->add_option("--opt-level", b.opt_level, "onnxruntime graph optimisation: disable|basic|extended|all (default all)");
  cmd->add_option("--execution-mode", b.execution_mode, "onnxruntime: sequential (default) | parallel");
  cmd->add_flag("--no-spinning", f->no_spinning, "onnxruntime: turn thread-pool spinning off");
  cmd->add_option("--backend-option", f->backend_options, "backend-specific KEY=VALUE (recorded)");
  cmd->add_option("--protocol", f->protocol, "dlbricks (default; 100 runs, trimmed mean) | embench | auto");
  cmd->add_option("--warmup-runs", f->warmup_runs, "untimed runs before sampling");
  cmd->add_option("--warmup-time", f->warmup_s, "warm up for at least S seconds");
  cmd->add_option("--min-runs", f->min_runs, "timed runs at least (fixed-count presets: exactly)");
  cmd->add_option("--max-runs", f->max_runs, "timed runs at most (hard cap)");
  cmd->add_option("--min-time", f->min_time_s, "timed seconds at least");
  cmd->add_option("--max-time", f->max_time_s, "timed seconds at most (hard cap)");
  cmd->add_option("--ci-target", f->ci_target, "stop when the median's 95% CI is within this fraction (0 = off)");
  cmd->add_option("--cool-off", f->cool_off_s, "idle seconds before each item");
  AddCacheFlushFlags(cmd, &f->cache_flush_mib, &f->rewarm_inputs);
  cmd->add_option("--rounds", f->rounds, "visit every item R times, pooling samples; 1/R of the runs each (default 1)");
  cmd->add_flag("--fastest-round", f->fastest_round,
                "with --rounds: report the fastest round (and, profiling packs, each brick's fastest visit), not the pooled samples");
  cmd->add_option("--timeout", f->options.timeout_s, "seconds per item before it is killed (default 60)");
  cmd->add_flag("--force", f->options.force, "re-measure items already in the store");
  cmd->add_flag("--no-isolate", f->no_isolate, "measure in this process (no crash/hang isolation)");
  cmd->add_flag("--json", f->json, "print the summary as JSON on stdout");
  cmd->add_option("--db", f->db, "results store (SQLite file)")->required();
}

void AddColdWeightsFlag(CLI::App* cmd, MeasureFlags* f) {
  cmd->add_option("--cold-weights", f->cold_weights_mib,
                  "--pack: a brick with more than MIB of weights is profiled alone with the caches flushed before "
                  "every inference, as inside a model (default 0 = off)");
}

Status ResolvePackFlags(const CLI::App& cmd, MeasureFlags* f) {
  if (cmd.count("--pack-rounds") && (f->options.pack_rounds < 1 || f->options.pack < 1))
    return Status::InvalidArgument("--pack-rounds needs --pack and N >= 1");
  if (!cmd.count("--cold-weights")) return Status::OK();
  if (!(f->cold_weights_mib >= 0) || f->options.pack < 1)
    return Status::InvalidArgument(fmt::format("--cold-weights needs --pack and MIB >= 0 (got {})", f->cold_weights_mib));
  f->options.cold_weight_bytes = static_cast<int64_t>(f->cold_weights_mib * 1024 * 1024);
  return Status::OK();
}

void AddProfileFlags(CLI::App* cmd, MeasureFlags* f) {
  cmd->add_flag("--profile-ops", f->options.profile_ops,
                "also profile time per operator type into the store (onnxruntime, opencv; a separate run per item, "
                "skipped when stored unless --force)");
  cmd->add_option("--profile-runs", f->options.profile_runs, "inferences in the profiling run (default 20)");
}

void AddCacheFlushFlags(CLI::App* cmd, double* cache_flush_mib, bool* rewarm_inputs) {
  cmd->add_option("--cache-flush", *cache_flush_mib,
                  "MiB rewritten before every timed and profiled inference (cold caches; 0 = off)");
  cmd->add_flag("--rewarm-inputs", *rewarm_inputs,
                "with --cache-flush: re-read the inputs after each flush (weights cold, input warm, as inside a model)");
}

Status CacheFlushBytes(double mib, int64_t* bytes) {
  if (!(mib >= 0 && mib <= 8192))
    return Status::InvalidArgument(fmt::format("--cache-flush must be between 0 and 8192 MiB (got {})", mib));
  *bytes = static_cast<int64_t>(mib * 1024 * 1024);
  return Status::OK();
}

Status ResolveMeasureFlags(const CLI::App& cmd, MeasureFlags* f) {
  RunOptions& o = f->options;
  ProtocolOptions& p = o.protocol;
  DLB_RETURN_IF_ERROR(ProtocolPreset(f->protocol, &p));
  const bool fixed = p.min_runs == p.max_runs;
  if (cmd.count("--warmup-runs")) p.warmup_runs = f->warmup_runs;
  if (cmd.count("--warmup-time")) p.warmup_s = f->warmup_s;
  if (cmd.count("--min-runs")) {
    p.min_runs = f->min_runs;
    if (fixed || p.max_runs < p.min_runs) p.max_runs = p.min_runs;
  }
  if (cmd.count("--max-runs")) p.max_runs = f->max_runs;
  if (cmd.count("--min-time")) p.min_time_s = f->min_time_s;
  if (cmd.count("--max-time")) p.max_time_s = f->max_time_s;
  if (cmd.count("--ci-target")) p.ci_target = f->ci_target;
  if (cmd.count("--cool-off")) p.cool_off_s = f->cool_off_s;
  if (cmd.count("--cache-flush")) DLB_RETURN_IF_ERROR(CacheFlushBytes(f->cache_flush_mib, &p.cache_flush_bytes));
  p.rewarm_inputs = f->rewarm_inputs;
  if (cmd.count("--rounds")) p.rounds = f->rounds;
  p.fastest_round = f->fastest_round;
  DLB_RETURN_IF_ERROR(ValidateProtocol(p));
  if (o.profile_runs < 1)
    return Status::InvalidArgument(fmt::format("--profile-runs must be >= 1 (got {})", o.profile_runs));
  o.backend_options.allow_spinning = !f->no_spinning;
  for (const std::string& kv : f->backend_options) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::InvalidArgument("--backend-option must be KEY=VALUE, not '" + kv + "'");
    o.backend_options.extra[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  DLB_RETURN_IF_ERROR(ValidateBackendOptions(o.backend_options));
  std::unique_ptr<Backend> probe;
  DLB_RETURN_IF_ERROR(BackendRegistry::Create(o.backend, &probe));
  o.isolate = !f->no_isolate;
  return Status::OK();
}

Status OpenRunStore(const MeasureFlags& f, std::unique_ptr<Store>* store) {
  return OpenStore(f.db, StoreOptions{}, store);
}

void RegisterRun(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<MeasureFlags>();
  auto suite = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("run", "Measure every brick of a suite on this system (resumable)");
  cmd->add_option("suite", *suite, "suite folder (with manifest.json)")->required();
  AddMeasureFlags(cmd, flags.get());
  AddProfileFlags(cmd, flags.get());
  cmd->add_option("--pack", flags->options.pack,
                  "profile only (no latency runs; for kernel-time construction): N bricks side by side per "
                  "engine session (onnxruntime, opencv)");
  cmd->add_option("--pack-rounds", flags->options.pack_rounds, "--pack: visits per pack (default: --rounds)");
  AddColdWeightsFlag(cmd, flags.get());
  cmd->add_option("--profiler-bias", flags->options.calibration_bricks,
                  "--pack: also time N cheap bricks, spread over the packs, so `estimate --kernel-times "
                  "--profiler-bias` can calibrate the profiler's per-kernel cost");
  cmd->callback([flags, suite, cmd, &ctx] {
    Status st = ResolveMeasureFlags(*cmd, flags.get());
    if (st.ok() && cmd->count("--pack") && flags->options.pack < 1)
      st = Status::InvalidArgument(fmt::format("--pack must be >= 1 (got {})", flags->options.pack));
    if (st.ok() && cmd->count("--profiler-bias") && (flags->options.calibration_bricks < 1 || flags->options.pack < 1))
      st = Status::InvalidArgument("--profiler-bias needs --pack and N >= 1");
    if (st.ok()) st = ResolvePackFlags(*cmd, flags.get());
    std::vector<SuiteBrick> bricks;
    if (st.ok()) st = ReadSuiteBricks(*suite, &bricks);  // before the store is created
    std::unique_ptr<Store> store;
    if (st.ok()) st = OpenRunStore(*flags, &store);
    RunSummary summary;
    if (st.ok())
      st = flags->options.pack > 0 ? ProfileSuitePacked(*suite, flags->options, store.get(), &summary)
                                   : RunSuite(*suite, flags->options, store.get(), &summary);
    if (!st.ok()) {
      ctx.exit_code = Fail(st);
      return;
    }
    if (flags->json) {
      std::printf("%s\n", RunSummaryJson(summary).c_str());
    } else {
      std::printf("%s", fmt::format("system {}  protocol {}  backend {}\n", summary.system_id, summary.protocol,
                                    flags->options.backend).c_str());
      std::printf("%s", fmt::format("bricks {}: measured {}, already in store {}, failed {}  ({:.1f} s)\n",
                                    summary.items.size(), summary.measured, summary.skipped, summary.failed,
                                    summary.wall_s).c_str());
      if (flags->options.profile_ops || flags->options.pack > 0)
        std::printf("%s", fmt::format("op profiles: {} profiled now ({:.1f} s), the rest from the store\n",
                                      summary.profiled, summary.profile_wall_s).c_str());
      if (flags->options.calibration_bricks > 0)
        std::printf("%s", fmt::format("profiler-bias calibration: {} bricks timed now\n", summary.calibrated).c_str());
      for (const RunItem& item : summary.items)
        if (!item.skipped && item.m.status != "ok")
          std::printf("  %s %s: %s\n", item.m.status.c_str(), item.m.name.c_str(), item.m.error.c_str());
    }
    ctx.exit_code = summary.failed > 0 ? 1 : 0;
  });
}

}  // namespace dlbricks::cli
