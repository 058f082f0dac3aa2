// WeightArena: aligned, zeroed, non-overlapping allocations laid out in request order, with
// requests bigger than a chunk getting one of their own.
#include <gtest/gtest.h>

#include <cstdint>

#include "tensor/weight_arena.h"

namespace pagellm {
namespace {

TEST(WeightArena, HandsOutAlignedZeroedBytesInOrder) {
  WeightArena arena(size_t{4} << 20);
  uint8_t* a = arena.allocate(100);
  uint8_t* b = arena.allocate(1000);
  uint8_t* c = arena.allocate(size_t{3} << 20);
  for (uint8_t* p : {a, b, c}) EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(b, a + 128);  // 100 rounded up to whole cache lines, then the next one
  EXPECT_EQ(c, b + 1024);
  for (size_t i = 0; i < (size_t{3} << 20); ++i) ASSERT_EQ(c[i], 0) << i;
  a[99] = 1;
  b[999] = 2;
  c[(size_t{3} << 20) - 1] = 3;
  EXPECT_EQ(arena.bytes_allocated(), 128 + 1024 + (size_t{3} << 20));
  // Does not fit what is left of the first chunk: a new chunk, its own when bigger than a chunk.
  uint8_t* d = arena.allocate(size_t{5} << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % (size_t{2} << 20), 0u);
  d[(size_t{5} << 20) - 1] = 4;
  EXPECT_EQ(a[99] + b[999] + c[(size_t{3} << 20) - 1], 6);
}

}  // namespace
}  // namespace pagellm
