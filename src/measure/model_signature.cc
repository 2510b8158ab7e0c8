// Model signature: the item_id of whole-model measurements (contracts: "Results store").
#include <algorithm>
#include <string>

#include "dlbricks/graph.h"
#include "dlbricks/measure.h"

namespace dlbricks {

Hash128 ModelSignature(const Graph& graph) {
  // Where a value comes from, by position only: "L<layer>.<slot>", "I<graph input>", or
  // "W" (weight/constant: its type is already in the consuming layer's signature).
  auto source = [&](int v) -> std::string {
    if (v < 0) return "-";
    const Value& val = graph.values[static_cast<size_t>(v)];
    if (val.producer >= 0) {
      const auto& outs = graph.layers[static_cast<size_t>(val.producer)].outputs;
      const auto slot = std::find(outs.begin(), outs.end(), v) - outs.begin();
      return "L" + std::to_string(val.producer) + "." + std::to_string(slot);
    }
    const auto gi = std::find(graph.inputs.begin(), graph.inputs.end(), v) - graph.inputs.begin();
    if (gi < static_cast<std::ptrdiff_t>(graph.inputs.size())) return "I" + std::to_string(gi);
    return "W";
  };
  std::string text = "dlbricks-model-v1\n";
  for (const Layer& layer : graph.layers) {
    text += layer.signature.Hex();
    for (int v : layer.inputs) text += " " + source(v);
    text += "\n";
  }
  text += "outputs";
  for (int v : graph.outputs) text += " " + source(v);
  return HashBytes(text);
}

}  // namespace dlbricks
