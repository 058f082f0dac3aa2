#pragma once
// How a model's BF16 projection weights are stored (--weight-coding).
#include <string>

namespace pagellm {

enum class WeightCoding {
  kAuto,  // coded when the engine never batches more than 4 decode rows (EngineConfig)
  kOn,    // coded where the CPU can decode them (AVX-512 VBMI and BF16, no AMX)
  kOff,   // raw bf16
};

// "auto", "on" or "off"; anything else fails naming the flag.
WeightCoding parse_weight_coding(const std::string& name);

}  // namespace pagellm
