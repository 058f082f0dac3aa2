#pragma once
// One layer of the paged KV cache: [num_blocks, 2 (K, V), block_size, num_kv_heads, head_dim]
// float32. A token's slot is block * block_size + offset; the block comes from the block table.
#include <cstdint>

namespace pagellm::kernels {

struct KVLayerView {
  float* data = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;

  int64_t token_stride() const { return num_kv_heads * head_dim; }
  float* key(int64_t block, int64_t offset) const {
    return data + ((block * 2) * block_size + offset) * token_stride();
  }
  float* value(int64_t block, int64_t offset) const {
    return data + ((block * 2 + 1) * block_size + offset) * token_stride();
  }
};

}  // namespace pagellm::kernels
