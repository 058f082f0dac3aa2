#include "kernels/cpu/rope.h"

#include <cmath>

namespace pagellm::kernels {

void rope_rotate_half(float* x, int64_t num_heads, int64_t head_dim, int64_t position, const double* inv_freq) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    // Angles in double: positions up to 10^5+ times frequencies near 1 lose digits in float.
    const double angle = static_cast<double>(position) * inv_freq[i];
    const auto c = static_cast<float>(std::cos(angle));
    const auto s = static_cast<float>(std::sin(angle));
    for (int64_t h = 0; h < num_heads; ++h) {
      float* head = x + h * head_dim;
      const float x0 = head[i];
      const float x1 = head[i + half];
      head[i] = x0 * c - x1 * s;
      head[i + half] = x1 * c + x0 * s;
    }
  }
}

}  // namespace pagellm::kernels
