#pragma once
// What one engine step says about one request: the tokens and text new since the last output
// (streams forward these deltas), and, once finished, why.
#include <cstdint>
#include <string>
#include <vector>

namespace pagellm {

struct RequestOutput {
  std::string request_id;
  std::vector<int32_t> new_token_ids;
  std::string new_text;
  bool finished = false;
  std::string finish_reason;   // "stop", "length" or "abort" once finished
  int64_t stop_token_id = -1;  // the EOS / stop id that ended it, if one did
  int64_t num_prompt_tokens = 0;
  int64_t num_output_tokens = 0;
  int64_t num_cached_tokens = 0;
};

}  // namespace pagellm
