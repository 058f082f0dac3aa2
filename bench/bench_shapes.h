#pragma once
// The projection shapes of bench-0.5b (hidden 896, 14 heads / 2 KV heads of 64, ffn 4864) with a
// 32000-token LM head, shared by the kernel microbenchmarks and the baselines.
#include <cstdint>

namespace pagellm::bench {

struct Shape {
  const char* name;
  int64_t n, k;
};
inline constexpr Shape kShapes[] = {
    {"qkv", 1152, 896}, {"o_proj", 896, 896}, {"gate_up", 9728, 896}, {"down", 896, 4864}, {"lm_head", 32000, 896}};

}  // namespace pagellm::bench
