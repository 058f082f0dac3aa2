// The engine's central promise: a request's tokens are the same whether it runs alone or in any
// batch, with chunked prefill on or off, through preemption and prefix-cache hits; and every
// block is free again when all requests are done. Reference: generate_single_sequence, a separate
// path with no scheduler and a private contiguous cache.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine/async_engine.h"
#include "engine/llm.h"
#include "engine_test_util.h"
#include "single_sequence_reference.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

struct Workload {
  std::vector<PromptInput> prompts;
  std::vector<SamplingParams> params;
};

// `n` prompts of random ids; with `shared_stems`, prompts start with one of a few 40-token stems.
Workload make_workload(int n, uint32_t seed, bool sampled, bool shared_stems = false) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> stems(4);
  for (auto& s : stems)
    for (int i = 0; i < 40; ++i) s.push_back(static_cast<int32_t>(3 + rng() % 500));
  Workload w;
  for (int i = 0; i < n; ++i) {
    PromptInput p;
    p.token_ids = {1};
    if (shared_stems) {
      const auto& stem = stems[rng() % stems.size()];
      p.token_ids.insert(p.token_ids.end(), stem.begin(), stem.end());
    }
    const int len = 1 + static_cast<int>(rng() % 90);
    for (int t = 0; t < len; ++t) p.token_ids.push_back(static_cast<int32_t>(3 + rng() % 500));
    SamplingParams sp;
    sp.max_tokens = 1 + static_cast<int>(rng() % 40);
    sp.ignore_eos = true;
    sp.temperature = sampled ? 0.9 : 0.0;
    sp.top_p = sampled ? 0.95 : 1.0;
    sp.seed = 1000 + i;
    w.prompts.push_back(p);
    w.params.push_back(sp);
  }
  return w;
}

std::vector<std::vector<int32_t>> alone(const ModelBundle& bundle, const Workload& w) {
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i < w.prompts.size(); ++i)
    out.push_back(generate_single_sequence(bundle, w.prompts[i].token_ids, w.params[i], [](int32_t) {}).token_ids);
  return out;
}

std::vector<std::vector<int32_t>> batched(LLM& llm, const Workload& w) {
  std::vector<std::vector<int32_t>> out;
  for (const GenerateResult& r : llm.generate(w.prompts, w.params)) out.push_back(r.outputs[0].token_ids);
  return out;
}

using test::expect_all_blocks_free;

using test::engine_config;

// The parameter: a model path under shared/, with " int8" after it for --dtype int8.
class EngineInvariance : public ::testing::TestWithParam<std::string> {
 protected:
  static ModelBundle bundle(const std::string& param) {
    const size_t space = param.find(' ');
    const ComputeDType dtype =
        space == std::string::npos ? ComputeDType::kAuto : parse_compute_dtype(param.substr(space + 1));
    return load_model_bundle(test::shared_dir() + "/" + param.substr(0, space), dtype);
  }
};

TEST_P(EngineInvariance, GreedyBatchedEqualsAloneInEveryConfiguration) {
  ModelBundle b = bundle(GetParam());
  const Workload w = make_workload(64, 7, /*sampled=*/false);
  const auto want = alone(b, w);
  struct Named {
    const char* name;
    EngineConfig config;
  };
  for (const Named& n : {Named{"default", engine_config(2048, 1024)}, Named{"small chunks", engine_config(37, 1024)},
                         Named{"no chunked prefill", engine_config(256, 1024, false)},
                         Named{"no prefix caching", engine_config(512, 1024, true, false)}}) {
    LLM llm(b, n.config);
    EXPECT_EQ(batched(llm, w), want) << n.name;
    expect_all_blocks_free(llm);
  }
}

TEST_P(EngineInvariance, PreemptionUnderATinyCacheKeepsOutputs) {
  ModelBundle b = bundle(GetParam());
  const Workload w = make_workload(32, 8, false);
  const auto want = alone(b, w);
  LLM llm(b, engine_config(512, 20));  // 320 token slots for 32 requests of up to 130 tokens
  EXPECT_EQ(batched(llm, w), want);
  EXPECT_GT(llm.engine().stats().num_preemptions, 0);
  expect_all_blocks_free(llm);
}

