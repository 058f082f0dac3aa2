#pragma once
// RMSNorm as HF Llama computes it: x / sqrt(mean(x^2) + eps) * weight, in float32.
#include <cstdint>

namespace pagellm::kernels {

// Normalizes `rows` rows of `n` values from x into out (may alias x); weight has n floats.
void rms_norm(const float* x, const float* weight, int64_t rows, int64_t n, double eps, float* out);

}  // namespace pagellm::kernels
