#include "kernels/cpu/amx_int8.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "kernels/cpu/amx_matmul.h"
#include "kernels/cpu/q8_quad_layout.h"
#include "kernels/cpu/simd_math.h"

// GCC 12's _mm512_cvtepi32_ps passes _mm512_undefined_ps() as its unused merge source, which
// -Wmaybe-uninitialized (here -Wuninitialized too) reports, as in int8_vnni.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define PAGELLM_AMX_INT8 __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,fma")))

namespace pagellm::kernels::amx {
namespace {

// Configuration keys 101-116: this kernel at 1-16 rows (amx_matmul.cpp's are 1-16).
constexpr int kConfigKeyBase = 100;

// Tiles, two sets so that consecutive blocks overlap (one block's product runs while the block
// before it is stored and the one before that is added up): even blocks A 1, B 2, C 0; odd blocks
// A 4, B 5, C 3. A: rows x 32 int8; B: 8 rows of 16 columns x 4 k; C: rows x 16 int32.
PAGELLM_AMX_INT8 void configure_int8_tiles(int rows) {
  TileConfig cfg;
  for (int t : {0, 3}) {
    cfg.rows[t] = static_cast<uint8_t>(rows);
    cfg.colsb[t] = 64;
  }
  for (int t : {1, 4}) {
    cfg.rows[t] = static_cast<uint8_t>(rows);
    cfg.colsb[t] = 32;
  }
  for (int t : {2, 5}) {
    cfg.rows[t] = 8;
    cfg.colsb[t] = 64;
  }
  configure_thread(kConfigKeyBase + rows, cfg);
}

#define PAGELLM_AMX_INT8_INLINE PAGELLM_AMX_INT8 inline __attribute__((always_inline))

// Block b's int32 sums (a stored C tile) into the R rows' accumulators: acc += float(sum) * (d_w *
// d_x), as the VNNI tiles do. x_scales: the rows' scales of this block, consecutive.
template <int R>
PAGELLM_AMX_INT8_INLINE void add_block(__m512 (&acc)[R], const int32_t* sums, const float* w_scales,
                                       const float* x_scales) {
  const __m512 dw = _mm512_loadu_ps(w_scales);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x_scales[r]));
    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + r * 16)), scale, acc[r]);
  }
}

