#pragma once
// Matrix multiply on Intel AMX tiles (TDPBF16PS: a 16x32 bf16 tile times a 32x16 bf16 tile into
// 16x16 float32, ~1,000 flop per cycle per core against 64 for AVX-512 FMA) for weights packed in
// PackedWeight's BF16 panels. A panel's 16 consecutive k-pairs ([16 pairs][16 outputs][2] bf16,
// 1 KiB) are exactly one B tile, so the packing is shared with the AVX-512 kernels; panels are
// zero-padded to whole tiles (32 k).
//
// Activations are float32 and enter the tiles rounded to bf16 (llama.cpp's and vLLM's precision for
// BF16 weights); products are exact in float32 and accumulate in float32.
// Batch invariance: each output element is accumulated in its tile over k-tiles in order from zero,
// the bias added last; row blocks, panel groups, the K blocks (partial sums parked in the float32
// output and reloaded, exact), the thread split (over panels) and the batch size never change that
// order, and a tile row only ever reads its own activation row. So every batch size, including 1,
// runs this same arithmetic.
#include <cstdint>

#include "kernels/cpu/panel_out.h"

namespace pagellm::kernels::amx {

inline constexpr int64_t kTileRows = 16;  // activation rows per tile
inline constexpr int64_t kTileK = 32;     // k per tile (16 bf16 pairs)
inline constexpr int64_t kTileBytes = 1024;

// True when the CPU has AMX-TILE and AMX-BF16 and the kernel granted this process the tile state.
bool available();
// Tests only: make available() and int8_available() report false (set before kernel calls, reset
// after).
void force_disabled(bool disabled);
// available(), and the CPU has AMX-INT8 (TDPBSSD: int8 x int8 into int32; amx_int8.h).
bool int8_available();

// A tile configuration (palette 1): bytes per row and rows of each of the 8 tiles.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
// Loads cfg into the calling thread's tiles unless the configuration loaded there last had the same
// key: each kernel names its configurations by keys no other kernel uses, so it reloads only when
// another kernel configured the tiles in between.
void configure_thread(int key, const TileConfig& cfg);

// The activations in bf16, in tile order so every tile load reads 1 KiB of consecutive memory: row
// block b (16 rows), k-tile kt is the [16 rows][32 k] block at data + (b * k_tiles + kt) * 512.
// Rows past the real ones and k past K are zero.
struct Activations {
  const uint16_t* data = nullptr;
  int64_t k_tiles = 0;
  int64_t row_blocks = 0;
  int64_t rows = 0;  // real rows (m); the padding rows are computed and dropped
  const uint16_t* tile(int64_t block, int64_t kt) const { return data + (block * k_tiles + kt) * (kTileRows * kTileK); }
};

// Writes rows [r0, r1) of x ([*, k] float32) rounded to bf16 into `out`, laid out as `a` describes
// (the k tail zeroed; padding rows are not written: zero them once).
void round_rows_to_tiles(const float* x, int64_t k, int64_t r0, int64_t r1, const Activations& a, uint16_t* out);

// Panels one pass over the k-tiles streams together for `a` (3 for one row block, 2 otherwise): a
// caller that splits the panels into runs does best with runs in multiples of it, since a pass of
// fewer panels keeps fewer weight reads in flight.
int64_t panels_per_pass(const Activations& a);
inline constexpr int64_t kMaxPanelsPerPass = 3;

// outs[p] = a x panel p (+ bias) for the given panels, all rows of `a`. panels[p] points at a
// packed BF16 panel of k_tiles tiles.
void matmul_panels(const Activations& a, int64_t k_tiles, const uint8_t* const* panels, const PanelOut* outs,
                   int64_t num_panels);

}  // namespace pagellm::kernels::amx
