#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "engine/block_pool.h"
#include "util/error.h"

namespace pagellm {
namespace {

using Ids = std::vector<int32_t>;

BlockKey key_of(Ids tokens, uint64_t parent = 0) { return BlockKey::make(parent, tokens, 0); }

TEST(BlockPool, AllocatesFromTheHeadAndFreesToTheTail) {
  BlockPool pool(6, true);
  EXPECT_EQ(pool.free_queue(), (Ids{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(pool.allocate(2), (Ids{0, 1}));
  EXPECT_EQ(pool.allocate(3), (Ids{2, 3, 4}));
  EXPECT_EQ(pool.num_free_blocks(), 1);
  EXPECT_NEAR(pool.usage(), 5.0 / 6, 1e-12);
  pool.release(Ids{3, 0});
  EXPECT_EQ(pool.free_queue(), (Ids{5, 3, 0}));
  EXPECT_EQ(pool.allocate(2), (Ids{5, 3}));
  EXPECT_EQ(pool.ref_count(3), 1);
  EXPECT_EQ(pool.ref_count(0), 0);
}

TEST(BlockPool, FreedCachedBlockCanBeHitUntilEvicted) {
  BlockPool pool(4, true);
  Ids a = pool.allocate(2);  // 0, 1
  pool.cache_block(0, key_of({1, 2}));
  pool.cache_block(1, key_of({3, 4}, 7));
  pool.release(Ids{1, 0});
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1, 0}));
  EXPECT_EQ(pool.lookup(key_of({1, 2})), 0);
  EXPECT_EQ(pool.lookup(key_of({3, 4}, 7)), 1);
  EXPECT_EQ(pool.lookup(key_of({3, 4}, 8)), std::nullopt);  // another parent

  pool.retain(Ids{0});  // a hit takes block 0 out of the middle... here the tail
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1}));
  EXPECT_EQ(pool.ref_count(0), 1);

  EXPECT_EQ(pool.allocate(3), (Ids{2, 3, 1}));  // block 1 is evicted to be reused
  EXPECT_EQ(pool.stats().evictions, 1);
  EXPECT_EQ(pool.lookup(key_of({3, 4}, 7)), std::nullopt);
  EXPECT_EQ(pool.lookup(key_of({1, 2})), 0);
}

TEST(BlockPool, RetainRemovesFromTheMiddleOfTheQueue) {
  BlockPool pool(5, true);
  pool.allocate(5);
  pool.release(Ids{4, 2, 0, 3, 1});
  pool.retain(Ids{0});
  EXPECT_EQ(pool.free_queue(), (Ids{4, 2, 3, 1}));
  pool.retain(Ids{4, 1});
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3}));
  pool.retain(Ids{0});
  EXPECT_EQ(pool.ref_count(0), 2);
  pool.release(Ids{0});
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3}));
  pool.release(Ids{0});
  EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 0}));
}

TEST(BlockPool, DuplicateKeyKeepsTheFirstBlockAndDisabledCachingNeverHits) {
  BlockPool pool(3, true);
  pool.allocate(2);
  pool.cache_block(0, key_of({5}));
  pool.cache_block(1, key_of({5}));
  EXPECT_TRUE(pool.is_cached(0));
  EXPECT_FALSE(pool.is_cached(1));
  EXPECT_EQ(pool.lookup(key_of({5})), 0);

  BlockPool off(2, false);
  off.allocate(1);
  off.cache_block(0, key_of({5}));
  EXPECT_EQ(off.lookup(key_of({5})), std::nullopt);
}

TEST(BlockPool, MisuseIsAnError) {
  BlockPool pool(2, true);
  EXPECT_THROW(pool.release(Ids{0}), Error);
  EXPECT_THROW(pool.allocate(3), Error);
  EXPECT_THROW(BlockPool(0, true), Error);
}

// Random allocate/retain/release against a plain model of the pool: ref counts, the free
// count, and the LRU order must agree after every operation.
TEST(BlockPool, RandomOperationsMatchAReferenceModel) {
  std::mt19937 rng(1234);
  const int n = 32;
  BlockPool pool(n, true);
  std::vector<int> refs(n, 0);
  std::vector<int32_t> lru;  // the model's free queue
  for (int b = 0; b < n; ++b) lru.push_back(b);
  std::vector<int32_t> held;  // one entry per reference held
  for (int step = 0; step < 20000; ++step) {
    int op = static_cast<int>(rng() % 3);
    if (op == 0) {
      int k = static_cast<int>(rng() % 4);
      if (k > static_cast<int>(lru.size())) continue;
      Ids got = pool.allocate(k);
      Ids want(lru.begin(), lru.begin() + k);
      lru.erase(lru.begin(), lru.begin() + k);
      ASSERT_EQ(got, want);
      for (int32_t b : got) refs[b] = 1, held.push_back(b);
    } else if (op == 1 && !held.empty()) {
      size_t i = rng() % held.size();
      int32_t b = held[i];
      held.erase(held.begin() + static_cast<long>(i));
      pool.release(Ids{b});
      if (--refs[b] == 0) lru.push_back(b);
    } else if (op == 2) {
      int32_t b = static_cast<int32_t>(rng() % n);
      if (refs[b] == 0 && rng() % 2) continue;
      pool.retain(Ids{b});
      if (refs[b]++ == 0) lru.erase(std::find(lru.begin(), lru.end(), b));
      held.push_back(b);
    }
    ASSERT_EQ(pool.num_free_blocks(), static_cast<int64_t>(lru.size()));
    if (step % 97 == 0) {
      ASSERT_EQ(pool.free_queue(), lru);
    }
  }
  for (int b = 0; b < n; ++b) ASSERT_EQ(pool.ref_count(b), refs[b]);
  pool.release(held);
  EXPECT_EQ(pool.num_free_blocks(), n);
}

}  // namespace
}  // namespace pagellm