TEST_P(EngineInvariance, PrefixCacheHitsKeepOutputs) {
  ModelBundle b = bundle(GetParam());
  const Workload w = make_workload(24, 9, false, /*shared_stems=*/true);
  const auto want = alone(b, w);
  LLM llm(b, engine_config(128, 512));
  EXPECT_EQ(batched(llm, w), want);
  EXPECT_EQ(batched(llm, w), want);  // second round: whole prompts' full blocks hit
  EXPECT_GT(llm.engine().stats().prefix_cache_hits, 40 * 24 / 2);
  expect_all_blocks_free(llm);
}

TEST_P(EngineInvariance, SeededSamplingDoesNotDependOnTheBatch) {
  ModelBundle b = bundle(GetParam());
  const Workload w = make_workload(32, 10, /*sampled=*/true);
  const auto want = alone(b, w);
  LLM big(b, engine_config(64, 1024));
  EXPECT_EQ(batched(big, w), want);
  LLM tiny(b, engine_config(512, 20));  // through preemption too
  EXPECT_EQ(batched(tiny, w), want);
  EXPECT_GT(tiny.engine().stats().num_preemptions, 0);
}

TEST_P(EngineInvariance, SeededSamplingWithEveryProcessorDoesNotDependOnTheBatch) {
  // Penalties, bias, bans, min_p/top_k/top_p and logprobs, varied per request: 32 mixed requests
  // batched (chunked prefill, then preemption) give each request's tokens alone.
  ModelBundle b = bundle(GetParam());
  Workload w = make_workload(32, 13, /*sampled=*/true);
  for (size_t i = 0; i < w.params.size(); ++i) {
    SamplingParams& p = w.params[i];
    switch (i % 6) {
      case 0:
        p.repetition_penalty = 1.3, p.frequency_penalty = 0.4, p.presence_penalty = 0.2;
        break;
      case 1:
        p.top_k = 5, p.min_p = 0.05, p.logprobs = 3;
        break;
      case 2:
        p.logit_bias = {{400, 3.0}, {401, -2.0}}, p.min_tokens = std::min<int64_t>(5, p.max_tokens);
        break;
      case 3:
        p.allowed_token_ids = std::vector<int32_t>{};
        for (int32_t t = 3; t < 300; t += 2) p.allowed_token_ids->push_back(t);
        break;
      case 4:
        p.bad_words_token_ids = {{400}, {401, 402}}, p.temperature = 1.2, p.top_p = 0.7;
        break;
      default:
        p.temperature = 0, p.repetition_penalty = 1.5;
        break;
    }
  }
  const auto want = alone(b, w);
  LLM big(b, engine_config(48, 1024));
  EXPECT_EQ(batched(big, w), want);
  LLM tiny(b, engine_config(512, 20));
  EXPECT_EQ(batched(tiny, w), want);
  EXPECT_GT(tiny.engine().stats().num_preemptions, 0);
  expect_all_blocks_free(tiny);
}

// The BF16 GGUF runs as `--dtype auto` runs it on an AVX512-BF16 CPU: bf16 compute and a bf16 KV
// cache (blocks copied, shared by prefix and preempted like float32 ones). The Q8_0 GGUF also runs
// in int8 (activations quantized per row, so batches keep a row's bits too).
INSTANTIATE_TEST_SUITE_P(Models, EngineInvariance,
                         ::testing::Values("models/stories260K/stories260K.gguf", "models/tiny-random/qwen3-qknorm/hf",
                                           "models/tiny-random/llama3-rope/llama3-rope-q8_0.gguf",
                                           "models/tiny-random/llama-gqa/llama-gqa-bf16.gguf",
                                           "models/tiny-random/llama3-rope/llama3-rope-q8_0.gguf int8"),
                         [](const auto& info) { return std::to_string(info.index); });

