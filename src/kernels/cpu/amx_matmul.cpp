#include "kernels/cpu/amx_matmul.h"

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#define PAGELLM_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))
#define PAGELLM_AMX_INLINE PAGELLM_AMX inline __attribute__((always_inline))

namespace pagellm::kernels::amx {
namespace {

constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an extended state component
constexpr long kXfeatureXtiledata = 18;     // the AMX tile data (8 KiB per thread)

bool g_force_disabled = false;

// CPUID.(7,0):EDX, where the AMX feature bits are.
unsigned cpuid7_edx() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
  return edx;
}

// AMX-TILE (EDX[24]) and AMX-BF16 (EDX[22]); then the kernel's permission, without which the first
// tile instruction faults.
bool detect() {
  const unsigned edx = cpuid7_edx();
  const bool cpu = (edx >> 24 & 1u) && (edx >> 22 & 1u) && __builtin_cpu_supports("avx512bf16");
  return cpu && syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

// rows: of the activation and output tiles (A, C); the weight tiles always hold 16 k-pairs. A batch
// of one row block runs its tiles at its own height (a decode step multiplies 1-16 rows, not 16);
// a tile row's arithmetic does not depend on the height.
PAGELLM_AMX void configure_bf16_tiles(int rows) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = static_cast<uint8_t>(t >= 5 ? 16 : rows);  // 5: A of a second row block, or a third B
  }
  configure_thread(rows, cfg);  // keys 1-16: this kernel's heights
}

// The part of a C tile that exists: `rows` of the row block, out.valid columns.
struct CTile {
  const PanelOut* out;
  int64_t row0;
  int rows;
  bool full() const { return rows == kTileRows && out->valid == 16; }
  float* at() const { return out->c + row0 * out->ldc; }
  __mmask16 mask() const { return static_cast<__mmask16>((1u << out->valid) - 1u); }
};

// Copies the existing part of a C tile into a full 16x16 buffer (zeros elsewhere).
PAGELLM_AMX_INLINE void gather_c(const CTile& c, float* buf) {
  for (int r = 0; r < 16; ++r)
    _mm512_store_ps(buf + r * 16,
                    r < c.rows ? _mm512_maskz_loadu_ps(c.mask(), c.at() + r * c.out->ldc) : _mm512_setzero_ps());
}

// Writes the existing part of a stored C tile to the output, adding the bias on the last K block.
PAGELLM_AMX_INLINE void scatter_c(const CTile& c, bool last, const float* buf) {
  const __m512 bias = last ? _mm512_loadu_ps(c.out->bias) : _mm512_setzero_ps();
  for (int r = 0; r < c.rows; ++r) {
    const __m512 v = _mm512_load_ps(buf + r * 16);
    _mm512_mask_storeu_ps(c.at() + r * c.out->ldc, c.mask(), last ? _mm512_add_ps(v, bias) : v);
  }
}

// The tile intrinsics take the tile number as a literal (it is pasted into the instruction).
#define PAGELLM_LOAD_C(TILE, c)                      \
  do {                                               \
    if (first) {                                     \
      _tile_zero(TILE);                              \
    } else if ((c).full()) {                         \
      _tile_loadd(TILE, (c).at(), (c).out->ldc * 4); \
    } else {                                         \
      gather_c(c, buf);                              \
      _tile_loadd(TILE, buf, 64);                    \
    }                                                \
  } while (0)

#define PAGELLM_STORE_C(TILE, c)                      \
  do {                                                \
    if ((c).full() && !last) {                        \
      _tile_stored(TILE, (c).at(), (c).out->ldc * 4); \
    } else {                                          \
      _tile_stored(TILE, buf, 64);                    \
      scatter_c(c, last, buf);                        \
    }                                                 \
  } while (0)

// One row block's weight streams ask for their tiles this many k-tiles ahead into L1 and into L2:
// a 0.5B decode step's projections then stream at 96-97 % of a plain read of their bytes, against
// 92-93 % with 8 tiles ahead into L1 only (docs/perf/amx.md, session 20, has the other distances).
constexpr int64_t kPrefetchTiles = 2;
constexpr int64_t kL2PrefetchTiles = 6;

