#include "kernels/cpu/avx2_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "kernels/cpu/q8_quad_layout.h"

#define PAGELLM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PAGELLM_AVX2_INLINE PAGELLM_AVX2 inline __attribute__((always_inline))

namespace pagellm::kernels::avx2 {
namespace {

constexpr int64_t kQ8BlockBytes = 16 * 4 + 32 * 16;  // 16 scales + 32 x 16 int8
constexpr int kMaxTile = 4;                          // rows x panels of one tile: 8 accumulators
constexpr int kNumFormats = 5;
// Decode-sized tiles stream each panel once; ask for its lines this far ahead of the loads. On
// Zen 1, 256-640 B ran a 110M decode step's projections at 95-96 % of a plain read of their bytes,
// 1024 B at 92-93 % (docs/perf/avx2.md, session 15).
constexpr int64_t kPrefetchAhead = 512;

constexpr int64_t pair_bytes(Format f) {
  return f == Format::kF32 ? 128 : f == Format::kQ8_0 ? kQ8BlockBytes / 16 : 64;
}

// Columns 8h..8h+7 of k-pair kp: the even k's weights in lo, the odd k's in hi, as float32.
template <Format F>
PAGELLM_AVX2_INLINE void load_pair(const uint8_t* panel, int64_t kp, int h, __m256& lo, __m256& hi) {
  if constexpr (F == Format::kBF16 || F == Format::kBF16Dot) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 64 + h * 32));
    lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  } else if constexpr (F == Format::kF16) {
    lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel + kp * 64 + h * 16)));
    hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel + kp * 64 + 32 + h * 16)));
  } else if constexpr (F == Format::kF32) {
    lo = _mm256_loadu_ps(reinterpret_cast<const float*>(panel + kp * 128 + h * 32));
    hi = _mm256_loadu_ps(reinterpret_cast<const float*>(panel + kp * 128 + 64 + h * 32));
  } else {
    const uint8_t* block = panel + (kp / 16) * kQ8BlockBytes;
    const __m256 scale = _mm256_loadu_ps(reinterpret_cast<const float*>(block) + h * 8);
    const uint8_t* q = block + 64 + (kp % 16) * 32 + h * 8;
    const __m256i q0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
    const __m256i q1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 16)));
    lo = _mm256_mul_ps(_mm256_cvtepi32_ps(q0), scale);
    hi = _mm256_mul_ps(_mm256_cvtepi32_ps(q1), scale);
  }
}

// Row r's activations for k-pair kp: two floats (the bf16 pair widened for kBF16Dot).
template <Format F>
PAGELLM_AVX2_INLINE void activations(const Operands& op, int64_t r, int64_t kp, __m256& x0, __m256& x1) {
  if constexpr (F == Format::kBF16Dot) {
    const uint32_t pair = op.xb[r * op.ldxb + kp];
    x0 = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(pair << 16)));
    x1 = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(pair & 0xffff0000u)));
  } else {
    x0 = _mm256_broadcast_ss(op.x + r * op.ldx + 2 * kp);
    x1 = _mm256_broadcast_ss(op.x + r * op.ldx + 2 * kp + 1);
  }
}

// One k-pair into one accumulator: two chained FMAs (k, then k + 1), or for kBF16Dot the pair's
// two products summed and then added, as the portable path computes them.
template <Format F>
PAGELLM_AVX2_INLINE __m256 step(__m256 acc, __m256 lo, __m256 hi, __m256 x0, __m256 x1) {
  if constexpr (F == Format::kBF16Dot)
    return _mm256_add_ps(acc, _mm256_add_ps(_mm256_mul_ps(lo, x0), _mm256_mul_ps(hi, x1)));
  else
    return _mm256_fmadd_ps(hi, x1, _mm256_fmadd_ps(lo, x0, acc));
}

// The last k-pair of an odd K, which holds one value.
template <Format F>
PAGELLM_AVX2_INLINE __m256 step_last(__m256 acc, __m256 lo, __m256 x0) {
  if constexpr (F == Format::kBF16Dot)  // w1 * x1 is 0 * 0 there
    return _mm256_add_ps(acc, _mm256_add_ps(_mm256_mul_ps(lo, x0), _mm256_setzero_ps()));
  else
    return _mm256_fmadd_ps(lo, x0, acc);
}

