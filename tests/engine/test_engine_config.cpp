// resolve_engine_config: the model fills in --max-model-len, and a step budget that is only the
// command's default (serve's 512) is raised to it when chunked prefill is off, as vLLM does, while
// a budget the user gave is kept and, if too small, refused with a message naming the flag.
#include <gtest/gtest.h>

#include "engine/engine_core.h"
#include "model/model_loader.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

ModelConfig stories_config() { return load_model(test::shared_dir() + "/models/stories260K/stories260K.gguf")->config; }

EngineConfig config_with(int64_t budget, bool from_default, bool chunked) {
  EngineConfig c;
  c.scheduler.max_num_batched_tokens = budget;
  c.scheduler.batched_tokens_from_default = from_default;
  c.scheduler.enable_chunked_prefill = chunked;
  c.kv_cache_memory = 8 << 20;
  return c;
}

TEST(EngineConfig, DefaultBudgetRisesToMaxModelLenWithoutChunkedPrefill) {
  const ModelConfig model = stories_config();
  ASSERT_GT(model.max_position_embeddings, 128);
  const EngineConfig c = resolve_engine_config(model, config_with(128, true, false));
  EXPECT_EQ(c.scheduler.max_model_len, model.max_position_embeddings);
  EXPECT_EQ(c.scheduler.max_num_batched_tokens, model.max_position_embeddings);
  EXPECT_NO_THROW(c.scheduler.validate(c.num_kv_blocks * c.block_size));
}

TEST(EngineConfig, DefaultBudgetStaysWithChunkedPrefill) {
  const EngineConfig c = resolve_engine_config(stories_config(), config_with(128, true, true));
  EXPECT_EQ(c.scheduler.max_num_batched_tokens, 128);
  EXPECT_NO_THROW(c.scheduler.validate(c.num_kv_blocks * c.block_size));
}

TEST(EngineConfig, GivenBudgetIsKeptAndATooSmallOneIsRefused) {
  const EngineConfig c = resolve_engine_config(stories_config(), config_with(128, false, false));
  EXPECT_EQ(c.scheduler.max_num_batched_tokens, 128);
  try {
    c.scheduler.validate(c.num_kv_blocks * c.block_size);
    FAIL() << "a 128-token budget without chunked prefill must be refused for longer requests";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--max-num-batched-tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pagellm
