#include "kernels/cpu/norm.h"

#include <cmath>

namespace pagellm::kernels {

void rms_norm(const float* x, const float* weight, int64_t rows, int64_t n, double eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    double sum_sq = 0.0;  // double: a row's scale is cheap to get exactly right
    for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
    const auto scale = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i) o[i] = xr[i] * scale * weight[i];
  }
}

}  // namespace pagellm::kernels
