#pragma once
// What one forward pass runs: the new tokens of several sequences flattened into one batch,
// with each token's position and KV slot, each sequence's block table and context length, and
// the flattened rows whose logits are wanted. Plain data, built by the engine's ModelRunner.
#include <cstdint>
#include <span>
#include <vector>

namespace pagellm {

struct BatchSequence {
  int64_t query_start = 0;  // first row of this sequence in the flattened batch
  int64_t num_queries = 0;  // new tokens this step
  int64_t context_len = 0;  // cached + new tokens: the new ones sit at the end
  std::vector<int32_t> block_table;
};

struct ForwardBatch {
  std::vector<int32_t> token_ids;
  std::vector<int32_t> positions;
  std::vector<int64_t> slot_mapping;
  std::vector<BatchSequence> sequences;
  std::vector<int64_t> logits_indices;

  // Appends `tokens` of a sequence that already has `num_cached` tokens in its blocks; the
  // block table must cover num_cached + tokens.size() positions. With want_logits, the last
  // new token's row is added to logits_indices.
  void add_sequence(std::span<const int32_t> tokens, int64_t num_cached, std::vector<int32_t> block_table,
                    int64_t block_size, bool want_logits = true);
  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace pagellm