// Lanes [0, valid) of 8, for a panel's columns past the output's end.
PAGELLM_AVX2_INLINE __m256i lane_mask(int valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// k-pair kp of NR panels into MR rows' accumulators; kOdd: the last pair of an odd K, which holds one value.
template <Format F, int MR, int NR, bool kOdd>
PAGELLM_AVX2_INLINE void accumulate_pair(const Operands& op, const uint8_t* const* panels, int64_t m0, int64_t kp,
                                         __m256 (&acc)[MR][NR][2]) {
#pragma GCC unroll 4
  for (int j = 0; j < NR; ++j) {
    __m256 lo[2], hi[2];
    load_pair<F>(panels[j], kp, 0, lo[0], hi[0]);
    load_pair<F>(panels[j], kp, 1, lo[1], hi[1]);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      __m256 x0, x1;
      activations<F>(op, m0 + r, kp, x0, x1);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h)
        acc[r][j][h] = kOdd ? step_last<F>(acc[r][j][h], lo[h], x0) : step<F>(acc[r][j][h], lo[h], hi[h], x0, x1);
    }
  }
}

template <class V, int MR, int NR>
PAGELLM_AVX2_INLINE void zero(V (&acc)[MR][NR][2]) {
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[r][j][0] = acc[r][j][1] = V{};
}

// The accumulators plus bias into rows m0.. of the panels' outputs (masked past a panel's end).
template <int MR, int NR>
PAGELLM_AVX2_INLINE void store(const __m256 (&acc)[MR][NR][2], const PanelOut* outs, int64_t m0) {
#pragma GCC unroll 4
  for (int j = 0; j < NR; ++j)
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const int valid = std::clamp(outs[j].valid - 8 * h, 0, 8);
      if (valid == 0) continue;
      const __m256 bias = _mm256_loadu_ps(outs[j].bias + 8 * h);
      const __m256i mask = lane_mask(valid);
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        float* c = outs[j].c + (m0 + r) * outs[j].ldc + 8 * h;
        const __m256 v = _mm256_add_ps(acc[r][j][h], bias);
        if (valid == 8)
          _mm256_storeu_ps(c, v);
        else
          _mm256_maskstore_ps(c, mask, v);
      }
    }
}

// MR rows from m0 times NR panels over all of K, stored with the bias.
template <Format F, int MR, int NR>
PAGELLM_AVX2 void tile(const Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t m0,
                       bool prefetch) {
  __m256 acc[MR][NR][2];
  zero(acc);

  const int64_t full = op.k / 2;
  for (int64_t kp = 0; kp < full; ++kp) {
    if (prefetch) {
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(panels[j] + kp * pair_bytes(F) + kPrefetchAhead), _MM_HINT_T0);
    }
    accumulate_pair<F, MR, NR, false>(op, panels, m0, kp, acc);
  }
  if (op.k % 2) accumulate_pair<F, MR, NR, true>(op, panels, m0, full, acc);

  store<MR, NR>(acc, outs, m0);
}

// MR rows from m0 times one panel in the float32 layout ([pairs][2][16], from L2), stored with the
// bias: the packed tiles' chain (k, then k + 1, into each accumulator) with loads and FMAs only.
template <int MR>
PAGELLM_AVX2 void widened_tile(const Operands& op, const float* panel, const PanelOut& out, int64_t m0) {
  __m256 acc[MR][1][2];
  zero(acc);
  const float* x = op.x + m0 * op.ldx;
  const int64_t full = op.k / 2;
  for (int64_t kp = 0; kp < full; ++kp) {
    __m256 lo[2], hi[2];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      lo[h] = _mm256_loadu_ps(panel + kp * 32 + h * 8);
      hi[h] = _mm256_loadu_ps(panel + kp * 32 + 16 + h * 8);
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const __m256 x0 = _mm256_broadcast_ss(x + r * op.ldx + 2 * kp);
      const __m256 x1 = _mm256_broadcast_ss(x + r * op.ldx + 2 * kp + 1);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) acc[r][0][h] = _mm256_fmadd_ps(hi[h], x1, _mm256_fmadd_ps(lo[h], x0, acc[r][0][h]));
    }
  }
  if (op.k % 2) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 lo = _mm256_loadu_ps(panel + full * 32 + h * 8);
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r)
        acc[r][0][h] = _mm256_fmadd_ps(lo, _mm256_broadcast_ss(x + r * op.ldx + 2 * full), acc[r][0][h]);
    }
  }
  store<MR, 1>(acc, &out, m0);
}

