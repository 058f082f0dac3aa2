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

// One sequence of a batch for paged_attention_batch: its rows in q/out, its cache, its table.
struct AttentionSequence {
  int64_t query_start = 0;  // first row of q/out
  int64_t num_queries = 0;  // the last num_queries positions of the context
  int64_t context_len = 0;
  const int32_t* block_table = nullptr;
};

// The fast path for a whole batch (AVX-512; otherwise the reference above per sequence).
// Work items are (sequence, block of up to 16 query tokens, KV head). Keys are scored 16 at a time
// straight from the cache's K layout (element d of 16 keys is one load; see kv_layout.h), so a
// state's 16 scores are one FMA chain over head_dim, each key row shared by all the heads of the
// group and all tokens of the block. When a block has fewer than 8 (token, head) states (decode:
// one token's heads of one KV head), up to 4 key tiles are scored per pass so enough FMA chains are
// in flight; each chain is still one state's scores for one tile over head_dim in order, so the
// pass width never changes a bit. Per (token, head) the keys are taken in tiles of 16 positions
// [16c, 16c + 16) in order: scores, an online softmax (running max, float32 sums), then p_j v_j key
// by key; so the result depends only on the token's position and the cache contents, never on the
// batch, the chunking, the query block or the thread split.
// q, out: [rows, num_heads, head_dim].
void paged_attention_batch(const AttentionShape& shape, const float* q, const AttentionSequence* seqs, int64_t num_seqs,
                           const KVLayerView& kv, float* out);

// Writes one token's K and V ([num_kv_heads, head_dim] each) into its slot.
void write_kv_slot(const KVLayerView& kv, int64_t slot, const float* k, const float* v);

}  // namespace pagellm::kernels
