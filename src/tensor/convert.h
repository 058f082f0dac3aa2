#pragma once
// Scalar conversions between storage types and float32, and whole-row dequantization.
#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

namespace pagellm {

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, NaN kept quiet.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Converts `n` elements of type `t` starting at `src` to float32 in `dst`.
// For block types, n must be a multiple of the block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

}  // namespace pagellm
