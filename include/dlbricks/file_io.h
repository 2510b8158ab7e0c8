// Small file helpers shared by the modules.
#pragma once

#include <string>
#include <string_view>

#include "dlbricks/status.h"

namespace dlbricks {

// Writes `bytes` to a temporary file beside `path` and renames it over `path`: a reader never
// sees a half-written file, and a failed write leaves the old one whole. Errors name `path`.
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace dlbricks
