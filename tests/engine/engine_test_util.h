#pragma once
// What the engine tests share: a small engine config over a fixed number of KV blocks, and the
// check that a run left every block free and no request behind.
#include <gtest/gtest.h>

#include <string>

#include "engine/engine_core.h"
#include "engine/llm.h"
#include "test_paths.h"

namespace pagellm::test {

inline const std::string kStories = "models/stories260K/stories260K.gguf";

inline ModelBundle bundle(const std::string& rel) { return load_model_bundle(shared_dir() + "/" + rel); }

// A token budget, `blocks` KV blocks, 64 sequences, 256-token context.
inline EngineConfig engine_config(int64_t budget, int64_t blocks, bool chunked = true, bool prefix = true) {
  EngineConfig c;
  c.scheduler.max_num_batched_tokens = budget;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_model_len = 256;
  c.scheduler.enable_chunked_prefill = chunked;
  c.num_kv_blocks = blocks;
  c.enable_prefix_caching = prefix;
  return c;
}

inline void expect_all_blocks_free(const EngineCore& core) {
  const KVCacheManager& kv = core.kv_cache_manager();
  EXPECT_EQ(kv.num_free_blocks(), kv.pool().num_blocks());
  EXPECT_EQ(kv.num_requests(), 0);
  EXPECT_FALSE(core.has_unfinished());
}
inline void expect_all_blocks_free(LLM& llm) { expect_all_blocks_free(llm.engine()); }

}  // namespace pagellm::test
