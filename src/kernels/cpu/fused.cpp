#include "kernels/cpu/fused.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/simd_math.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace pagellm::kernels {
namespace {

PAGELLM_TARGET_AVX512 void silu_mul_avx512(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i += 16) {
    const auto m = static_cast<__mmask16>(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(out + i, m,
                          simd::silu_mul_ps(_mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// Every element through the vector formula, the last 1-7 through a padded vector.
PAGELLM_TARGET_AVX2 void silu_mul_avx2(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, simd::silu_mul_ps256(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    alignas(32) float g[8] = {}, u[8] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    _mm256_store_ps(g, simd::silu_mul_ps256(_mm256_load_ps(g), _mm256_load_ps(u)));
    std::copy(g, g + (n - i), out + i);
  }
}

// Sum of squares in double: 8 lanes over i = 8c + lane, then a fixed reduction.
PAGELLM_TARGET_AVX512 double sum_squares_avx512(const float* x, int64_t n) {
  __m512d acc = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const auto m = static_cast<__mmask8>(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1);
    const __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i));
    acc = _mm512_fmadd_pd(v, v, acc);
  }
  return _mm512_reduce_add_pd(acc);
}

PAGELLM_TARGET_AVX512 void scale_row_avx512(const float* x, float scale, const float* w, int64_t n, float* out) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < n; i += 16) {
    const auto m = static_cast<__mmask16>(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(
        out + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), s), _mm512_maskz_loadu_ps(m, w + i)));
  }
}

double sum_squares(const float* x, int64_t n) {
  if (cpu_has_avx512_bf16()) return sum_squares_avx512(x, n);
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) acc[i % 8] += static_cast<double>(x[i]) * x[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void norm_row(const float* x, const float* weight, int64_t n, double eps, float* out) {
  const auto scale = static_cast<float>(1.0 / std::sqrt(sum_squares(x, n) / static_cast<double>(n) + eps));
  if (cpu_has_avx512_bf16()) {
    scale_row_avx512(x, scale, weight, n, out);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

// x += delta, the residual add before a norm.
void add_row(float* x, const float* delta, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += delta[i];
}

// A row's worth of float scratch for the bf16-output norms (the calling thread's).
float* row_scratch(int64_t n) {
  thread_local std::vector<float> row;
  if (row.size() < static_cast<size_t>(n)) row.resize(static_cast<size_t>(n));
  return row.data();
}

}  // namespace

void silu_mul_fast(const float* gate, const float* up, int64_t n, float* out) {
  if (cpu_has_avx512_bf16()) {
    silu_mul_avx512(gate, up, n, out);
    return;
  }
  if (cpu_has_avx2()) {
    silu_mul_avx2(gate, up, n, out);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void rms_norm_fast(const float* x, const float* weight, int64_t rows, int64_t n, double eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) norm_row(x + r * n, weight, n, eps, out + r * n);
}

void add_rms_norm(float* x, const float* delta, const float* weight, int64_t rows, int64_t n, double eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    add_row(x + r * n, delta + r * n, n);
    norm_row(x + r * n, weight, n, eps, out + r * n);
  }
}

void rms_norm_fast_bf16(const float* x, const float* weight, int64_t rows, int64_t n, double eps, uint32_t* out,
                        int64_t ld) {
  float* row = row_scratch(n);
  for (int64_t r = 0; r < rows; ++r) {
    norm_row(x + r * n, weight, n, eps, row);
    round_to_bf16_pairs(row, n, out + r * ld);
  }
}

void add_rms_norm_bf16(float* x, const float* delta, const float* weight, int64_t rows, int64_t n, double eps,
                       uint32_t* out, int64_t ld) {
  float* row = row_scratch(n);
  for (int64_t r = 0; r < rows; ++r) {
    add_row(x + r * n, delta + r * n, n);
    norm_row(x + r * n, weight, n, eps, row);
    round_to_bf16_pairs(row, n, out + r * ld);
  }
}

void rope_cos_sin(int64_t position, const double* inv_freq, int64_t half, float* cos_out, float* sin_out) {
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

void rope_rotate_half_cs(float* x, int64_t num_heads, int64_t head_dim, const float* cos_t, const float* sin_t) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* head = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = head[i], x1 = head[i + half];
      head[i] = x0 * cos_t[i] - x1 * sin_t[i];
      head[i + half] = x1 * cos_t[i] + x0 * sin_t[i];
    }
  }
}

}  // namespace pagellm::kernels
