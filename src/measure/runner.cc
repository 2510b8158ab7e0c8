// The runners behind `dlbricks run` and `dlbricks measure`: skip what the store has, claim,
// measure in an isolated child, commit each result at once, report progress.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <map>
#include <thread>
#include <tuple>

#include "dlbricks/graph.h"
#include "dlbricks/measure.h"
#include "dlbricks/scoped_paths.h"

namespace dlbricks {
namespace {

using Clock = std::chrono::steady_clock;

// Progress on stderr: a redrawn bar with ETA on a terminal, one plain line per visit otherwise.
// The total counts visits (items x rounds); an item skipped or failed early completes its
// remaining visits at once.
class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled), tty_(isatty(2) == 1) {}

  // `round` of `rounds` just ended for `item`; `final` when item.m is the item's row;
  // `round_ms` is the headline of this round alone (shown for intermediate rounds).
  void Visit(const RunItem& item, int round, int rounds, bool final, double round_ms, size_t visits,
             double wall_s) {
    done_ += visits;
    if (!item.skipped) {
      ++measured_;
      measured_wall_ += wall_s;
    }
    if (!enabled_) return;
    const Measurement& m = item.m;
    std::string what = m.key.kind + " " + m.name + (m.key.batch != 1 ? fmt::format(" b{}", m.key.batch) : "");
    if (rounds > 1 && !item.skipped) what += fmt::format(" round {}/{}", round, rounds);
    std::string result = item.skipped       ? (m.error.empty() ? "in store" : m.error)
                         : !final           ? fmt::format("{:.4f} ms", round_ms)
                         : m.status == "ok" ? fmt::format("{:.4f} ms (cv {:.1f}%)", m.value_ms, 100 * m.cv)
                                            : m.status + ": " + m.error;
    const size_t remaining = total_ - done_;
    const double eta = measured_ ? measured_wall_ / static_cast<double>(measured_) * static_cast<double>(remaining) : 0;
    if (tty_) {
      const int width = 24;
      const int fill = total_ ? static_cast<int>(width * done_ / total_) : width;
      std::fprintf(stderr, "\r\033[K[%s%s] %zu/%zu ETA %s  %s: %s", std::string(static_cast<size_t>(fill), '#').c_str(),
                   std::string(static_cast<size_t>(width - fill), '.').c_str(), done_, total_, FormatEta(eta).c_str(),
                   what.substr(0, 40).c_str(), result.c_str());
      if (done_ == total_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "[%zu/%zu] %s: %s\n", done_, total_, what.c_str(), result.c_str());
    }
    if (final && !item.skipped && m.status == "ok" && m.cv > 0.05)
      Warn(fmt::format("{} has CV {:.1f}% (> 5%): noisy measurement", what, 100 * m.cv));
  }

  void Warn(const std::string& w) {
    if (tty_ && enabled_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "dlbricks: warning: %s\n", w.c_str());
  }

 private:
  static std::string FormatEta(double s) {
    const int64_t t = static_cast<int64_t>(s + 0.5);
    return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
  }
  size_t total_, done_ = 0, measured_ = 0;
  double measured_wall_ = 0;
  bool enabled_, tty_;
};

// One thing to measure.
struct Job {
  std::string kind, item_id, name, path;
  int64_t batch = 1;
  std::string prepare_error;  // set when the runnable file could not be made (stored as failed)
};

class Runner {
 public:
  Runner(const RunOptions& options, Store* store, RunSummary* summary)
      : options_(options), store_(store), summary_(summary) {}

  Status Start() {
    DLB_RETURN_IF_ERROR(ValidateBackendOptions(options_.backend_options));
    DLB_RETURN_IF_ERROR(ValidateProtocol(options_.protocol));
    if (!(options_.timeout_s > 0)) return Status::InvalidArgument("--timeout must be > 0");
    if (options_.profile_ops && options_.profile_runs < 1)
      return Status::InvalidArgument("--profile-runs must be >= 1");
    DLB_RETURN_IF_ERROR(BackendRegistry::Create(options_.backend, &backend_));
    system_ = MakeSystemRecord(*backend_, options_.backend_options);
    DLB_RETURN_IF_ERROR(store_->PutSystem(system_));
    summary_->system_id = system_.id;
    summary_->fingerprint_json = system_.fingerprint_json;
    summary_->protocol = ProtocolKey(options_.protocol);
    visit_protocol_ = RoundProtocol(options_.protocol);
    if (options_.profile_ops && !options_.force) {  // profiles already stored are not redone
      std::vector<OpProfileRow> rows;
      DLB_RETURN_IF_ERROR(store_->ListOpProfiles(system_.id, &rows));
      profiled_ = GroupOpProfiles(rows);
    }
    summary_->warnings = SystemNoiseWarnings();
    start_ = Clock::now();
    return Status::OK();
  }

