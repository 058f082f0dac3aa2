#pragma once
// Block allocation for requests over a BlockPool: finds the longest cached prefix (full blocks,
// each keyed by its tokens chained with its parent's hash and extra keys), takes references on
// hits, allocates the rest, registers blocks in the cache as they fill, shares blocks between
// forked sequences and copies a shared block before it is written (copy-on-write).
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/block_pool.h"

namespace pagellm {

struct CachedPrefix {
  std::vector<int32_t> blocks;
  std::vector<uint64_t> hashes;
  int64_t num_tokens = 0;
};

struct PrefixCacheStats {
  int64_t queries = 0;  // prompt tokens looked up
  int64_t hits = 0;     // of those, tokens found cached
};

struct BlockCopy {
  int32_t src;
  int32_t dst;
};

class KVCacheManager {
 public:
  KVCacheManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);

  // Longest run of cached full blocks at the start of `tokens`, always leaving at least one
  // token to compute (its logits are needed). Takes no references and counts nothing: the
  // scheduler records a lookup once the request is admitted (record_prefix_lookup).
  CachedPrefix find_cached_prefix(std::span<const int32_t> tokens, uint64_t extra_key = 0) const;
  void record_prefix_lookup(int64_t queried_tokens, int64_t hit_tokens);

  // Makes room for tokens [num_computed, num_computed + num_new) of request `id`, whose known
  // tokens are `tokens`. `prefix` (from find_cached_prefix, for a request with no blocks yet)
  // becomes the start of its table. Returns false, changing nothing, if the blocks do not fit.
  bool allocate_slots(const std::string& id, std::span<const int32_t> tokens, int64_t num_computed, int64_t num_new,
                      const CachedPrefix& prefix = {}, uint64_t extra_key = 0);

  // Frees a request's blocks, tail first, so its tail is evicted before its shared prefix.
  void free(const std::string& id);
  // `child` starts with `parent`'s blocks, shared (n > 1, beam search).
  void fork(const std::string& parent, const std::string& child);

  const std::vector<int32_t>& block_table(const std::string& id) const;
  bool has_blocks(const std::string& id) const { return tables_.contains(id); }
  // Copies decided by copy-on-write since the last call (the model runner performs them).
  std::vector<BlockCopy> take_pending_copies();

  int64_t block_size() const { return block_size_; }
  int64_t num_free_blocks() const { return pool_.num_free_blocks(); }
  const BlockPool& pool() const { return pool_; }
  const PrefixCacheStats& prefix_stats() const { return prefix_stats_; }
  int64_t num_requests() const { return static_cast<int64_t>(tables_.size()); }

 private:
  struct RequestBlocks {
    std::vector<int32_t> blocks;
    std::vector<uint64_t> hashes;  // of the first hashes.size() blocks (full and cached)
  };

  BlockPool pool_;
  int64_t block_size_;
  bool enable_caching_;
  std::unordered_map<std::string, RequestBlocks> tables_;
  std::vector<BlockCopy> pending_copies_;
  PrefixCacheStats prefix_stats_;
};

}  // namespace pagellm
