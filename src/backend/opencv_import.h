// Internal to the backend module: the in-memory model OpenCV DNN 4.6's ONNX importer is given.
// That importer cannot read ONNX external data and rejects several standard forms that
// exporters write; these steps turn a model into an equivalent one it accepts.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

#include "dlbricks/status.h"

namespace dlbricks::backend_internal {

// Copies every tensor stored as ONNX external data (data_location = EXTERNAL; location,
// offset, length) into the model: exactly `length` bytes at `offset` of `location`, a path
// relative to the folder of model_path. A location that is absolute or leaves that folder, a
// missing file, a short read or a length that does not match the tensor's dims → Status
// naming the file. *inlined (if given) counts the tensors copied.
Status InlineExternalData(const std::string& model_path, onnx::ModelProto* model, int* inlined = nullptr);

// What RewriteForOpenCv changed (counts of rewritten nodes).
struct OpenCvRewrites {
  int clip_to_attributes = 0;     // Clip(x, min, max) with constant bounds → attribute form
  int empty_inputs_dropped = 0;   // nodes whose trailing "" (absent optional) inputs were removed
  int scalar_broadcasts = 0;      // Mul/Div by a computed 1-element tensor: operand expanded first
  int trailing_scales = 0;        // Mul/Div by a constant over trailing axes: folded to start at axis 1
  int bias_layouts = 0;           // Add/Sub of a constant: leading ones dropped, interior ones materialised
  int kernel_shapes = 0;          // Conv without kernel_shape: taken from the constant weight
  int output_shapes = 0;          // graph outputs given their inferred shape
  int total() const {
    return clip_to_attributes + empty_inputs_dropped + scalar_broadcasts + trailing_scales + bias_layouts +
           kernel_shapes + output_shapes;
  }
};

// Rewrites in place, each computing the same function, so that OpenCV 4.6 imports the model:
// - Clip with constant min/max inputs → Clip with min/max attributes (its importer takes
//   only the opset-6 form);
// - trailing empty optional inputs dropped (e.g. Pad(x, pads, "") → Pad(x, pads));
// - Mul/Div whose non-constant operand has one element and the other more: that operand is
//   first expanded to the other's shape (MatMul by a constant row of ones, then Reshape),
//   since its Scale layer cannot broadcast a 1-element blob;
// - Mul/Div by a constant that matches the other operand's trailing axes from axis p > 1
//   (LayerNorm's gamma on [N, T, C]): that operand is reshaped to [prod(S[:p]), S[p:]...]
//   and the result back, since its Scale layer only scales from axis 1;
// - Add/Sub of a constant c: its importer adds c from axis rank(x) - rank(c), so leading ones
//   are dropped (swin's {1, 3, 49, 49} position bias) and ones between c's first and last
//   non-1 axes are materialised (swin's {1, 64, 1, 49, 49} shifted-window mask);
// - Conv without kernel_shape gets it from its constant weight;
// - graph outputs without a shape get the inferred one (its importer asserts they have one).
// Needs static shapes for the broadcast rewrite (runs ONNX shape inference; the value_info it
// adds is removed again). model_path only names the model in messages.
Status RewriteForOpenCv(const std::string& model_path, onnx::ModelProto* model, OpenCvRewrites* done);

}  // namespace dlbricks::backend_internal
