#pragma once
// A plain read of memory at the machine's streaming rate: the reference a bandwidth-bound kernel
// is compared with in the same process and the same minutes (`pagellm bench latency
// --weight-read`), since the machine's read bandwidth moves by tens of percent between runs.
#include <cstdint>

namespace pagellm::kernels {

// XOR of the `bytes` bytes at p taken as little-endian 64-bit words, the last one zero-padded.
// The result only keeps the loads from being optimized away; AVX-512 loads where the CPU has them.
uint64_t xor_words(const uint8_t* p, int64_t bytes);

}  // namespace pagellm::kernels