TEST(Engine, AbortFreesBlocksAndReportsAbort) {
  ModelBundle b = load_model_bundle(test::shared_dir() + "/models/stories260K/stories260K.gguf");
  EngineCore core(b, engine_config(64, 64));
  const Workload w = make_workload(10, 11, false);
  for (size_t i = 0; i < w.prompts.size(); ++i) {
    SamplingParams p = w.params[i];
    p.max_tokens = 30;
    core.add_request(std::make_shared<Request>("r" + std::to_string(i), w.prompts[i].token_ids, p));
  }
  std::map<std::string, std::string> reasons;
  for (int s = 0; s < 3; ++s)
    for (auto& o : core.step())
      if (o.finished) reasons[o.request_id] = o.finish_reason;
  for (int i = 0; i < 10; i += 2) core.abort_request("r" + std::to_string(i));
  core.abort_request("no-such-request");
  while (core.has_unfinished())
    for (auto& o : core.step())
      if (o.finished) reasons[o.request_id] = o.finish_reason;
  ASSERT_EQ(reasons.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(reasons["r" + std::to_string(i)], i % 2 ? "length" : "abort");
  EXPECT_EQ(core.kv_cache_manager().num_free_blocks(), 64);
}

TEST(Engine, RejectsBadRequestsWithClearErrors) {
  ModelBundle b = load_model_bundle(test::shared_dir() + "/models/stories260K/stories260K.gguf");
  EngineCore core(b, engine_config(64, 64));
  SamplingParams ok;
  EXPECT_THROW(core.add_request(std::make_shared<Request>("a", std::vector<int32_t>{}, ok)), Error);
  EXPECT_THROW(core.add_request(std::make_shared<Request>("b", std::vector<int32_t>(300, 5), ok)), Error);
  EXPECT_THROW(core.add_request(std::make_shared<Request>("c", std::vector<int32_t>{1, 999}, ok)), Error);
  SamplingParams bad;
  bad.temperature = -1;
  EXPECT_THROW(core.add_request(std::make_shared<Request>("d", std::vector<int32_t>{1}, bad)), Error);
  core.add_request(std::make_shared<Request>("e", std::vector<int32_t>{1}, ok));
  EXPECT_THROW(core.add_request(std::make_shared<Request>("e", std::vector<int32_t>{1}, ok)), Error);
  EXPECT_THROW(EngineCore(b, engine_config(64, 4)), Error);  // 64 token slots < max_model_len 256
}

TEST(AsyncEngine, ConcurrentClientsEachGetTheirOwnStream) {
  ModelBundle b = load_model_bundle(test::shared_dir() + "/models/stories260K/stories260K.gguf");
  const Workload w = make_workload(24, 12, false);
  const auto want = alone(b, w);
  AsyncEngine engine(b, engine_config(256, 256));
  std::vector<std::vector<int32_t>> got(w.prompts.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < w.prompts.size(); ++i)
    clients.emplace_back([&, i] {
      auto stream =
          engine.add_request(std::make_shared<Request>("c" + std::to_string(i), w.prompts[i].token_ids, w.params[i]));
      while (auto out = stream->next(std::chrono::milliseconds(5000))) {
        got[i].insert(got[i].end(), out->new_token_ids.begin(), out->new_token_ids.end());
        if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // slow readers
        if (out->finished) break;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(got, want);
  // Stats are refreshed after each step; the last step finished everything.
  EngineStats s = engine.stats();
  EXPECT_EQ(s.num_running, 0);
  EXPECT_EQ(s.num_waiting, 0);
  EXPECT_EQ(s.kv_cache_usage, 0.0);
  EXPECT_EQ(s.request_success["length"], 24);
  EXPECT_EQ(s.time_to_first_token.count(), 24);
}

TEST(AsyncEngine, AbortFromAnotherThreadAndShutdown) {
  ModelBundle b = load_model_bundle(test::shared_dir() + "/models/stories260K/stories260K.gguf");
  AsyncEngine engine(b, engine_config(256, 256));
  SamplingParams p;
  p.max_tokens = 200;
  p.ignore_eos = true;
  p.temperature = 0;
  auto stream = engine.add_request(std::make_shared<Request>("long", std::vector<int32_t>{1, 400}, p));
  auto first = stream->next(std::chrono::milliseconds(5000));
  ASSERT_TRUE(first.has_value());
  engine.abort("long");
  std::string reason;
  while (auto out = stream->next(std::chrono::milliseconds(5000)))
    if (out->finished) reason = out->finish_reason;
  EXPECT_EQ(reason, "abort");
  EXPECT_THROW(engine.add_request(std::make_shared<Request>("bad", std::vector<int32_t>{}, p)), Error);
  engine.shutdown();
  EXPECT_THROW(engine.add_request(std::make_shared<Request>("late", std::vector<int32_t>{1}, p)), Error);
}

}  // namespace
}  // namespace pagellm
