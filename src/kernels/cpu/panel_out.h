#pragma once
// Where one packed panel's 16 output columns go; shared by the AVX-512 and AMX matmul kernels.
#include <cstdint>

namespace pagellm::kernels {

struct PanelOut {
  float* c = nullptr;  // this panel's column 0 in output row 0
  int64_t ldc = 0;
  int valid = 0;  // columns of the panel that exist in the output
  const float* bias = nullptr;
  // Gate panel of a SiLU-gated weight (Epilogue::kSiluMul), whose next panel is the matching up
  // panel: in the last K block the pair is stored here, once, as silu(gate) * up (c and c of the
  // up panel then only park partial sums between K blocks).
  float* gated = nullptr;
  int64_t ld_gated = 0;
  // Or, for a next projection that reads bf16, silu(gate) * up rounded to bf16 (ld_gated elements
  // a row), as that projection would round it (round_to_bf16_pairs).
  uint16_t* gated_bf16 = nullptr;
};

}  // namespace pagellm::kernels
