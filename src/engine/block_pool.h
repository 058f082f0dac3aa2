#pragma once
// Every KV block with its reference count. Free blocks wait in an LRU queue (an intrusive list:
// O(1) removal from the middle when a cached block is hit again) and keep their prefix-cache key
// until they are handed out again, so a freed block can still be hit until it is evicted.
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace pagellm {

// What a full block holds, for the prefix cache: its tokens, the hash of everything before it,
// and extra keys (LoRA id, cache salt). Its hash chains all of these.
struct BlockKey {
  uint64_t hash = 0;
  uint64_t parent_hash = 0;
  uint64_t extra_key = 0;
  std::vector<int32_t> token_ids;

  static BlockKey make(uint64_t parent_hash, std::span<const int32_t> token_ids, uint64_t extra_key);
  bool operator==(const BlockKey&) const = default;
};

struct BlockPoolStats {
  int64_t evictions = 0;  // cached blocks reused for other content
};

class BlockPool {
 public:
  BlockPool(int64_t num_blocks, bool enable_caching);

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t num_free_blocks() const { return num_free_; }
  double usage() const;  // fraction of blocks referenced by some request
  int32_t ref_count(int32_t block) const { return blocks_[static_cast<size_t>(block)].ref_count; }
  const BlockPoolStats& stats() const { return stats_; }

  // Takes `n` blocks from the head of the free queue (least recently freed first), evicting their
  // cached keys; each gets ref count 1. The caller checks num_free_blocks() first.
  std::vector<int32_t> allocate(int64_t n);
  // Drops one reference from each block, in order; blocks reaching 0 join the tail of the queue.
  void release(std::span<const int32_t> blocks);
  // Adds one reference to each block, taking it out of the free queue if it was there (cache hit).
  void retain(std::span<const int32_t> blocks);

  // Registers a full block's content. If another block already holds the same key, this one
  // stays uncached (both are valid; the first keeps serving hits).
  void cache_block(int32_t block, BlockKey key);
  std::optional<int32_t> lookup(const BlockKey& key) const;
  bool is_cached(int32_t block) const { return blocks_[static_cast<size_t>(block)].key.has_value(); }

  // The free queue from head to tail (for tests and invariant checks).
  std::vector<int32_t> free_queue() const;

 private:
  static constexpr int32_t kNone = -1;
  struct Block {
    int32_t ref_count = 0;
    int32_t prev = kNone;
    int32_t next = kNone;
    bool in_free_queue = false;
    std::optional<BlockKey> key;
  };

  void push_back_free(int32_t block);
  void unlink_free(int32_t block);
  void evict(int32_t block);

  std::vector<Block> blocks_;
  int32_t head_ = kNone;
  int32_t tail_ = kNone;
  int64_t num_free_ = 0;
  bool enable_caching_;
  std::unordered_map<uint64_t, int32_t> cached_;  // key hash -> block
  BlockPoolStats stats_;
};

}  // namespace pagellm