  const std::string& backend_name() const { return options_.backend; }

  // Visits every pending job once per round, in order (round 1 over all jobs, then round 2, ...),
  // so every item's pooled samples span the same stretch of the run and its drift.
  Status RunAll(std::vector<Job> jobs) {
    BeginRounds(std::move(jobs));
    for (int round = 1; round <= options_.protocol.rounds; ++round) DLB_RETURN_IF_ERROR(RunRound(round));
    EndRounds();
    return Status::OK();
  }

  // The same, a round at a time (ModelRounds): BeginRounds, RunRound(1..rounds), EndRounds.
  void BeginRounds(std::vector<Job> jobs) {
    jobs_ = std::move(jobs);
    progress_ = std::make_unique<Progress>(jobs_.size() * static_cast<size_t>(options_.protocol.rounds),
                                           options_.progress);
    for (const std::string& w : summary_->warnings) progress_->Warn(w);
    pending_.assign(jobs_.size(), Pending{});
    visits_done_ = 0;
  }

  Status RunRound(int round) {
    const int rounds = options_.protocol.rounds;
    for (size_t i = 0; i < jobs_.size(); ++i) {
      Pending& p = pending_[i];
      if (p.done) continue;
      const auto t0 = Clock::now();
      double round_ms = 0;
      DLB_RETURN_IF_ERROR(Visit(jobs_[i], round, &p, &round_ms));
      const size_t counted = p.done ? static_cast<size_t>(rounds - round + 1) : 1;
      progress_->Visit(p.item, round, rounds, p.done, round_ms, counted,
                       std::chrono::duration<double>(Clock::now() - t0).count());
      visits_done_ += counted;
      if (options_.after_visit)
        DLB_RETURN_IF_ERROR(options_.after_visit(static_cast<double>(visits_done_) /
                                                 static_cast<double>(jobs_.size() * static_cast<size_t>(rounds))));
    }
    return Status::OK();
  }

