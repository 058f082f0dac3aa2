#pragma once
// PackedWeight's kernels for CPUs with AVX2, FMA and F16C but no AVX-512 BF16 (most x86-64 CPUs
// since 2013-2015, Zen 1-3 among them). They read the same packed panels as the AVX-512 kernels
// (packed_matmul.h) 8 columns at a time and keep the per-element chain PackedWeight documents, so
// every output is bit for bit what the portable scalar path gives, for any batch.
#include <cstdint>

#include "kernels/cpu/panel_out.h"

namespace pagellm::kernels::avx2 {

// AVX2, FMA and F16C.
bool available();

enum class Format {
  kF32,      // [K/2][2][16] f32
  kBF16,     // [K/2][16][2] bf16, widened to f32 (exact precision)
  kF16,      // [K/2][2][16] f16
  kQ8_0,     // [K/32][16 f32 scales, 32 x 16 int8]
  kBF16Dot,  // the bf16 layout times activations rounded to bf16, a k-pair's two products summed first
  kQ8Int8,   // [K/32][16 f32 scales, 8 x 16 x 4 int8] times int8-quantized activations (xq, xd)
};

struct Operands {
  Format format = Format::kF32;
  int64_t k = 0;
  const float* x = nullptr;  // float rows (every format but kBF16Dot), ldx floats apart
  int64_t ldx = 0;
  const uint32_t* xb = nullptr;  // bf16 pairs (kBF16Dot), ldxb pairs apart
  int64_t ldxb = 0;
  const int8_t* xq = nullptr;       // kQ8Int8: quantized rows, k values apart
  const float* xd = nullptr;        // and their block scales, k / 32 apart
  const float* xd_tiles = nullptr;  // or, for the AMX int8 tiles, those in amx::scales_to_tiles's order
};

// Rows [r0, r1) times panels[0..count): each output stored with its bias into outs[i].c (the
// gated epilogue is not fused here: a gated weight passes its parking as c). Each panel is read
// from memory once: up to 4 rows run as one tile over 4 panels at a time; for more rows a panel
// is widened to float32 once (bf16, f16, q8_0) and tiles of 4 rows run over it from L2. kQ8Int8:
// tiles of up to 4 rows over one panel, the first streaming it, the rest reading it from L2.
void multiply_panels(const Operands& op, const uint8_t* const* panels, const PanelOut* outs, int64_t count, int64_t r0,
                     int64_t r1);

}  // namespace pagellm::kernels::avx2
