// Performance construction (DLBricks section 3.2).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "dlbricks/estimate.h"

namespace dlbricks {

std::string ConstructionName(ConstructionMode mode) {
  return mode == ConstructionMode::kParallel ? "parallel" : "sequential";
}

Status ParseConstruction(const std::string& text, ConstructionMode* mode) {
  if (text == "sequential") {
    *mode = ConstructionMode::kSequential;
  } else if (text == "parallel") {
    *mode = ConstructionMode::kParallel;
  } else {
    return Status::InvalidArgument("construction '" + text + "': expected sequential or parallel");
  }
  return Status::OK();
}

std::string BrickSourceName(BrickSource source) {
  switch (source) {
    case BrickSource::kMeasured:
      return "measured";
    case BrickSource::kPredicted:
      return "predicted";
    case BrickSource::kMissing:
      return "missing";
  }
  return "missing";
}

namespace {

BrickEstimate Lookup(const BrickInstance& inst, const BrickLatencies& latencies, double overhead_ms) {
  BrickEstimate b{inst.id, inst.begin, inst.end, BrickSource::kMissing, 0};
  auto it = latencies.find(inst.id);
  if (it != latencies.end()) {
    b.source = it->second.source;
    b.ms = std::max(0.0, it->second.ms - overhead_ms);
  }
  return b;
}

// Cover of layers [0, n) by instances: fewest missing bricks first, then least latency.
// A DP over layer positions; for a partition it returns the partition.
Status ChooseCover(const ModelDecomposition& d, const std::vector<BrickEstimate>& all,
                   std::vector<int>* cover) {
  const int n = d.layers;
  struct Best {
    int missing = std::numeric_limits<int>::max();
    double ms = 0;
    int via = -1;
  };
  std::vector<Best> best(n + 1);
  best[n] = Best{0, 0, -1};
  std::vector<std::vector<int>> starting(n + 1);
  for (int i = 0; i < static_cast<int>(all.size()); ++i) {
    if (all[i].begin < 0 || all[i].end > n || all[i].begin >= all[i].end) {
      return Status::InvalidArgument(d.model + ": brick instance outside the model's layers");
    }
    starting[all[i].begin].push_back(i);
  }
  for (int p = n - 1; p >= 0; --p) {
    for (int i : starting[p]) {
      const Best& rest = best[all[i].end];
      if (rest.missing == std::numeric_limits<int>::max()) continue;
      int missing = rest.missing + (all[i].source == BrickSource::kMissing ? 1 : 0);
      double ms = rest.ms + all[i].ms;
      if (missing < best[p].missing || (missing == best[p].missing && ms < best[p].ms)) {
        best[p] = Best{missing, ms, i};
      }
    }
  }
  if (best[0].via < 0 && n > 0) return Status::InvalidArgument(d.model + ": bricks do not cover every layer");
  cover->clear();
  for (int p = 0; p < n; p = all[best[p].via].end) cover->push_back(best[p].via);
  return Status::OK();
}

}  // namespace

Status ConstructModel(const Graph* graph, const ModelDecomposition& d, const BrickLatencies& latencies,
                      const EstimateOptions& options, ModelEstimate* estimate) {
  // Kernel times hold no call overhead: nothing to take out per brick.
  const double per_brick_overhead = options.kernel_times ? 0 : options.run_overhead_ms;
  std::vector<BrickEstimate> all;
  all.reserve(d.bricks.size());
  for (const BrickInstance& inst : d.bricks) all.push_back(Lookup(inst, latencies, per_brick_overhead));

  const bool stitched = !d.seams.empty();
  if (stitched && options.construction == ConstructionMode::kParallel) {
    return Status::InvalidArgument(d.model + ": parallel construction is not defined for stitched bricks; use sequential");
  }
  std::vector<int> cover;
  if (stitched) {
    cover.resize(all.size());  // the stitched windows are the cover
    for (size_t i = 0; i < all.size(); ++i) cover[i] = static_cast<int>(i);
  } else {
    DLB_RETURN_IF_ERROR(ChooseCover(d, all, &cover));
  }

  ModelEstimate e;
  e.model = d.model;
  e.construction = options.construction;
  for (int i : cover) e.bricks.push_back(all[i]);
  for (const BrickInstance& inst : d.seams) e.seams.push_back(Lookup(inst, latencies, per_brick_overhead));
  std::vector<std::string> missing_ids;
  std::vector<const BrickEstimate*> used;
  for (const BrickEstimate& b : e.bricks) used.push_back(&b);
  for (const BrickEstimate& b : e.seams) used.push_back(&b);
  for (const BrickEstimate* ub : used) {
    const BrickEstimate& b = *ub;
    if (b.source == BrickSource::kMissing) {
      ++e.missing;
      missing_ids.push_back(b.id.Hex());
    } else if (b.source == BrickSource::kPredicted) {
      ++e.predicted;
      e.uncertainty_ms += latencies.at(b.id).uncertainty_ms;
    } else {
      ++e.measured;
    }
  }
  if (e.missing > 0 && !options.allow_partial) {
    std::sort(missing_ids.begin(), missing_ids.end());
    missing_ids.erase(std::unique(missing_ids.begin(), missing_ids.end()), missing_ids.end());
    std::string list = missing_ids.front();
    if (missing_ids.size() > 1) list += " and " + std::to_string(missing_ids.size() - 1) + " more";
    return Status::NotFound(d.model + ": " + std::to_string(e.missing) +
                            " brick(s) not " + (options.kernel_times ? "profiled" : "measured") +
                            " for this system (" + list + "); run the suite first" +
                            (options.kernel_times ? " with --profile-ops" : "") + " or pass --allow-partial");
  }

  std::vector<BrickInstance> cover_instances;  // the cover as instances (layout and edges need it)
  for (const BrickEstimate& b : e.bricks) cover_instances.push_back(BrickInstance{b.begin, b.end, b.id});
  if (options.kernel_times && options.model_reorders && graph && !stitched) {
    const std::vector<double> extra = ModelReorders(*graph, cover_instances, latencies);
    for (size_t i = 0; i < e.bricks.size(); ++i) {
      if (e.bricks[i].source == BrickSource::kMissing) continue;
      e.bricks[i].ms += extra[i];
      e.reorder_ms += extra[i];
    }
  }

  if (options.construction == ConstructionMode::kSequential) {
    // A brick that starts at a seam adds what it costs beyond the seam, never less than 0.
    std::map<int, double> seam_at;  // seam begin -> latency
    for (const BrickEstimate& s : e.seams) seam_at[s.begin] = s.ms;
    for (size_t i = 0; i < e.bricks.size(); ++i) {
      auto it = i > 0 ? seam_at.find(e.bricks[i].begin) : seam_at.end();
      e.latency_ms += it == seam_at.end() ? e.bricks[i].ms : std::max(0.0, e.bricks[i].ms - it->second);
    }
  } else {
    // Longest path through the brick DAG. Instances are in layer order and windows are
    // contiguous in topological order, so every edge goes forward.
    std::vector<std::pair<int, int>> edges;
    const bool own_cover = cover.size() == d.bricks.size();
    if (own_cover && !d.edges.empty()) {
      edges = d.edges;
    } else if (graph) {
      edges = BrickEdges(*graph, cover_instances);
    } else if (e.bricks.size() > 1) {
      return Status::InvalidArgument(d.model + ": parallel construction needs the brick edges");
    }
    const int k = static_cast<int>(e.bricks.size());
    std::vector<double> finish(k, 0);
    std::vector<int> parent(k, -1);
    std::vector<std::vector<int>> preds(k);
    for (auto [a, b] : edges) {
      if (a < 0 || b < 0 || a >= k || b >= k || a >= b) {
        return Status::InvalidArgument(d.model + ": brick edge " + std::to_string(a) + "->" +
                                       std::to_string(b) + " is not forward");
      }
      preds[b].push_back(a);
    }
    int last = -1;
    for (int i = 0; i < k; ++i) {
      double start = 0;
      for (int p : preds[i]) {
        if (finish[p] > start) {
          start = finish[p];
          parent[i] = p;
        }
      }
      finish[i] = start + e.bricks[i].ms;
      if (last < 0 || finish[i] > finish[last]) last = i;
    }
    for (int i = last; i >= 0; i = parent[i]) e.critical_path.push_back(i);
    std::reverse(e.critical_path.begin(), e.critical_path.end());
    e.latency_ms = last >= 0 ? finish[last] : 0;
  }
  if (!e.bricks.empty()) e.latency_ms += options.run_overhead_ms;
  *estimate = std::move(e);
  return Status::OK();
}

}  // namespace dlbricks
