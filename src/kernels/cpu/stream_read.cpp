#include "kernels/cpu/stream_read.h"

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/simd_math.h"

namespace pagellm::kernels {
namespace {

uint64_t xor_words_portable(const uint8_t* p, int64_t bytes) {
  uint64_t acc = 0;
  for (int64_t i = 0; i < bytes; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, static_cast<size_t>(bytes - i < 8 ? bytes - i : 8));
    acc ^= w;
  }
  return acc;
}

// Four independent 64-byte loads per step, like a STREAM-style read loop.
PAGELLM_TARGET_AVX512 uint64_t xor_words_avx512(const uint8_t* p, int64_t bytes) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 256 <= bytes; i += 256) {
    a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(p + i));
    a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(p + i + 64));
    a2 = _mm512_xor_si512(a2, _mm512_loadu_si512(p + i + 128));
    a3 = _mm512_xor_si512(a3, _mm512_loadu_si512(p + i + 192));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)));
  uint64_t acc = 0;
  for (uint64_t lane : lanes) acc ^= lane;
  return acc ^ xor_words_portable(p + i, bytes - i);
}

}  // namespace

uint64_t xor_words(const uint8_t* p, int64_t bytes) {
  if (bytes <= 0) return 0;
  return cpu_has_avx512_bf16() ? xor_words_avx512(p, bytes) : xor_words_portable(p, bytes);
}

}  // namespace pagellm::kernels