  void EndRounds() {
    for (const Pending& p : pending_) {
      summary_->items.push_back(p.item);
      if (p.item.skipped) ++summary_->skipped;
      else if (p.item.m.status == "ok") ++summary_->measured;
      else ++summary_->failed;
    }
    summary_->wall_s = std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  // One item across its rounds: the samples of finished rounds, pooled.
  struct Pending {
    RunItem item;
    ItemTiming pooled;
    double fastest_round_ms = std::numeric_limits<double>::infinity();  // smallest round headline so far
    bool done = false;  // item.m is final (stored, skipped, or failed)
  };

  // Round 1 checks the store and claims the item; every round times one visit; the row is
  // written after the last round, or at once when a round fails.
  Status Visit(const Job& job, int round, Pending* p, double* round_ms) {
    RunItem* item = &p->item;
    Measurement& m = item->m;
    if (round == 1) {
      m.key = {system_.id, job.kind, job.item_id, job.batch, summary_->protocol};
      m.name = job.name;
      bool take = false;
      DLB_RETURN_IF_ERROR(Begin(job, item, &take));
      if (!take) {
        p->done = true;
        return Status::OK();
      }
    } else {
      // Renew the claim (its time) for the rounds still to come; lost only to a foreign host
      // whose claim outlived ours, and then that host measures the item.
      bool claimed = false;
      DLB_RETURN_IF_ERROR(store_->TryClaim(m.key, &claimed));
      if (!claimed) {  // m holds only key and name until the last round
        ClaimedElsewhere(item);
        p->done = true;
        return Status::OK();
      }
    }
    if (options_.protocol.cool_off_s > 0)
      std::this_thread::sleep_for(std::chrono::duration<double>(options_.protocol.cool_off_s));

    IsolatedResult r = TimeVisit(job);
    *round_ms = r.timing.value_ms;
    const int rounds = options_.protocol.rounds;
    ItemTiming& pooled = p->pooled;
    if (round == 1) {
      pooled.session_create_ms = r.timing.session_create_ms;
      pooled.first_run_ms = r.timing.first_run_ms;
    }
    pooled.wall_s += r.timing.wall_s;
    if (options_.on_visit)
      options_.on_visit({job.kind, job.item_id, job.batch, round, r.status, r.timing.samples_ms.size()});
    if (r.status != "ok") {  // stored as failed now; no later rounds
      m.status = r.status;
      m.error = rounds > 1 ? fmt::format("round {} of {}: {}", round, rounds, r.error) : r.error;
      r.timing.wall_s = pooled.wall_s;
      SetMeasurementTiming(r.timing, &m);
      p->done = true;
      return store_->Put(m);
    }
    pooled.samples_ms.insert(pooled.samples_ms.end(), r.timing.samples_ms.begin(), r.timing.samples_ms.end());
    p->fastest_round_ms = std::min(p->fastest_round_ms, r.timing.value_ms);
    if (round < rounds) return Status::OK();
    pooled.stats = ComputeStats(pooled.samples_ms, options_.protocol.trim);
    pooled.value_ms =
        options_.protocol.fastest_round ? p->fastest_round_ms : HeadlineValue(options_.protocol, pooled.stats);
    m.status = "ok";
    m.error.clear();
    SetMeasurementTiming(pooled, &m);
    if (m.value_ms > 0) item->throughput_per_s = static_cast<double>(job.batch) * 1000.0 / m.value_ms;
    p->done = true;
    DLB_RETURN_IF_ERROR(store_->Put(m));
    return MaybeProfile(job, item);
  }

  // Skips what the store has (unless --force) or a concurrent run holds; *take = claimed for
  // this run.
  Status Begin(const Job& job, RunItem* item, bool* take) {
    Measurement& m = item->m;
    *take = false;
    std::optional<Measurement> existing;
    if (!options_.force) {
      DLB_RETURN_IF_ERROR(store_->Lookup(m.key, &existing));
      if (existing) {
        Skip(*existing, item);
        return MaybeProfile(job, item);
      }
    }
    bool claimed = false;
    DLB_RETURN_IF_ERROR(store_->TryClaim(m.key, &claimed));
    if (!claimed) {
      ClaimedElsewhere(item);
      return Status::OK();
    }
    if (!options_.force) {  // a concurrent run may have finished it between Lookup and claim
      DLB_RETURN_IF_ERROR(store_->Lookup(m.key, &existing));
      if (existing) {
        DLB_RETURN_IF_ERROR(store_->ReleaseClaim(m.key));
        Skip(*existing, item);
        return MaybeProfile(job, item);
      }
    }
    *take = true;
    return Status::OK();
  }

  // One visit: a round's share of the protocol's budget, in the isolated worker by default.
  IsolatedResult TimeVisit(const Job& job) {
    IsolatedResult r;
    if (!job.prepare_error.empty()) {
      r.status = "failed";
      r.error = job.prepare_error;
    } else if (options_.isolate) {
      r = RunIsolated(options_.backend, job.path, options_.backend_options, visit_protocol_, IsolatedTask::kTime, 0,
                      options_.timeout_s);
    } else {
      Status st = TimeModelFile(*backend_, job.path, options_.backend_options, visit_protocol_, &r.timing);
      if (!st.ok()) {
        r.status = "failed";
        r.error = st.message();
      }
    }
    return r;
  }

  // The opt-in per-operator run: its own child, after (never inside) the latency run; done
  // also when the latency came from the store.
  Status MaybeProfile(const Job& job, RunItem* item) {
    if (!options_.profile_ops || item->m.status != "ok" || !job.prepare_error.empty()) return Status::OK();
    if (auto have = profiled_.find({job.kind, job.item_id, job.batch}); have != profiled_.end()) {
      item->op_times = have->second;
      return Status::OK();
    }
    const auto t0 = Clock::now();
    IsolatedResult p = RunIsolated(options_.backend, job.path, options_.backend_options, options_.protocol,
                                   IsolatedTask::kProfileOps, options_.profile_runs, options_.timeout_s);
    item->profile_wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    summary_->profile_wall_s += item->profile_wall_s;
    if (p.status != "ok") {
      summary_->warnings.push_back(job.name + ": per-operator profiling " + p.status + ": " + p.error);
      std::fprintf(stderr, "dlbricks: warning: %s\n", summary_->warnings.back().c_str());
      return Status::OK();
    }
    item->op_times = p.timing.op_times;
    ++summary_->profiled;
    return store_->PutOpProfile(OpProfileRows(item->m.key, job.name, p.timing.op_times));
  }

  // A concurrent run holds the item's claim: it measures the item, this run skips it.
  static void ClaimedElsewhere(RunItem* item) {
    item->skipped = true;
    item->m.error = "being measured by another process";
  }

  static void Skip(const Measurement& existing, RunItem* item) {
    item->m = existing;
    item->skipped = true;
    if (existing.status == "ok" && existing.value_ms > 0)
      item->throughput_per_s = static_cast<double>(existing.key.batch) * 1000.0 / existing.value_ms;
  }

  const RunOptions& options_;
  Store* store_;
  RunSummary* summary_;
  std::unique_ptr<Backend> backend_;
  SystemRecord system_;
  ProtocolOptions visit_protocol_;  // the budget of one round (RoundProtocol)
  // Op profiles in the store at Start, by (kind, item, batch); empty with --force.
  std::map<OpProfileKey, std::vector<OpTypeTime>> profiled_;
  Clock::time_point start_;
  std::vector<Job> jobs_;  // BeginRounds .. EndRounds
  std::vector<Pending> pending_;
  std::unique_ptr<Progress> progress_;
  size_t visits_done_ = 0;  // counting the rounds a finished item no longer needs
};

nlohmann::json ItemJson(const RunItem& item) {
  const Measurement& m = item.m;
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& o : item.op_times) ops.push_back({{"op_type", o.op_type}, {"ms", o.ms}, {"calls", o.calls}});
  return {{"kind", m.key.kind}, {"item_id", m.key.item_id}, {"name", m.name}, {"batch", m.key.batch},
          {"status", m.status}, {"error", m.error}, {"skipped", item.skipped}, {"value_ms", m.value_ms},
          {"min_ms", m.min_ms}, {"median_ms", m.median_ms}, {"trimmed_mean_ms", m.trimmed_mean_ms},
          {"mean_ms", m.mean_ms}, {"stddev_ms", m.stddev_ms}, {"cv", m.cv}, {"p90_ms", m.p90_ms},
          {"p99_ms", m.p99_ms}, {"ci_low_ms", m.ci_low_ms}, {"ci_high_ms", m.ci_high_ms},
          {"runs", m.samples_ms.size()}, {"session_create_ms", m.session_create_ms},
          {"first_run_ms", m.first_run_ms}, {"wall_s", m.wall_s}, {"throughput_per_s", item.throughput_per_s},
          {"op_times", ops}, {"profile_wall_s", item.profile_wall_s}};
}

}  // namespace

