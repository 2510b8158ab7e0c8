// Reads the fields of SUITE/manifest.json that `dlbricks run` needs (docs/suite.md), and picks
// the bricks a packed run times for the profiler-bias calibration.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <nlohmann/json.hpp>

#include "dlbricks/measure.h"

namespace dlbricks {

Status ReadSuiteBricks(const std::string& suite_dir, std::vector<SuiteBrick>* bricks) {
  namespace fs = std::filesystem;
  const std::string manifest = (fs::path(suite_dir) / "manifest.json").string();
  std::ifstream in(manifest);
  if (!in) return Status::InvalidArgument(manifest + ": cannot open suite manifest");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(manifest + ": not valid JSON");
  if (!j.contains("schema_version") || !j["schema_version"].is_number_integer())
    return Status::Corruption(manifest + ": missing schema_version");
  if (j["schema_version"].get<int>() != 1)
    return Status::InvalidArgument(manifest + ": unsupported schema_version " + j["schema_version"].dump());
  if (!j.contains("bricks") || !j["bricks"].is_array()) return Status::Corruption(manifest + ": missing bricks array");
  bricks->clear();
  for (const auto& b : j["bricks"]) {
    const size_t index = bricks->size();
    if (!b.is_object() || !b.contains("id") || !b["id"].is_string() || !b.contains("file") || !b["file"].is_string())
      return Status::Corruption(manifest + ": brick " + std::to_string(index) + " lacks id or file");
    Hash128 h;
    SuiteBrick brick;
    brick.id = b["id"].get<std::string>();
    if (!Hash128::FromHex(brick.id, &h))
      return Status::Corruption(manifest + ": brick " + std::to_string(index) + " id is not 32 hex digits");
    const fs::path rel = b["file"].get<std::string>();
    if (rel.is_absolute() || rel.lexically_normal().string().rfind("..", 0) == 0)
      return Status::Corruption(manifest + ": brick file '" + rel.string() + "' is outside the suite");
    brick.path = fs::absolute(fs::path(suite_dir) / rel).lexically_normal().string();
    if (!fs::is_regular_file(brick.path)) return Status::InvalidArgument(brick.path + ": brick file listed in " +
                                                                         manifest + " is missing");
    if (b.contains("op_types") && b["op_types"].is_array())
      for (const auto& op : b["op_types"])
        if (op.is_string()) brick.op_types.push_back(op.get<std::string>());
    if (b.contains("flops") && b["flops"].is_number()) brick.flops = b["flops"].get<double>();
    bricks->push_back(std::move(brick));
  }
  return Status::OK();
}

std::set<std::string> SelectCalibrationBricks(const std::vector<SuiteBrick>& bricks, int n) {
  if (bricks.empty() || n <= 0) return {};
  std::vector<double> flops;
  for (const SuiteBrick& b : bricks) flops.push_back(b.flops);
  std::nth_element(flops.begin(), flops.begin() + static_cast<long>(flops.size() / 2), flops.end());
  const double median = flops[flops.size() / 2];
  // The cheaper half by id, then (a small suite) the rest by FLOPs.
  std::vector<const SuiteBrick*> order;
  for (const SuiteBrick& b : bricks) order.push_back(&b);
  auto rank = [median](const SuiteBrick* b) {
    return b->flops <= median ? std::make_tuple(0, 0.0, b->id) : std::make_tuple(1, b->flops, b->id);
  };
  std::sort(order.begin(), order.end(), [&](const SuiteBrick* x, const SuiteBrick* y) { return rank(x) < rank(y); });
  std::set<std::string> picked;
  for (size_t i = 0; i < order.size() && i < static_cast<size_t>(n); ++i) picked.insert(order[i]->id);
  return picked;
}

}  // namespace dlbricks
