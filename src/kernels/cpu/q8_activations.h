#pragma once
// Activations quantized as llama.cpp quantizes them for its Q8_0 dot products: each block of 32
// floats becomes 32 int8 values q = round(x / d) (to nearest, ties to even) with d = amax / 127.
// A block of zeros (or of values so small that d would be subnormal, below ~1.5e-36) has d = 0 and
// q = 0; a block holding an infinity or a NaN has d = NaN and q = 0, so the products it meets are
// NaN, as they would be in float32.
#include <cstdint>

namespace pagellm::kernels {

inline constexpr int64_t kQ8ActBlock = 32;

// Row x[0..k) (k a multiple of 32) into q[0..k) and d[0..k/32). The AVX2 and the portable code
// give the same bits.
void quantize_row_q8(const float* x, int64_t k, int8_t* q, float* d);
void quantize_row_q8_portable(const float* x, int64_t k, int8_t* q, float* d);

}  // namespace pagellm::kernels
