// Stable 128-bit hashing for layer and brick signatures (DESIGN.md "Layer signature").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dlbricks {

// A 128-bit digest; equal across runs, machines and builds for equal input bytes.
struct Hash128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  // 32 lowercase hex digits.
  std::string Hex() const;
  // Parses 32 hex digits; returns false on anything else.
  static bool FromHex(std::string_view hex, Hash128* out);
  friend bool operator==(const Hash128&, const Hash128&) = default;
  friend auto operator<=>(const Hash128&, const Hash128&) = default;
};

// FNV-1a with the 128-bit parameters (prime 2^88 + 2^8 + 0x3b).
Hash128 HashBytes(std::string_view bytes);

struct Hash128Hasher {
  size_t operator()(const Hash128& h) const { return static_cast<size_t>(h.lo ^ (h.hi * 0x9e3779b97f4a7c15ULL)); }
};

}  // namespace dlbricks
