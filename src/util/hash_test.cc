#include "dlbricks/hash.h"

#include <gtest/gtest.h>

namespace dlbricks {
namespace {

TEST(Hash128, KnownVectorsAreStable) {
  // FNV-1a 128 of the empty string is the offset basis.
  EXPECT_EQ(HashBytes("").Hex(), "6c62272e07bb014262b821756295c58d");
  EXPECT_EQ(HashBytes("a").Hex(), "d228cb696f1a8caf78912b704e4a8964");
  EXPECT_NE(HashBytes("conv"), HashBytes("conw"));
}

TEST(Hash128, HexRoundTrips) {
  Hash128 h = HashBytes("dlbricks");
  Hash128 back;
  ASSERT_TRUE(Hash128::FromHex(h.Hex(), &back));
  EXPECT_EQ(h, back);
  EXPECT_FALSE(Hash128::FromHex("xyz", &back));
  EXPECT_FALSE(Hash128::FromHex(std::string(32, 'g'), &back));
}

}  // namespace
}  // namespace dlbricks