Status RunSuite(const std::string& suite_dir, const RunOptions& options, Store* store, RunSummary* summary) {
  std::vector<SuiteBrick> bricks;
  DLB_RETURN_IF_ERROR(ReadSuiteBricks(suite_dir, &bricks));
  Runner runner(options, store, summary);
  DLB_RETURN_IF_ERROR(runner.Start());
  std::vector<Job> jobs;
  for (const SuiteBrick& b : bricks)
    if (options.only_bricks.empty() || options.only_bricks.count(b.id)) jobs.push_back({"brick", b.id, b.id, b.path, 1, ""});
  return runner.RunAll(jobs);
}

struct ModelRounds::Impl {
  explicit Impl(const RunOptions& o, Store* store, RunSummary* summary) : options(o), runner(options, store, summary) {}
  RunOptions options;  // runner keeps a reference
  Runner runner;
  ScopedPaths cleanup;  // re-batched / canonical copies
  int rounds_run = 0;
};

ModelRounds::ModelRounds() = default;
ModelRounds::~ModelRounds() = default;

Status ModelRounds::Start(const std::vector<std::string>& model_paths, const RunOptions& options, Store* store,
                          RunSummary* summary, std::unique_ptr<ModelRounds>* out) {
  namespace fs = std::filesystem;
  if (options.batches.empty()) return Status::InvalidArgument("--batch needs at least one size");
  for (int64_t b : options.batches)
    if (b < 1) return Status::InvalidArgument("--batch sizes must be >= 1");
  std::unique_ptr<ModelRounds> rounds(new ModelRounds());
  rounds->impl_ = std::make_unique<Impl>(options, store, summary);
  Runner& runner = rounds->impl_->runner;
  DLB_RETURN_IF_ERROR(runner.Start());
  // Re-batched / canonical copies go to a private temp folder removed at the end.
  const fs::path base = options.work_dir.empty() ? fs::temp_directory_path() : fs::path(options.work_dir);
  const fs::path work = base / fmt::format("dlbricks-measure-{}", getpid());
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return Status::IOError(work.string() + ": cannot create temp folder: " + ec.message());
  rounds->impl_->cleanup.Add(work.string());

  std::vector<Job> jobs;
  IngestOptions shaped;
  shaped.input_shapes = options.input_shapes;
  for (const std::string& path : model_paths) {
    Graph graph;
    DLB_RETURN_IF_ERROR(LoadGraph(path, shaped, &graph));
    const std::string sig = ModelSignature(graph).Hex();
    int64_t file_batch = 0;
    if (!graph.inputs.empty() && !graph.values[static_cast<size_t>(graph.inputs[0])].type.dims.empty())
      file_batch = graph.values[static_cast<size_t>(graph.inputs[0])].type.dims[0];
    for (int64_t b : options.batches) {
      Job job{"model", sig, graph.name, path, b, ""};
      // OpenCV always gets the canonical model; other engines get the file as is at its own
      // batch and shapes.
      if (runner.backend_name() == "opencv" || b != file_batch || !options.input_shapes.empty()) {
        job.path = (work / fmt::format("{}_b{}.onnx", sig, b)).string();
        Status st;
        if (b == file_batch) {
          st = SaveCanonicalModel(graph, job.path);
        } else {
          IngestOptions io = shaped;
          io.batch = b;
          Graph rebatched;
          st = LoadGraph(path, io, &rebatched);
          if (st.ok()) st = SaveCanonicalModel(rebatched, job.path);
        }
        if (!st.ok()) job.prepare_error = "re-batching to " + std::to_string(b) + ": " + st.message();
      }
      jobs.push_back(job);
    }
  }
  runner.BeginRounds(std::move(jobs));
  *out = std::move(rounds);
  return Status::OK();
}

