#pragma once
// The benchmarks' prompts: vLLM's random dataset, uniformly random token ids.
#include <cstdint>
#include <random>
#include <vector>

namespace pagellm::cli {

// `len` ids drawn uniformly from [3, vocab), skipping the first ids (special tokens in most vocabularies).
std::vector<int32_t> random_prompt(std::mt19937_64& rng, int64_t len, int64_t vocab);

}  // namespace pagellm::cli
