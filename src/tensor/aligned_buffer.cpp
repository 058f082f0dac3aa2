#include "tensor/aligned_buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace pagellm {
namespace {
// Large buffers (KV caches, repacked weights) come straight from mmap: zero pages are mapped
// lazily, so a 4 GiB cache costs nothing until it is used and start-up stays instant.
constexpr size_t kMmapThreshold = size_t{1} << 20;
}  // namespace

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = nullptr;
  if (rounded >= kMmapThreshold) {
    p = ::mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
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
