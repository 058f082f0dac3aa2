#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "engine/kv_cache_manager.h"

namespace pagellm {
namespace {

using Ids = std::vector<int32_t>;

Ids tokens(int n, int start = 100) {
  Ids t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

TEST(KVCacheManager, AllocatesWholeBlocksAsTokensArrive) {
  KVCacheManager m(10, 4, true);
  Ids p = tokens(6);
  ASSERT_TRUE(m.allocate_slots("a", p, 0, 6));
  EXPECT_EQ(m.block_table("a"), (Ids{0, 1}));
  p.push_back(1);
  ASSERT_TRUE(m.allocate_slots("a", p, 6, 1));  // position 6 fits block 1
  EXPECT_EQ(m.block_table("a"), (Ids{0, 1}));
  p.push_back(2);
  p.push_back(3);
  ASSERT_TRUE(m.allocate_slots("a", p, 7, 1));  // position 7 still block 1
  ASSERT_TRUE(m.allocate_slots("a", p, 8, 1));  // position 8 needs block 2
  EXPECT_EQ(m.block_table("a"), (Ids{0, 1, 2}));
  EXPECT_EQ(m.num_free_blocks(), 7);
  m.free("a");
  EXPECT_EQ(m.num_free_blocks(), 10);
  EXPECT_EQ(m.pool().free_queue(), (Ids{3, 4, 5, 6, 7, 8, 9, 2, 1, 0}));  // tail first
}

TEST(KVCacheManager, PrefixHitsShareFullBlocksAndLeaveOneTokenToCompute) {
  KVCacheManager m(10, 4, true);
  Ids a = tokens(10);
  ASSERT_TRUE(m.allocate_slots("a", a, 0, 10));  // blocks 0,1 full and cached, 2 partial
  EXPECT_EQ(m.block_table("a"), (Ids{0, 1, 2}));

  Ids b = tokens(9);
  b[8] = 7;  // same first 8 tokens, then differs
  CachedPrefix hit = m.find_cached_prefix(b);
  EXPECT_EQ(hit.blocks, (Ids{0, 1}));
  EXPECT_EQ(hit.num_tokens, 8);
  ASSERT_TRUE(m.allocate_slots("b", b, hit.num_tokens, 1, hit));
  EXPECT_EQ(m.block_table("b"), (Ids{0, 1, 3}));
  EXPECT_EQ(m.pool().ref_count(0), 2);

  // Exactly 8 tokens: at most the first block may hit, so one token is left to compute.
  Ids c = tokens(8);
  CachedPrefix hit_c = m.find_cached_prefix(c);
  EXPECT_EQ(hit_c.blocks, (Ids{0}));
  EXPECT_EQ(m.prefix_stats().queries, 0);  // lookups are counted only when recorded
  m.record_prefix_lookup(9, 8);
  m.record_prefix_lookup(8, 4);
  EXPECT_EQ(m.prefix_stats().queries, 17);
  EXPECT_EQ(m.prefix_stats().hits, 12);

  // A different extra key (LoRA, salt) never hits.
  EXPECT_TRUE(m.find_cached_prefix(b, 99).blocks.empty());
}

TEST(KVCacheManager, FreedPrefixIsHitAgainAndEvictedTailFirst) {
  KVCacheManager m(4, 2, true);
  Ids a = tokens(7);
  ASSERT_TRUE(m.allocate_slots("a", a, 0, 7));  // blocks 0,1,2 full (cached), 3 partial
  m.free("a");
  EXPECT_EQ(m.pool().free_queue(), (Ids{3, 2, 1, 0}));
  // A new request needing 2 blocks evicts the tail blocks 3 (uncached) and 2 (cached).
  Ids other = tokens(3, 900);
  ASSERT_TRUE(m.allocate_slots("o", other, 0, 3));
  EXPECT_EQ(m.block_table("o"), (Ids{3, 2}));
  EXPECT_EQ(m.pool().stats().evictions, 1);
  CachedPrefix again = m.find_cached_prefix(a);
  EXPECT_EQ(again.blocks, (Ids{0, 1}));  // block 2's content is gone
  // 7 tokens need 4 blocks; the 2 hits are themselves the only free blocks, so it cannot fit.
  EXPECT_FALSE(m.allocate_slots("a2", a, again.num_tokens, 3, again));
  EXPECT_FALSE(m.has_blocks("a2"));
  EXPECT_EQ(m.pool().ref_count(0), 0);
  EXPECT_EQ(m.num_free_blocks(), 2);
}

TEST(KVCacheManager, RefusesWithoutSideEffectsWhenFull) {
  KVCacheManager m(3, 4, true);
  Ids a = tokens(8);
  ASSERT_TRUE(m.allocate_slots("a", a, 0, 8));
  Ids b = tokens(9, 500);
  EXPECT_FALSE(m.allocate_slots("b", b, 0, 9));
  EXPECT_FALSE(m.has_blocks("b"));
  EXPECT_EQ(m.num_free_blocks(), 1);
  // A hit on a free cached block counts against the free blocks it would take.
  m.free("a");
  Ids a2 = tokens(12);
  CachedPrefix hit = m.find_cached_prefix(a2);
  ASSERT_EQ(hit.blocks.size(), 2u);
  ASSERT_TRUE(m.allocate_slots("a2", a2, 8, 4, hit));
  EXPECT_EQ(m.block_table("a2"), (Ids{0, 1, 2}));
  EXPECT_EQ(m.num_free_blocks(), 0);
}

TEST(KVCacheManager, ForkSharesBlocksAndCopiesTheLastOneOnWrite) {
  KVCacheManager m(8, 4, true);
  Ids p = tokens(6);
  ASSERT_TRUE(m.allocate_slots("p", p, 0, 6));
  m.fork("p", "c");
  EXPECT_EQ(m.block_table("c"), (Ids{0, 1}));
  EXPECT_EQ(m.pool().ref_count(1), 2);
  Ids pc = p;
  pc.push_back(42);
  ASSERT_TRUE(m.allocate_slots("c", pc, 6, 1));  // writes position 6 into shared block 1
  EXPECT_EQ(m.block_table("c"), (Ids{0, 2}));
  auto copies = m.take_pending_copies();
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, 1);
  EXPECT_EQ(copies[0].dst, 2);
  EXPECT_EQ(m.pool().ref_count(1), 1);
  Ids pp = p;
  pp.push_back(43);
  ASSERT_TRUE(m.allocate_slots("p", pp, 6, 1));  // the parent now owns block 1 alone: no copy
  EXPECT_EQ(m.block_table("p"), (Ids{0, 1}));
  EXPECT_TRUE(m.take_pending_copies().empty());
  m.free("p");
  m.free("c");
  EXPECT_EQ(m.num_free_blocks(), 8);
}

TEST(KVCacheManager, WithoutPrefixCachingNothingHits) {
  KVCacheManager m(8, 4, false);
  Ids a = tokens(9);
  ASSERT_TRUE(m.allocate_slots("a", a, 0, 9));
  EXPECT_TRUE(m.find_cached_prefix(a).blocks.empty());
  m.record_prefix_lookup(9, 0);
  EXPECT_EQ(m.prefix_stats().queries, 0);
}

// Thousands of random requests growing, finishing and aborting: blocks never leak, ref counts
// equal the number of tables holding each block, and a full table covers its tokens.
TEST(KVCacheManager, RandomWorkloadNeverLeaks) {
  std::mt19937 rng(99);
  const int64_t B = 4, N = 40;
  KVCacheManager m(N, B, true);
  struct Live {
    Ids tokens;
    int64_t computed = 0;
  };
  std::map<std::string, Live> live;
  int next_id = 0;
  for (int step = 0; step < 5000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 3) {  // new request, sometimes sharing a prefix with a common stem
      Ids t = rng() % 2 ? tokens(static_cast<int>(rng() % 12) + 1, 0)
                        : tokens(static_cast<int>(rng() % 12) + 1, 1000 * step);
      const std::string id = "r" + std::to_string(next_id++);
      CachedPrefix hit = m.find_cached_prefix(t);
      const auto n = static_cast<int64_t>(t.size()) - hit.num_tokens;
      if (m.allocate_slots(id, t, hit.num_tokens, n, hit)) {
        live[id] = {t, static_cast<int64_t>(t.size())};
        m.record_prefix_lookup(static_cast<int64_t>(t.size()), hit.num_tokens);
      }
    } else if (op < 8 && !live.empty()) {  // decode one token
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      it->second.tokens.push_back(static_cast<int32_t>(rng() % 50));
      if (m.allocate_slots(it->first, it->second.tokens, it->second.computed, 1))
        ++it->second.computed;
      else
        it->second.tokens.pop_back();
    } else if (!live.empty()) {  // finish or abort
      auto it = std::next(live.begin(), static_cast<long>(rng() % live.size()));
      m.free(it->first);
      live.erase(it);
    }
    std::map<int32_t, int> holders;
    for (auto& [id, l] : live) {
      const Ids& table = m.block_table(id);
      ASSERT_GE(static_cast<int64_t>(table.size()) * B, l.computed);
      for (int32_t b : table) ++holders[b];
    }
    int64_t used = 0;
    for (int32_t b = 0; b < N; ++b) {
      ASSERT_EQ(m.pool().ref_count(b), holders[b]) << "block " << b << " step " << step;
      used += holders[b] > 0;
    }
    ASSERT_EQ(m.num_free_blocks(), N - used);
  }
  for (auto& [id, l] : live) m.free(id);
  EXPECT_EQ(m.num_free_blocks(), N);
  EXPECT_EQ(m.num_requests(), 0);
  EXPECT_GT(m.prefix_stats().hits, 0);
}

}  // namespace
}  // namespace pagellm
