#pragma once
#include <cstdint>

namespace pagellm::kernels {

// out[i] = silu(gate[i]) * up[i] (SwiGLU); out may alias gate.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

}  // namespace pagellm::kernels
