#pragma once
// Q8_0 weights times int8 activations on CPUs with AVX-512 VNNI (vpdpbusd: 64 byte products an
// instruction, against the AVX2 tiles' 32 in four). Same packed panels (the quad layout), same
// per-block arithmetic and so the same bits as avx2::multiply_panels' kQ8Int8 format and the
// portable path. Tile source: int8_vnni_tile.h.
#include <cstdint>

#include "kernels/cpu/avx2_matmul.h"
#include "kernels/cpu/panel_out.h"

namespace pagellm::kernels::vnni {

// AVX-512 F, BW and VNNI.
bool available();

// Rows [r0, r1) times panels[0..count) for op.format == kQ8Int8 (op.xq, op.xd set): each output
// stored with its bias into outs[i].c, as avx2::multiply_panels does.
void multiply_int8(const avx2::Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t count,
                   int64_t r0, int64_t r1);

}  // namespace pagellm::kernels::vnni
