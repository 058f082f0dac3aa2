#include "kernels/cpu/matmul.h"

#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "tensor/convert.h"

namespace pagellm::kernels {

float dot_f32(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums, combined pairwise: vectorizable without -ffast-math and
  // the same order everywhere.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  for (; i < n; ++i) acc[i % 8] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void matmul(const TensorView& w, const float* x, int64_t m, float* y, const float* bias) {
  const int64_t n_out = w.rows();
  const int64_t k = w.cols();
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.num_threads();
  pool.run(threads, [&](int thread) {
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t n = n_out * thread / threads; n < n_out * (thread + 1) / threads; ++n) {
      dequantize_row(w.dtype, w.row(n), row.data(), k);
      const float b = bias ? bias[n] : 0.0f;
      for (int64_t i = 0; i < m; ++i) y[i * n_out + n] = dot_f32(x + i * k, row.data(), k) + b;
    }
  });
}

}  // namespace pagellm::kernels
