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

// --kv-cache-dtype: auto follows the projections' precision (vLLM's auto keeps a BF16 model's
// cache in bf16); a bf16 cache takes half the bytes per block, so the same memory holds twice the
// blocks; unsupported names are refused naming the flag.
TEST(EngineConfig, KvCacheDtypeFollowsComputePrecisionAndSizesTheBlocks) {
  using kernels::KVDType;
  using kernels::MatmulPrecision;
  const ModelConfig model = stories_config();
  EngineConfig auto_f32 = resolve_engine_config(model, config_with(128, true, true), MatmulPrecision::kExact);
  EngineConfig auto_bf16 = resolve_engine_config(model, config_with(128, true, true), MatmulPrecision::kBF16);
  EXPECT_EQ(auto_f32.kv_dtype, KVDType::kFloat32);
  EXPECT_EQ(auto_bf16.kv_dtype, KVDType::kBFloat16);
  // 8 MiB of cache: a float32 block is layers * 2 * 16 * kv_heads * head_dim * 4 bytes.
  const int64_t f32_block = model.num_layers * 2 * 16 * model.num_kv_heads * model.head_dim * 4;
  EXPECT_EQ(auto_f32.num_kv_blocks, (int64_t{8} << 20) / f32_block);
  EXPECT_EQ(auto_bf16.num_kv_blocks, (int64_t{8} << 20) / (f32_block / 2));

  EngineConfig forced = config_with(128, true, true);
  forced.kv_cache_dtype = parse_kv_cache_dtype("float32");
  EXPECT_EQ(resolve_engine_config(model, forced, MatmulPrecision::kBF16).kv_dtype, KVDType::kFloat32);
  forced.kv_cache_dtype = parse_kv_cache_dtype("bfloat16");
  EXPECT_EQ(resolve_engine_config(model, forced, MatmulPrecision::kExact).kv_dtype, KVDType::kBFloat16);
  for (const char* bad : {"fp8", "float16", ""}) {
    try {
      parse_kv_cache_dtype(bad);
      FAIL() << "'" << bad << "' must be refused";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("--kv-cache-dtype"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace pagellm
