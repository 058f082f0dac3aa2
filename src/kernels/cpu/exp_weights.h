#pragma once
// The sampler's per-token weights over a whole vocabulary, vectorized: plain temperature sampling
// needs e^((l - max) / T) for every logit, and one libm exp per token cost ~4 % of a 110M decode
// step on the main thread while the worker waited.
#include <cstdint>

namespace pagellm::kernels {

inline constexpr int64_t kExpWeightBlock = 16;

// The largest logit that is not NaN; -inf when there is none.
float max_logit(const float* logits, int64_t n);

// weights[i] = e^((logits[i] - max) * inv_t) for i < n, 0 for -inf and NaN logits and where it
// would underflow (exponent below -87); block_sums[b] = the sum of weights [16b, 16b + 16) in
// double, in a fixed order, for b < ceil(n / 16). Deterministic for given inputs; the AVX-512, AVX2 and
// portable paths agree to float rounding, not bit for bit.
void exp_weights(const float* logits, int64_t n, float max, float inv_t, float* weights, double* block_sums);

}  // namespace pagellm::kernels