int ModelRounds::rounds() const { return impl_->options.protocol.rounds; }

Status ModelRounds::RunUntil(int last) {
  for (const int n = std::min(last, rounds()); impl_->rounds_run < n;) {
    DLB_RETURN_IF_ERROR(impl_->runner.RunRound(++impl_->rounds_run));
    if (impl_->rounds_run == rounds()) impl_->runner.EndRounds();
  }
  return Status::OK();
}

Status MeasureModels(const std::vector<std::string>& model_paths, const RunOptions& options, Store* store,
                     RunSummary* summary) {
  std::unique_ptr<ModelRounds> models;
  DLB_RETURN_IF_ERROR(ModelRounds::Start(model_paths, options, store, summary, &models));
  return models->RunUntil(models->rounds());
}

std::string RunSummaryJson(const RunSummary& s) {
  nlohmann::json items = nlohmann::json::array();
  for (const RunItem& item : s.items) items.push_back(ItemJson(item));
  nlohmann::json j = {{"schema_version", 1},
                      {"system_id", s.system_id},
                      {"system", nlohmann::json::parse(s.fingerprint_json, nullptr, false)},
                      {"protocol", s.protocol},
                      {"measured", s.measured},
                      {"skipped", s.skipped},
                      {"failed", s.failed},
                      {"wall_s", s.wall_s},
                      {"profiled", s.profiled},
                      {"profile_wall_s", s.profile_wall_s},
                      {"calibrated", s.calibrated},
                      {"warnings", s.warnings},
                      {"items", items}};
  return j.dump(2);
}

}  // namespace dlbricks
