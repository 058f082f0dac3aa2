#pragma once
// One layer of the paged KV cache: [num_blocks, 2 (K, V), block_size, num_kv_heads, head_dim]
// elements of `dtype` (float32, or bfloat16 as vLLM keeps a BF16 model's cache: half the bytes a
// decode step reads and half the memory a token takes). A token's slot is block * block_size +
// offset; the block comes from the block table.
#include <cstdint>

namespace pagellm::kernels {

enum class KVDType { kFloat32, kBFloat16 };

inline int64_t kv_elem_bytes(KVDType dtype) { return dtype == KVDType::kBFloat16 ? 2 : 4; }

struct KVLayerView {
  uint8_t* data = nullptr;
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  KVDType dtype = KVDType::kFloat32;

  int64_t token_stride() const { return num_kv_heads * head_dim; }  // elements
  int64_t elem_bytes() const { return kv_elem_bytes(dtype); }
  // Where the token at `offset` of `block` keeps its K (V): token_stride() elements.
  uint8_t* key(int64_t block, int64_t offset) const {
    return data + ((block * 2) * block_size + offset) * token_stride() * elem_bytes();
  }
  uint8_t* value(int64_t block, int64_t offset) const {
    return data + ((block * 2 + 1) * block_size + offset) * token_stride() * elem_bytes();
  }
};

}  // namespace pagellm::kernels
