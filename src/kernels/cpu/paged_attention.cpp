#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul.h"

namespace pagellm::kernels {

void write_kv_slot(const KVLayerView& kv, int64_t slot, const float* k, const float* v) {
  const int64_t block = slot / kv.block_size;
  const int64_t offset = slot % kv.block_size;
  const auto bytes = static_cast<size_t>(kv.token_stride()) * sizeof(float);
  std::memcpy(kv.key(block, offset), k, bytes);
  std::memcpy(kv.value(block, offset), v, bytes);
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
#pragma omp for schedule(static)
    for (int64_t item = 0; item < work; ++item) {
      const int64_t t = item / shape.num_heads;
      const int64_t h = item % shape.num_heads;
      const int64_t kv_head = h / group;
      const int64_t pos = first_pos + t;
      const float* qh = q + (t * shape.num_heads + h) * hd;
      float max_score = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        const float* k = kv.key(block_table[j / B], j % B) + kv_head * hd;
        scores[j] = dot_f32(qh, k, hd) * shape.scale;
        max_score = std::max(max_score, scores[j]);
      }
      float denom = 0.0f;
      for (int64_t j = 0; j <= pos; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        denom += scores[j];
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j <= pos; ++j) {
        const float* v = kv.value(block_table[j / B], j % B) + kv_head * hd;
        for (int64_t d = 0; d < hd; ++d) acc[d] += scores[j] * v[d];
      }
      float* o = out + (t * shape.num_heads + h) * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] = acc[d] / denom;
    }
  }
}

}  // namespace pagellm::kernels
