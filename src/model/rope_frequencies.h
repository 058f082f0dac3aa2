#pragma once
// The rotary inverse frequencies of a model, with rope_scaling (linear, llama3) and GGUF
// rope_freqs divisors applied, in double precision.
#include <vector>

#include "model/model_config.h"

namespace pagellm {

std::vector<double> rope_inverse_frequencies(const ModelConfig& config);

}  // namespace pagellm