using WidenedTileFn = void (*)(const Operands&, const float*, const PanelOut&, int64_t);
// kWidenedTiles[rows - 1]
constexpr std::array<WidenedTileFn, kMaxTile> kWidenedTiles = {&widened_tile<1>, &widened_tile<2>, &widened_tile<3>,
                                                               &widened_tile<4>};

using TileFn = void (*)(const Operands&, const uint8_t* const*, const PanelOut*, int64_t, bool);

template <Format F, int MR, int NR>
constexpr TileFn tile_of() {
  if constexpr (MR * NR <= kMaxTile)
    return &tile<F, MR, NR>;
  else
    return nullptr;
}
template <Format F, int MR>
constexpr std::array<TileFn, kMaxTile> row_of() {
  return {tile_of<F, MR, 1>(), tile_of<F, MR, 2>(), tile_of<F, MR, 3>(), tile_of<F, MR, 4>()};
}
template <Format F>
constexpr std::array<std::array<TileFn, kMaxTile>, kMaxTile> table_of() {
  return {row_of<F, 1>(), row_of<F, 2>(), row_of<F, 3>(), row_of<F, 4>()};
}
// kTiles[format][rows - 1][panels - 1]
constexpr std::array<std::array<std::array<TileFn, kMaxTile>, kMaxTile>, kNumFormats> kTiles = {
    table_of<Format::kF32>(), table_of<Format::kBF16>(), table_of<Format::kF16>(), table_of<Format::kQ8_0>(),
    table_of<Format::kBF16Dot>()};

// A packed panel's pairs as the float32 layout ([pairs][2][16]).
template <Format F>
PAGELLM_AVX2 void widen(const uint8_t* panel, int64_t pairs, float* out) {
  for (int64_t kp = 0; kp < pairs; ++kp) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256 lo, hi;
      load_pair<F>(panel, kp, h, lo, hi);
      _mm256_storeu_ps(out + kp * 32 + h * 8, lo);
      _mm256_storeu_ps(out + kp * 32 + 16 + h * 8, hi);
    }
  }
}

// ---- Q8_0 weights times int8 activations ----

// MR rows from m0 times one panel in the quad layout over all of K, stored with the bias (two
// panels a tile ran a decode step's projections 5-8 points further from the read). Per 4-k group,
// each row's 4 activations are broadcast; vpsignb moves their signs onto the weights so vpmaddubsw
// can take |x| as its unsigned operand (|w|, |x| <= 127: a pair's sum fits int16), and vpmaddwd
// sums the pairs into the block's int32 sums. Each block then adds float(sum) * (dw * dx) into the
// accumulators, as the portable path does.
template <int MR>
PAGELLM_AVX2 void int8_tile(const Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t m0,
                            bool prefetch) {
  const uint8_t* panel = panels[0];
  __m256 acc[MR][1][2];
  zero(acc);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t blocks = op.k / 32;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = panel + b * q8quad::kBlockBytes;
    if (prefetch) q8quad::prefetch_ahead(block);
    __m256i sum[MR][1][2];
    zero(sum);
#pragma GCC unroll 2
    for (int g = 0; g < 8; ++g) {
      __m256i xs[MR], xa[MR];
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        int32_t four;
        std::memcpy(&four, op.xq + (m0 + r) * op.k + b * 32 + g * 4, 4);
        xs[r] = _mm256_set1_epi32(four);
        xa[r] = _mm256_abs_epi8(xs[r]);
      }
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 64 + g * 64 + h * 32));
#pragma GCC unroll 4
        for (int r = 0; r < MR; ++r) {
          const __m256i pairs = _mm256_maddubs_epi16(xa[r], _mm256_sign_epi8(w, xs[r]));
          sum[r][0][h] = _mm256_add_epi32(sum[r][0][h], _mm256_madd_epi16(pairs, ones));
        }
      }
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = _mm256_loadu_ps(reinterpret_cast<const float*>(block) + h * 8);
#pragma GCC unroll 4
      for (int r = 0; r < MR; ++r) {
        const __m256 scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(op.xd + (m0 + r) * blocks + b));
        acc[r][0][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[r][0][h]), scale, acc[r][0][h]);
      }
    }
  }
  store<MR, 1>(acc, outs, m0);
}

