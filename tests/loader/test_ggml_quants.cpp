// Block layouts of llama.cpp's low-bit formats, on blocks built by hand from the layout in ggml-common.h
// (the end-to-end comparison with an independent NumPy decoding is tests/model/ggml_quants_diff.py).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "loader/ggml_quants.h"
#include "tensor/convert.h"

namespace pagellm {
namespace {

void put_half(std::vector<uint8_t>& block, size_t at, float value) {
  const uint16_t h = f32_to_f16(value);
  std::memcpy(block.data() + at, &h, 2);
}

std::vector<float> decode(uint32_t type, const std::vector<uint8_t>& block, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  dequantize_ggml(type, block.data(), out.data(), n);
  return out;
}

TEST(GgmlQuants, Q4_0LowNibblesFirstThenHigh) {
  std::vector<uint8_t> b(18);
  put_half(b, 0, 0.5f);
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> y = decode(2, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 8)) << j;
    EXPECT_EQ(y[j + 16], 0.5f * static_cast<float>(7 - j)) << j;
  }
}

TEST(GgmlQuants, Q5_1FifthBitsAndMinimum) {
  std::vector<uint8_t> b(24);
  put_half(b, 0, 0.25f);
  put_half(b, 2, -1.0f);
  const uint32_t high = 0x80000001u;  // fifth bit of value 0 and of value 31
  std::memcpy(b.data() + 4, &high, 4);
  for (int j = 0; j < 16; ++j) b[8 + j] = 0x21;  // low nibble 1, high nibble 2
  const std::vector<float> y = decode(7, b, 32);
  EXPECT_EQ(y[0], 0.25f * 17 - 1.0f);
  EXPECT_EQ(y[1], 0.25f * 1 - 1.0f);
  EXPECT_EQ(y[16], 0.25f * 2 - 1.0f);
  EXPECT_EQ(y[31], 0.25f * 18 - 1.0f);
}

TEST(GgmlQuants, Q4_KSixBitScalesAndMins) {
  std::vector<uint8_t> b(144);
  put_half(b, 0, 1.0f);                            // d
  put_half(b, 2, 0.5f);                            // dmin
  b[4 + 0] = 3;                                    // sub-block 0: scale 3
  b[4 + 4] = 2;                                    // sub-block 0: min 2
  b[4 + 8] = 0x54;                                 // sub-block 4: scale low 4 bits 4, min low 4 bits 5
  b[4 + 0] |= 1u << 6;                             // sub-block 4: scale bits 4-5 = 1  -> 16 + 4 = 20
  b[4 + 4] |= 2u << 6;                             // sub-block 4: min bits 4-5 = 2    -> 32 + 5 = 37
  for (int l = 0; l < 128; ++l) b[16 + l] = 0x97;  // low nibble 7, high nibble 9
  const std::vector<float> y = decode(12, b, 256);
  EXPECT_EQ(y[0], 3.0f * 7 - 0.5f * 2);      // sub-block 0: low nibbles of bytes 0-31
  EXPECT_EQ(y[32], 0.0f * 9 - 0.0f);         // sub-block 1: high nibbles of the same bytes
  EXPECT_EQ(y[128], 20.0f * 7 - 0.5f * 37);  // sub-block 4: low nibbles of bytes 64-95
}

TEST(GgmlQuants, Q6_KRunsAndScales) {
  std::vector<uint8_t> b(210, 0);
  for (int s = 0; s < 16; ++s) b[192 + s] = static_cast<uint8_t>(s + 1);  // int8 scale s + 1 for values 16s..16s+15
  put_half(b, 208, 2.0f);
  b[0] = 0x21;    // value 0: low nibble 1; value 64: low nibble 2
  b[128] = 0xE4;  // 2-bit highs of values 0, 32, 64, 96: 0, 1, 2, 3
  const std::vector<float> y = decode(14, b, 256);
  EXPECT_EQ(y[0], 2.0f * 1 * (1 - 32));
  EXPECT_EQ(y[32], 2.0f * 3 * (16 - 32));
  EXPECT_EQ(y[64], 2.0f * 5 * (2 + 32 - 32));
  EXPECT_EQ(y[96], 2.0f * 7 * (48 - 32));
  EXPECT_EQ(y[16], 2.0f * 2 * (0 - 32));  // the second 16 values of a run take the next scale
}

TEST(GgmlQuants, Q3_KThirdBitsAndPackedScales) {
  std::vector<uint8_t> b(110, 0);
  put_half(b, 108, 1.0f);
  b[96 + 0] = 1;        // scale 0: low nibble 1 ...
  b[96 + 8] = 0x12;     // ... high bits 2 (-> 33, i.e. +1); scale 8: high bits 1 (-> 16, i.e. -16)
  b[32 + 0] = 3;        // value 0: 2-bit 3 (pass 0); value 32: bits 2-3 = 0
  b[0] = 1 | (1 << 4);  // third bits of value 0 (pass 0) and value 128 (half 1, pass 0)
  b[64] = 2;            // value 128: 2-bit 2
  const std::vector<float> y = decode(11, b, 256);
  EXPECT_EQ(y[0], 1.0f * 3);
  EXPECT_EQ(y[16], -32.0f * (0 - 4));  // scale 1 = 0 - 32; a clear third bit subtracts 4
  EXPECT_EQ(y[32], -32.0f * (0 - 4));  // scale 2
  EXPECT_EQ(y[128], -16.0f * 2);
}

TEST(GgmlQuants, Iq4NlLevels) {
  std::vector<uint8_t> b(18, 0);
  put_half(b, 0, 0.5f);
  b[2] = 0xF0;  // value 0: level 0; value 16: level 15
  b[3] = 0x98;
  const std::vector<float> y = decode(20, b, 32);
  EXPECT_EQ(y[0], 0.5f * -127);
  EXPECT_EQ(y[16], 0.5f * 113);
  EXPECT_EQ(y[1], 0.5f * 1);
  EXPECT_EQ(y[17], 0.5f * 13);
}

TEST(GgmlQuants, Q8_0RoundsHalfAwayFromZero) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // d = 1
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.49999997f;
  BlockQ8_0 q{};
  quantize_q8_0(x.data(), &q, 32);
  EXPECT_EQ(f16_to_f32(q.scale_f16), 1.0f);
  EXPECT_EQ(q.qs[0], 127);
  EXPECT_EQ(q.qs[1], 3);
  EXPECT_EQ(q.qs[2], -3);
  EXPECT_EQ(q.qs[3], 0);
  std::vector<float> zeros(32, 0.0f);
  quantize_q8_0(zeros.data(), &q, 32);
  EXPECT_EQ(q.qs[5], 0);
}

TEST(GgmlQuants, UnknownTypes) {
  EXPECT_FALSE(ggml_quant_type(8).has_value());      // Q8_0 loads as it is
  EXPECT_FALSE(ggml_quant_type(16).has_value());     // IQ2_XXS
  EXPECT_EQ(ggml_quant_type(23)->block_elems, 256);  // IQ4_XS
  EXPECT_EQ(ggml_quant_type(13)->block_bytes, 176);
}

}  // namespace
}  // namespace pagellm
