#pragma once
// A non-owning view of a weight tensor: row-major, shape outermost first (HF order), so a
// matrix [out, in] has `out` rows of `in` elements. The bytes live in an mmap or a buffer
// owned elsewhere (WeightStore keeps them alive).
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace pagellm {

struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;

  int64_t numel() const;
  int64_t rows() const;       // product of all but the last dimension (1 for a vector)
  int64_t cols() const;       // last dimension
  int64_t row_bytes() const;  // bytes of one row
  int64_t nbytes() const;
  const uint8_t* row(int64_t i) const { return data + i * row_bytes(); }
  std::string shape_string() const;  // "[4096, 512]"
};

}  // namespace pagellm
