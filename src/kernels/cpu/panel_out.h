#pragma once
// Where one packed panel's 16 output columns go; shared by the AVX-512 and AMX matmul kernels.
#include <cstdint>

namespace pagellm::kernels {

struct PanelOut {
  float* c = nullptr;  // this panel's column 0 in output row 0
  int64_t ldc = 0;
  int valid = 0;  // columns of the panel that exist in the output
  const float* bias = nullptr;
};

}  // namespace pagellm::kernels
