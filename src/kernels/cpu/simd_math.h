#pragma once
// Vector math shared by the AVX-512 (and AVX2) kernels (inline, compiled only inside functions that carry
// the same target attribute). Deterministic: the same input bits give the same output bits.
#include <immintrin.h>

#define PAGELLM_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define PAGELLM_TARGET_AVX2 __attribute__((target("avx2,fma")))

namespace pagellm::kernels::simd {

// e^x for x in [-87, 88] (clamped outside): Cephes-style range reduction x = n ln2 + r, then a
// degree-6 Taylor polynomial on |r| <= ln2/2 (relative error ~1e-7, about 1 ulp). The AVX-512
// and the AVX2 version share these constants and steps.
struct ExpConstants {
  static constexpr float kLo = -87.0f, kHi = 88.0f;
  static constexpr float kLog2e = 1.44269504088896341f;
  static constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // ln 2 in two parts
  static constexpr float kPoly[7] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
};

PAGELLM_TARGET_AVX512 inline __attribute__((always_inline)) __m512 exp_ps(__m512 x) {
  using C = ExpConstants;
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(C::kLo)), _mm512_set1_ps(C::kHi));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(C::kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(C::kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(C::kLn2Lo), r);
  __m512 p = _mm512_set1_ps(C::kPoly[0]);
#pragma GCC unroll 6
  for (int i = 1; i < 7; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C::kPoly[i]));
  return _mm512_scalef_ps(p, n);
}

// The same for 8 lanes on AVX2 (2^n built in the exponent field: n is within [-126, 127]).
PAGELLM_TARGET_AVX2 inline __attribute__((always_inline)) __m256 exp_ps256(__m256 x) {
  using C = ExpConstants;
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(C::kLo)), _mm256_set1_ps(C::kHi));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(C::kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C::kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(C::kLn2Lo), r);
  __m256 p = _mm256_set1_ps(C::kPoly[0]);
#pragma GCC unroll 6
  for (int i = 1; i < 7; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C::kPoly[i]));
  const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(two_n));
}

// silu(g) * u = g / (1 + e^-g) * u (SwiGLU), lane by lane: the standalone pass (fused.h) and the
// gate/up projection's epilogue (packed_matmul.h) share it, so both give the same bits.
PAGELLM_TARGET_AVX512 inline __attribute__((always_inline)) __m512 silu_mul_ps(__m512 g, __m512 u) {
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

// silu_mul_ps for 8 lanes on AVX2.
PAGELLM_TARGET_AVX2 inline __attribute__((always_inline)) __m256 silu_mul_ps256(__m256 g, __m256 u) {
  const __m256 e = exp_ps256(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

}  // namespace pagellm::kernels::simd