// R rows from m0 (R <= the configured tile height) times one panel over all of K, stored with the
// bias into out, with vnni::int8_tile's arithmetic. x_scales: the rows' block scales, block-major
// (16 a block). gate: for the up panel of a SiLU-gated pair, its gate panel, whose sums (with
// bias) are in gate->c already: this panel's sums then go out once, as silu(gate) * up, to
// gate->gated (the bits of silu_mul_fast over the two stored outputs).
template <int R>
PAGELLM_AMX_INT8 void row_block(const avx2::Operands& op, const uint8_t* panel, const PanelOut& out, int64_t m0,
                                const float* x_scales, bool prefetch, const PanelOut* gate) {
  alignas(64) int32_t sums[2][16 * 16];
  // (Every loop over the accumulators is unrolled, so that they are only ever indexed by constants:
  // otherwise GCC keeps them in memory, where each tile store's memory clobber sends them back and
  // forth.)
  __m512 acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t blocks = op.k / 32;
  const int8_t* xq = op.xq + m0 * op.k;
  const auto block_at = [&](int64_t b) { return panel + b * q8quad::kBlockBytes; };
  const auto w_scales = [&](int64_t b) { return reinterpret_cast<const float*>(block_at(b)); };
  // Block b's product into its parity's C tile, after its A and B tiles.
#define PAGELLM_PRODUCT(TA, TB, TC, b)                 \
  do {                                                 \
    if (prefetch) q8quad::prefetch_ahead(block_at(b)); \
    _tile_loadd(TA, xq + (b)*32, op.k);                \
    _tile_loadd(TB, block_at(b) + 64, 64);             \
    _tile_zero(TC);                                    \
    _tile_dpbssd(TC, TA, TB);                          \
  } while (0)
  // Block b (odd: 1; even: 0): its product, the store of block b - 1's sums, the sums of b - 2 added.
#define PAGELLM_STEP(PARITY, b)                                                           \
  do {                                                                                    \
    if constexpr (PARITY) {                                                               \
      PAGELLM_PRODUCT(4, 5, 3, b);                                                        \
      _tile_stored(0, sums[0], 64);                                                       \
    } else {                                                                              \
      PAGELLM_PRODUCT(1, 2, 0, b);                                                        \
      _tile_stored(3, sums[1], 64);                                                       \
    }                                                                                     \
    if ((b) >= 2) add_block(acc, sums[PARITY], w_scales((b)-2), x_scales + ((b)-2) * 16); \
  } while (0)
  PAGELLM_PRODUCT(1, 2, 0, 0);
  int64_t b = 1;
  for (; b + 1 < blocks; b += 2) {
    PAGELLM_STEP(1, b);
    PAGELLM_STEP(0, b + 1);
  }
  if (b < blocks) PAGELLM_STEP(1, b);
#undef PAGELLM_STEP
#undef PAGELLM_PRODUCT
  const int64_t last = blocks - 1;
  if (last % 2)
    _tile_stored(3, sums[1], 64);
  else
    _tile_stored(0, sums[0], 64);
  if (last >= 1) add_block(acc, sums[(last - 1) % 2], w_scales(last - 1), x_scales + (last - 1) * 16);
  add_block(acc, sums[last % 2], w_scales(last), x_scales + last * 16);
  if (gate) {
    const auto mask = static_cast<__mmask16>((1u << out.valid) - 1u);
    const __m512 bias = _mm512_maskz_loadu_ps(mask, out.bias);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 g = _mm512_maskz_loadu_ps(mask, gate->c + (m0 + r) * gate->ldc);
      _mm512_mask_storeu_ps(gate->gated + (m0 + r) * gate->ld_gated, mask,
                            simd::silu_mul_ps(g, _mm512_add_ps(acc[r], bias)));
    }
    return;
  }
  if (out.valid >= 16) {
    const __m512 bias = _mm512_loadu_ps(out.bias);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(out.c + (m0 + r) * out.ldc, _mm512_add_ps(acc[r], bias));
    return;
  }
  // A ragged last panel: element by element, the same additions.
  alignas(64) float rows[R][16];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) _mm512_store_ps(rows[r], acc[r]);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < out.valid; ++c) out.c[(m0 + r) * out.ldc + c] = rows[r][c] + out.bias[c];
}

using RowBlockFn = void (*)(const avx2::Operands&, const uint8_t*, const PanelOut&, int64_t, const float*, bool,
                            const PanelOut*);
template <int... Rs>
constexpr std::array<RowBlockFn, sizeof...(Rs)> row_blocks_of(std::integer_sequence<int, Rs...>) {
  return {&row_block<Rs + 1>...};
}
// kRowBlocks[rows - 1]
constexpr auto kRowBlocks = row_blocks_of(std::make_integer_sequence<int, 16>{});

}  // namespace

void scales_to_tiles(const float* xd, int64_t m, int64_t blocks, float* out) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t b = 0; b < blocks; ++b)
      out[(r / kTileRows * blocks + b) * kTileRows + r % kTileRows] = xd[r * blocks + b];
}

PAGELLM_AMX_INT8 void multiply_int8(const avx2::Operands& op, const uint8_t* const* panels, const PanelOut* outs,
                                    int64_t count, int64_t r0, int64_t r1) {
  configure_int8_tiles(static_cast<int>(std::min(kTileRows, r1 - r0)));
  const int64_t blocks = op.k / 32;
  for (int64_t m0 = r0; m0 < r1; m0 += kTileRows) {
    const auto rows = static_cast<size_t>(std::min(kTileRows, r1 - m0));
    const float* x_scales = op.xd_tiles + m0 / kTileRows * blocks * kTileRows;
    for (int64_t p = 0; p < count; ++p) {
      const PanelOut* gate = p > 0 && outs[p - 1].gated ? &outs[p - 1] : nullptr;
      kRowBlocks[rows - 1](op, panels[p], outs[p], m0, x_scales, m0 == r0,
                           gate);  // the first row block streams the panels
    }
  }
}

}  // namespace pagellm::kernels::amx