// Asks for weight tile `ahead_kt` of a stream over k-tiles [kt0, kt1) of `panel`, which goes on
// at tile kt0 of `after`, into the cache level Hint names.
template <int Hint>
PAGELLM_AMX_INLINE void prefetch_tile(const uint8_t* panel, const uint8_t* after, int64_t ahead_kt, int64_t kt0,
                                      int64_t kt1) {
  const uint8_t* tile = ahead_kt < kt1 ? panel + ahead_kt * kTileBytes : after + (ahead_kt - kt1 + kt0) * kTileBytes;
  for (int64_t line = 0; line < kTileBytes; line += 64)
    _mm_prefetch(reinterpret_cast<const char*>(tile) + line, static_cast<_mm_hint>(Hint));
}

// RB row blocks (16 rows each) x PB panels over k-tiles [kt0, kt1). Tiles: C (row block r,
// panel p) = 2r + p; A row blocks 4, 5; B panels 6, 7. With one row block, a third panel uses
// C 2 and B 5, for more weight loads in flight while streaming.
template <int RB, int PB>
PAGELLM_AMX void tile_block(const Activations& a, int64_t row0, const uint8_t* const* panels, const PanelOut* outs,
                            const uint8_t* const* after, int64_t kt0, int64_t kt1, bool first, bool last) {
  static_assert(RB == 1 || PB <= 2);
  alignas(64) float buf[16 * 16];
  const auto rows_of = [&](int64_t r) { return static_cast<int>(std::clamp<int64_t>(a.rows - r, 0, kTileRows)); };
  const CTile c00{&outs[0], row0, rows_of(row0)};
  const CTile c01{&outs[PB > 1 ? 1 : 0], row0, rows_of(row0)};
  const CTile c02{&outs[PB - 1], row0, rows_of(row0)};
  const CTile c10{&outs[0], row0 + kTileRows, rows_of(row0 + kTileRows)};
  const CTile c11{&outs[PB - 1], row0 + kTileRows, rows_of(row0 + kTileRows)};
  PAGELLM_LOAD_C(0, c00);
  if constexpr (PB >= 2) PAGELLM_LOAD_C(1, c01);
  if constexpr (PB == 3) PAGELLM_LOAD_C(2, c02);
  if constexpr (RB == 2) PAGELLM_LOAD_C(2, c10);
  if constexpr (RB == 2 && PB == 2) PAGELLM_LOAD_C(3, c11);

  const int64_t block = row0 / kTileRows;
  for (int64_t kt = kt0; kt < kt1; ++kt) {
    if constexpr (RB == 1) {
      // One row block streams each weight tile once, and tile loads alone do not keep enough
      // memory reads in flight: ask for the tiles ahead. Past a panel's end, stream j goes on into
      // the j-th panel of the next pass (`after`), not into the panel beside it, which another
      // stream of this pass is reading already: otherwise every pass after the first starts with
      // all but one stream cold.
      for (int j = 0; j < PB; ++j) {
        prefetch_tile<_MM_HINT_T0>(panels[j], after[j], kt + kPrefetchTiles, kt0, kt1);
        prefetch_tile<_MM_HINT_T1>(panels[j], after[j], kt + kL2PrefetchTiles, kt0, kt1);
      }
    }
    _tile_loadd(6, panels[0] + kt * kTileBytes, 64);
    if constexpr (PB >= 2) _tile_loadd(7, panels[1] + kt * kTileBytes, 64);
    if constexpr (PB == 3) _tile_loadd(5, panels[2] + kt * kTileBytes, 64);
    _tile_loadd(4, a.tile(block, kt), 64);
    if constexpr (RB == 2) _tile_loadd(5, a.tile(block + 1, kt), 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (PB >= 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (PB == 3) _tile_dpbf16ps(2, 4, 5);
    if constexpr (RB == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (RB == 2 && PB == 2) _tile_dpbf16ps(3, 5, 7);
  }

  PAGELLM_STORE_C(0, c00);
  if constexpr (PB >= 2) PAGELLM_STORE_C(1, c01);
  if constexpr (PB == 3) PAGELLM_STORE_C(2, c02);
  if constexpr (RB == 2) PAGELLM_STORE_C(2, c10);
  if constexpr (RB == 2 && PB == 2) PAGELLM_STORE_C(3, c11);
}

using BlockFn = void (*)(const Activations&, int64_t, const uint8_t* const*, const PanelOut*, const uint8_t* const*,
                         int64_t, int64_t, bool, bool);
// [row blocks - 1][panels - 1]
constexpr BlockFn kBlocks[2][3] = {{&tile_block<1, 1>, &tile_block<1, 2>, &tile_block<1, 3>},
                                   {&tile_block<2, 1>, &tile_block<2, 2>, nullptr}};

// Cache blocking: the activations of a row chunk x K block (all terms) stay in L2 while the
// thread's panels stream past them, so each weight tile is read from memory once per chunk: the
// whole batch and the whole K when they fit, which covers prefill chunks of the small models.
constexpr int64_t kActivationBlockBytes = 1280 << 10;
constexpr int64_t kRowChunkWhenBlocked = 256;

}  // namespace

bool available() {
  if (g_force_disabled) return false;
  static const bool has = detect();
  return has;
}

void force_disabled(bool disabled) { g_force_disabled = disabled; }

bool int8_available() {
  if (!available()) return false;
  static const bool has = (cpuid7_edx() >> 25 & 1u) != 0;  // AMX-INT8
  return has;
}

PAGELLM_AMX void configure_thread(int key, const TileConfig& cfg) {
  thread_local int loaded_key = 0;
  if (loaded_key == key) return;
  _tile_loadconfig(&cfg);
  loaded_key = key;
}

PAGELLM_AMX void round_rows_to_tiles(const float* x, int64_t k, int64_t r0, int64_t r1, const Activations& a,
                                     uint16_t* out) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * k;
    uint16_t* dst = out + (a.tile(r / kTileRows, 0) - a.data) + (r % kTileRows) * kTileK;
    for (int64_t i = 0; i < a.k_tiles * kTileK; i += 16) {
      const auto mask = static_cast<__mmask16>(i + 16 <= k ? 0xffff : i < k ? (1u << (k - i)) - 1u : 0);
      const __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, xr + i));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (i / kTileK) * kTileRows * kTileK + i % kTileK), h);
    }
  }
}

