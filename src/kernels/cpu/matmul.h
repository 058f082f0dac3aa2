#pragma once
// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]) for weights stored as rows of any dtype.
// The reference path: each weight row is converted to float32 once and dotted with every
// activation row, accumulating in float32 in a fixed order, so a row's result never depends
// on how many other rows share the batch (batch invariance).
#include <cstdint>

#include "tensor/tensor_view.h"

namespace pagellm::kernels {

// x: [m, w.cols()] float32 row-major; y: [m, w.rows()]; bias: nullptr or w.rows() floats.
void matmul(const TensorView& w, const float* x, int64_t m, float* y, const float* bias = nullptr);

// Dot product in the fixed summation order every kernel path must reproduce.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace pagellm::kernels
