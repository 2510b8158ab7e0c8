// GenerateSuite: decompose a corpus, export every unique brick, write manifest.json
// (docs/suite.md).
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dlbricks/suite.h"

namespace dlbricks {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

Json TypeJson(const TensorType& t) { return Json{{"dtype", DtypeName(t.dtype)}, {"dims", t.dims}}; }

Json ModelsJson(const CorpusDecomposition& corpus, size_t real_models) {
  Json models = Json::array();
  for (size_t m = 0; m < real_models; ++m) {
    const ModelDecomposition& d = corpus.models[m];
    auto instances = [](const std::vector<BrickInstance>& list) {
      Json out = Json::array();
      for (const BrickInstance& b : list) out.push_back({{"id", b.id.Hex()}, {"begin", b.begin}, {"end", b.end}});
      return out;
    };
    Json edges = Json::array();
    for (auto [a, b] : d.edges) edges.push_back({a, b});
    Json model = {{"name", d.model}, {"layers", d.layers}, {"bricks", instances(d.bricks)}, {"edges", edges}};
    if (!d.seams.empty()) model["seams"] = instances(d.seams);  // stitched: subtracted in construction
    models.push_back(std::move(model));
  }
  return models;
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IOError(fmt::format("{}: cannot write file", path.string()));
  return Status::OK();
}

Status WriteModel(const fs::path& path, const onnx::ModelProto& model) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!model.SerializeToOstream(&out) || !out.flush()) {
    return Status::IOError(fmt::format("{}: cannot write file", path.string()));
  }
  return Status::OK();
}

// True if `inner` is `outer` or lies below it.
bool IsWithin(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  fs::path a = fs::weakly_canonical(fs::absolute(inner), ec);
  fs::path b = fs::weakly_canonical(fs::absolute(outer), ec);
  auto [it, _] = std::mismatch(b.begin(), b.end(), a.begin(), a.end());
  return it == b.end();
}

// Checks and prepares the suite folder before any model is loaded, so bad usage fails fast.
Status PrepareFolder(const SuiteOptions& options) {
  if (options.decompose.granularity < 1) {
    return Status::InvalidArgument(fmt::format("granularity G must be >= 1 (got {})", options.decompose.granularity));
  }
  if (options.out_dir.empty()) return Status::InvalidArgument("no output folder given (-o SUITE)");
  if (options.decoys < 0) return Status::InvalidArgument(fmt::format("--decoys must be >= 0 (got {})", options.decoys));
  const fs::path dir(options.out_dir);
  if (!options.private_mapping.empty() && IsWithin(options.private_mapping, dir)) {
    return Status::InvalidArgument(fmt::format(
        "{}: the private mapping must be outside the suite folder {}", options.private_mapping, options.out_dir));
  }
  if (!options.private_mapping.empty() && !std::ofstream(options.private_mapping, std::ios::app)) {
    return Status::InvalidArgument(fmt::format("{}: cannot write the private mapping", options.private_mapping));
  }
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return Status::InvalidArgument(fmt::format("{}: not a folder", options.out_dir));
    if (!fs::is_empty(dir, ec)) {
      if (!options.force) {
        return Status::InvalidArgument(
            fmt::format("{}: output folder is not empty (use --force to replace the suite in it)", options.out_dir));
      }
      fs::remove(dir / "manifest.json", ec);
      fs::remove_all(dir / "bricks", ec);
      if (ec) return Status::InvalidArgument(fmt::format("{}: cannot replace the suite: {}", options.out_dir, ec.message()));
    }
  }
  fs::create_directories(dir / "bricks", ec);
  if (ec) return Status::InvalidArgument(fmt::format("{}: cannot create output folder: {}", options.out_dir, ec.message()));
  // create_directories succeeds on an existing read-only folder; probe that files can be made.
  const fs::path probe = dir / "bricks" / ".probe";
  if (!std::ofstream(probe)) {
    return Status::InvalidArgument(fmt::format("{}: output folder is not writable", options.out_dir));
  }
  fs::remove(probe, ec);
  return Status::OK();
}

// Loads the decoys through the graph module so they are canonicalised exactly like real models.
Status LoadDecoys(const SuiteOptions& options, std::vector<Graph>* decoys) {
  if (options.decoys == 0) return Status::OK();
  uint64_t seed = options.decoy_seed;
  if (seed == 0) seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  std::string tmpl = (fs::temp_directory_path() / "dlbricks-decoys-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return Status::IOError("cannot create a temporary folder for decoys");
  decoys->resize(static_cast<size_t>(options.decoys));
  Status status;
  for (int d = 0; d < options.decoys && status.ok(); ++d) {
    const std::string path = fmt::format("{}/decoy{}.onnx", tmpl, d);
    std::ofstream out(path, std::ios::binary);
    if (!MakeDecoyModel(seed + static_cast<uint64_t>(d)).SerializeToOstream(&out)) {
      status = Status::IOError(fmt::format("{}: cannot write decoy", path));
      break;
    }
    out.close();
    status = LoadGraph(path, IngestOptions{}, &(*decoys)[static_cast<size_t>(d)]);
    if (!status.ok()) status = Status::Internal(fmt::format("decoy {}: {}", d, status.message()));
  }
  std::error_code ec;
  fs::remove_all(tmpl, ec);
  return status;
}

Status WriteSuite(const std::vector<const Graph*>& graphs, const SuiteOptions& options, SuiteSummary* summary);

}  // namespace

