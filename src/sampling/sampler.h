#pragma once
// Draws the next token from one row of logits: greedy (argmax, lowest id on ties) or
// temperature -> top-k -> top-p -> softmax -> a draw from the request's own generator.
#include <cstdint>
#include <random>

#include "sampling/sampling_params.h"

namespace pagellm {

int32_t sample_token(const float* logits, int64_t vocab_size, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace pagellm
