#include "tensor/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace pagellm {
namespace {

TEST(Convert, Bf16KnownValues) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Convert, F16KnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
}

TEST(Convert, F16RoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t v = static_cast<uint16_t>(h);
    if ((v & 0x7c00) == 0x7c00) continue;  // inf/nan
    float f = f16_to_f32(v);
    uint16_t back = f32_to_f16(f);
    if (f == 0.0f) {
      EXPECT_EQ(back & 0x7fff, 0);
    } else {
      EXPECT_EQ(back, v) << std::hex << h;
    }
  }
}

TEST(Convert, F16RoundsToNearest) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-70000.0f, 70000.0f);
  for (int i = 0; i < 100000; ++i) {
    float x = dist(rng) * (i % 3 == 0 ? 1e-4f : 1.0f);
    uint16_t h = f32_to_f16(x);
    float y = f16_to_f32(h);
    if (std::isinf(y)) {
      EXPECT_GE(std::fabs(x), 65504.0f);
      continue;
    }
    // No other f16 value is closer.
    for (int d : {-1, 1}) {
      uint16_t n = static_cast<uint16_t>(h + d);
      if ((n & 0x7c00) == 0x7c00 || ((h ^ n) & 0x8000)) continue;
      EXPECT_LE(std::fabs(y - x), std::fabs(f16_to_f32(n) - x)) << x;
    }
  }
}

TEST(Convert, DequantizeQ8_0) {
  BlockQ8_0 blocks[2];
  blocks[0].scale_f16 = f32_to_f16(0.5f);
  blocks[1].scale_f16 = f32_to_f16(-2.0f);
  for (int j = 0; j < 32; ++j) {
    blocks[0].qs[j] = static_cast<int8_t>(j - 16);
    blocks[1].qs[j] = static_cast<int8_t>(127 - j);
  }
  float out[64];
  dequantize_row(DType::kQ8_0, blocks, out, 64);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(out[j], 0.5f * static_cast<float>(j - 16));
    EXPECT_EQ(out[32 + j], -2.0f * static_cast<float>(127 - j));
  }
}

}  // namespace
}  // namespace pagellm
