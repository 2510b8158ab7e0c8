// Packed profiling: many bricks side by side in one ONNX model, profiled in one engine session.
// Kernel-time construction needs each brick's kernels, not its latency, and a kernel's time
// does not depend on which other independent kernels share the session. Packing pays the
// session creation, warm-up and the profiler's minimum window once per pack instead of once
// per brick, which is most of what a lone profile of a 0.1 ms brick costs.
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <string_view>

#include "dlbricks/measure.h"
#include "dlbricks/scoped_paths.h"

namespace dlbricks {
namespace {

using Clock = std::chrono::steady_clock;

std::string PackPrefix(size_t k) { return fmt::format("b{}/", k); }

// The brick index of a tensor named by WriteBrickPack, or -1 (a tensor the engine named).
int64_t PackIndexOf(const std::string& tensor) {
  if (tensor.size() < 3 || tensor[0] != 'b') return -1;
  const size_t slash = tensor.find('/');
  if (slash == std::string::npos || slash == 1) return -1;
  int64_t k = 0;
  for (size_t i = 1; i < slash; ++i) {
    if (tensor[i] < '0' || tensor[i] > '9') return -1;
    k = k * 10 + (tensor[i] - '0');
  }
  return k;
}

Status ReadBrickProto(const std::string& path, onnx::ModelProto* model) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open brick");
  if (!model->ParseFromIstream(&in)) return Status::Corruption(path + ": not an ONNX model");
  return Status::OK();
}

// Bytes of weights a brick holds (inline or in the weight pool).
int64_t WeightBytes(const onnx::ModelProto& model) {
  int64_t bytes = 0;
  for (const auto& t : model.graph().initializer()) {
    bytes += static_cast<int64_t>(t.raw_data().size());
    for (const auto& kv : t.external_data())
      if (kv.key() == "length") bytes += std::atoll(kv.value().c_str());
  }
  return bytes;
}

// Bricks from different source models may import different opsets; a pack holds one set.
std::string OpsetKey(const onnx::ModelProto& model) {
  std::string key = std::to_string(model.ir_version());
  for (const auto& o : model.opset_import()) key += fmt::format("|{}:{}", o.domain(), o.version());
  return key;
}

void Rename(const std::string& prefix, std::string* name) {
  if (!name->empty()) *name = prefix + *name;
}

// Name prefix of the nodes the pack adds around each brick; their kernels are dropped.
constexpr std::string_view kGluePrefix = "glue/";
// Profiler-bias calibration bricks are timed at 0, 1/4, 1/2 and 3/4 of the pack visits.
constexpr size_t kCalibrationChunks = 4;

// Appends brick k's graph to `pack` with every name prefixed, and glue that makes a packed
// brick see the caches a layer inside a model sees, as a lone brick does:
// - each output is read by a one-element Slice and is no graph output, so ONNX Runtime's
//   memory planner reuses its buffer across bricks as it reuses a model's (32 graph outputs
//   would each be written to memory of their own);
// - each float input of a brick without a layout-planned op is first read by a Relu (an
//   identity on the synthetic inputs, which lie in [0, 1)), so the brick reads it from cache,
//   as a layer reads what the layer before it just wrote, not from memory where the pack's
//   other bricks evicted it (Mul, Add and Relu bricks ran 1.5-2x slower packed than alone
//   without it). Bricks with a Conv or a pool get no Relu: ONNX Runtime plans their layout
//   from their producer, and a lone GlobalAveragePool runs blocked (NCHWc) but behind a Relu
//   runs plain, a different kernel.
void AppendBrick(size_t k, const onnx::GraphProto& brick, onnx::GraphProto* pack) {
  const std::string p = PackPrefix(k);
  auto glue = [&](const std::string& op, const std::string& in, const std::string& out) {
    onnx::NodeProto* n = pack->add_node();
    n->set_op_type(op);
    n->set_name(fmt::format("{}{}/{}", kGluePrefix, k, pack->node_size()));
    n->add_input(in);
    n->add_output(out);
    return n;
  };
  static const std::set<std::string> kLayoutPlanned = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                                       "GlobalMaxPool", "Resize", "Upsample"};
  bool warm_inputs = true;
  for (const onnx::NodeProto& n : brick.node()) warm_inputs = warm_inputs && !kLayoutPlanned.count(n.op_type());
  for (onnx::ValueInfoProto v : brick.input()) {
    Rename(p, v.mutable_name());
    if (warm_inputs && v.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT) {
      glue("Relu", v.name() + "/cold", v.name());
      *pack->add_value_info() = v;
      v.set_name(v.name() + "/cold");
    }
    *pack->add_input() = std::move(v);
  }
  for (onnx::ValueInfoProto v : brick.output()) {
    Rename(p, v.mutable_name());
    const int rank = v.type().tensor_type().shape().dim_size();
    if (rank > 0) {
      onnx::NodeProto* slice = glue("Slice", v.name(), v.name() + "/sink");
      for (const char* bound : {"starts", "ends"}) {
        onnx::TensorProto* t = pack->add_initializer();
        t->set_name(v.name() + "/" + bound);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(rank);
        for (int d = 0; d < rank; ++d) t->add_int64_data(bound[0] == 's' ? 0 : 1);
        slice->add_input(t->name());
      }
      v.set_name(v.name() + "/sink");
      v.mutable_type()->mutable_tensor_type()->clear_shape();
    }
    *pack->add_output() = std::move(v);
  }
  for (onnx::ValueInfoProto v : brick.value_info()) {
    Rename(p, v.mutable_name());
    *pack->add_value_info() = std::move(v);
  }
  for (onnx::TensorProto t : brick.initializer()) {
    Rename(p, t.mutable_name());
    *pack->add_initializer() = std::move(t);
  }
  for (onnx::NodeProto n : brick.node()) {
    Rename(p, n.mutable_name());
    for (std::string& s : *n.mutable_input()) Rename(p, &s);
    for (std::string& s : *n.mutable_output()) Rename(p, &s);
    *pack->add_node() = std::move(n);
  }
}

