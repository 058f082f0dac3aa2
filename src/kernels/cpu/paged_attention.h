#pragma once
// Causal attention for the new tokens of one sequence, reading every key and value through the
// sequence's block table (position pos lives in block table[pos / B] at offset pos % B).
#include <cstdint>

#include "kernels/cpu/kv_layout.h"

namespace pagellm::kernels {

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
};

// q: [num_queries, num_heads, head_dim], the last `num_queries` positions of a sequence whose
// total length (cached + new) is context_len; their K/V must already be in the cache.
// out: [num_queries, num_heads, head_dim].
void paged_attention(const AttentionShape& shape, const float* q, int64_t num_queries, int64_t context_len,
                     const int32_t* block_table, const KVLayerView& kv, float* out);

// Writes one token's K and V ([num_kv_heads, head_dim] each) into its slot.
void write_kv_slot(const KVLayerView& kv, int64_t slot, const float* k, const float* v);

}  // namespace pagellm::kernels
