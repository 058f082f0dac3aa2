#pragma once
// Logprobs in the two OpenAI shapes: the legacy completions object (tokens, token_logprobs,
// top_logprobs, text_offset) and chat's content list (token, logprob, bytes, top_logprobs).
#include <vector>

#include "sampling/logprobs.h"
#include "util/json_file.h"

namespace pagellm::server {

// `offset` is where the first token's text starts in the choice's text (characters).
Json completion_logprobs_json(const std::vector<PositionLogprobs>& positions, int64_t offset);
// `top` alternatives per position (top_logprobs), by rank.
Json chat_logprobs_json(const std::vector<PositionLogprobs>& positions, int64_t top);

}  // namespace pagellm::server