double TotalMs(const std::vector<OpTypeTime>& times) {
  double ms = 0;
  for (const OpTypeTime& t : times) ms += t.ms;
  return ms;
}

size_t Find(std::vector<size_t>& parent, size_t x) {
  while (parent[x] != x) x = parent[x] = parent[parent[x]];
  return x;
}

// Writes one ONNX model holding the bricks side by side, every name of brick k prefixed
// "b<k>/"; weights stay where the bricks keep them, so `out_path` must be in the bricks' folder.
// The bricks must import the same opsets (`paths` name them in messages).
Status WriteBrickPack(const std::vector<const onnx::ModelProto*>& bricks, const std::vector<std::string>& paths,
                 const std::string& out_path) {
  if (bricks.empty()) return Status::InvalidArgument(out_path + ": a pack needs at least one brick");
  onnx::ModelProto pack;
  pack.set_ir_version(bricks[0]->ir_version());
  *pack.mutable_opset_import() = bricks[0]->opset_import();
  pack.set_producer_name("dlbricks pack");
  pack.mutable_graph()->set_name("pack");
  const std::string opsets = OpsetKey(*bricks[0]);
  for (size_t k = 0; k < bricks.size(); ++k) {
    if (OpsetKey(*bricks[k]) != opsets)
      return Status::InvalidArgument(paths[k] + ": imports other opsets than the pack's first brick");
    AppendBrick(k, bricks[k]->graph(), pack.mutable_graph());
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out || !pack.SerializeToOstream(&out) || !out.flush())
    return Status::IOError(out_path + ": cannot write brick pack");
  return Status::OK();
}

}  // namespace

