#include "tensor/tensor_view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace pagellm {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorView::cols() const { return shape.empty() ? 1 : shape.back(); }
int64_t TensorView::rows() const { return cols() == 0 ? 0 : numel() / cols(); }
int64_t TensorView::row_bytes() const { return dtype_row_bytes(dtype, cols()); }
int64_t TensorView::nbytes() const { return rows() * row_bytes(); }

std::string TensorView::shape_string() const { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace pagellm
