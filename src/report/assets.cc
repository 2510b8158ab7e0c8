// Embeds third_party/vega/*.min.js (fetched from npm by scripts/setup.sh) with the
// assembler's .incbin: no generated source, and the bytes are exactly the npm build's.
#include "internal.h"

#ifndef DLB_VEGA_DIR
#error "DLB_VEGA_DIR must name the folder holding vega.min.js (set by src/report/CMakeLists.txt)"
#endif

#define DLB_EMBED(sym, file)                  \
  __asm__(".section .rodata\n"                \
          ".global " #sym "\n"                \
          ".hidden " #sym "\n"                \
          ".balign 16\n" #sym ":\n"           \
          ".incbin \"" DLB_VEGA_DIR "/" file "\"\n" \
          ".global " #sym "_end\n"            \
          ".hidden " #sym "_end\n" #sym "_end:\n" \
          ".byte 0\n"                         \
          ".previous\n")

DLB_EMBED(dlb_vega_js, "vega.min.js");
DLB_EMBED(dlb_vega_lite_js, "vega-lite.min.js");
DLB_EMBED(dlb_vega_embed_js, "vega-embed.min.js");

extern "C" {
extern const char dlb_vega_js[], dlb_vega_js_end[];
extern const char dlb_vega_lite_js[], dlb_vega_lite_js_end[];
extern const char dlb_vega_embed_js[], dlb_vega_embed_js_end[];
}

namespace dlbricks::report_internal {

std::string_view VegaJs() { return {dlb_vega_js, static_cast<size_t>(dlb_vega_js_end - dlb_vega_js)}; }
std::string_view VegaLiteJs() {
  return {dlb_vega_lite_js, static_cast<size_t>(dlb_vega_lite_js_end - dlb_vega_lite_js)};
}
std::string_view VegaEmbedJs() {
  return {dlb_vega_embed_js, static_cast<size_t>(dlb_vega_embed_js_end - dlb_vega_embed_js)};
}

}  // namespace dlbricks::report_internal
