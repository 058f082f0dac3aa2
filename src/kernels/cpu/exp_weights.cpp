#include "kernels/cpu/exp_weights.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/simd_math.h"

// GCC 12 flags the intentionally undefined source operand inside some AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pagellm::kernels {
namespace {

constexpr float kMinExponent = -87.0f;  // exp_ps's lower clamp: below it the weight is 0

void exp_weights_portable(const float* logits, int64_t n, float max, float inv_t, float* weights, double* block_sums) {
  for (int64_t b = 0; b * kExpWeightBlock < n; ++b) {
    double sum = 0;
    for (int64_t i = b * kExpWeightBlock; i < std::min(n, (b + 1) * kExpWeightBlock); ++i) {
      const float x = (logits[i] - max) * inv_t;
      weights[i] = x >= kMinExponent ? std::exp(x) : 0.0f;  // false for NaN and -inf too
      sum += weights[i];
    }
    block_sums[b] = sum;
  }
}

PAGELLM_TARGET_AVX512 float max_logit_avx512(const float* logits, int64_t n) {
  __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; i += 16) {
    const auto m = static_cast<__mmask16>(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
    const __m512 l = _mm512_maskz_loadu_ps(m, logits + i);
    const __mmask16 ordered = _mm512_mask_cmp_ps_mask(m, l, l, _CMP_ORD_Q);  // not NaN
    mx = _mm512_mask_max_ps(mx, ordered, mx, l);
  }
  return _mm512_reduce_max_ps(mx);
}

PAGELLM_TARGET_AVX512 void exp_weights_avx512(const float* logits, int64_t n, float max, float inv_t, float* weights,
                                              double* block_sums) {
  const __m512 vmax = _mm512_set1_ps(max), vinv = _mm512_set1_ps(inv_t), floor = _mm512_set1_ps(kMinExponent);
  for (int64_t i = 0; i < n; i += 16) {
    const auto m = static_cast<__mmask16>(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
    const __m512 x = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, logits + i), vmax), vinv);
    // x >= -87 is false for NaN and -inf logits too.
    const __mmask16 live = _mm512_mask_cmp_ps_mask(m, x, floor, _CMP_GE_OQ);
    const __m512 w = _mm512_maskz_mov_ps(live, simd::exp_ps(x));
    _mm512_mask_storeu_ps(weights + i, m, w);
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(w));
    const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1)));
    block_sums[i / 16] = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
  }
}

// The same on 8 lanes. Full vectors only: Zen 1's masked loads and stores are microcoded, slower than the
// scalar tail they would replace.
PAGELLM_TARGET_AVX2 float max_logit_avx2(const float* logits, int64_t n) {
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 mx = neg_inf;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 l = _mm256_loadu_ps(logits + i);
    mx = _mm256_max_ps(mx, _mm256_blendv_ps(neg_inf, l, _mm256_cmp_ps(l, l, _CMP_ORD_Q)));  // NaN lanes out
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float best = lanes[0];
  for (int k = 1; k < 8; ++k) best = std::max(best, lanes[k]);
  for (; i < n; ++i)
    if (!std::isnan(logits[i])) best = std::max(best, logits[i]);
  return best;
}

PAGELLM_TARGET_AVX2 void exp_weights_avx2(const float* logits, int64_t n, float max, float inv_t, float* weights,
                                          double* block_sums) {
  const __m256 vmax = _mm256_set1_ps(max), vinv = _mm256_set1_ps(inv_t), floor = _mm256_set1_ps(kMinExponent);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256d sum = _mm256_setzero_pd();
    for (int64_t h = i; h < i + 16; h += 8) {
      const __m256 x = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(logits + h), vmax), vinv);
      // x >= -87 is false for NaN and -inf logits too.
      const __m256 w = _mm256_and_ps(_mm256_cmp_ps(x, floor, _CMP_GE_OQ), simd::exp_ps256(x));
      _mm256_storeu_ps(weights + h, w);
      sum = _mm256_add_pd(
          sum, _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(w)), _mm256_cvtps_pd(_mm256_extractf128_ps(w, 1))));
    }
    alignas(32) double parts[4];
    _mm256_store_pd(parts, sum);
    block_sums[i / 16] = (parts[0] + parts[1]) + (parts[2] + parts[3]);
  }
  if (i < n) exp_weights_portable(logits + i, n - i, max, inv_t, weights + i, block_sums + i / 16);
}

}  // namespace

float max_logit(const float* logits, int64_t n) {
  if (cpu_has_avx512_bf16()) return max_logit_avx512(logits, n);
  if (cpu_has_avx2()) return max_logit_avx2(logits, n);
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i)
    if (!std::isnan(logits[i])) mx = std::max(mx, logits[i]);
  return mx;
}

void exp_weights(const float* logits, int64_t n, float max, float inv_t, float* weights, double* block_sums) {
  if (cpu_has_avx512_bf16()) {
    exp_weights_avx512(logits, n, max, inv_t, weights, block_sums);
    return;
  }
  if (cpu_has_avx2()) {
    exp_weights_avx2(logits, n, max, inv_t, weights, block_sums);
    return;
  }
  exp_weights_portable(logits, n, max, inv_t, weights, block_sums);
}

}  // namespace pagellm::kernels
