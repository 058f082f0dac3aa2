#pragma once
// The engine tests' independent reference: one sequence generated with the model directly
// (prefill, then one token per step through a private contiguous KV cache), no scheduler, no
// block manager. Batched engine output must equal this.
#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/model_bundle.h"
#include "model/kv_cache_dtype.h"
#include "sampling/sampler.h"
#include "sampling/sampling_params.h"
#include "util/error.h"

namespace pagellm {

struct GenerationResult {
  std::vector<int32_t> token_ids;
  std::string finish_reason;  // "stop" or "length"
};

inline GenerationResult generate_single_sequence(const ModelBundle& bundle, const std::vector<int32_t>& prompt_ids,
                                                 const SamplingParams& params,
                                                 const std::function<void(int32_t)>& on_token) {
  const ModelConfig& config = bundle.config();
  const auto prompt_len = static_cast<int64_t>(prompt_ids.size());
  if (prompt_len == 0) fail(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
  if (prompt_len >= config.max_position_embeddings)
    fail(ErrorCode::kInvalidArgument, "the prompt has {} tokens; this model's maximum context length is {} tokens",
         prompt_len, config.max_position_embeddings);
  // (max_tokens may be "unlimited", INT64_MAX: no overflow)
  const int64_t max_len = params.max_tokens >= config.max_position_embeddings - prompt_len
                              ? config.max_position_embeddings
                              : prompt_len + params.max_tokens;
  constexpr int64_t kBlockSize = 16;
  const int64_t num_blocks = (max_len + kBlockSize - 1) / kBlockSize;
  // The cache's element type the engine picks by default (--kv-cache-dtype auto).
  KVCache cache(config, num_blocks, kBlockSize, resolve_kv_dtype(KVCacheDType::kAuto, bundle.model->precision()));
  std::vector<int32_t> block_table(static_cast<size_t>(num_blocks));
  std::iota(block_table.begin(), block_table.end(), 0);

  std::mt19937_64 rng(params.seed ? *params.seed : std::random_device{}());
  std::vector<int32_t> eos = bundle.eos_token_ids();
  GenerationResult result{{}, "length"};
  ForwardBatch batch;
  batch.add_sequence(prompt_ids, 0, block_table, kBlockSize);
  int64_t context = prompt_len;
  while (true) {
    std::vector<float> logits = bundle.model->forward(batch, cache);
    const int32_t token = sample_token(logits, params, {prompt_ids, result.token_ids, eos}, rng);
    result.token_ids.push_back(token);
    const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end() && !params.ignore_eos;
    const bool is_stop_id =
        std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), token) != params.stop_token_ids.end();
    if (!is_eos) on_token(token);  // the EOS token itself is not part of the text
    if (is_eos || is_stop_id) {
      result.finish_reason = "stop";
      break;
    }
    if (static_cast<int64_t>(result.token_ids.size()) >= params.max_tokens || context + 1 > max_len) break;
    batch = ForwardBatch{};
    const std::vector<int32_t> next{token};
    batch.add_sequence(next, context, block_table, kBlockSize);
    ++context;
  }
  return result;
}

}  // namespace pagellm
