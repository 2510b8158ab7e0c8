// Kernel time from a per-operator profile: what a brick costs inside a whole model, where the
// call overhead and ONNX Runtime's NCHWc layout reorders are paid once, not per brick.
#include "dlbricks/measure.h"

namespace dlbricks {

double KernelMs(const std::vector<OpTypeTime>& op_times) {
  double ms = 0;
  for (const OpTypeTime& t : op_times)
    if (t.op_type.rfind("Reorder", 0) != 0) ms += t.ms;
  return ms;
}

}  // namespace dlbricks
