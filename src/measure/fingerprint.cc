// System fingerprint (what a result depends on) and noise warnings.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dlbricks/measure.h"

namespace dlbricks {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\n");
  const auto e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// First value of "key : value" in /proc/cpuinfo.
std::string CpuInfoField(const std::string& cpuinfo, const std::string& key) {
  std::istringstream in(cpuinfo);
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon != std::string::npos && Trim(line.substr(0, colon)) == key) return Trim(line.substr(colon + 1));
  }
  return "";
}

// ISA extensions that change which kernels an engine picks. Microcode/mitigation flags are
// left out: they change with kernel updates, not with the instruction set.
std::vector<std::string> IsaFlags(const std::string& cpuinfo) {
  static const char* kPrefixes[] = {"sse", "ssse3", "avx", "fma", "f16c", "amx", "bmi", "popcnt", "aes",
                                    "sha", "vnni", "vaes", "vpclmul", "gfni", "neon", "asimd", "sve", "fp16"};
  std::string flags = CpuInfoField(cpuinfo, "flags");
  if (flags.empty()) flags = CpuInfoField(cpuinfo, "Features");  // arm64
  std::set<std::string> keep;
  std::istringstream in(flags);
  for (std::string f; in >> f;)
    for (const char* p : kPrefixes)
      if (f.rfind(p, 0) == 0) keep.insert(f);
  return {keep.begin(), keep.end()};
}

int64_t MemTotalMiB() {
  const std::string meminfo = ReadSmallFile("/proc/meminfo");
  std::istringstream in(meminfo);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemTotal:", 0) == 0) {
      const int64_t kib = std::atoll(line.c_str() + 9);
      // Rounded to 256 MiB: MemTotal moves by a few MiB across kernel builds.
      return static_cast<int64_t>(std::llround(static_cast<double>(kib) / 1024.0 / 256.0)) * 256;
    }
  }
  return 0;
}

}  // namespace

std::string SystemFingerprintJson(const Backend& backend, const BackendOptions& options) {
  const std::string cpuinfo = ReadSmallFile("/proc/cpuinfo");
  std::string model = CpuInfoField(cpuinfo, "model name");
  if (model.empty()) model = CpuInfoField(cpuinfo, "Hardware");
  utsname u{};
  uname(&u);
  nlohmann::json options_json = nlohmann::json::object();
  for (const auto& [k, v] : backend.RecordOptions(options)) options_json[k] = v;
  nlohmann::json fp = {
      {"fingerprint_version", 1},
      {"cpu", {{"model", model.empty() ? "unknown" : model},
               {"logical_cores", sysconf(_SC_NPROCESSORS_ONLN)},
               {"isa", IsaFlags(cpuinfo)}}},
      {"memory_mib", MemTotalMiB()},
      {"kernel", {{"sysname", u.sysname}, {"release", u.release}, {"machine", u.machine}}},
      {"backend", {{"name", backend.name()}, {"version", backend.version()}, {"options", options_json}}},
  };
  return fp.dump();  // nlohmann's object keys are sorted: the dump is canonical
}

SystemRecord MakeSystemRecord(const Backend& backend, const BackendOptions& options) {
  SystemRecord r;
  r.fingerprint_json = SystemFingerprintJson(backend, options);
  r.id = HashBytes(r.fingerprint_json).Hex();
  return r;
}

int64_t LastLevelCacheBytes() {
  int64_t largest = 0;
  for (int i = 0; i < 8; ++i) {  // sysfs writes sizes as "48K", "2048K", "300M"
    const std::string size = ReadSmallFile(fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/size", i));
    char* unit = nullptr;
    const int64_t n = std::strtoll(size.c_str(), &unit, 10);
    largest = std::max(largest, n << (*unit == 'K' ? 10 : *unit == 'M' ? 20 : *unit == 'G' ? 30 : 0));
  }
  return largest;
}

std::vector<std::string> SystemNoiseWarnings() {
  std::vector<std::string> w;
  const std::string gov = Trim(ReadSmallFile("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"));
  if (!gov.empty() && gov != "performance")
    w.push_back("CPU frequency governor is '" + gov + "', not 'performance': latencies may drift");
  double load[1] = {0};
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (getloadavg(load, 1) == 1 && cores > 0 && load[0] > 0.5 * static_cast<double>(cores))
    w.push_back(fmt::format("1-minute load average {:.2f} on {} cores: other work competes for the CPU", load[0],
                            cores));
  return w;
}

}  // namespace dlbricks
