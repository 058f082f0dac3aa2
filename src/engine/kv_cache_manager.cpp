#include "engine/kv_cache_manager.h"

#include "util/error.h"

namespace pagellm {

KVCacheManager::KVCacheManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : pool_(num_blocks, enable_prefix_caching), block_size_(block_size), enable_caching_(enable_prefix_caching) {
  if (block_size <= 0) fail(ErrorCode::kInvalidArgument, "block size must be positive, got {}", block_size);
}

CachedPrefix KVCacheManager::find_cached_prefix(std::span<const int32_t> tokens, uint64_t extra_key) const {
  CachedPrefix prefix;
  if (!enable_caching_) return prefix;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  uint64_t parent = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    BlockKey key = BlockKey::make(parent, tokens.subspan(static_cast<size_t>(i * block_size_), block_size_), extra_key);
    std::optional<int32_t> hit = pool_.lookup(key);
    if (!hit) break;
    prefix.blocks.push_back(*hit);
    prefix.hashes.push_back(key.hash);
    parent = key.hash;
  }
  prefix.num_tokens = static_cast<int64_t>(prefix.blocks.size()) * block_size_;
  return prefix;
}

void KVCacheManager::record_prefix_lookup(int64_t queried_tokens, int64_t hit_tokens) {
  if (!enable_caching_) return;
  prefix_stats_.queries += queried_tokens;
  prefix_stats_.hits += hit_tokens;
}

bool KVCacheManager::allocate_slots(const std::string& id, std::span<const int32_t> tokens, int64_t num_computed,
                                    int64_t num_new, const CachedPrefix& prefix, uint64_t extra_key) {
  RequestBlocks& req = tables_[id];
  const auto have = static_cast<int64_t>(req.blocks.size() + prefix.blocks.size());
  const int64_t end = num_computed + num_new;
  const int64_t new_blocks = std::max<int64_t>(0, (end + block_size_ - 1) / block_size_ - have);

  // The block the first new token lands in, if it already exists and is shared, is copied first.
  const int64_t write_block = num_computed / block_size_;
  const bool copy_on_write = num_new > 0 && write_block < static_cast<int64_t>(req.blocks.size()) &&
                             pool_.ref_count(req.blocks[static_cast<size_t>(write_block)]) > 1;
  int64_t hits_on_free_blocks = 0;
  for (int32_t b : prefix.blocks) hits_on_free_blocks += pool_.ref_count(b) == 0;
  if (new_blocks + copy_on_write > pool_.num_free_blocks() - hits_on_free_blocks) {
    if (req.blocks.empty()) tables_.erase(id);
    return false;
  }

  pool_.retain(prefix.blocks);
  req.blocks.insert(req.blocks.end(), prefix.blocks.begin(), prefix.blocks.end());
  req.hashes.insert(req.hashes.end(), prefix.hashes.begin(), prefix.hashes.end());
  if (copy_on_write) {
    int32_t& shared = req.blocks[static_cast<size_t>(write_block)];
    const int32_t copy = pool_.allocate(1)[0];
    pending_copies_.push_back({shared, copy});
    pool_.release(std::span(&shared, 1));
    shared = copy;
  }
  std::vector<int32_t> fresh = pool_.allocate(new_blocks);
  req.blocks.insert(req.blocks.end(), fresh.begin(), fresh.end());

  // Register every block that these tokens fill.
  if (enable_caching_) {
    const int64_t full = std::min<int64_t>(end, static_cast<int64_t>(tokens.size())) / block_size_;
    for (auto i = static_cast<int64_t>(req.hashes.size()); i < full; ++i) {
      const uint64_t parent = i == 0 ? 0 : req.hashes[static_cast<size_t>(i - 1)];
      BlockKey key =
          BlockKey::make(parent, tokens.subspan(static_cast<size_t>(i * block_size_), block_size_), extra_key);
      req.hashes.push_back(key.hash);
      pool_.cache_block(req.blocks[static_cast<size_t>(i)], std::move(key));
    }
  }
  return true;
}

void KVCacheManager::free(const std::string& id) {
  auto it = tables_.find(id);
  if (it == tables_.end()) return;
  std::vector<int32_t> reversed(it->second.blocks.rbegin(), it->second.blocks.rend());
  pool_.release(reversed);
  tables_.erase(it);
}

void KVCacheManager::fork(const std::string& parent, const std::string& child) {
  const RequestBlocks& from = tables_.at(parent);
  pool_.retain(from.blocks);
  tables_[child] = from;
}

const std::vector<int32_t>& KVCacheManager::block_table(const std::string& id) const {
  auto it = tables_.find(id);
  if (it == tables_.end()) fail(ErrorCode::kInternal, "request {} has no blocks", id);
  return it->second.blocks;
}

std::vector<BlockCopy> KVCacheManager::take_pending_copies() { return std::exchange(pending_copies_, {}); }

}  // namespace pagellm
