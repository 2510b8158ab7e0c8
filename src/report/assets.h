// The browser builds of Vega, Vega-Lite and vega-embed, compiled into the library
// (assets.cc) so a report opens offline and the binary needs no files at run time.
#pragma once

#include <string_view>

namespace dlbricks::report_internal {

std::string_view VegaJs();
std::string_view VegaLiteJs();
std::string_view VegaEmbedJs();

}  // namespace dlbricks::report_internal
