#pragma once
// How one request is sampled and when it stops, with vLLM's field names and defaults.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pagellm {

struct SamplingParams {
  double temperature = 1.0;  // 0 = greedy
  double top_p = 1.0;        // (0, 1]
  int64_t top_k = 0;         // 0 or -1 = off
  std::optional<uint64_t> seed;
  int64_t max_tokens = 16;
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;

  // Throws Error(kInvalidArgument) naming the first invalid field.
  void validate() const;
  bool greedy() const { return temperature == 0.0; }
};

}  // namespace pagellm
