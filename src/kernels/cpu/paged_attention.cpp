#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/thread_pool.h"
#include "tensor/convert.h"

namespace pagellm::kernels {

namespace {

float load_elem(const KVLayerView& kv, const uint8_t* p) {
  if (kv.dtype == KVDType::kFloat32) {
    float f;
    std::memcpy(&f, p, sizeof f);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return bf16_to_f32(h);
}

// KV head kv_head's key at `offset` of `block` as head_dim floats (its elements sit block_size apart).
void read_key(const KVLayerView& kv, int64_t block, int64_t offset, int64_t kv_head, float* out) {
  const uint8_t* column = kv.key_columns(block, kv_head) + offset * kv.elem_bytes();
  for (int64_t d = 0; d < kv.head_dim; ++d) out[d] = load_elem(kv, column + d * kv.block_size * kv.elem_bytes());
}

void read_value(const KVLayerView& kv, int64_t block, int64_t offset, int64_t kv_head, float* out) {
  dequantize_row(kv.dtype == KVDType::kBFloat16 ? DType::kBF16 : DType::kF32,
                 kv.value(block, offset) + kv_head * kv.head_dim * kv.elem_bytes(), out, kv.head_dim);
}

template <class T>
T to_elem(float x) {
  if constexpr (sizeof(T) == 2)
    return f32_to_bf16(x);
  else
    return x;
}

template <class T>
void write_slot(const KVLayerView& kv, int64_t block, int64_t offset, const float* k, const float* v) {
  const int64_t B = kv.block_size, hd = kv.head_dim;
  for (int64_t g = 0; g < kv.num_kv_heads; ++g) {
    T* column = reinterpret_cast<T*>(kv.key_columns(block, g)) + offset;
    for (int64_t d = 0; d < hd; ++d) column[d * B] = to_elem<T>(k[g * hd + d]);
  }
  T* row = reinterpret_cast<T*>(kv.value(block, offset));
  for (int64_t i = 0; i < kv.token_stride(); ++i) row[i] = to_elem<T>(v[i]);
}

}  // namespace

void write_kv_slot(const KVLayerView& kv, int64_t slot, const float* k, const float* v) {
  const int64_t block = slot / kv.block_size, offset = slot % kv.block_size;
  if (kv.dtype == KVDType::kBFloat16)
    write_slot<uint16_t>(kv, block, offset, k, v);
  else
    write_slot<float>(kv, block, offset, k, v);
}

void paged_attention(const AttentionShape& shape, const float* q, int64_t num_queries, int64_t context_len,
                     const int32_t* block_table, const KVLayerView& kv, float* out) {
  const int64_t hd = shape.head_dim;
  const int64_t group = shape.num_heads / shape.num_kv_heads;
  const int64_t first_pos = context_len - num_queries;
  const int64_t B = kv.block_size;
  const int64_t work = num_queries * shape.num_heads;
  // On the kernels' pool, not OpenMP: an OpenMP team's threads spin after each region and, on a
  // 2-core machine, took the cores from the pool's threads (a decode step 4x slower).
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.num_threads();
  pool.run(threads, [&](int thread) {
    std::vector<float> scores(static_cast<size_t>(context_len));
    std::vector<float> acc(static_cast<size_t>(hd));
    std::vector<float> row(static_cast<size_t>(hd));  // a key or value as float32
    for (int64_t item = work * thread / threads; item < work * (thread + 1) / threads; ++item) {
      const int64_t t = item / shape.num_heads;
      const int64_t h = item % shape.num_heads;
      const int64_t kv_head = h / group;
      const int64_t pos = first_pos + t;
      const float* qh = q + (t * shape.num_heads + h) * hd;
      float max_score = -INFINITY;
      for (int64_t j = 0; j <= pos; ++j) {
        read_key(kv, block_table[j / B], j % B, kv_head, row.data());
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
        read_value(kv, block_table[j / B], j % B, kv_head, row.data());
        for (int64_t d = 0; d < hd; ++d) acc[d] += scores[j] * row[static_cast<size_t>(d)];
      }
      float* o = out + (t * shape.num_heads + h) * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] = acc[d] / denom;
    }
  });
}

}  // namespace pagellm::kernels