// kInt8Tiles[rows - 1]
constexpr std::array<TileFn, kMaxTile> kInt8Tiles = {&int8_tile<1>, &int8_tile<2>, &int8_tile<3>, &int8_tile<4>};

void multiply_int8(const Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t count, int64_t r0,
                   int64_t r1) {
  // Tiles of up to 4 rows over one panel (8 integer sums and 8 float accumulators at most), the
  // first streaming it from memory, the rest reading it from L2. On Zen 1 batches ran at 50-54
  // GFLOP/s in every tile shape tried, the one port that multiplies integers being the bound
  // (docs/perf/int8.md).
  for (int64_t p = 0; p < count; ++p)
    for (int64_t m0 = r0; m0 < r1; m0 += kMaxTile) {
      const auto rows = static_cast<size_t>(std::min<int64_t>(kMaxTile, r1 - m0));
      kInt8Tiles[rows - 1](op, panels + p, outs + p, m0, m0 == r0);
    }
}

using WidenFn = void (*)(const uint8_t*, int64_t, float*);
// kWiden[format]; float32 and bf16 dot products are not widened.
constexpr std::array<WidenFn, kNumFormats> kWiden = {nullptr, &widen<Format::kBF16>, &widen<Format::kF16>,
                                                     &widen<Format::kQ8_0>, nullptr};

}  // namespace

bool available() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

void multiply_panels(const Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t count, int64_t r0,
                     int64_t r1) {
  if (op.format == Format::kQ8Int8) {
    multiply_int8(op, panels, outs, count, r0, r1);
    return;
  }
  const auto& tiles = kTiles[static_cast<size_t>(op.format)];
  const int64_t m = r1 - r0;
  if (m <= kMaxTile) {  // one tile covers every row: panels side by side, each streamed once
    const int rows = static_cast<int>(m);
    const int64_t group = kMaxTile / rows;
    for (int64_t p = 0; p < count; p += group) {
      const auto nr = static_cast<size_t>(std::min(group, count - p));
      tiles[static_cast<size_t>(rows - 1)][nr - 1](op, panels + p, outs + p, r0, true);
    }
    return;
  }
  // More rows: tiles of 4 rows over one panel, which comes from memory for the first and from L2
  // after.
  if (op.format == Format::kBF16Dot) {
    for (int64_t p = 0; p < count; ++p)
      for (int64_t m0 = r0; m0 < r1; m0 += kMaxTile) {
        const auto rows = static_cast<size_t>(std::min<int64_t>(kMaxTile, r1 - m0));
        tiles[rows - 1][0](op, panels + p, outs + p, m0, m0 == r0);
      }
    return;
  }
  // Packed weights are widened to float32 once per panel, not once per tile of rows (M = 64-512:
  // ~15 % faster): the tiles then run loads and FMAs only. The widened values are the ones the
  // packed tiles compute and the float32 tiles' chain is theirs, so outputs keep their bits.
  // Float32 panels already have that layout.
  thread_local std::vector<float> widened;  // one panel: grows to the largest K, then stays
  const int64_t pairs = (op.k + 1) / 2;
  const WidenFn widen_panel = kWiden[static_cast<size_t>(op.format)];
  if (widen_panel && widened.size() < static_cast<size_t>(pairs * 32)) widened.resize(static_cast<size_t>(pairs * 32));
  for (int64_t p = 0; p < count; ++p) {
    const float* panel = reinterpret_cast<const float*>(panels[p]);
    if (widen_panel) {
      widen_panel(panels[p], pairs, widened.data());
      panel = widened.data();
    }
    for (int64_t m0 = r0; m0 < r1; m0 += kMaxTile) {
      const auto rows = static_cast<size_t>(std::min<int64_t>(kMaxTile, r1 - m0));
      kWidenedTiles[rows - 1](op, panel, outs[p], m0);
    }
  }
}

}  // namespace pagellm::kernels::avx2
