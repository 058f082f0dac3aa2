#pragma once
// Logprobs in vLLM's shape: per position, the chosen token first and then the top-k, each with
// its log-probability, its rank in the vocabulary (1 = most likely) and its decoded text.
// Computed from the model's raw logits (log_softmax before any processing: vLLM's default
// logprobs_mode "raw_logprobs"); see docs/sampling.md.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pagellm {

struct Logprob {
  double logprob = 0;
  int64_t rank = 0;           // 1 + number of other tokens with a logprob >= this one
  std::string decoded_token;  // filled by the output processor when detokenizing
};

// Ordered like vLLM's dict: the chosen token first, then the top-k not already listed.
using PositionLogprobs = std::vector<std::pair<int32_t, Logprob>>;

// log(sum(exp(logits))) in double.
double log_sum_exp(std::span<const float> logits);
// The chosen token's entry plus the `top_k` most likely (ties by lower id); ranks as vLLM counts them.
PositionLogprobs compute_logprobs(std::span<const float> raw_logits, int32_t chosen, int64_t top_k);

}  // namespace pagellm
