// Harness overhead per timed iteration (issue 4, docs/results.md): the dlbricks timed loop
// (TimePreparedModel through the onnxruntime backend) against a bare loop of
// Ort::Session::Run on the same model in the same process, interleaved rounds, medians.
//
//   harness_overhead [--model FILE] [--iters N] [--rounds R] [--threads T]
// Without --model a one-node model (Relu on 1x64) is used, so that engine time is small and
// the harness cost is not hidden in engine noise.
#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <unistd.h>

#include "dlbricks/backend.h"
#include "dlbricks/measure.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string WriteTinyModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  for (const char* name : {"x", "y"}) {
    auto* vi = std::string(name) == "x" ? g->add_input() : g->add_output();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(1);
    tt->mutable_shape()->add_dim()->set_dim_value(64);
  }
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  const std::string path = (std::filesystem::temp_directory_path() / fmt::format("dlb_tiny_{}.onnx", getpid())).string();
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  return path;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"harness overhead vs a bare Ort::Session::Run loop"};
  std::string model;
  int iters = 2000, rounds = 21, threads = 1;
  app.add_option("--model", model, "ONNX model (default: a one-node Relu model)");
  app.add_option("--iters", iters, "iterations per loop");
  app.add_option("--rounds", rounds, "interleaved rounds");
  app.add_option("--threads", threads, "intra-op threads");
  CLI11_PARSE(app, argc, argv);
  const bool tiny = model.empty();
  if (tiny) model = WriteTinyModel();

  dlbricks::BackendOptions bo;
  bo.intra_op_threads = threads;
  std::unique_ptr<dlbricks::Backend> backend;
  std::unique_ptr<dlbricks::PreparedModel> prepared;
  dlbricks::Status st = dlbricks::BackendRegistry::Create("onnxruntime", &backend);
  if (st.ok()) st = backend->Prepare(model, bo, &prepared);
  if (!st.ok()) {
    std::fprintf(stderr, "harness_overhead: %s\n", st.message().c_str());
    return 2;
  }

  // The bare loop: its own session with the same options and synthetic inputs.
  Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "bare");
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(threads);
  so.SetInterOpNumThreads(1);
  so.SetGraphOptimizationLevel(ORT_ENABLE_ALL);
  Ort::Session session(env, model.c_str(), so);
  Ort::AllocatorWithDefaultOptions alloc;
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<std::string> in_names, out_names;
  std::vector<std::vector<float>> bufs;
  std::vector<Ort::Value> inputs;
  for (const auto& info : prepared->inputs()) {
    in_names.push_back(info.name);
    int64_t n = 1;
    for (int64_t d : info.dims) n *= d;
    bufs.emplace_back(static_cast<size_t>(n));
    dlbricks::FillSyntheticFloats(n, 1234, bufs.back().data());
    inputs.push_back(Ort::Value::CreateTensor<float>(mem, bufs.back().data(), bufs.back().size(), info.dims.data(),
                                                     info.dims.size()));
  }
  for (size_t i = 0; i < session.GetOutputCount(); ++i)
    out_names.push_back(session.GetOutputNameAllocated(i, alloc).get());
  std::vector<const char*> in_ptrs, out_ptrs;
  for (const auto& n : in_names) in_ptrs.push_back(n.c_str());
  for (const auto& n : out_names) out_ptrs.push_back(n.c_str());
  Ort::RunOptions run_options;
  auto bare_loop = [&] {
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < iters; ++i)
      session.Run(run_options, in_ptrs.data(), inputs.data(), inputs.size(), out_ptrs.data(), out_ptrs.size());
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / iters;
  };

  dlbricks::ProtocolOptions protocol;
  dlbricks::ProtocolPreset("dlbricks", &protocol);
  protocol.warmup_runs = 1;
  protocol.min_runs = protocol.max_runs = iters;
  protocol.max_time_s = 1e9;
  // Harness wall per iteration: the whole TimePreparedModel call minus its one warm-up run and
  // the statistics after the loop (timed separately on the same samples).
  auto harness_loop = [&](double* mean_sample_us) {
    dlbricks::ItemTiming t;
    const Clock::time_point t0 = Clock::now();
    dlbricks::Status s = dlbricks::TimePreparedModel(*prepared, protocol, &t);
    const double total_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (!s.ok()) std::abort();
    const Clock::time_point s0 = Clock::now();
    const dlbricks::SampleStats stats = dlbricks::ComputeStats(t.samples_ms, protocol.trim);
    const double stats_us = std::chrono::duration<double, std::micro>(Clock::now() - s0).count();
    *mean_sample_us = stats.mean * 1000.0;
    return (total_us - t.first_run_ms * 1000.0 - stats_us) / iters;
  };

  bare_loop();  // warm both paths up
  double unused;
  harness_loop(&unused);
  std::vector<double> bare, harness, wall_overhead, sample_bias;
  for (int r = 0; r < rounds; ++r) {
    double b, h, med;
    if (r % 2 == 0) {
      b = bare_loop();
      h = harness_loop(&med);
    } else {
      h = harness_loop(&med);
      b = bare_loop();
    }
    bare.push_back(b);
    harness.push_back(h);
    wall_overhead.push_back(h - b);
    sample_bias.push_back(med - b);
  }
  std::printf("%s", fmt::format("model {}  onnxruntime {}  threads {}  iters {}  rounds {}\n",
                                tiny ? "tiny Relu[1x64]" : model, backend->version(), threads, iters, rounds).c_str());
  std::printf("%s", fmt::format("bare Session::Run loop      median {:.3f} us/iter\n", Median(bare)).c_str());
  std::printf("%s", fmt::format("dlbricks timed loop (wall)  median {:.3f} us/iter\n", Median(harness)).c_str());
  std::printf("%s", fmt::format("overhead per iteration      median {:+.3f} us (per-round diffs, min {:+.3f}, max {:+.3f})\n",
                                Median(wall_overhead), *std::min_element(wall_overhead.begin(), wall_overhead.end()),
                                *std::max_element(wall_overhead.begin(), wall_overhead.end())).c_str());
  std::printf("%s", fmt::format("reported mean sample - bare mean per iteration: {:+.3f} us\n", Median(sample_bias)).c_str());
  if (tiny) std::filesystem::remove(model);
  return 0;
}
