// Internals of the report module.
#pragma once

#include <string>
#include <string_view>

namespace dlbricks::report_internal {

// The browser builds of Vega, Vega-Lite and vega-embed, compiled into the library
// (assets.cc) so a report opens offline and the binary needs no files at run time.
std::string_view VegaJs();
std::string_view VegaLiteJs();
std::string_view VegaEmbedJs();

// A CSV field, quoted when it holds a comma, quote or line break (csv.cc).
std::string CsvField(const std::string& s);

}  // namespace dlbricks::report_internal
