#pragma once
// The AVX-512 VNNI int8 tile, kept in a header of its own so that one source serves two builds:
// int8_vnni.cpp compiles it natively (with PAGELLM_VNNI a target attribute), and the kernel test
// compiles it on any x86 CPU against SIMDe's emulation of the same intrinsics (PAGELLM_VNNI
// empty), checking its arithmetic bit for bit where no AVX-512 CPU is at hand. The includer
// provides the intrinsics (<immintrin.h> or SIMDe with native aliases) and PAGELLM_VNNI.
#include <cstdint>
#include <cstring>

#include "kernels/cpu/avx2_matmul.h"
#include "kernels/cpu/panel_out.h"
#include "kernels/cpu/q8_quad_layout.h"

namespace pagellm::kernels::vnni {

// MR rows from m0 times one panel over all of K, stored with the bias into out. A zmm holds one
// group of the panel (16 columns x 4 consecutive k). vpdpbusd multiplies unsigned by signed bytes,
// so the activations go in as x + 128 (x ^ 0x80: q8 activations are within [-127, 127]) and the
// block's 128 * sum(w), one more vpdpbusd per group shared by the MR rows, is taken off: the
// block's int32 sum is then exactly sum(x * w), as in the AVX2 and portable paths, and each block
// adds float(sum) * (dw * dx) to the accumulators in the same order, so outputs keep their bits.
template <int MR>
PAGELLM_VNNI void int8_tile(const avx2::Operands& op, const uint8_t* panel, const PanelOut& out, int64_t m0,
                            bool prefetch) {
  __m512 acc[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  const __m512i plus128 = _mm512_set1_epi8(static_cast<char>(0x80));
  const int64_t blocks = op.k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = panel + b * q8quad::kBlockBytes;
    if (prefetch) q8quad::prefetch_ahead(block);
    __m512i sum[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) sum[r] = _mm512_setzero_si512();
    __m512i offset = _mm512_setzero_si512();  // 128 * (the 32 weights of each column, summed)
#pragma GCC unroll 2
    for (int g = 0; g < 8; ++g) {
      const __m512i w = _mm512_loadu_si512(reinterpret_cast<const void*>(block + 64 + g * 64));
      offset = _mm512_dpbusd_epi32(offset, plus128, w);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        uint32_t four;
        std::memcpy(&four, op.xq + (m0 + r) * op.k + b * 32 + g * 4, 4);
        const __m512i xu = _mm512_set1_epi32(static_cast<int>(four ^ 0x80808080u));
        sum[r] = _mm512_dpbusd_epi32(sum[r], xu, w);
      }
    }
    const __m512 dw = _mm512_loadu_ps(reinterpret_cast<const float*>(block));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(op.xd[(m0 + r) * blocks + b]));
      const __m512i exact = _mm512_sub_epi32(sum[r], offset);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), scale, acc[r]);
    }
  }
  if (out.valid >= 16) {
    const __m512 bias = _mm512_loadu_ps(out.bias);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) _mm512_storeu_ps(out.c + (m0 + r) * out.ldc, _mm512_add_ps(acc[r], bias));
    return;
  }
  // The last panel of a weight whose columns are not a multiple of 16: element by element (the
  // same float additions), so no load or store reaches past its valid columns.
  for (int r = 0; r < MR; ++r) {
    float sums[16];
    _mm512_storeu_ps(sums, acc[r]);
    for (int c = 0; c < out.valid; ++c) out.c[(m0 + r) * out.ldc + c] = sums[c] + out.bias[c];
  }
}

// Rows [r0, r1) times panels[0..count): tiles of up to 8 rows over one panel, the first tile
// streaming it from memory (with prefetch), the rest reading it from L2.
template <typename Tiles>
PAGELLM_VNNI void multiply_int8_tiles(const Tiles& tiles, const avx2::Operands& op, const uint8_t* const* panels,
                                      const PanelOut* outs, int64_t count, int64_t r0, int64_t r1) {
  constexpr int64_t kMaxRows = 8;
  for (int64_t p = 0; p < count; ++p)
    for (int64_t m0 = r0; m0 < r1; m0 += kMaxRows) {
      const auto rows = static_cast<size_t>(r1 - m0 < kMaxRows ? r1 - m0 : kMaxRows);
      tiles[rows - 1](op, panels[p], outs[p], m0, m0 == r0);
    }
}

}  // namespace pagellm::kernels::vnni
