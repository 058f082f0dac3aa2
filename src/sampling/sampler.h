#pragma once
// From one row of logits to one token, in vLLM's order (docs/sampling.md):
//   1. custom logits processors (SamplingParams::logits_processors, e.g. structured output);
//   2. allowed_token_ids (everything else banned), bad_words (the last token of a word is banned
//      when the output ends with the rest of it), min_tokens (EOS and stop_token_ids banned while
//      the output is shorter), logit_bias (added);
//   3. penalties: repetition (prompt and output tokens: positive logits divided, negative
//      multiplied), then frequency (times the output count) and presence (output tokens);
//   4. greedy (temperature 0): argmax, lowest id on ties. Otherwise temperature (divide), then
//      min_p (drop tokens whose probability is below min_p times the largest), top_k (keep the k
//      most likely, ties by lower id), top_p (keep the smallest most-likely set whose mass
//      reaches top_p, renormalized after top_k);
//   5. one draw from the request's own generator.
// Steps 1-3 run only when a field asks for them; an all-greedy, unprocessed row is one argmax.
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "sampling/sampling_params.h"

namespace pagellm {

// The tokens a row's processing may look at.
struct SequenceTokens {
  std::span<const int32_t> prompt;
  std::span<const int32_t> output;
  std::span<const int32_t> eos_token_ids;  // masked with stop_token_ids until min_tokens
};

// True when steps 1-3 would change anything for these params.
bool needs_processing(const SamplingParams& params);
// Steps 1-3, in place.
void apply_logits_processing(std::span<float> logits, const SamplingParams& params, const SequenceTokens& seq);

struct TokenProb {
  int32_t id;
  double prob;
};
// Step 4 for temperature > 0 on processed logits: the tokens that can be drawn with their
// probabilities (positive, summing to 1), most likely first when top_p < 1.
std::vector<TokenProb> sampling_distribution(std::span<const float> logits, const SamplingParams& params);

int32_t argmax_token(std::span<const float> logits);
int32_t draw_token(const std::vector<TokenProb>& dist, std::mt19937_64& rng);

// Steps 1-5; `logits` is scratch (modified).
int32_t sample_token(std::span<float> logits, const SamplingParams& params, const SequenceTokens& seq,
                     std::mt19937_64& rng);

}  // namespace pagellm
