// Crash and hang isolation: items run in a forked worker process that serves one item after
// another; each result comes back over a pipe as JSON. The parent never runs engine code, so
// a broken brick cannot end the run: it costs that item and a worker restart.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dlbricks/measure.h"

namespace dlbricks {
namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json ToJson(const ItemTiming& t) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& o : t.op_times) ops.push_back({{"op_type", o.op_type}, {"ms", o.ms}, {"calls", o.calls}});
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : t.node_times)
    nodes.push_back({{"name", n.name}, {"op_type", n.op_type}, {"ms", n.ms}, {"calls", n.calls},
                     {"inputs", n.inputs}, {"outputs", n.outputs}});
  return {{"ok", true},
          {"node_times", nodes},
          {"samples_ms", t.samples_ms},
          {"session_create_ms", t.session_create_ms},
          {"first_run_ms", t.first_run_ms},
          {"wall_s", t.wall_s},
          {"op_times", ops}};
}

bool FromJson(const nlohmann::json& j, const ProtocolOptions& protocol, ItemTiming* t) {
  try {
    t->samples_ms = j.at("samples_ms").get<std::vector<double>>();
    t->session_create_ms = j.at("session_create_ms").get<double>();
    t->first_run_ms = j.at("first_run_ms").get<double>();
    t->wall_s = j.at("wall_s").get<double>();
    for (const auto& o : j.at("op_times"))
      t->op_times.push_back({o.at("op_type").get<std::string>(), o.at("ms").get<double>(), o.at("calls").get<double>()});
    for (const auto& n : j.at("node_times"))
      t->node_times.push_back({n.at("name").get<std::string>(), n.at("op_type").get<std::string>(),
                               n.at("ms").get<double>(), n.at("calls").get<double>(),
                               n.at("inputs").get<std::vector<std::string>>(),
                               n.at("outputs").get<std::vector<std::string>>()});
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  // Statistics are recomputed here from the raw samples (one code path for every item).
  t->stats = ComputeStats(t->samples_ms, protocol.trim);
  t->value_ms = HeadlineValue(protocol, t->stats);
  return true;
}

// Heartbeats are single bytes before the JSON result; a newline ends each result.
constexpr char kBeat = '.';

bool WriteAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t w = write(fd, bytes.data() + off, bytes.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

// One item's work in the worker; returns the JSON message for the parent.
std::string ChildWork(Backend& backend, const std::string& path, const BackendOptions& options,
                      const ProtocolOptions& protocol, IsolatedTask task, int profile_runs, int fd) {
  ItemTiming t;
  Status st;
  auto beat = [fd] { WriteAll(fd, std::string(1, kBeat)); };
  if (task == IsolatedTask::kTime) {
    st = TimeModelFile(backend, path, options, protocol, &t, beat);
  } else {
    // Each profiled inference starts with the caches prepared as a timed run's are.
    auto on_run = [&](bool next_profiled, PreparedModel& model) {
      beat();
      if (next_profiled) PrepareCaches(protocol, model);
    };
    const auto start = Clock::now();
    st = task == IsolatedTask::kProfileOps ? backend.ProfileOps(path, options, profile_runs, on_run, &t.op_times)
                                           : backend.ProfileNodes(path, options, profile_runs, on_run, &t.node_times);
    t.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  }
  if (!st.ok()) return nlohmann::json{{"ok", false}, {"error", st.message()}}.dump();
  return ToJson(t).dump();
}

// A forked worker process that measures items one after another for one configuration
// (backend, options, protocol). Keeping it alive across items saves the engine's start-up
// (environment, kernels, allocator) per item, which dominated small bricks; a crash or a
// hang only costs the item in flight, and the next item gets a fresh worker.
class Worker {
 public:
  ~Worker() { Stop(false); }

  bool Matches(const std::string& key) const { return pid_ > 0 && key_ == key; }

  bool Start(const std::string& key, const std::string& backend_name, const BackendOptions& options,
             const ProtocolOptions& protocol, std::string* error) {
    Stop(false);
    int req[2], rsp[2];
    if (pipe2(req, O_CLOEXEC) != 0) {
      *error = std::string("pipe: ") + std::strerror(errno);
      return false;
    }
    if (pipe2(rsp, O_CLOEXEC) != 0) {
      *error = std::string("pipe: ") + std::strerror(errno);
      close(req[0]);
      close(req[1]);
      return false;
    }
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      *error = std::string("fork: ") + std::strerror(errno);
      for (int fd : {req[0], req[1], rsp[0], rsp[1]}) close(fd);
      return false;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed runner takes its worker along
      close(req[1]);
      close(rsp[0]);
      Serve(req[0], rsp[1], backend_name, options, protocol);
      _exit(0);
    }
    close(req[0]);
    close(rsp[1]);
    pid_ = pid;
    to_child_ = req[1];
    from_child_ = rsp[0];
    key_ = key;
    return true;
  }

  // Sends one item and waits for its result line. Sets *wstatus when the worker ended.
  enum class Outcome { kResult, kTimeout, kDied };
  Outcome Request(const std::string& path, IsolatedTask task, int profile_runs, double timeout_s,
                  std::string* message, int* wstatus) {
    const std::string line = fmt::format("{}\t{}\t{}\n", static_cast<int>(task), profile_runs, path);
    if (!WriteAll(to_child_, line)) {
      Stop(true, wstatus);
      return Outcome::kDied;
    }
    const auto patience = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    auto deadline = Clock::now() + patience;
    char buf[65536];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        Stop(true, wstatus);
        return Outcome::kTimeout;
      }
      pollfd p{from_child_, POLLIN, 0};
      const int pr = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (pr <= 0) continue;
      const ssize_t got = read(from_child_, buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {  // EOF: the worker died
        Stop(false, wstatus);
        return Outcome::kDied;
      }
      deadline = Clock::now() + patience;  // progress (a heartbeat or the result)
      message->append(buf, static_cast<size_t>(got));
      if (!message->empty() && message->back() == '\n') {
        message->pop_back();
        message->erase(0, message->find_first_not_of(kBeat));
        return Outcome::kResult;
      }
    }
  }

 private:
  static void Serve(int in, int out, const std::string& backend_name, const BackendOptions& options,
                    const ProtocolOptions& protocol) {
    std::unique_ptr<Backend> backend;
    Status created = BackendRegistry::Create(backend_name, &backend);
    std::string pending;
    char buf[4096];
    for (;;) {
      size_t nl;
      while ((nl = pending.find('\n')) == std::string::npos) {
        const ssize_t got = read(in, buf, sizeof(buf));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return;  // the parent closed the pipe: done
        pending.append(buf, static_cast<size_t>(got));
      }
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
      const IsolatedTask task = static_cast<IsolatedTask>(std::atoi(line.substr(0, t1).c_str()));
      const int runs = std::atoi(line.substr(t1 + 1, t2 - t1 - 1).c_str());
      const std::string path = line.substr(t2 + 1);
      std::string result = created.ok() ? ChildWork(*backend, path, options, protocol, task, runs, out)
                                        : nlohmann::json{{"ok", false}, {"error", created.message()}}.dump();
      if (!WriteAll(out, result + "\n")) return;
    }
  }

  void Stop(bool kill_it, int* wstatus = nullptr) {
    if (pid_ <= 0) return;
    close(to_child_);  // a healthy worker exits on EOF
    close(from_child_);
    if (kill_it) kill(pid_, SIGKILL);
    int st = 0;
    while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    if (wstatus) *wstatus = st;
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string key_;
};

std::string WorkerKey(const std::string& backend_name, const BackendOptions& o, const ProtocolOptions& protocol) {
  std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}", backend_name, o.intra_op_threads, o.inter_op_threads,
                                o.opt_level, o.execution_mode, o.allow_spinning, ProtocolKey(protocol));
  for (const auto& [k, v] : o.extra) key += "|" + k + "=" + v;
  return key;
}

}  // namespace

