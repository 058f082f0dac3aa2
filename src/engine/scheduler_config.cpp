#include "engine/scheduler_config.h"

#include "util/error.h"

namespace pagellm {

void SchedulerConfig::validate(int64_t cache_tokens) const {
  if (max_num_batched_tokens < 1)
    fail(ErrorCode::kInvalidArgument, "--max-num-batched-tokens must be at least 1, got {}", max_num_batched_tokens);
  if (max_num_seqs < 1) fail(ErrorCode::kInvalidArgument, "--max-num-seqs must be at least 1, got {}", max_num_seqs);
  if (max_model_len < 1) fail(ErrorCode::kInvalidArgument, "--max-model-len must be at least 1, got {}", max_model_len);
  if (!enable_chunked_prefill && max_num_batched_tokens < max_model_len)
    fail(ErrorCode::kInvalidArgument,
         "--max-num-batched-tokens ({}) is smaller than --max-model-len ({}): without chunked prefill a long "
         "prompt could never be scheduled; raise it, lower --max-model-len or enable chunked prefill",
         max_num_batched_tokens, max_model_len);
  if (cache_tokens < max_model_len)
    fail(ErrorCode::kInvalidArgument,
         "the KV cache holds {} tokens, fewer than --max-model-len ({}): one full-length request could never run; "
         "raise --kv-cache-memory or lower --max-model-len",
         cache_tokens, max_model_len);
}

}  // namespace pagellm