Json ManifestBrickJson(const BrickInfo& info) {
  Json inputs = Json::array(), outputs = Json::array();
  for (const TensorType& t : info.inputs) inputs.push_back(TypeJson(t));
  for (const TensorType& t : info.outputs) outputs.push_back(TypeJson(t));
  return {{"id", info.id.Hex()},
          {"file", BrickFileName(info.id)},
          {"op_types", info.op_types},
          {"layers", info.layers},
          {"inputs", inputs},
          {"outputs", outputs},
          {"macs", std::llround(info.cost.macs)},  // whole counts, as in the contract
          {"flops", std::llround(info.cost.flops)},
          {"params", info.cost.params}};
}

namespace {

// A suite never holds source weights, so they are not even read (only shapes and constants).
Status LoadForSuite(const std::vector<std::string>& model_paths, const IngestOptions& options,
                    std::vector<Graph>* graphs, double* seconds) {
  auto start = std::chrono::steady_clock::now();
  IngestOptions ingest = options;
  ingest.load_weights = false;
  graphs->clear();
  graphs->resize(model_paths.size());
  for (size_t i = 0; i < model_paths.size(); ++i) {
    DLB_RETURN_IF_ERROR(LoadGraph(model_paths[i], ingest, &(*graphs)[i]));
  }
  *seconds = Seconds(start);
  return Status::OK();
}

}  // namespace

Status GenerateSuite(const std::vector<std::string>& model_paths, const SuiteOptions& options,
                     SuiteSummary* summary) {
  DLB_RETURN_IF_ERROR(PrepareFolder(options));
  std::vector<Graph> graphs;
  double load = 0;
  DLB_RETURN_IF_ERROR(LoadForSuite(model_paths, options.ingest, &graphs, &load));
  std::vector<const Graph*> pointers;
  for (const Graph& g : graphs) pointers.push_back(&g);
  DLB_RETURN_IF_ERROR(WriteSuite(pointers, options, summary));
  summary->load_seconds = load;
  return Status::OK();
}

Status GenerateSuites(const std::vector<std::string>& model_paths, const SuiteOptions& options,
                      const std::vector<int>& granularities, std::vector<SuiteSummary>* summaries) {
  if (granularities.empty()) return Status::InvalidArgument("no granularity given");
  std::vector<SuiteOptions> each;
  for (int g : granularities) {
    SuiteOptions o = options;
    o.decompose.granularity = g;
    o.out_dir = (fs::path(options.out_dir) / fmt::format("G{}", g)).string();
    if (!options.private_mapping.empty()) o.private_mapping = fmt::format("{}.G{}", options.private_mapping, g);
    DLB_RETURN_IF_ERROR(PrepareFolder(o));  // every folder checked before any work
    each.push_back(std::move(o));
  }
  std::vector<Graph> graphs;
  double load = 0;
  DLB_RETURN_IF_ERROR(LoadForSuite(model_paths, options.ingest, &graphs, &load));
  std::vector<const Graph*> pointers;
  for (const Graph& g : graphs) pointers.push_back(&g);
  summaries->assign(each.size(), SuiteSummary{});
  std::string longest;  // the longest pool so far
  int64_t longest_bytes = 0;
  for (size_t i = 0; i < each.size(); ++i) {
    each[i].shared_pool = longest;
    DLB_RETURN_IF_ERROR(WriteSuite(pointers, each[i], &(*summaries)[i]));
    if ((*summaries)[i].pool_bytes > longest_bytes) {
      longest = (*summaries)[i].pool_path;
      longest_bytes = (*summaries)[i].pool_bytes;
    }
  }
  (*summaries)[0].load_seconds = load;
  return Status::OK();
}

Status GenerateSuite(const std::vector<const Graph*>& graphs, const SuiteOptions& options,
                     SuiteSummary* summary) {
  DLB_RETURN_IF_ERROR(PrepareFolder(options));
  return WriteSuite(graphs, options, summary);
}