// One row block (decode): each weight tile is used once; three panels per pass keep more loads
// in flight. Otherwise 2 x 2 tiles: each loaded tile feeds two products.
int64_t panels_per_pass(const Activations& a) { return a.row_blocks == 1 ? kMaxPanelsPerPass : 2; }

PAGELLM_AMX void matmul_panels(const Activations& a, int64_t k_tiles, const uint8_t* const* panels,
                               const PanelOut* outs, int64_t num_panels) {
  configure_bf16_tiles(a.row_blocks == 1 ? static_cast<int>(a.rows) : static_cast<int>(kTileRows));
  const int64_t rows_padded = a.row_blocks * kTileRows;
  const int64_t tile_row_bytes = kTileK * 2;  // one activation row of one k-tile
  int64_t row_chunk = rows_padded, k_block = k_tiles;
  if (rows_padded * k_tiles * tile_row_bytes > kActivationBlockBytes) {
    row_chunk = std::min(rows_padded, kRowChunkWhenBlocked);
    k_block = std::clamp<int64_t>(kActivationBlockBytes / (row_chunk * tile_row_bytes), 1, k_tiles);
  }
  const int64_t max_panels = panels_per_pass(a);
  for (int64_t kt0 = 0; kt0 < k_tiles; kt0 += k_block) {
    const int64_t kt1 = std::min(k_tiles, kt0 + k_block);
    for (int64_t m0 = 0; m0 < rows_padded; m0 += row_chunk) {
      const int64_t m1 = std::min(rows_padded, m0 + row_chunk);
      for (int64_t p = 0; p < num_panels;) {
        const int pb = static_cast<int>(std::min(max_panels, num_panels - p));
        // Where each stream's prefetch goes on after this pass: the next pass's panels; past the
        // last, on from the last panel (the panels of a run lie one after another in memory).
        const uint8_t* after[kMaxPanelsPerPass];
        for (int j = 0; j < pb; ++j)
          after[j] = p + pb + j < num_panels ? panels[p + pb + j] : panels[num_panels - 1] + (k_tiles + j) * kTileBytes;
        for (int64_t r = m0; r < m1; r += 2 * kTileRows) {
          const int rb = m1 - r >= 2 * kTileRows ? 2 : 1;
          kBlocks[rb - 1][pb - 1](a, r, panels + p, outs + p, after, kt0, kt1, kt0 == 0, kt1 == k_tiles);
        }
        p += pb;
      }
    }
  }
}

}  // namespace pagellm::kernels::amx
