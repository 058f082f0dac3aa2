// --weight-coding: the names it takes, what auto resolves to, and a model whose BF16 weights are
// stored coded computing the raw model's logits bit for bit (prefill, chunked and decode steps).
#include <gtest/gtest.h>

#include <cstring>

#include "../model/model_runner_for_tests.h"
#include "engine/engine_config.h"
#include "kernels/cpu/packed_matmul.h"
#include "model/llama_model.h"
#include "model/weight_coding.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

TEST(WeightCoding, ParsesNamesAndRejectsOthersNamingTheFlag) {
  EXPECT_EQ(parse_weight_coding("auto"), WeightCoding::kAuto);
  EXPECT_EQ(parse_weight_coding("on"), WeightCoding::kOn);
  EXPECT_EQ(parse_weight_coding("off"), WeightCoding::kOff);
  try {
    parse_weight_coding("yes");
    FAIL() << "accepted 'yes'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--weight-coding"), std::string::npos) << e.what();
  }
}

TEST(WeightCoding, AutoCodesOnlyWhenNoDecodeStepBatchesMoreThanFourSequences) {
  EngineConfig c;
  c.scheduler.max_num_seqs = 4;
  EXPECT_TRUE(codes_weights(c));
  c.scheduler.max_num_seqs = 5;
  EXPECT_FALSE(codes_weights(c));
  c.weight_coding = WeightCoding::kOn;
  EXPECT_TRUE(codes_weights(c));
  c.weight_coding = WeightCoding::kOff;
  c.scheduler.max_num_seqs = 1;
  EXPECT_FALSE(codes_weights(c));
}

TEST(WeightCoding, CodedModelComputesTheRawModelsLogitsBitForBit) {
  if (!kernels::cpu_codes_weights())
    GTEST_SKIP() << "this CPU does not code weights (needs AVX-512 BF16 and VBMI, no AMX)";
  for (const char* name : {"llama-gqa", "llama-tied-mha", "llama3-rope"}) {
    const std::string path = test::shared_dir() + "/models/tiny-random/" + name + "/" + name + "-bf16.gguf";
    std::shared_ptr<const LoadedModel> files = load_model(path);
    const LlamaModel raw(files, kernels::MatmulPrecision::kBF16, false);
    const LlamaModel coded(files, kernels::MatmulPrecision::kBF16, true);
    ASSERT_FALSE(raw.weights_coded());
    ASSERT_TRUE(coded.weights_coded()) << name;
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < 40; ++i) ids.push_back((i * 7919 + 13) % static_cast<int32_t>(raw.config().vocab_size));
    const std::vector<int32_t> table = test::identity_blocks(4);
    for (int64_t chunk : {int64_t{40}, int64_t{7}, int64_t{1}}) {
      const std::vector<float> a = test::logits_in_chunks(coded, ids, chunk, table, 4);
      const std::vector<float> b = test::logits_in_chunks(raw, ids, chunk, table, 4);
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << name << " chunk " << chunk;
    }
  }
}

}  // namespace
}  // namespace pagellm
