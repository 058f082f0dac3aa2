#pragma once
// A plain read of memory at the machine's streaming rate: the reference a bandwidth-bound kernel
// is compared with in the same process and the same minutes (`pagellm bench latency
// --weight-read`), since the machine's read bandwidth moves by tens of percent between runs.
#include <cstdint>
#include <span>

namespace pagellm::kernels {

// XOR of the `bytes` bytes at p taken as little-endian 64-bit words, the last one zero-padded.
// The result only keeps the loads from being optimized away; AVX-512 or AVX2 loads where the CPU
// has them.
uint64_t xor_words(const uint8_t* p, int64_t bytes);

// xor_words over every span, each split into one contiguous range per thread of the process-wide
// ThreadPool (64-byte aligned), as a bandwidth-bound kernel streams its share: the XOR of all.
uint64_t xor_words_parallel(std::span<const std::span<const uint8_t>> spans);

}  // namespace pagellm::kernels
