#include "engine/block_pool.h"

#include "util/error.h"
#include "util/hash.h"

namespace pagellm {

BlockKey BlockKey::make(uint64_t parent_hash, std::span<const int32_t> token_ids, uint64_t extra_key) {
  BlockKey key{0, parent_hash, extra_key, {token_ids.begin(), token_ids.end()}};
  key.hash = hash_ids(hash_combine(parent_hash, extra_key), token_ids);
  return key;
}

BlockPool::BlockPool(int64_t num_blocks, bool enable_caching)
    : blocks_(static_cast<size_t>(num_blocks)), enable_caching_(enable_caching) {
  if (num_blocks <= 0) fail(ErrorCode::kInvalidArgument, "the KV cache needs at least one block, got {}", num_blocks);
  for (int32_t b = 0; b < num_blocks; ++b) push_back_free(b);
}

double BlockPool::usage() const { return 1.0 - static_cast<double>(num_free_) / static_cast<double>(blocks_.size()); }

void BlockPool::push_back_free(int32_t b) {
  Block& block = blocks_[static_cast<size_t>(b)];
  block.prev = tail_;
  block.next = kNone;
  block.in_free_queue = true;
  if (tail_ != kNone)
    blocks_[static_cast<size_t>(tail_)].next = b;
  else
    head_ = b;
  tail_ = b;
  ++num_free_;
}

void BlockPool::unlink_free(int32_t b) {
  Block& block = blocks_[static_cast<size_t>(b)];
  if (block.prev != kNone)
    blocks_[static_cast<size_t>(block.prev)].next = block.next;
  else
    head_ = block.next;
  if (block.next != kNone)
    blocks_[static_cast<size_t>(block.next)].prev = block.prev;
  else
    tail_ = block.prev;
  block.prev = block.next = kNone;
  block.in_free_queue = false;
  --num_free_;
}

void BlockPool::evict(int32_t b) {
  Block& block = blocks_[static_cast<size_t>(b)];
  if (!block.key) return;
  auto it = cached_.find(block.key->hash);
  if (it != cached_.end() && it->second == b) cached_.erase(it);
  block.key.reset();
  ++stats_.evictions;
}

std::vector<int32_t> BlockPool::allocate(int64_t n) {
  if (n > num_free_) fail(ErrorCode::kInternal, "allocating {} blocks with {} free", n, num_free_);
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t b = head_;
    unlink_free(b);
    evict(b);
    blocks_[static_cast<size_t>(b)].ref_count = 1;
    out.push_back(b);
  }
  return out;
}

void BlockPool::release(std::span<const int32_t> ids) {
  for (int32_t b : ids) {
    Block& block = blocks_[static_cast<size_t>(b)];
    if (block.ref_count <= 0) fail(ErrorCode::kInternal, "releasing free block {}", b);
    if (--block.ref_count == 0) push_back_free(b);
  }
}

void BlockPool::retain(std::span<const int32_t> ids) {
  for (int32_t b : ids) {
    Block& block = blocks_[static_cast<size_t>(b)];
    if (block.in_free_queue) unlink_free(b);
    ++block.ref_count;
  }
}

void BlockPool::cache_block(int32_t b, BlockKey key) {
  if (!enable_caching_) return;
  Block& block = blocks_[static_cast<size_t>(b)];
  if (block.key) return;  // already cached (a hit, or cached earlier)
  if (cached_.contains(key.hash)) return;
  cached_.emplace(key.hash, b);
  block.key = std::move(key);
}

std::optional<int32_t> BlockPool::lookup(const BlockKey& key) const {
  if (!enable_caching_) return std::nullopt;
  auto it = cached_.find(key.hash);
  if (it == cached_.end()) return std::nullopt;
  // Equal hashes are not enough: the stored key must match in full.
  if (!(*blocks_[static_cast<size_t>(it->second)].key == key)) return std::nullopt;
  return it->second;
}

std::vector<int32_t> BlockPool::free_queue() const {
  std::vector<int32_t> out;
  for (int32_t b = head_; b != kNone; b = blocks_[static_cast<size_t>(b)].next) out.push_back(b);
  return out;
}

}  // namespace pagellm
