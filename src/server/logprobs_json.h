#pragma once
// Logprobs in the OpenAI shapes: the legacy completions object (tokens, token_logprobs,
// top_logprobs, text_offset), chat's content list (token, logprob, bytes, top_logprobs), and
// vLLM's prompt_logprobs. Token strings are the engine's decoded_token (vLLM's), or
// "token_id:N" with vLLM's return_tokens_as_token_ids. Logprobs below -9999 are sent as -9999
// (JSON has no -inf), as vLLM does.
#include <optional>
#include <string>
#include <vector>

#include "sampling/logprobs.h"
#include "util/json_file.h"

namespace pagellm::server {

// One token of a completions logprobs object.
struct LogprobsEntry {
  int32_t id = 0;
  const PositionLogprobs* logprobs = nullptr;  // null: none (a prompt's first token); `token` is its text
  std::string token;
  int64_t text_offset = 0;  // where the token's text starts in the choice's text (characters)
};

Json completion_logprobs_json(const std::vector<LogprobsEntry>& entries, bool tokens_as_ids);
// `top` alternatives per position (top_logprobs), by rank.
Json chat_logprobs_json(const std::vector<PositionLogprobs>& positions, int64_t top, bool tokens_as_ids);
// One position as vLLM's RequestOutput holds it: {"<id>": {logprob, rank, decoded_token}}.
Json position_logprobs_json(const PositionLogprobs& position);
// vLLM's prompt_logprobs: per prompt token null (the first) or position_logprobs_json.
Json prompt_logprobs_json(const std::vector<std::optional<PositionLogprobs>>& positions);

}  // namespace pagellm::server
