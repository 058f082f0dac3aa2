#pragma once
// Q8_0 weights times int8 activations on Intel AMX tiles (TDPBSSD: a 16x32 int8 tile times a 32x16
// int8 tile into 16x16 int32 in one instruction, against 64 products a vpdpbusd). The quad layout
// int8 compute packs a weight in (q8_quad_layout.h) holds, per panel and block of 32 k, exactly one
// B tile (8 rows of 16 columns x 4 consecutive k) after the block's 16 scales, so the VNNI tiles'
// panels serve unchanged, and the quantized activation rows ([m][k] int8) are A tiles as they lie.
//
// One tile product covers one block of 32, as a Q8_0 scale does; its int32 sums are exact, so they
// equal the VNNI tiles' and the portable path's, and each block adds float(sum) * (d_w * d_x) to
// float32 accumulators in the same order: the outputs are the VNNI tiles' bits for every row,
// whichever batch and path a row is computed in (PackedWeight's batch invariance).
#include <cstdint>

#include "kernels/cpu/avx2_matmul.h"
#include "kernels/cpu/panel_out.h"

namespace pagellm::kernels::amx {

// The rows' block scales (xd: [m][blocks]) in the order the tiles read them, one line for a block
// of 16 rows: out[((r / 16) * blocks + b) * 16 + r % 16] (out: ceil(m / 16) * blocks * 16 floats).
void scales_to_tiles(const float* xd, int64_t m, int64_t blocks, float* out);

// Rows [r0, r1) (r0 a multiple of 16) times panels[0..count) for op.format == kQ8Int8 (op.xq and
// op.xd_tiles set), as vnni::multiply_int8 does. Reads whole 16-row tiles of op.xq: when r1 - r0 > 16, the rows up to
// the next multiple of 16 past r1 must be readable (their products are dropped). A SiLU-gated pair (outs[i].gated set
// on the gate panel; PackedWeight's Epilogue::kSiluMul) is stored once, as silu(gate) * up, to outs[i].gated, the
// gate's sums parked in outs[i].c: its up panel must follow it in the same call. Needs int8_available().
void multiply_int8(const avx2::Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t count,
                   int64_t r0, int64_t r1);

}  // namespace pagellm::kernels::amx