namespace {

// REQUIRES: PrepareFolder(options) succeeded.
Status WriteSuite(const std::vector<const Graph*>& graphs, const SuiteOptions& options, SuiteSummary* summary) {
  auto start = std::chrono::steady_clock::now();
  *summary = SuiteSummary{};
  summary->suite_dir = options.out_dir;
  summary->private_mapping = options.private_mapping;
  std::vector<Graph> decoys;
  DLB_RETURN_IF_ERROR(LoadDecoys(options, &decoys));
  std::vector<const Graph*> all = graphs;
  for (const Graph& g : decoys) all.push_back(&g);

  auto decompose_start = std::chrono::steady_clock::now();
  CorpusDecomposition corpus;
  DLB_RETURN_IF_ERROR(DecomposeCorpus(all, options.decompose, &corpus));
  summary->decompose_seconds = Seconds(decompose_start);

  const fs::path dir(options.out_dir);
  BrickExportOptions export_options;
  if (options.weight_pool) export_options.weight_pool = kWeightPoolFile;  // brick files sit next to it
  export_options.pool_min_bytes = options.pool_min_bytes;
  int64_t pool_extent = 0;
  Json bricks = Json::array();
  for (const UniqueBrick& u : corpus.bricks) {
    const Graph& g = *all[static_cast<size_t>(u.model)];
    onnx::ModelProto model;
    Status st = BuildBrickModel(g, u.begin, u.end, export_options, &model);
    if (!st.ok()) return st.WithPrefix(u.model < static_cast<int>(graphs.size()) ? g.path : "decoy");
    DLB_RETURN_IF_ERROR(WriteModel(dir / BrickFileName(u.id), model));
    pool_extent = std::max(pool_extent, WeightPoolExtent(model));
    BrickInfo info = DescribeBrick(g, u.begin, u.end);
    bricks.push_back(ManifestBrickJson(info));
    summary->suite_macs += info.cost.macs;
  }

  Json manifest = {{"schema_version", kSuiteSchemaVersion},
                   {"tool_version", "0.1.0"},
                   {"granularity", options.decompose.granularity},
                   {"mode", DecomposeModeName(options.decompose.mode)},
                   {"fusion", FusionRulesName(options.decompose.fusion)},
                   {"stitch", options.decompose.stitch}};
  if (pool_extent > 0) {
    // Written once, after every brick, as long as the furthest reference needs.
    const std::string pool_file = std::string("bricks/") + kWeightPoolFile;
    const fs::path pool_path = dir / pool_file;
    std::error_code ec;
    if (!options.shared_pool.empty() && fs::file_size(options.shared_pool, ec) >= static_cast<uintmax_t>(pool_extent) &&
        !ec) {
      fs::create_hard_link(options.shared_pool, pool_path, ec);
      summary->pool_linked = !ec;
    }
    if (!summary->pool_linked) DLB_RETURN_IF_ERROR(WriteWeightPool(pool_path.string(), pool_extent));
    summary->pool_path = pool_path.string();
    summary->pool_bytes = static_cast<int64_t>(fs::file_size(pool_path, ec));
    manifest["weight_pool"] = {{"file", pool_file}, {"dtype", "f32"}, {"bytes", summary->pool_bytes}};
  }
  manifest["bricks"] = bricks;
  Json models = ModelsJson(corpus, graphs.size());
  if (options.private_mapping.empty()) {
    manifest["models"] = models;
  } else {
    // The mapping file names the suite it belongs to by its parameters, never the reverse.
    Json mapping = {{"schema_version", kSuiteSchemaVersion},
                    {"granularity", options.decompose.granularity},
                    {"mode", DecomposeModeName(options.decompose.mode)},
                    {"fusion", FusionRulesName(options.decompose.fusion)},
                    {"stitch", options.decompose.stitch},
                    {"models", models}};
    Status st = WriteText(options.private_mapping, mapping.dump(2) + "\n");
    if (!st.ok()) return Status::InvalidArgument(st.message());
  }
  manifest["decoys"] = options.decoys;
  DLB_RETURN_IF_ERROR(WriteText(dir / "manifest.json", manifest.dump(2) + "\n"));

  summary->models = static_cast<int>(graphs.size());
  summary->decoys = options.decoys;
  summary->unique_bricks = static_cast<int64_t>(corpus.bricks.size());
  std::vector<Hash128> used;
  for (size_t m = 0; m < graphs.size(); ++m) {
    summary->layers += corpus.models[m].layers;
    summary->instances += static_cast<int64_t>(corpus.models[m].bricks.size());
    summary->corpus_macs += graphs[m]->totals.macs;
    for (const BrickInstance& b : corpus.models[m].bricks) used.push_back(b.id);
  }
  std::sort(used.begin(), used.end());
  summary->model_bricks = std::unique(used.begin(), used.end()) - used.begin();
  summary->generate_seconds = Seconds(start);
  return Status::OK();
}

}  // namespace
}  // namespace dlbricks
