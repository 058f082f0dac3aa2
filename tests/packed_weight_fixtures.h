#pragma once
// Random weights in every storage dtype and random activations, for the PackedWeight tests.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "tensor/convert.h"
#include "tensor/tensor_view.h"

namespace pagellm::kernels::fixtures {

struct Weight {
  std::vector<uint8_t> bytes;
  TensorView view;
};

// Normal values [rows, cols] stored as dt; Q8_0 as llama.cpp quantizes (scale amax / 127 in f16,
// values rounded half away from zero, so -127..127).
inline Weight make_weight(DType dt, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  Weight w;
  w.view = TensorView{dt, {rows, cols}, nullptr};
  w.bytes.resize(static_cast<size_t>(w.view.nbytes()));
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> v(static_cast<size_t>(cols));
    for (float& f : v) f = nd(rng);
    uint8_t* dst = w.bytes.data() + r * w.view.row_bytes();
    for (int64_t c = 0; c < cols; ++c) {
      if (dt == DType::kF32) reinterpret_cast<float*>(dst)[c] = v[c];
      if (dt == DType::kBF16) reinterpret_cast<uint16_t*>(dst)[c] = f32_to_bf16(v[c]);
      if (dt == DType::kF16) reinterpret_cast<uint16_t*>(dst)[c] = f32_to_f16(v[c]);
    }
    if (dt == DType::kQ8_0) {
      auto* blocks = reinterpret_cast<BlockQ8_0*>(dst);
      for (int64_t b = 0; b < cols / 32; ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[b * 32 + i]));
        const float d = amax / 127.0f;
        blocks[b].scale_f16 = f32_to_f16(d);
        for (int i = 0; i < 32; ++i) blocks[b].qs[i] = static_cast<int8_t>(d == 0 ? 0 : std::lround(v[b * 32 + i] / d));
      }
    }
  }
  w.view.data = w.bytes.data();
  return w;
}

inline std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (float& f : v) f = nd(rng);
  return v;
}

struct Shape {
  int64_t m, n, k;
};

// w times m rows of x on the AVX2 kernels (forced where the CPU has AVX-512 too) or on the portable
// path; the paths are restored to the CPU's own after.
inline std::vector<float> forward_on(bool avx2, const PackedWeight& w, const std::vector<float>& x, int64_t m) {
  force_avx2_kernels(avx2);
  force_portable_kernels(!avx2);
  std::vector<float> y(static_cast<size_t>(m * w.out_features(0)), NAN);
  w.forward(x.data(), m, y.data());
  force_avx2_kernels(false);
  force_portable_kernels(false);
  return y;
}

}  // namespace pagellm::kernels::fixtures