std::vector<OpTypeTime> CombineVisits(const std::vector<std::vector<OpTypeTime>>& visits, bool fastest) {
  if (fastest)
    return *std::min_element(visits.begin(), visits.end(),
                             [](const auto& a, const auto& b) { return TotalMs(a) < TotalMs(b); });
  std::map<std::string, std::vector<OpTypeTime>> by_type;
  for (const auto& visit : visits)
    for (const OpTypeTime& t : visit) by_type[t.op_type].push_back(t);
  std::vector<OpTypeTime> out;
  for (auto& [op, ts] : by_type) {
    ts.resize(visits.size(), OpTypeTime{op, 0, 0});
    std::sort(ts.begin(), ts.end(), [](const OpTypeTime& a, const OpTypeTime& b) { return a.ms < b.ms; });
    out.push_back(ts[ts.size() / 2]);
  }
  return out;
}

Status AttributePackNodes(const std::vector<NodeTime>& nodes, size_t brick_count,
                          std::vector<std::vector<NodeTime>>* per_brick) {
  // Union-find over tensors: the bricks of a pack share none, so each connected component of
  // the rewritten graph is one brick's, whatever the engine fused or inserted (its layout
  // reorders have engine-made names) and however it interleaved the bricks' kernels.
  std::map<std::string, size_t> tensor_ids;
  auto id_of = [&](const std::string& t) { return tensor_ids.emplace(t, tensor_ids.size()).first->second; };
  std::vector<std::vector<size_t>> node_tensors(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto* list : {&nodes[i].inputs, &nodes[i].outputs})
      for (const std::string& t : *list) node_tensors[i].push_back(id_of(t));
    if (node_tensors[i].empty()) return Status::Internal("kernel '" + nodes[i].name + "' reads and writes no tensor");
  }
  std::vector<size_t> parent(tensor_ids.size());
  std::iota(parent.begin(), parent.end(), 0);
  for (const auto& ts : node_tensors)
    for (size_t t : ts) parent[Find(parent, t)] = Find(parent, ts.front());
  std::map<size_t, int64_t> brick_of_root;
  for (const auto& [name, id] : tensor_ids) {
    const int64_t k = PackIndexOf(name);
    if (k < 0) continue;
    if (k >= static_cast<int64_t>(brick_count))
      return Status::Internal(fmt::format("tensor '{}' names brick {} of a {}-brick pack", name, k, brick_count));
    auto [it, added] = brick_of_root.emplace(Find(parent, id), k);
    if (!added && it->second != k)
      return Status::Internal(fmt::format("bricks {} and {} of a pack share a kernel", it->second, k));
  }
  per_brick->assign(brick_count, {});
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name.starts_with(kGluePrefix)) continue;
    auto it = brick_of_root.find(Find(parent, node_tensors[i].front()));
    if (it == brick_of_root.end())
      return Status::Internal("kernel '" + nodes[i].name + "' is connected to no brick of the pack");
    (*per_brick)[static_cast<size_t>(it->second)].push_back(nodes[i]);
  }
  return Status::OK();
}

