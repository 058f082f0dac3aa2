#pragma once
// How many pages of a range this process has mapped in, read from /proc/self/pagemap (bit 63 of
// each page's entry: present in RAM), independently of the code under test.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace pagellm::test {

inline int64_t page_size() { return ::sysconf(_SC_PAGESIZE); }

// Resident pages among the whole pages inside [p, p + bytes) (partial pages at the ends are not counted).
inline int64_t resident_pages(const void* p, size_t bytes) {
  const auto page = static_cast<uintptr_t>(page_size());
  const uintptr_t first = (reinterpret_cast<uintptr_t>(p) + page - 1) / page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + bytes) / page;
  std::FILE* f = std::fopen("/proc/self/pagemap", "rb");
  if (!f) throw std::runtime_error("cannot open /proc/self/pagemap");
  int64_t n = 0;
  for (uintptr_t i = first; i < last; ++i) {
    uint64_t entry = 0;
    if (std::fseek(f, static_cast<long>(i * sizeof(entry)), SEEK_SET) != 0 ||
        std::fread(&entry, sizeof(entry), 1, f) != 1) {
      std::fclose(f);
      throw std::runtime_error("cannot read /proc/self/pagemap");
    }
    n += static_cast<int64_t>(entry >> 63);
  }
  std::fclose(f);
  return n;
}

inline int64_t whole_pages(const void* p, size_t bytes) {
  const auto page = static_cast<uintptr_t>(page_size());
  const uintptr_t first = (reinterpret_cast<uintptr_t>(p) + page - 1) / page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(p) + bytes) / page;
  return last > first ? static_cast<int64_t>(last - first) : 0;
}

// Reads one byte of every page so the whole range is resident.
inline uint64_t touch_pages(const void* p, size_t bytes) {
  const auto* b = static_cast<const volatile uint8_t*>(p);
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes; i += static_cast<size_t>(page_size())) sum += b[i];
  return sum;
}

}  // namespace pagellm::test
