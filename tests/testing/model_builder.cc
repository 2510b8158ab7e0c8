#include "testing/model_builder.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace dlbricks::testing {

ModelBuilder::ModelBuilder(int64_t opset) {
  model_.set_ir_version(8);
  model_.set_producer_name("dlbricks-test");
  auto* imp = model_.add_opset_import();
  imp->set_domain("");
  imp->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

static void SetType(onnx::ValueInfoProto* vi, int32_t dtype, const std::vector<int64_t>* dims) {
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype);
  if (!dims) return;
  auto* shape = tt->mutable_shape();
  for (int64_t d : *dims) {
    auto* dim = shape->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

ModelBuilder& ModelBuilder::Input(const std::string& name, std::vector<int64_t> dims, int32_t dtype) {
  auto* vi = model_.mutable_graph()->add_input();
  vi->set_name(name);
  SetType(vi, dtype, &dims);
  return *this;
}

ModelBuilder& ModelBuilder::Output(const std::string& name, int32_t dtype) {
  auto* vi = model_.mutable_graph()->add_output();
  vi->set_name(name);
  SetType(vi, dtype, nullptr);
  return *this;
}

ModelBuilder& ModelBuilder::Weight(const std::string& name, std::vector<int64_t> dims, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::mt19937 rng(seed ? seed : next_seed_++);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = dist(rng);
  return WeightValues(name, std::move(dims), std::move(values));
}

ModelBuilder& ModelBuilder::WeightValues(const std::string& name, std::vector<int64_t> dims,
                                         std::vector<float> values) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return *this;
}

ModelBuilder& ModelBuilder::Int64s(const std::string& name, std::vector<int64_t> values,
                                   std::vector<int64_t> dims) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  if (dims.size() == 1 && dims[0] == -1) dims[0] = static_cast<int64_t>(values.size());
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) t->add_int64_data(v);
  return *this;
}

onnx::NodeProto& ModelBuilder::Node(const std::string& op, std::vector<std::string> inputs,
                                    std::vector<std::string> outputs, const std::string& name) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name.empty() ? op + "_" + std::to_string(model_.graph().node_size()) : name);
  for (auto& i : inputs) n->add_input(i);
  for (auto& o : outputs) n->add_output(o);
  return *n;
}

std::string ModelBuilder::Write(const std::string& dir, const std::string& file) const {
  std::string path = dir + "/" + file;
  std::ofstream out(path, std::ios::binary);
  if (!model_.SerializeToOstream(&out)) throw std::runtime_error("cannot write " + path);
  return path;
}

void AttrInt(onnx::NodeProto& node, const std::string& name, int64_t v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void AttrInts(onnx::NodeProto& node, const std::string& name, std::vector<int64_t> v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void AttrFloat(onnx::NodeProto& node, const std::string& name, float v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void AttrString(onnx::NodeProto& node, const std::string& name, const std::string& v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "dlbricks-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

static std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

CommandResult RunCli(const std::vector<std::string>& args) {
  const char* bin = std::getenv("DLBRICKS_BIN");
  if (!bin) throw std::runtime_error("DLBRICKS_BIN is not set");
  TempDir tmp;
  std::string cmd = Quote(bin);
  for (const auto& a : args) cmd += " " + Quote(a);
  cmd += " >" + Quote(tmp.File("out")) + " 2>" + Quote(tmp.File("err")) + " </dev/null";
  int rc = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = ReadFile(tmp.File("out"));
  r.err = ReadFile(tmp.File("err"));
  return r;
}

void ExpectOneLineError(const CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

ModelBuilder SmallConvNet(uint32_t seed) {
  ModelBuilder b;
  b.Input("image", {1, 3, 16, 16});
  b.Weight("w1", {8, 3, 3, 3}, seed).Weight("b1", {8}, seed + 1);
  auto& c1 = b.Node("Conv", {"image", "w1", "b1"}, {"c1"});
  AttrInts(c1, "pads", {1, 1, 1, 1});
  AttrInts(c1, "kernel_shape", {3, 3});
  b.Weight("s1", {8}, seed + 2).Weight("o1", {8}, seed + 3).Weight("m1", {8}, seed + 4);
  b.WeightValues("v1", {8}, std::vector<float>(8, 1.0f));
  b.Node("BatchNormalization", {"c1", "s1", "o1", "m1", "v1"}, {"bn1"});
  b.Node("Relu", {"bn1"}, {"r1"});
  b.Weight("w2", {8, 8, 3, 3}, seed + 5).Weight("b2", {8}, seed + 6);
  auto& c2 = b.Node("Conv", {"r1", "w2", "b2"}, {"c2"});
  AttrInts(c2, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c2"}, {"r2"});
  b.Node("Add", {"r1", "r2"}, {"sum"});
  b.Node("GlobalAveragePool", {"sum"}, {"gap"});
  b.Node("Flatten", {"gap"}, {"flat"});
  b.Weight("fc_w", {10, 8}, seed + 7).Weight("fc_b", {10}, seed + 8);
  auto& fc = b.Node("Gemm", {"flat", "fc_w", "fc_b"}, {"logits"});
  AttrInt(fc, "transB", 1);
  b.Output("logits");
  return b;
}

}  // namespace dlbricks::testing

namespace dlbricks::testing {

void MoveInitializersToExternalFile(onnx::ModelProto* model, const std::string& dir, const std::string& file,
                                    size_t min_bytes) {
  std::ofstream out(dir + "/" + file, std::ios::binary | std::ios::app);
  out.seekp(0, std::ios::end);
  int64_t offset = static_cast<int64_t>(out.tellp());
  for (auto& t : *model->mutable_graph()->mutable_initializer()) {
    if (t.raw_data().empty() || t.raw_data().size() < min_bytes) continue;
    const int64_t aligned = (offset + 63) / 64 * 64;
    out << std::string(static_cast<size_t>(aligned - offset), '\0') << t.raw_data();
    auto add = [&](const std::string& key, const std::string& value) {
      auto* kv = t.add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    };
    add("location", file);
    add("offset", std::to_string(aligned));
    add("length", std::to_string(t.raw_data().size()));
    offset = aligned + static_cast<int64_t>(t.raw_data().size());
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
  }
  if (!out) throw std::runtime_error("cannot write " + dir + "/" + file);
}

}  // namespace dlbricks::testing
