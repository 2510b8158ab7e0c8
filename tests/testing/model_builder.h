// Test-only helpers: build small ONNX models in code, write them to a temp folder,
// run the CLI. Fixed seeds everywhere (ncnn test_layer style).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dlbricks::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17);

  // A graph input with a static shape (a dim < 0 becomes a symbolic dim "N").
  ModelBuilder& Input(const std::string& name, std::vector<int64_t> dims,
                      int32_t dtype = onnx::TensorProto::FLOAT);
  // A graph output; shape left to inference.
  ModelBuilder& Output(const std::string& name, int32_t dtype = onnx::TensorProto::FLOAT);
  // A float initializer filled from a fixed-seed RNG (seed differs per call unless given).
  ModelBuilder& Weight(const std::string& name, std::vector<int64_t> dims, uint32_t seed = 0);
  // A float initializer with the given values.
  ModelBuilder& WeightValues(const std::string& name, std::vector<int64_t> dims,
                             std::vector<float> values);
  // An int64 initializer (shapes, axes, pads).
  ModelBuilder& Int64s(const std::string& name, std::vector<int64_t> values,
                       std::vector<int64_t> dims = {-1});
  // Adds a node; attributes through the returned reference and the Attr* helpers.
  onnx::NodeProto& Node(const std::string& op, std::vector<std::string> inputs,
                        std::vector<std::string> outputs, const std::string& name = "");

  onnx::ModelProto Build() const { return model_; }
  // Serialises to <dir>/<file>; returns the path.
  std::string Write(const std::string& dir, const std::string& file) const;

 private:
  onnx::ModelProto model_;
  uint32_t next_seed_ = 7767517;
};

void AttrInt(onnx::NodeProto& node, const std::string& name, int64_t v);
void AttrInts(onnx::NodeProto& node, const std::string& name, std::vector<int64_t> v);
void AttrFloat(onnx::NodeProto& node, const std::string& name, float v);
void AttrString(onnx::NodeProto& node, const std::string& name, const std::string& v);

// A fresh empty folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes bytes to a file.
void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the built dlbricks CLI ($DLBRICKS_BIN) with the given arguments (shell-quoted).
CommandResult RunCli(const std::vector<std::string>& args);
// The CLI's bad-input contract: exit 2 and exactly one stderr line that contains `needle`.
void ExpectOneLineError(const CommandResult& r, const std::string& needle);

// A small conv net (Conv-BN-Relu x2, a residual Add, global pool, Gemm) used by many tests.
ModelBuilder SmallConvNet(uint32_t seed = 1);

}  // namespace dlbricks::testing

namespace dlbricks::testing {

// Moves the bytes of every initializer of at least min_bytes to <dir>/<file>, appended at
// 64-byte aligned offsets, as ONNX external data (location = file, offset, length): the
// shape of a shared weight pool. REQUIRES: those initializers hold raw_data.
void MoveInitializersToExternalFile(onnx::ModelProto* model, const std::string& dir, const std::string& file,
                                    size_t min_bytes = 0);

}  // namespace dlbricks::testing
