// xor_words (the plain read behind `bench latency --weight-read`) reads every byte it is given and
// none past it: the XOR of 64-bit words against a byte-by-byte reference, on ragged lengths and
// offsets (exact-size heap buffers, so an over-read fails under ASan).
#include <gtest/gtest.h>

#include <random>
#include <span>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/stream_read.h"

namespace pagellm::kernels {
namespace {

uint64_t reference_xor(const std::vector<uint8_t>& b, size_t offset) {
  uint64_t acc = 0;
  for (size_t i = offset; i < b.size(); ++i) acc ^= uint64_t{b[i]} << (8 * ((i - offset) % 8));
  return acc;
}

// Every path this CPU has: AVX-512 (where present), AVX2 (forced on an AVX-512 CPU) and portable.
TEST(StreamRead, XorOfWordsCoversEveryByteOnEveryPath) {
  std::mt19937 rng(3);
  enum class Path { kNative, kAvx2, kPortable };
  for (const Path path : {Path::kNative, Path::kAvx2, Path::kPortable}) {
    force_avx2_kernels(path == Path::kAvx2);
    force_portable_kernels(path == Path::kPortable);
    for (size_t n : {0, 1, 7, 8, 9, 255, 256, 257, 1000, 4096, 65543}) {
      for (size_t offset : {0, 3}) {
        std::vector<uint8_t> b(n + offset);
        for (uint8_t& v : b) v = static_cast<uint8_t>(rng());
        EXPECT_EQ(xor_words(b.data() + offset, static_cast<int64_t>(n)), reference_xor(b, offset))
            << "bytes " << n << " offset " << offset << " path " << static_cast<int>(path);
      }
    }
  }
  force_avx2_kernels(false);
  force_portable_kernels(false);
}

// A flipped byte anywhere changes the result: nothing is skipped.
TEST(StreamRead, EveryByteChangesTheResult) {
  std::vector<uint8_t> b(1029, 0x5a);
  const uint64_t base = xor_words(b.data(), static_cast<int64_t>(b.size()));
  for (size_t i = 0; i < b.size(); i += 13) {
    b[i] ^= 0x81;
    EXPECT_NE(xor_words(b.data(), static_cast<int64_t>(b.size())), base) << i;
    b[i] ^= 0x81;
  }
}

// Split over the pool's threads, every span is still read whole: the same XOR as one thread's read.
TEST(StreamRead, ParallelReadCoversEverySpan) {
  std::mt19937 rng(5);
  std::vector<std::vector<uint8_t>> buffers;
  for (size_t n : {0, 1, 63, 64, 65, 1000, 4097, 100003}) {
    buffers.emplace_back(n);
    for (uint8_t& v : buffers.back()) v = static_cast<uint8_t>(rng());
  }
  std::vector<std::span<const uint8_t>> spans;
  uint64_t want = 0;
  for (const auto& b : buffers) {
    spans.emplace_back(b.data(), b.size());
    want ^= reference_xor(b, 0);
  }
  EXPECT_EQ(xor_words_parallel(spans), want);
  buffers.back()[77777] ^= 0x10;  // a byte in the second thread's half changes the result
  EXPECT_NE(xor_words_parallel(spans), want);
}

}  // namespace
}  // namespace pagellm::kernels
