#include "engine/model_runner.h"

namespace pagellm {

ModelRunner::ModelRunner(std::shared_ptr<const LlamaModel> model, KVCache& cache)
    : model_(std::move(model)), cache_(cache) {}

ForwardBatch ModelRunner::build_batch(const SchedulerOutput& output, int64_t block_size,
                                      std::vector<LogitsRows>* rows) {
  ForwardBatch batch;
  for (const ScheduledRequest& s : output.scheduled) {
    const Request& r = *s.request;
    auto tokens = std::span(r.token_ids)
                      .subspan(static_cast<size_t>(s.num_computed_tokens), static_cast<size_t>(s.num_new_tokens));
    const int64_t query_start = batch.num_tokens();
    batch.add_sequence(tokens, s.num_computed_tokens, s.block_table, block_size, false);
    LogitsRows lr;
    if (r.params.prompt_logprobs) {
      // Positions p < num_prompt_tokens - 1 computed this step predict prompt token p + 1.
      const int64_t end = std::min(s.num_computed_tokens + s.num_new_tokens, r.num_prompt_tokens - 1);
      lr.first_prompt_row = static_cast<int64_t>(batch.logits_indices.size());
      lr.first_prompt_position = s.num_computed_tokens;
      for (int64_t p = s.num_computed_tokens; p < end; ++p)
        batch.logits_indices.push_back(query_start + p - s.num_computed_tokens);
      lr.num_prompt_rows = static_cast<int64_t>(batch.logits_indices.size()) - lr.first_prompt_row;
    }
    if (s.samples() && s.num_new_tokens > 0) {
      lr.sample_row = static_cast<int64_t>(batch.logits_indices.size());
      batch.logits_indices.push_back(query_start + s.num_new_tokens - 1);
    }
    if (rows) rows->push_back(lr);
  }
  return batch;
}

RunnerOutput ModelRunner::execute(const SchedulerOutput& output) {
  for (const BlockCopy& copy : output.blocks_to_copy) cache_.copy_block(copy.src, copy.dst);
  RunnerOutput out;
  if (output.scheduled.empty()) return out;
  const ForwardBatch batch = build_batch(output, cache_.block_size(), &out.rows);
  out.logits = model_->forward(batch, cache_);
  return out;
}

}  // namespace pagellm
