// AlignedBuffer: every size is zeroed, 64-byte aligned and writable to its last byte; buffers of
// whole 2 MiB pages start on a 2 MiB boundary (for transparent huge pages); moving one keeps its
// memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>

#include "tensor/aligned_buffer.h"

namespace pagellm {
namespace {

constexpr size_t kHuge = size_t{2} << 20;

TEST(AlignedBuffer, EverySizeIsZeroedAlignedAndWritable) {
  for (size_t bytes :
       {size_t{1}, size_t{63}, size_t{4096}, size_t{1} << 20, kHuge - 64, kHuge, kHuge + 1, 5 * kHuge + 12345}) {
    AlignedBuffer b(bytes);
    ASSERT_EQ(b.size(), bytes);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u) << bytes;
    for (size_t i = 0; i < bytes; i += 997) ASSERT_EQ(b.data()[i], 0) << bytes << " at " << i;
    ASSERT_EQ(b.data()[bytes - 1], 0);
    b.data()[0] = 1;
    b.data()[bytes - 1] = 2;  // ASan / a fault would catch a short mapping
    if (bytes >= kHuge) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHuge, 0u) << bytes;
    }
  }
}

// VmSize from /proc/self/status, in KiB.
long vm_size_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7));
  return -1;
}

// The huge-page alignment over-maps and trims: nothing of it may stay mapped after the buffer goes.
TEST(AlignedBuffer, FreeingReturnsTheWholeMapping) {
  const long before = vm_size_kib();
  ASSERT_GT(before, 0);
  for (int i = 0; i < 200; ++i) {
    AlignedBuffer b(5 * kHuge + 12345);
    b.data()[0] = 1;
  }
  EXPECT_LT(vm_size_kib() - before, 16 * 1024);  // a leak would be ~2-12 MiB per buffer, 200 of them
}

TEST(AlignedBuffer, MoveKeepsTheMemory) {
  AlignedBuffer a(3 * kHuge);
  a.data()[12345] = 7;
  uint8_t* p = a.data();
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[12345], 7);
  AlignedBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
}

}  // namespace
}  // namespace pagellm
