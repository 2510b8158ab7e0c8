// Test-only: a suite folder per the manifest contract whose bricks the fake backend runs.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dlbricks/hash.h"
#include "testing/model_builder.h"

namespace dlbricks::testing {

// Writes SUITE/manifest.json and bricks/<id>.onnx for each payload (the fake backend times a
// brick by its bytes; "dlbricks-fake:crash" / "dlbricks-fake:hang" misbehave). Returns ids.
inline std::vector<std::string> WriteFakeSuite(const std::string& suite, const std::vector<std::string>& payloads) {
  std::filesystem::create_directories(suite + "/bricks");
  nlohmann::json bricks = nlohmann::json::array();
  std::vector<std::string> ids;
  for (const std::string& p : payloads) {
    const std::string id = HashBytes(p).Hex();
    WriteFile(suite + "/bricks/" + id + ".onnx", p);
    bricks.push_back({{"id", id},
                      {"file", "bricks/" + id + ".onnx"},
                      {"op_types", {"Conv"}},
                      {"layers", 1},
                      {"inputs", {{{"dtype", "f32"}, {"dims", {1, 3, 8, 8}}}}},
                      {"outputs", {{{"dtype", "f32"}, {"dims", {1, 3, 8, 8}}}}},
                      {"macs", 1},
                      {"flops", 2},
                      {"params", 0}});
    ids.push_back(id);
  }
  nlohmann::json m = {{"schema_version", 1}, {"tool_version", "0.1.0"}, {"granularity", 1}, {"mode", "chain"},
                      {"bricks", bricks}, {"models", nlohmann::json::array()}, {"decoys", 0}};
  WriteFile(suite + "/manifest.json", m.dump(2));
  return ids;
}

}  // namespace dlbricks::testing
