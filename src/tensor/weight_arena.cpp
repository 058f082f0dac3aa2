#include "tensor/weight_arena.h"

#include <algorithm>

namespace pagellm {

uint8_t* WeightArena::allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  if (chunks_.empty() || used_ + rounded > chunks_.back().size()) {
    // Untouched pages of a chunk cost no memory: only the last chunk's unused tail is wasted, and
    // only the huge page its last weight ends in.
    constexpr size_t kHugePage = size_t{2} << 20;
    chunks_.emplace_back(std::max(chunk_bytes_, (rounded + kHugePage - 1) / kHugePage * kHugePage));
    used_ = 0;
  }
  uint8_t* p = chunks_.back().data() + used_;
  used_ += rounded;
  allocated_ += rounded;
  return p;
}

}  // namespace pagellm
