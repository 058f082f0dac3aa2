#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "tensor/convert.h"

namespace pagellm::kernels {
namespace {

TensorView make_view(DType dt, std::vector<uint8_t>& bytes, const std::vector<float>& values, int64_t rows,
                     int64_t cols) {
  TensorView v{dt, {rows, cols}, nullptr};
  bytes.resize(static_cast<size_t>(v.nbytes()));
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (dt == DType::kF32) reinterpret_cast<float*>(bytes.data())[i] = values[i];
    if (dt == DType::kBF16) reinterpret_cast<uint16_t*>(bytes.data())[i] = f32_to_bf16(values[i]);
    if (dt == DType::kF16) reinterpret_cast<uint16_t*>(bytes.data())[i] = f32_to_f16(values[i]);
  }
  v.data = bytes.data();
  return v;
}

TEST(Matmul, MatchesDoubleReferenceForEachDtype) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (auto [m, n, k] : {std::tuple{1, 7, 13}, {5, 33, 64}, {17, 3, 129}}) {
      std::vector<float> w(size_t(n * k)), x(size_t(m * k)), bias(static_cast<size_t>(n));
      for (float& f : w) f = nd(rng);
      for (float& f : x) f = nd(rng);
      for (float& f : bias) f = nd(rng);
      std::vector<uint8_t> bytes;
      TensorView view = make_view(dt, bytes, w, n, k);
      std::vector<float> y(size_t(m * n));
      matmul(view, x.data(), m, y.data(), bias.data());
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          std::vector<float> row(static_cast<size_t>(k));
          dequantize_row(dt, view.row(j), row.data(), k);
          double want = bias[j];
          for (int64_t e = 0; e < k; ++e) want += double(x[i * k + e]) * row[e];
          ASSERT_NEAR(y[i * n + j], want, 1e-4 * k) << dtype_name(dt);
        }
    }
  }
}

TEST(Matmul, RowResultDoesNotDependOnBatch) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  const int64_t n = 29, k = 77;
  std::vector<float> w(size_t(n * k)), x(size_t(40 * k));
  for (float& f : w) f = nd(rng);
  for (float& f : x) f = nd(rng);
  std::vector<uint8_t> bytes;
  TensorView view = make_view(DType::kBF16, bytes, w, n, k);
  std::vector<float> all(size_t(40 * n)), one(static_cast<size_t>(n));
  matmul(view, x.data(), 40, all.data());
  for (int64_t i = 0; i < 40; ++i) {
    matmul(view, x.data() + i * k, 1, one.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_EQ(one[j], all[i * n + j]);  // bit-exact
  }
}

}  // namespace
}  // namespace pagellm::kernels
