// Crash and hang isolation: one forked child per item; the result comes back over a pipe
// as JSON. The parent never runs engine code, so a broken brick cannot end the run.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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
  return {{"ok", true},
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
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  // Statistics are recomputed here from the raw samples (one code path for every item).
  t->stats = ComputeStats(t->samples_ms, protocol.trim);
  t->value_ms = HeadlineValue(protocol, t->stats);
  return true;
}

// Heartbeats are single bytes before the JSON result.
constexpr char kBeat = '.';

void WriteAll(int fd, const std::string& bytes);

// The child's whole job; returns the JSON message for the parent.
std::string ChildWork(const std::string& backend_name, const std::string& path, const BackendOptions& options,
                      const ProtocolOptions& protocol, IsolatedTask task, int profile_runs, int fd) {
  std::unique_ptr<Backend> backend;
  Status st = BackendRegistry::Create(backend_name, &backend);
  ItemTiming t;
  if (st.ok()) {
    if (task == IsolatedTask::kTime) {
      st = TimeModelFile(*backend, path, options, protocol, &t, [fd] { WriteAll(fd, std::string(1, kBeat)); });
    } else {
      const auto start = Clock::now();
      st = backend->ProfileOps(path, options, profile_runs, &t.op_times);
      t.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    }
  }
  if (!st.ok()) return nlohmann::json{{"ok", false}, {"error", st.message()}}.dump();
  return ToJson(t).dump();
}

void WriteAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t w = write(fd, bytes.data() + off, bytes.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

}  // namespace

IsolatedResult RunIsolated(const std::string& backend_name, const std::string& path, const BackendOptions& options,
                           const ProtocolOptions& protocol, IsolatedTask task, int profile_runs, double timeout_s) {
  IsolatedResult r;
  const Clock::time_point start = Clock::now();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    r.status = "failed";
    r.error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    r.status = "failed";
    r.error = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed runner takes its child along
    close(fds[0]);
    WriteAll(fds[1], ChildWork(backend_name, path, options, protocol, task, profile_runs, fds[1]));
    _exit(0);
  }
  close(fds[1]);
  std::string message;
  bool timed_out = false;
  const auto patience = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  auto deadline = start + patience;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int pr = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    const ssize_t got = read(fds[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the child is done (or died)
    deadline = Clock::now() + patience;  // progress (a heartbeat or the result)
    message.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  r.timing.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (timed_out) {
    r.status = "timeout";
    r.error = fmt::format("no progress for {} s; child killed", timeout_s);
    return r;
  }
  if (WIFSIGNALED(wstatus)) {
    r.status = "crashed";
    r.error = fmt::format("killed by signal {} ({})", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    return r;
  }
  message.erase(0, message.find_first_not_of(kBeat));
  nlohmann::json j = nlohmann::json::parse(message, nullptr, false);
  if (!j.is_object() || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    r.status = "crashed";
    r.error = fmt::format("child exited with code {} without a result", WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
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
    r.error = "malformed result from child";
    return r;
  }
  r.timing.wall_s = parent_wall;  // fork + everything, as seen by the runner
  return r;
}

}  // namespace dlbricks
