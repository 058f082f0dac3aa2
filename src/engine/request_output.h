#pragma once
// What one engine step says about one sequence of a request: the tokens and text new since the
// last output (streams forward these deltas), their logprobs when asked, and, once the sequence
// is finished, why. `finished` is set on the last output of the whole request (all its n /
// best_of sequences); a sequence's own end shows as a non-empty finish_reason.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sampling/logprobs.h"

namespace pagellm {

// vLLM's stop_reason: none (EOS, length, abort), the stop token id, or the matched stop string.
using StopReason = std::variant<std::monostate, int64_t, std::string>;

struct RequestOutput {
  std::string request_id;
  std::vector<int32_t> new_token_ids;
  std::string new_text;
  bool finished = false;
  std::string finish_reason;   // "stop", "length" or "abort" once this sequence finished
  int64_t stop_token_id = -1;  // the EOS / stop id that ended it, if one did
  int64_t num_prompt_tokens = 0;
  int64_t num_output_tokens = 0;
  int64_t num_cached_tokens = 0;
  int64_t index = 0;  // sequence index (n > 1, best_of)
  StopReason stop_reason;
  std::vector<PositionLogprobs> new_logprobs;  // one per new token, when logprobs was set
  // With logprobs: per new token, where its text starts in the sequence's output text
  // (characters, i.e. code points; text cut by a stop string may end before later offsets).
  std::vector<int64_t> new_text_offsets;
  // In the sequence's first output when prompt_logprobs was set; entry 0 is empty.
  std::optional<std::vector<std::optional<PositionLogprobs>>> prompt_logprobs;
  std::optional<double> cumulative_logprob;  // when logprobs was set (or best_of > n)
};

}  // namespace pagellm
