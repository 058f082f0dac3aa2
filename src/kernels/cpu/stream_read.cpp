#include "kernels/cpu/stream_read.h"

#include <immintrin.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/thread_pool.h"

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

// The same on 32-byte vectors, so a CPU without AVX-512 is measured at its streaming rate, not at
// the scalar loop's (8.6 GB/s against ~21 GB/s for two Zen 1 cores).
PAGELLM_TARGET_AVX2 uint64_t xor_words_avx2(const uint8_t* p, int64_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 128 <= bytes; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)));
  uint64_t acc = 0;
  for (uint64_t lane : lanes) acc ^= lane;
  return acc ^ xor_words_portable(p + i, bytes - i);
}

}  // namespace

uint64_t xor_words(const uint8_t* p, int64_t bytes) {
  if (bytes <= 0) return 0;
  if (cpu_has_avx512_bf16()) return xor_words_avx512(p, bytes);
  return cpu_has_avx2() ? xor_words_avx2(p, bytes) : xor_words_portable(p, bytes);
}

uint64_t xor_words_parallel(std::span<const std::span<const uint8_t>> spans) {
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.num_threads();
  std::vector<uint64_t> sinks(static_cast<size_t>(threads));
  pool.run(threads, [&](int t) {
    uint64_t acc = 0;
    for (std::span<const uint8_t> s : spans) {
      const auto n = static_cast<int64_t>(s.size());
      const int64_t begin = n * t / threads / 64 * 64, end = t + 1 == threads ? n : n * (t + 1) / threads / 64 * 64;
      acc ^= xor_words(s.data() + begin, end - begin);
    }
    sinks[static_cast<size_t>(t)] = acc;
  });
  uint64_t all = 0;
  for (uint64_t v : sinks) all ^= v;
  return all;
}

}  // namespace pagellm::kernels
