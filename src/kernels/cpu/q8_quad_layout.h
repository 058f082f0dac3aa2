#pragma once
// The quad layout int8 compute packs a Q8_0 weight in, per panel of 16 columns and block of 32 k:
// 16 f32 scales, then 8 groups of 16 columns x 4 consecutive k (int8). Shared by the AVX2 and the
// AVX-512 VNNI int8 tiles, which stream a panel's blocks with the same prefetch.
#include <xmmintrin.h>

#include <cstdint>

namespace pagellm::kernels::q8quad {

inline constexpr int64_t kBlockBytes = 16 * 4 + 32 * 16;
// How far ahead of its loads a decode tile asks for the panel's lines: on Zen 1 a 110M / 0.5B
// decode step's projections ran at 86-90 / 86-88 % of a plain read of their bytes with 768 B,
// 78-80 % with 256 or 2048 B, 66-70 % with none (BM_ProjectionChainM1, docs/perf/int8.md).
inline constexpr int64_t kPrefetchAhead = 768;

// Asks for the lines kPrefetchAhead bytes past each line of `block`.
inline __attribute__((always_inline)) void prefetch_ahead(const uint8_t* block) {
#pragma GCC unroll 9
  for (int line = 0; line < kBlockBytes / 64; ++line)
    _mm_prefetch(reinterpret_cast<const char*>(block + line * 64 + kPrefetchAhead), _MM_HINT_T0);
}

}  // namespace pagellm::kernels::q8quad