IsolatedResult RunIsolated(const std::string& backend_name, const std::string& path, const BackendOptions& options,
                           const ProtocolOptions& protocol, IsolatedTask task, int profile_runs, double timeout_s) {
  static Worker worker;  // one per process: a runner measures one configuration at a time
  IsolatedResult r;
  const Clock::time_point start = Clock::now();
  const std::string key = WorkerKey(backend_name, options, protocol);
  if (!worker.Matches(key) && !worker.Start(key, backend_name, options, protocol, &r.error)) {
    r.status = "failed";
    return r;
  }
  std::string message;
  int wstatus = 0;
  const Worker::Outcome outcome = worker.Request(path, task, profile_runs, timeout_s, &message, &wstatus);
  r.timing.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (outcome == Worker::Outcome::kTimeout) {
    r.status = "timeout";
    r.error = fmt::format("no progress for {} s; worker killed", timeout_s);
    return r;
  }
  if (outcome == Worker::Outcome::kDied) {
    r.status = "crashed";
    r.error = WIFSIGNALED(wstatus)
                  ? fmt::format("killed by signal {} ({})", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)))
                  : fmt::format("worker exited with code {} without a result",
                                WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    return r;
  }
  nlohmann::json j = nlohmann::json::parse(message, nullptr, false);
  if (!j.is_object()) {
    r.status = "crashed";
    r.error = "malformed result from worker";
    return r;
  }
  if (!j.value("ok", false)) {
    r.status = "failed";
    r.error = j.value("error", "unknown error");
    return r;
  }
  const double parent_wall = r.timing.wall_s;
  if (!FromJson(j, protocol, &r.timing)) {
    r.status = "failed";
    r.error = "malformed result from worker";
    return r;
  }
  r.timing.wall_s = parent_wall;  // request to result, as seen by the runner
  return r;
}

}  // namespace dlbricks
