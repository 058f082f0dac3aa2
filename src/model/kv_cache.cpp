#include "model/kv_cache.h"

#include <cstring>

#include "util/error.h"

namespace pagellm {

KVCache::KVCache(const ModelConfig& config, int64_t num_blocks, int64_t block_size, kernels::KVDType dtype)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      num_kv_heads_(config.num_kv_heads),
      head_dim_(config.head_dim),
      dtype_(dtype) {
  if (num_blocks <= 0 || block_size <= 0)
    fail(ErrorCode::kInvalidArgument, "KV cache needs a positive number of blocks and block size (got {} x {})",
         num_blocks, block_size);
  const auto layer_bytes =
      static_cast<size_t>(bytes_per_block(config, block_size, dtype) / config.num_layers * num_blocks);
  layers_.reserve(static_cast<size_t>(config.num_layers));
  for (int64_t l = 0; l < config.num_layers; ++l) layers_.emplace_back(layer_bytes);
}

int64_t KVCache::bytes_per_block(const ModelConfig& config, int64_t block_size, kernels::KVDType dtype) {
  return config.num_layers * 2 * block_size * config.num_kv_heads * config.head_dim * kernels::kv_elem_bytes(dtype);
}

kernels::KVLayerView KVCache::layer(int64_t index) const {
  auto& buffer = const_cast<AlignedBuffer&>(layers_[static_cast<size_t>(index)]);
  return {buffer.data(), num_blocks_, block_size_, num_kv_heads_, head_dim_, dtype_};
}

}  // namespace pagellm

namespace pagellm {

void KVCache::copy_block(int32_t src, int32_t dst) {
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    const kernels::KVLayerView kv = layer(l);
    std::memcpy(kv.block_keys(dst), kv.block_keys(src), static_cast<size_t>(2 * kv.half_block_bytes()));
  }
}

}  // namespace pagellm
