#include "engine/model_runner.h"

namespace pagellm {

ModelRunner::ModelRunner(std::shared_ptr<const LlamaModel> model, KVCache& cache)
    : model_(std::move(model)), cache_(cache) {}

ForwardBatch ModelRunner::build_batch(const SchedulerOutput& output, int64_t block_size) {
  ForwardBatch batch;
  for (const ScheduledRequest& s : output.scheduled) {
    auto tokens = std::span(s.request->token_ids)
                      .subspan(static_cast<size_t>(s.num_computed_tokens), static_cast<size_t>(s.num_new_tokens));
    batch.add_sequence(tokens, s.num_computed_tokens, s.block_table, block_size, s.samples());
  }
  return batch;
}

std::vector<float> ModelRunner::execute(const SchedulerOutput& output) {
  for (const BlockCopy& copy : output.blocks_to_copy) cache_.copy_block(copy.src, copy.dst);
  if (output.scheduled.empty()) return {};
  return model_->forward(build_batch(output, cache_.block_size()), cache_);
}

}  // namespace pagellm
