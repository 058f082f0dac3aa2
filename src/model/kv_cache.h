#pragma once
// The paged KV cache's storage: one allocation per layer (float32 or bfloat16 elements), laid out
// as kernels::KVLayerView describes. Which block belongs to whom is the engine's business.
#include <cstdint>
#include <vector>

#include "kernels/cpu/kv_layout.h"
#include "model/model_config.h"
#include "tensor/aligned_buffer.h"

namespace pagellm {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int64_t num_blocks, int64_t block_size = 16,
          kernels::KVDType dtype = kernels::KVDType::kFloat32);

  // Bytes one block takes across all layers (K and V).
  static int64_t bytes_per_block(const ModelConfig& config, int64_t block_size,
                                 kernels::KVDType dtype = kernels::KVDType::kFloat32);

  kernels::KVLayerView layer(int64_t index) const;
  // Copies block src's K and V into block dst in every layer (copy-on-write).
  void copy_block(int32_t src, int32_t dst);
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t num_slots() const { return num_blocks_ * block_size_; }
  kernels::KVDType dtype() const { return dtype_; }

 private:
  int64_t num_blocks_;
  int64_t block_size_;
  int64_t num_kv_heads_;
  int64_t head_dim_;
  kernels::KVDType dtype_;
  std::vector<AlignedBuffer> layers_;
};

}  // namespace pagellm
