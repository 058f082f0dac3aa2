#pragma once
// Generates one sequence with the model directly: prefill, then one token per step through a
// private KV cache. The foundation's path for `pagellm generate`; the engine core (Scheduler,
// KVCacheManager) replaces it for batches.
#include <functional>
#include <string>
#include <vector>

#include "engine/model_bundle.h"
#include "sampling/sampling_params.h"

namespace pagellm {

struct GenerationResult {
  std::vector<int32_t> token_ids;
  std::string finish_reason;  // "stop" or "length"
};

GenerationResult generate_single_sequence(const ModelBundle& bundle, const std::vector<int32_t>& prompt_ids,
                                          const SamplingParams& params, const std::function<void(int32_t)>& on_token);

}  // namespace pagellm
