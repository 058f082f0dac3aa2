#include "model/forward_batch.h"

#include "util/error.h"

namespace pagellm {

void ForwardBatch::add_sequence(std::span<const int32_t> tokens, int64_t num_cached, std::vector<int32_t> block_table,
                                int64_t block_size, bool want_logits) {
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t context_len = num_cached + n;
  if (static_cast<int64_t>(block_table.size()) * block_size < context_len)
    fail(ErrorCode::kInternal, "block table of {} blocks cannot hold {} tokens", block_table.size(), context_len);
  BatchSequence seq{num_tokens(), n, context_len, std::move(block_table)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = num_cached + i;
    token_ids.push_back(tokens[static_cast<size_t>(i)]);
    positions.push_back(static_cast<int32_t>(pos));
    slot_mapping.push_back(static_cast<int64_t>(seq.block_table[static_cast<size_t>(pos / block_size)]) * block_size +
                           pos % block_size);
  }
  if (want_logits && n > 0) logits_indices.push_back(seq.query_start + n - 1);
  sequences.push_back(std::move(seq));
}

}  // namespace pagellm
