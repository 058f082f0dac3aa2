#pragma once
// Vector math shared by the AVX-512 kernels (inline, compiled only inside functions that carry
// the same target attribute). Deterministic: the same input bits give the same output bits.
#include <immintrin.h>

#define PAGELLM_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

namespace pagellm::kernels::simd {

// e^x for x in [-87, 88] (clamped outside): Cephes-style range reduction x = n ln2 + r, then a
// degree-6 Taylor polynomial on |r| <= ln2/2 (relative error ~1e-7, about 1 ulp).
PAGELLM_TARGET_AVX512 inline __attribute__((always_inline)) __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// silu(g) * u = g / (1 + e^-g) * u (SwiGLU), lane by lane: the standalone pass (fused.h) and the
// gate/up projection's epilogue (packed_matmul.h) share it, so both give the same bits.
PAGELLM_TARGET_AVX512 inline __attribute__((always_inline)) __m512 silu_mul_ps(__m512 g, __m512 u) {
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

}  // namespace pagellm::kernels::simd
