#include "kernels/cpu/q8_activations.h"

#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "kernels/cpu/packed_matmul.h"

#define PAGELLM_AVX2 __attribute__((target("avx2,fma")))

namespace pagellm::kernels {
namespace {

// The block's scale and its reciprocal, from the largest magnitude (NaN when the block is not
// finite: its values are then stored as 0).
struct BlockScale {
  float d = 0.0f;
  float inv = 0.0f;
  bool nonzero = true;  // false: the block's values are stored as 0
};

BlockScale block_scale(float amax, bool finite) {
  if (!finite) return {std::numeric_limits<float>::quiet_NaN(), 0.0f, false};
  const float d = amax / 127.0f;
  // (a subnormal scale's reciprocal overflows: such blocks are taken as zeros)
  if (d < FLT_MIN) return {0.0f, 0.0f, false};
  return {d, 1.0f / d, true};
}

PAGELLM_AVX2 void quantize_row_avx2(const float* x, int64_t k, int8_t* q, float* d) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 max_finite = _mm256_set1_ps(FLT_MAX);
  for (int64_t b = 0; b < k / kQ8ActBlock; ++b) {
    const float* xb = x + b * kQ8ActBlock;
    __m256 v[4], amax = _mm256_setzero_ps();
    int not_finite = 0;
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      const __m256 a = _mm256_andnot_ps(sign, v[i]);
      not_finite |= _mm256_movemask_ps(_mm256_cmp_ps(a, max_finite, _CMP_NLE_UQ));
      amax = _mm256_max_ps(amax, a);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const BlockScale s = block_scale(_mm_cvtss_f32(m4), not_finite == 0);
    d[b] = s.d;
    if (!s.nonzero) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * kQ8ActBlock), _mm256_setzero_si256());
      continue;
    }
    const __m256 inv = _mm256_set1_ps(s.inv);
    __m256i i32[4];
    for (int i = 0; i < 4; ++i) {
      // The product rounds once, as the scalar one does; cvtps rounds to nearest even (MXCSR's
      // default, the mode std::nearbyint uses too).
      const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));
      i32[i] = _mm256_max_epi32(_mm256_set1_epi32(-127), _mm256_min_epi32(r, _mm256_set1_epi32(127)));
    }
    // Packing works within 128-bit lanes: 0 1 4 5 | 2 3 6 7 of each 8 after two packs; restore order.
    const __m256i w01 = _mm256_packs_epi32(i32[0], i32[1]);
    const __m256i w23 = _mm256_packs_epi32(i32[2], i32[3]);
    const __m256i bytes = _mm256_packs_epi16(w01, w23);
    const __m256i ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * kQ8ActBlock), ordered);
  }
}

}  // namespace

void quantize_row_q8_portable(const float* x, int64_t k, int8_t* q, float* d) {
  for (int64_t b = 0; b < k / kQ8ActBlock; ++b) {
    const float* xb = x + b * kQ8ActBlock;
    float amax = 0.0f;
    bool finite = true;
    for (int64_t i = 0; i < kQ8ActBlock; ++i) {
      const float a = std::fabs(xb[i]);
      finite = finite && a <= FLT_MAX;
      amax = std::max(amax, a);
    }
    const BlockScale s = block_scale(amax, finite);
    d[b] = s.d;
    for (int64_t i = 0; i < kQ8ActBlock; ++i) {
      const float r = s.nonzero ? std::nearbyint(xb[i] * s.inv) : 0.0f;
      q[b * kQ8ActBlock + i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
    }
  }
}

void quantize_row_q8(const float* x, int64_t k, int8_t* q, float* d) {
  if (cpu_has_avx2())
    quantize_row_avx2(x, k, q, d);
  else
    quantize_row_q8_portable(x, k, q, d);
}

}  // namespace pagellm::kernels