Status ProfileSuitePacked(const std::string& suite_dir, const RunOptions& options, Store* store, RunSummary* summary) {
  namespace fs = std::filesystem;
  if (options.pack < 1) return Status::InvalidArgument("--pack must be >= 1");
  if (options.profile_runs < 1) return Status::InvalidArgument("--profile-runs must be >= 1");
  if (!(options.timeout_s > 0)) return Status::InvalidArgument("--timeout must be > 0");
  DLB_RETURN_IF_ERROR(ValidateBackendOptions(options.backend_options));
  std::vector<SuiteBrick> bricks;
  DLB_RETURN_IF_ERROR(ReadSuiteBricks(suite_dir, &bricks));
  std::unique_ptr<Backend> backend;
  DLB_RETURN_IF_ERROR(BackendRegistry::Create(options.backend, &backend));
  const SystemRecord system = MakeSystemRecord(*backend, options.backend_options);
  DLB_RETURN_IF_ERROR(store->PutSystem(system));
  summary->system_id = system.id;
  summary->fingerprint_json = system.fingerprint_json;
  summary->protocol = ProtocolKey(options.protocol);
  summary->warnings = SystemNoiseWarnings();
  const auto start = Clock::now();

  // Profiler-bias calibration bricks, timed in chunks spread over the visits: chunk c once c/C
  // of them are done.
  std::vector<std::set<std::string>> chunks;
  if (options.calibration_bricks > 0) {
    const std::set<std::string> picked = SelectCalibrationBricks(bricks, options.calibration_bricks);
    chunks.assign(std::min<size_t>(kCalibrationChunks, picked.size()), {});
    size_t i = 0;
    for (const std::string& id : picked) chunks[i++ % chunks.size()].insert(id);
  }
  size_t chunks_done = 0;
  auto time_chunks = [&](double done) -> Status {
    const double c = static_cast<double>(chunks.size());
    const size_t due = std::min(chunks.size(), static_cast<size_t>(std::floor(done * c + 1e-9)) + 1);
    for (; chunks_done < due; ++chunks_done) {
      RunOptions timing = options;
      timing.pack = 0;
      timing.profile_ops = false;
      timing.calibration_bricks = 0;
      timing.after_visit = {};
      timing.only_bricks = chunks[chunks_done];
      RunSummary calibration;
      DLB_RETURN_IF_ERROR(RunSuite(suite_dir, timing, store, &calibration));
      summary->calibrated += calibration.measured;
    }
    return Status::OK();
  };

  std::map<OpProfileKey, std::vector<OpTypeTime>> stored;  // profiles already in the store
  if (!options.force) {
    std::vector<OpProfileRow> rows;
    DLB_RETURN_IF_ERROR(store->ListOpProfiles(system.id, &rows));
    stored = GroupOpProfiles(rows);
  }
  auto item_for = [&](const SuiteBrick& b) {
    RunItem item;
    item.m.key = {system.id, "brick", b.id, 1, summary->protocol};
    item.m.name = b.id;
    item.m.status = "ok";
    return item;
  };

  // Packs: bricks in suite order, grouped by opset imports, at most options.pack bricks and
  // kMaxPackWeightBytes of weights each (a bigger brick gets a pack of its own).
  constexpr int64_t kMaxPackWeightBytes = int64_t{256} << 20;
  struct Pack {
    std::vector<size_t> members;  // indices into bricks
    int64_t weight_bytes = 0;
    Status status;  // not OK: a brick that cannot be packed
    bool cold = false;  // a brick over options.cold_weight_bytes, profiled with flushed caches
  };
  std::vector<Pack> cold_packs;  // visited after the others (one worker restart per round)
  std::vector<onnx::ModelProto> protos(bricks.size());  // parsed once, for planning and writing
  std::vector<Pack> packs;
  std::map<std::string, size_t> open_pack;  // opset key -> pack being filled
  for (size_t i = 0; i < bricks.size(); ++i) {
    if (auto have = stored.find({"brick", bricks[i].id, 1}); have != stored.end()) {
      RunItem item = item_for(bricks[i]);
      item.skipped = true;
      item.op_times = have->second;
      summary->items.push_back(std::move(item));
      ++summary->skipped;
      continue;
    }
    const onnx::ModelProto& proto = protos[i];
    if (Status read = ReadBrickProto(bricks[i].path, &protos[i]); !read.ok()) {  // profiled alone, to fail alone
      packs.push_back({{i}, 0, read});
      continue;
    }
    const int64_t bytes = WeightBytes(proto);
    if (options.cold_weight_bytes > 0 && bytes > options.cold_weight_bytes) {
      cold_packs.push_back({{i}, bytes, Status::OK(), true});
      continue;
    }
    const std::string key = OpsetKey(proto);
    auto it = open_pack.find(key);
    if (it == open_pack.end() || packs[it->second].members.size() >= static_cast<size_t>(options.pack) ||
        packs[it->second].weight_bytes + bytes > kMaxPackWeightBytes) {
      packs.push_back({});
      it = open_pack.insert_or_assign(key, packs.size() - 1).first;
    }
    packs[it->second].members.push_back(i);
    packs[it->second].weight_bytes += bytes;
  }
  packs.insert(packs.end(), cold_packs.begin(), cold_packs.end());
  ProtocolOptions cold_protocol = options.protocol;
  if (!cold_packs.empty() && cold_protocol.cache_flush_bytes == 0) {
    const int64_t llc = LastLevelCacheBytes();
    cold_protocol.cache_flush_bytes = llc > 0 ? llc + llc / 2 : int64_t{512} << 20;
  }
  auto protocol_of = [&](const Pack& pack) -> const ProtocolOptions& {
    return pack.cold ? cold_protocol : options.protocol;
  };

  // A pack that fails (a brick the engine rejects or that crashes it) is profiled brick by
  // brick instead, so one bad brick costs only itself.
  auto profile_alone = [&](size_t i, const ProtocolOptions& protocol, RunItem* item) -> Status {
    const auto t0 = Clock::now();
    IsolatedResult r = RunIsolated(options.backend, bricks[i].path, options.backend_options, protocol,
                                   IsolatedTask::kProfileOps, options.profile_runs, options.timeout_s);
    item->profile_wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r.status != "ok") {
      item->m.status = r.status;
      item->m.error = "per-operator profiling " + r.status + ": " + r.error;
      summary->warnings.push_back(bricks[i].id + ": " + item->m.error);
      std::fprintf(stderr, "dlbricks: warning: %s\n", summary->warnings.back().c_str());
      return Status::OK();
    }
    item->op_times = r.timing.op_times;
    return store->PutOpProfile(OpProfileRows(item->m.key, item->m.name, item->op_times));
  };

  // R = pack_rounds (else protocol.rounds): every pack is visited R times in turn, each visit profiling
  // ceil(profile_runs / R) inferences, and each brick keeps, per op type, its median over the
  // visits (its fastest visit with protocol.fastest_round): a burst of host load spoils one visit
  // of the packs it overlaps, not the brick.
  const int rounds = options.pack_rounds > 0 ? options.pack_rounds : options.protocol.rounds;
  const int runs_per_visit = (options.profile_runs + rounds - 1) / rounds;
  ScopedPaths pack_files;
  std::vector<Status> pack_status(packs.size());
  std::vector<double> pack_wall_s(packs.size(), 0);
  std::vector<bool> finished(packs.size(), false);
  std::vector<std::vector<std::vector<std::vector<OpTypeTime>>>> visits(packs.size());  // pack, brick, visit
  for (size_t p = 0; p < packs.size(); ++p) {
    const Pack& pack = packs[p];
    const fs::path dir = fs::path(bricks[pack.members.front()].path).parent_path();  // beside the weight pool
    pack_files.Add((dir / fmt::format(".pack-{}-{}.onnx", getpid(), p)).string());
    std::vector<std::string> paths;
    std::vector<const onnx::ModelProto*> members;
    for (size_t i : pack.members) {
      paths.push_back(bricks[i].path);
      members.push_back(&protos[i]);
    }
    pack_status[p] = pack.status.ok() && members.size() > 1 ? WriteBrickPack(members, paths, pack_files.paths().back())
                                                             : pack.status;
    visits[p].resize(pack.members.size());
  }
  // After a pack's last visit: its bricks' profiles into the store at once (a killed run keeps
  // the packs it finished), or, if a visit failed, the bricks profiled one by one.
  auto finish = [&](size_t p) -> Status {
    const Pack& pack = packs[p];
    const double n = static_cast<double>(pack.members.size());
    std::vector<RunItem> items;
    for (size_t i : pack.members) items.push_back(item_for(bricks[i]));
    if (pack_status[p].ok()) {
      double total_ms = 0;
      for (size_t j = 0; j < items.size(); ++j) {
        items[j].op_times = CombineVisits(visits[p][j], options.protocol.fastest_round);
        total_ms += TotalMs(items[j].op_times);
      }
      for (size_t j = 0; j < items.size(); ++j) {  // the pack's wall clock, shared by kernel time
        const double ms = TotalMs(items[j].op_times);
        items[j].profile_wall_s = total_ms > 0 ? pack_wall_s[p] * ms / total_ms : pack_wall_s[p] / n;
        DLB_RETURN_IF_ERROR(store->PutOpProfile(OpProfileRows(items[j].m.key, items[j].m.name, items[j].op_times)));
      }
    } else {
      summary->warnings.push_back(fmt::format("pack {} ({} bricks): {}; profiling its bricks one by one", p + 1,
                                              items.size(), pack_status[p].message()));
      std::fprintf(stderr, "dlbricks: warning: %s\n", summary->warnings.back().c_str());
      for (size_t j = 0; j < items.size(); ++j) {
        DLB_RETURN_IF_ERROR(profile_alone(pack.members[j], protocol_of(pack), &items[j]));
        items[j].profile_wall_s += pack_wall_s[p] / n;  // the failed pack's time counts too
      }
    }
    for (RunItem& item : items) {
      summary->profile_wall_s += item.profile_wall_s;
      if (item.m.status == "ok") {
        ++summary->profiled;
        ++summary->measured;
      } else {
        ++summary->failed;
      }
      summary->items.push_back(std::move(item));
    }
    return Status::OK();
  };

  for (int round = 1; round <= rounds; ++round) {
    for (size_t p = 0; p < packs.size(); ++p) {
      if (pack_status[p].ok()) {
        // A pack of one is its brick, profiled by op type as it is: no glue, and no saved graph
        // to attribute kernels (serialising it costs more than a small brick's profile).
        const bool lone = packs[p].members.size() == 1;
        const auto t0 = Clock::now();
        IsolatedResult r = RunIsolated(options.backend, lone ? bricks[packs[p].members[0]].path : pack_files.paths()[p],
                                       options.backend_options,
                                       protocol_of(packs[p]), lone ? IsolatedTask::kProfileOps : IsolatedTask::kProfileNodes,
                                       runs_per_visit, options.timeout_s);
        pack_wall_s[p] += std::chrono::duration<double>(Clock::now() - t0).count();
        std::vector<std::vector<NodeTime>> per_brick;
        if (r.status != "ok")
          pack_status[p] = Status::Internal(r.status + ": " + r.error);
        else if (!lone)
          pack_status[p] = AttributePackNodes(r.timing.node_times, packs[p].members.size(), &per_brick);
        if (pack_status[p].ok()) {
          if (lone) visits[p][0].push_back(r.timing.op_times);
          for (size_t j = 0; j < per_brick.size(); ++j) visits[p][j].push_back(SumNodesByOpType(per_brick[j]));
          if (options.progress)
            std::fprintf(stderr, "[pack %zu/%zu%s] %zu bricks profiled in %.2f s\n", p + 1, packs.size(),
                         rounds > 1 ? fmt::format(" round {}/{}", round, rounds).c_str() : "",
                         packs[p].members.size(), std::chrono::duration<double>(Clock::now() - t0).count());
        }
      }
      // Finished after its last visit, or at once when it failed (no more visits then).
      if (!finished[p] && (round == rounds || !pack_status[p].ok())) {
        finished[p] = true;
        DLB_RETURN_IF_ERROR(finish(p));
      }
      const double done = static_cast<double>((round - 1) * packs.size() + p + 1) /
                          static_cast<double>(rounds * packs.size());
      DLB_RETURN_IF_ERROR(time_chunks(done));
      if (options.after_visit) DLB_RETURN_IF_ERROR(options.after_visit(done));
    }
  }
  DLB_RETURN_IF_ERROR(time_chunks(1));  // every chunk, when no pack was visited
  summary->wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  return Status::OK();
}

}  // namespace dlbricks
