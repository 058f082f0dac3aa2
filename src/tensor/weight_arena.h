#pragma once
// Packed weights of one model, allocated back to back from 2 MiB-aligned chunks that ask for
// transparent huge pages. Every weight then streams from huge pages whatever its size: on its
// own, a 1.4 MB projection (or the last 1.9 MB of a bigger one) stays on 4 KiB pages, and 4 KiB
// pages read 10-20 % slower here (docs/perf/kernels.md, session 7). Weights also lie in load
// order, which is the order a decode step reads them.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/aligned_buffer.h"

namespace pagellm {

class WeightArena {
 public:
  explicit WeightArena(size_t chunk_bytes = size_t{64} << 20) : chunk_bytes_(chunk_bytes) {}
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // `bytes` zeroed bytes, 64-byte aligned, valid while the arena lives.
  uint8_t* allocate(size_t bytes);
  // Bytes handed out so far (alignment included).
  size_t bytes_allocated() const { return allocated_; }

 private:
  size_t chunk_bytes_;
  std::vector<AlignedBuffer> chunks_;
  size_t used_ = 0;  // in the last chunk
  size_t allocated_ = 0;
};

}  // namespace pagellm
