#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "tensor/convert.h"

namespace pagellm::kernels {

namespace {

// The K or V row at `row` (an address from KVLayerView::key / value) as `n` floats.
void read_row(const KVLayerView& kv, const uint8_t* row, int64_t n, float* out) {
  dequantize_row(kv.dtype == KVDType::kBFloat16 ? DType::kBF16 : DType::kF32, row, out, n);
}

void store_row(const KVLayerView& kv, const float* src, uint8_t* dst) {
  const int64_t n = kv.token_stride();
  if (kv.dtype == KVDType::kFloat32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_bf16(src[i]);
    std::memcpy(dst + i * 2, &h, 2);
  }
}

}  // namespace

void write_kv_slot(const KVLayerView& kv, int64_t slot, const float* k, const float* v) {
  const int64_t block = slot / kv.block_size;
  const int64_t offset = slot % kv.block_size;
  store_row(kv, k, kv.key(block, offset));
  store_row(kv, v, kv.value(block, offset));
}

void paged_attention(const AttentionShape& shape, const float* q, int64_t num_queries, int64_t context_len,
                     const int32_t* block_table, const KVLayerView& kv, float* out) {
  const int64_t hd = shape.head_dim;
  const int64_t group = shape.num_heads / shape.num_kv_heads;
  const int64_t first_pos = context_len - num_queries;
  const int64_t B = kv.block_size;
  const int64_t work = num_queries * shape.num_heads;
#pragma omp parallel
  {
    std::vector<float> scores(static_cast<size_t>(context_len));
    std::vector<float> acc(static_cast<size_t>(hd));
    std::vector<float> row(static_cast<size_t>(hd));  // a key or value as float32
#pragma omp for schedule(static)
    for (int64_t item = 0; item < work; ++item) {
      const int64_t t = item / shape.num_heads;
      const int64_t h = item % shape.num_heads;
      const int64_t kv_head = h / group;
      const int64_t pos = first_pos + t;
      const float* qh = q + (t * shape.num_heads + h) * hd;
      float max_score = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        const uint8_t* k = kv.key(block_table[j / B], j % B) + kv_head * hd * kv.elem_bytes();
        read_row(kv, k, hd, row.data());
        scores[j] = dot_f32(qh, row.data(), hd) * shape.scale;
        max_score = std::max(max_score, scores[j]);
      }
      float denom = 0.0f;
      for (int64_t j = 0; j <= pos; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        denom += scores[j];
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j <= pos; ++j) {
        const uint8_t* v = kv.value(block_table[j / B], j % B) + kv_head * hd * kv.elem_bytes();
        read_row(kv, v, hd, row.data());
        for (int64_t d = 0; d < hd; ++d) acc[d] += scores[j] * row[static_cast<size_t>(d)];
      }
      float* o = out + (t * shape.num_heads + h) * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] = acc[d] / denom;
    }
  }
}

}  // namespace pagellm::kernels
