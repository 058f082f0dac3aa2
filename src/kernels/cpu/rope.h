#pragma once
// Rotary position embedding in HF's rotate-half layout: element i pairs with i + head_dim/2.
#include <cstdint>

namespace pagellm::kernels {

// Rotates `num_heads` heads of `head_dim` values at x (contiguous) in place for one token at
// `position`; inv_freq holds head_dim/2 inverse frequencies (scaling already applied).
void rope_rotate_half(float* x, int64_t num_heads, int64_t head_dim, int64_t position, const double* inv_freq);

}  // namespace pagellm::kernels
