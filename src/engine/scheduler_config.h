#pragma once
#include <cstdint>

namespace pagellm {

enum class SchedulingPolicy { kFcfs, kPriority };

struct SchedulerConfig {
  int64_t max_num_batched_tokens = 2048;  // token budget of one step
  int64_t max_num_seqs = 128;             // sequences running at once (n, best_of, beams count)
  int64_t max_model_len = 0;              // prompt + output tokens of one request
  bool enable_chunked_prefill = true;
  SchedulingPolicy policy = SchedulingPolicy::kFcfs;
  // The budget is the command's default rather than the user's: without chunked prefill it is then
  // raised to max_model_len (as vLLM does) instead of refusing to start.
  bool batched_tokens_from_default = false;

  // Throws Error(kInvalidArgument) naming the flag; `cache_tokens` is what the KV cache holds.
  void validate(int64_t cache_tokens) const;
};

}  // namespace pagellm
