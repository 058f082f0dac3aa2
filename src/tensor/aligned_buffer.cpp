#include "tensor/aligned_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace pagellm {
namespace {
// Large buffers (KV caches, repacked weights) come straight from mmap: zero pages are mapped
// lazily, so a 4 GiB cache costs nothing until it is used and start-up stays instant.
constexpr size_t kMmapThreshold = size_t{1} << 20;
// Buffers spanning whole 2 MiB pages start on a 2 MiB boundary and ask for transparent huge pages
// over those whole pages (the tail stays in 4 KiB pages, so no memory is added): a KV block
// written for the first time then faults once per 2 MiB instead of once per 4 KiB (in a VM each
// fault is a costly exit; 512-token prefills ran 20 % slower on untouched cache pages), and
// streaming the packed weights walks 512x fewer TLB entries.
constexpr size_t kHugePage = size_t{2} << 20;

void* map_anonymous(size_t bytes) {
  if (bytes < kHugePage) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  // Over-map by one huge page, then unmap the slop before the boundary and past the end.
  void* raw = ::mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePage - 1) / kHugePage * kHugePage;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t end = (aligned + bytes + page - 1) / page * page;
  if (aligned > begin) ::munmap(raw, aligned - begin);
  if (begin + bytes + kHugePage > end) ::munmap(reinterpret_cast<void*>(end), begin + bytes + kHugePage - end);
  // Advice only: without THP support the buffer simply keeps 4 KiB pages.
  ::madvise(reinterpret_cast<void*>(aligned), bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}
}  // namespace

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = nullptr;
  if (rounded >= kMmapThreshold) {
    p = map_anonymous(rounded);
  } else {
    p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, rounded);
  }
  data_ = std::unique_ptr<uint8_t, Free>(static_cast<uint8_t*>(p), Free{rounded});
}

void AlignedBuffer::Free::operator()(uint8_t* p) const {
  if (mapped_bytes >= kMmapThreshold)
    ::munmap(p, mapped_bytes);
  else
    std::free(p);
}

}  // namespace pagellm
