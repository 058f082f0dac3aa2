#pragma once
// Turns a SchedulerOutput into one forward pass: flattens every scheduled request's new tokens
// (prefill chunks and decode tokens alike) with positions, slots and block tables, performs the
// copy-on-write block copies first, and returns logits only for requests that sample this step.
#include <memory>
#include <vector>

#include "engine/scheduler_output.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"

namespace pagellm {

class ModelRunner {
 public:
  ModelRunner(std::shared_ptr<const LlamaModel> model, KVCache& cache);

  // Row i of the result belongs to the i-th scheduled request whose samples() is true.
  std::vector<float> execute(const SchedulerOutput& output);
  static ForwardBatch build_batch(const SchedulerOutput& output, int64_t block_size);

 private:
  std::shared_ptr<const LlamaModel> model_;
  KVCache& cache_;
};

}  // namespace pagellm
