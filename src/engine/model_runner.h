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

// Where each scheduled request's logits rows are in the runner's result.
struct LogitsRows {
  int64_t first_prompt_row = 0;       // rows for prompt_logprobs: the row of position p
  int64_t num_prompt_rows = 0;        // predicts prompt token p + 1
  int64_t first_prompt_position = 0;  // p of the first of those rows
  int64_t sample_row = -1;            // the row to sample from, -1 if none this step
};

struct RunnerOutput {
  std::vector<float> logits;     // [rows, vocab]
  std::vector<LogitsRows> rows;  // one per scheduled request, in order
};

class ModelRunner {
 public:
  ModelRunner(std::shared_ptr<const LlamaModel> model, KVCache& cache);

  // Requests asking for prompt_logprobs also get a row per prompt position they compute.
  RunnerOutput execute(const SchedulerOutput& output);
  static ForwardBatch build_batch(const SchedulerOutput& output, int64_t block_size,
                                  std::vector<LogitsRows>* rows = nullptr);

 private:
  std::shared_ptr<const LlamaModel> model_;
  KVCache& cache_;
};

}  // namespace pagellm
