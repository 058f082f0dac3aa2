#pragma once
// One layer of the paged KV cache, `num_blocks` blocks of elements of `dtype` (float32, or bfloat16
// as vLLM keeps a BF16 model's cache: half the bytes a decode step reads and half the memory a
// token takes). A block holds its K, then its V:
//   K [num_kv_heads][head_dim][block_size]  a head's element d of the block's keys side by side, so
//                                           the attention kernel scores 16 keys with one load per
//                                           element instead of transposing each tile of keys (as
//                                           vLLM's CPU and CUDA caches keep K split by element);
//   V [block_size][num_kv_heads][head_dim]  a token's values as one row, the way they are summed.
// A token's slot is block * block_size + offset; the block comes from the block table.
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

  int64_t token_stride() const { return num_kv_heads * head_dim; }  // elements of a V row
  int64_t elem_bytes() const { return kv_elem_bytes(dtype); }
  // Bytes of a block's K (and of its V).
  int64_t half_block_bytes() const { return block_size * token_stride() * elem_bytes(); }
  uint8_t* block_keys(int64_t block) const { return data + block * 2 * half_block_bytes(); }
  uint8_t* block_values(int64_t block) const { return block_keys(block) + half_block_bytes(); }
  // KV head `kv_head`'s keys of `block`: [head_dim][block_size] elements.
  uint8_t* key_columns(int64_t block, int64_t kv_head) const {
    return block_keys(block) + kv_head * head_dim * block_size * elem_bytes();
  }
  // The values of the token at `offset` of `block`: token_stride() elements.
  uint8_t* value(int64_t block, int64_t offset) const {
    return block_values(block) + offset * token_stride() * elem_bytes();
  }
};

}  // namespace pagellm::kernels
