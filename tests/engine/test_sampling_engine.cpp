// Sampling through the engine: stop strings (through the OutputProcessor, token by token),
// logprobs and prompt_logprobs against the float64 reference logits, parallel sampling (n,
// best_of) with shared blocks, and block accounting (beam search: test_beam_search.cpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>

#include "engine/async_engine.h"
#include "engine/llm.h"
#include "engine_test_util.h"
#include "sampling/logprobs.h"
#include "single_sequence_reference.h"
#include "test_paths.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::bundle;
using test::kStories;

EngineConfig engine_config(int64_t budget, int64_t blocks, bool prefix = true) {
  return test::engine_config(budget, blocks, true, prefix);
}
using test::expect_all_blocks_free;

// ---- Stop strings: feed chosen tokens through the OutputProcessor ----------------------------

struct Fed {
  std::vector<std::string> deltas;  // streamed text, one per token
  std::string text;
  int64_t tokens = 0;
  std::string finish_reason;
  StopReason stop_reason;
};

Fed feed(const Tokenizer& tok, const std::vector<int32_t>& prompt, const std::vector<int32_t>& out, SamplingParams p,
         std::vector<int32_t> eos = {2}) {
  auto shared = std::shared_ptr<const Tokenizer>(&tok, [](const Tokenizer*) {});
  OutputProcessor op(shared, eos, 1 << 20);
  p.max_tokens = static_cast<int64_t>(out.size());
  Request r("r", prompt, p);
  op.add_request(r);
  EngineStats stats;
  Fed f;
  for (int32_t t : out) {
    RequestOutput o = op.process_token(r, t, std::nullopt, stats);
    f.deltas.push_back(o.new_text);
    f.text += o.new_text;
    ++f.tokens;
    if (!o.finish_reason.empty()) {
      f.finish_reason = o.finish_reason;
      f.stop_reason = o.stop_reason;
      break;
    }
  }
  return f;
}

// Reference: the pieces each token adds (no stops), then the first token after which any stop
// string occurs; cut at the earliest occurrence (ties: first in the list).
struct Expected {
  std::string text;
  int64_t tokens;
  std::string stop;
};
Expected reference_stop(const std::vector<std::string>& pieces, const std::vector<std::string>& stops, bool include) {
  std::string text;
  for (size_t k = 0; k < pieces.size(); ++k) {
    text += pieces[k];
    size_t best = std::string::npos, which = 0;
    for (size_t i = 0; i < stops.size(); ++i) {
      const size_t pos = text.find(stops[i]);
      if (pos < best) best = pos, which = i;
    }
    if (best != std::string::npos)
      return {text.substr(0, best + (include ? stops[which].size() : 0)), static_cast<int64_t>(k + 1), stops[which]};
  }
  return {text, static_cast<int64_t>(pieces.size()), ""};
}

TEST(StopStrings, SpanningTokensOverlappingAndMultiByteNeverLeak) {
  ModelBundle b = bundle(kStories);
  const Tokenizer& tok = *b.tokenizer;
  const std::string source =
      "Once upon a time, the cat said: h\xC3\xA9llo w\xC3\xB6rld \xE2\x98\x83\xE2\x98\x83 end. The end.";
  const std::vector<int32_t> prompt{1};
  std::vector<int32_t> ids = tok.encode(source, false);
  const Fed plain = feed(tok, prompt, ids, SamplingParams{});
  ASSERT_EQ(plain.text, tok.decode(ids));
  const std::vector<std::string>& pieces = plain.deltas;

  // Stop strings made from the pieces: inside 1 token, across 2 and across 3 tokens.
  std::vector<std::vector<std::string>> cases;
  for (size_t k = 1; k + 3 < pieces.size(); ++k) {
    if (pieces[k].size() >= 3) cases.push_back({pieces[k].substr(1, 2)});
    if (!pieces[k].empty() && !pieces[k + 1].empty())
      cases.push_back({pieces[k].substr(pieces[k].size() - 1) + pieces[k + 1].substr(0, 1)});
    if (!pieces[k].empty() && !pieces[k + 1].empty() && !pieces[k + 2].empty())
      cases.push_back({pieces[k].substr(pieces[k].size() - 1) + pieces[k + 1] + pieces[k + 2].substr(0, 1)});
  }
  // Overlapping candidates, multi-byte characters, a string that never occurs.
  cases.push_back({"the cat sat", "the cat", "cat"});
  cases.push_back({"cat said", "at s"});
  cases.push_back({"\xC3\xB6", "w"});
  cases.push_back({"\xE2\x98\x83\xE2\x98\x83 e"});
  cases.push_back({"rld \xE2\x98\x83", "d \xE2\x98\x83\xE2\x98\x83"});
  cases.push_back({"h\xC3\xA9l"});
  cases.push_back({"The end", "end."});
  cases.push_back({"no such thing"});
  ASSERT_GT(cases.size(), 40u);

  for (const auto& stops : cases)
    for (bool include : {false, true}) {
      SamplingParams p;
      p.stop = stops;
      p.include_stop_str_in_output = include;
      const Fed got = feed(tok, prompt, ids, p);
      const Expected want = reference_stop(pieces, stops, include);
      const std::string label = stops[0] + (include ? " (included)" : "");
      EXPECT_EQ(got.text, want.text) << label;
      EXPECT_EQ(got.tokens, want.tokens) << label;
      if (want.stop.empty()) {
        EXPECT_EQ(got.finish_reason, "length") << label;
        EXPECT_TRUE(std::holds_alternative<std::monostate>(got.stop_reason)) << label;
      } else {
        EXPECT_EQ(got.finish_reason, "stop") << label;
        EXPECT_EQ(std::get<std::string>(got.stop_reason), want.stop) << label;
      }
      // The stream never shows text that the final text does not start with.
      std::string streamed;
      for (const std::string& d : got.deltas) {
        streamed += d;
        EXPECT_EQ(want.text.compare(0, streamed.size(), streamed), 0) << label << ": leaked '" << streamed << "'";
      }
    }
}

TEST(StopStrings, StopTokenIdsEosAndMinTokens) {
  ModelBundle b = bundle(kStories);
  const Tokenizer& tok = *b.tokenizer;
  const std::vector<int32_t> ids = tok.encode("the cat sat on the mat", false);
  std::vector<int32_t> with_eos = ids;
  with_eos.insert(with_eos.begin() + 2, 2);  // EOS as the third token
  SamplingParams p;
  Fed f = feed(tok, {1}, with_eos, p);
  EXPECT_EQ(f.tokens, 3);
  EXPECT_EQ(f.finish_reason, "stop");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(f.stop_reason));  // EOS: null stop_reason
  EXPECT_EQ(f.text, tok.decode(std::vector<int32_t>(ids.begin(), ids.begin() + 2)));

  p.min_tokens = 4;  // EOS before min_tokens does not stop
  f = feed(tok, {1}, with_eos, p);
  EXPECT_EQ(f.finish_reason, "length");

  SamplingParams q;
  q.stop_token_ids = {ids[3]};
  f = feed(tok, {1}, ids, q);
  EXPECT_EQ(f.tokens, 4);
  EXPECT_EQ(std::get<int64_t>(f.stop_reason), ids[3]);
  EXPECT_EQ(f.text, tok.decode(std::vector<int32_t>(ids.begin(), ids.begin() + 3)));
  q.include_stop_str_in_output = true;
  EXPECT_EQ(feed(tok, {1}, ids, q).text, tok.decode(std::vector<int32_t>(ids.begin(), ids.begin() + 4)));
  q.min_tokens = 5;
  q.include_stop_str_in_output = false;
  EXPECT_EQ(feed(tok, {1}, ids, q).finish_reason, "length");
}

TEST(StopStrings, SpacesBetweenSpecialTokensReachesTheDetokenizer) {
  // Mistral's vocabulary without a decoder (HF then joins pieces with spaces): the output text
  // drops the space between consecutive added tokens only when asked, with special tokens kept.
  nlohmann::json j =
      nlohmann::json::parse(read_text_file(test::shared_dir() + "/tokenizers/mistral-7b-v0.1/tokenizer.json"));
  j["decoder"] = nullptr;
  const std::string path = "/tmp/pagellm-nodecoder-" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << j.dump();
  auto tok = Tokenizer::from_hf(path);
  std::remove(path.c_str());
  const std::vector<int32_t> out{22557, 1, 1, 2, 1526};  // ▁Hello <s> <s> </s> ▁world
  SamplingParams p;
  p.ignore_eos = true;
  p.skip_special_tokens = false;
  EXPECT_EQ(feed(*tok, {1}, out, p).text, " ▁Hello <s> <s> </s> ▁world");
  p.spaces_between_special_tokens = false;
  EXPECT_EQ(feed(*tok, {1}, out, p).text, " ▁Hello <s><s></s> ▁world");
  p.skip_special_tokens = true;
  EXPECT_EQ(feed(*tok, {1}, out, p).text, "▁Hello ▁world");  // the skipped prompt <s> leaves no space
}

// ---- Logprobs against the float64 reference logits --------------------------------------------

std::vector<double> log_softmax(const Json& row) {
  std::vector<double> l = row.get<std::vector<double>>();
  const double m = *std::max_element(l.begin(), l.end());
  double s = 0;
  for (double x : l) s += std::exp(x - m);
  for (double& x : l) x -= m + std::log(s);
  return l;
}

void expect_entry_matches(const PositionLogprobs& got, const std::vector<double>& want, int64_t k, double tol,
                          const std::string& where) {
  ASSERT_GE(got.size(), static_cast<size_t>(k)) << where;
  for (const auto& [id, lp] : got) {
    EXPECT_NEAR(lp.logprob, want[static_cast<size_t>(id)], tol) << where << " id " << id;
    // rank = 1 + tokens more likely (ties within tolerance may swap).
    int64_t ahead = 0;
    for (double w : want) ahead += w > want[static_cast<size_t>(id)] + tol;
    EXPECT_GE(lp.rank, ahead + 1) << where;
  }
  // The top-k listed are the k most likely.
  std::vector<double> sorted = want;
  std::sort(sorted.rbegin(), sorted.rend());
  for (size_t i = 1; i < got.size(); ++i)
    EXPECT_GE(want[static_cast<size_t>(got[i].first)], sorted[static_cast<size_t>(k - 1)] - tol) << where;
}

struct LogitsFixture {
  const char* model;
  const char* logits;
  double tol;
};

TEST(Logprobs, PromptAndSampleLogprobsEqualLogSoftmaxOfReferenceLogits) {
  for (const LogitsFixture& fx :
       {LogitsFixture{kStories.c_str(), "models/stories260K/expected/logits.json", 2e-4},
        LogitsFixture{"models/tiny-random/llama-gqa/hf", "models/tiny-random/llama-gqa/expected/logits.json", 1e-5},
        LogitsFixture{"models/tiny-random/qwen3-qknorm/hf", "models/tiny-random/qwen3-qknorm/expected/logits.json",
                      1e-5}}) {
    ModelBundle b = bundle(fx.model);
    const Json ref = read_json_file(test::shared_dir() + "/" + fx.logits);
    int64_t checked = 0;
    for (const Json& c : ref["cases"]) {
      if (!c.contains("all_logits")) continue;
      ++checked;
      const std::vector<int32_t> prompt = c["prompt_ids"].get<std::vector<int32_t>>();
      const Json& all = c["all_logits"];
      // A small token budget: the prompt runs in chunks, its prompt logprobs rows are mapped back.
      LLM llm(b, engine_config(16, 256));
      for (int round = 0; round < 2; ++round) {  // the second round would hit the prefix cache
        SamplingParams p;
        p.temperature = 0;
        p.max_tokens = 1;
        p.logprobs = 5;
        p.prompt_logprobs = 3;
        PromptInput in;
        in.token_ids = prompt;
        const GenerateResult r = llm.generate({in}, {p})[0];
        EXPECT_EQ(r.num_cached_tokens, 0) << "prompt_logprobs requests take no prefix-cache hits";
        ASSERT_TRUE(r.prompt_logprobs.has_value());
        const auto& plp = *r.prompt_logprobs;
        ASSERT_EQ(plp.size(), prompt.size());
        EXPECT_FALSE(plp[0].has_value());
        for (size_t t = 1; t < prompt.size(); ++t) {
          ASSERT_TRUE(plp[t].has_value());
          EXPECT_EQ(plp[t]->front().first, prompt[t]);
          expect_entry_matches(*plp[t], log_softmax(all[t - 1]), 3, fx.tol,
                               std::string(fx.model) + " prompt position " + std::to_string(t));
        }
        const CompletionOutput& o = r.outputs[0];
        ASSERT_TRUE(o.logprobs.has_value());
        ASSERT_EQ(o.logprobs->size(), 1u);
        const std::vector<double> last = log_softmax(all[prompt.size() - 1]);
        expect_entry_matches((*o.logprobs)[0], last, 5, fx.tol, std::string(fx.model) + " sample");
        EXPECT_EQ((*o.logprobs)[0].front().first, o.token_ids[0]);
        EXPECT_EQ((*o.logprobs)[0].front().second.rank, 1);  // greedy takes the top token
        EXPECT_NEAR(*o.cumulative_logprob, (*o.logprobs)[0].front().second.logprob, 1e-12);
        EXPECT_FALSE((*o.logprobs)[0].front().second.decoded_token.empty());
      }
      expect_all_blocks_free(llm);
    }
    EXPECT_EQ(checked, 1) << fx.logits;
  }
}

TEST(Logprobs, CumulativeIsTheSumAndLogprobsDoNotChangeTokens) {
  ModelBundle b = bundle(kStories);
  LLM llm(b, engine_config(64, 256));
  SamplingParams p;
  p.seed = 5;
  p.max_tokens = 20;
  p.ignore_eos = true;
  PromptInput in;
  in.token_ids = {1, 403, 407, 261};
  const GenerateResult plain = llm.generate({in}, {p})[0];
  EXPECT_FALSE(plain.outputs[0].cumulative_logprob.has_value());
  p.logprobs = 2;
  const GenerateResult r = llm.generate({in}, {p})[0];
  EXPECT_EQ(r.outputs[0].token_ids, plain.outputs[0].token_ids);
  ASSERT_EQ(r.outputs[0].logprobs->size(), 20u);
  double sum = 0;
  for (size_t i = 0; i < 20; ++i) {
    const PositionLogprobs& lp = (*r.outputs[0].logprobs)[i];
    EXPECT_EQ(lp.front().first, r.outputs[0].token_ids[i]);
    EXPECT_LE(lp.size(), 3u);
    sum += lp.front().second.logprob;
  }
  EXPECT_NEAR(*r.outputs[0].cumulative_logprob, sum, 1e-9);
  expect_all_blocks_free(llm);
}

// ---- Parallel sampling ---------------------------------------------------------------------------

int64_t used_blocks(LLM& llm) {
  const KVCacheManager& kv = llm.engine().kv_cache_manager();
  return kv.pool().num_blocks() - kv.num_free_blocks();
}

TEST(ParallelSampling, ForkedSequencesEqualSingleRunsWithDerivedSeedsAndShareBlocks) {
  ModelBundle b = bundle(kStories);
  std::vector<int32_t> prompt{1};
  for (int i = 0; i < 99; ++i) prompt.push_back(static_cast<int32_t>(3 + (i * 37) % 500));
  SamplingParams p;
  p.n = 8;
  p.seed = 77;
  p.max_tokens = 12;
  p.ignore_eos = true;
  p.temperature = 0.9;
  p.top_k = 40;
  p.frequency_penalty = 0.3;
  std::vector<std::vector<int32_t>> want;
  for (int64_t i = 0; i < p.n; ++i) {
    SamplingParams one = p;
    one.n = 1;
    one.seed = derive_seed(*p.seed, i);
    want.push_back(generate_single_sequence(b, prompt, one, [](int32_t) {}).token_ids);
  }
  PromptInput in;
  in.token_ids = prompt;
  auto peak_of = [&](LLM& llm, const SamplingParams& sp, std::vector<std::vector<int32_t>>* got) {
    int64_t peak = 0;
    const GenerateResult r =
        llm.generate({in}, {sp}, [&](const GenerateProgress&) { peak = std::max(peak, used_blocks(llm)); })[0];
    if (got)
      for (const CompletionOutput& o : r.outputs) got->push_back(o.token_ids);
    for (size_t i = 0; i < r.outputs.size(); ++i) EXPECT_EQ(r.outputs[i].index, static_cast<int64_t>(i));
    return peak;
  };
  LLM llm(b, engine_config(512, 256, /*prefix=*/false));
  SamplingParams one = p;
  one.n = 1;
  const int64_t peak1 = peak_of(llm, one, nullptr);
  std::vector<std::vector<int32_t>> got;
  const int64_t peak8 = peak_of(llm, p, &got);
  EXPECT_EQ(got, want);
  // 100 prompt tokens = 7 blocks shared; each sequence adds at most 2 of its own.
  EXPECT_GE(peak1, 7);
  EXPECT_LE(peak8, 7 + 8 * 2);
  EXPECT_LT(peak8, 8 * peak1 / 2);
  expect_all_blocks_free(llm);

  // Through preemption (a tiny cache) and chunked prefill, with batch companions.
  LLM tiny(b, engine_config(24, 24, false));
  std::vector<PromptInput> ins{in, in, in};
  std::vector<SamplingParams> ps{p, one, p};
  ps[2].seed = 78;
  const std::vector<GenerateResult> rs = tiny.generate(ins, ps);
  std::vector<std::vector<int32_t>> got_tiny;
  for (const CompletionOutput& o : rs[0].outputs) got_tiny.push_back(o.token_ids);
  EXPECT_EQ(got_tiny, want);
  EXPECT_EQ(rs[1].outputs[0].token_ids, want[0]);
  EXPECT_GT(tiny.engine().stats().num_preemptions, 0);
  expect_all_blocks_free(tiny);
}

TEST(ParallelSampling, BestOfKeepsTheHighestCumulativeLogprobs) {
  ModelBundle b = bundle(kStories);
  LLM llm(b, engine_config(256, 256));
  PromptInput in;
  in.token_ids = {1, 403, 407};
  SamplingParams all;
  all.n = 5;
  all.seed = 3;
  all.max_tokens = 10;
  all.ignore_eos = true;
  all.logprobs = 0;
  const GenerateResult every = llm.generate({in}, {all})[0];
  ASSERT_EQ(every.outputs.size(), 5u);
  std::vector<CompletionOutput> sorted = every.outputs;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& c) { return *a.cumulative_logprob > *c.cumulative_logprob; });
  SamplingParams best = all;
  best.n = 2;
  best.best_of = 5;
  const GenerateResult r = llm.generate({in}, {best})[0];
  ASSERT_EQ(r.outputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.outputs[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(r.outputs[i].token_ids, sorted[i].token_ids);
    EXPECT_NEAR(*r.outputs[i].cumulative_logprob, *sorted[i].cumulative_logprob, 1e-9);
  }
  expect_all_blocks_free(llm);
}

TEST(ParallelSampling, AbortEndsEverySequence) {
  ModelBundle b = bundle(kStories);
  EngineCore core(b, engine_config(256, 64));
  SamplingParams p;
  p.n = 4;
  p.max_tokens = 100;
  p.ignore_eos = true;
  core.add_request(std::make_shared<Request>("x", std::vector<int32_t>{1, 403, 407}, p));
  for (int i = 0; i < 3; ++i) core.step();
  core.abort_request("x");
  std::vector<RequestOutput> outs;
  while (core.has_unfinished())
    for (auto& o : core.step()) outs.push_back(o);
  ASSERT_FALSE(outs.empty());
  EXPECT_TRUE(outs.back().finished);
  EXPECT_EQ(outs.back().finish_reason, "abort");
  EXPECT_EQ(core.kv_cache_manager().num_free_blocks(), 64);
  // vllm:request_success counts sequences, as vLLM (one request per sequence) does: all 4 here,
  // and all 4 of a request aborted before its sequences were even forked.
  EXPECT_EQ(core.stats().request_success.at("abort"), 4);
  core.add_request(std::make_shared<Request>("y", std::vector<int32_t>{1, 403, 407}, p));
  core.abort_request("y");
  while (core.has_unfinished()) core.step();
  EXPECT_EQ(core.stats().request_success.at("abort"), 8);
  p.n = 3;
  p.max_tokens = 5;
  core.add_request(std::make_shared<Request>("z", std::vector<int32_t>{1, 403, 407}, p));
  while (core.has_unfinished()) core.step();
  EXPECT_EQ(core.stats().request_success.at("length"), 3);
  EXPECT_EQ(core.kv_cache_manager().num_free_blocks(), 64);
}

}  // namespace
}  // namespace pagellm

namespace pagellm {
namespace {

TEST(EngineStops, MinTokensMasksEosAndStopReasonsReachLLM) {
  ModelBundle b = bundle(kStories);
  LLM llm(b, engine_config(256, 256));
  PromptInput in;
  in.token_ids = {1, 403, 407};
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 20;
  p.logit_bias = {{2, 100.0}};  // EOS as soon as it is allowed
  p.min_tokens = 5;
  const CompletionOutput o = llm.generate({in}, {p})[0].outputs[0];
  ASSERT_EQ(o.token_ids.size(), 6u);
  EXPECT_EQ(o.token_ids.back(), 2);
  EXPECT_EQ(o.finish_reason, "stop");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(o.stop_reason));
  for (size_t i = 0; i < 5; ++i) EXPECT_NE(o.token_ids[i], 2);

  SamplingParams q;
  q.temperature = 0;
  q.max_tokens = 30;
  q.ignore_eos = true;
  const CompletionOutput free_run = llm.generate({in}, {q})[0].outputs[0];
  q.stop_token_ids = {free_run.token_ids[4]};
  const CompletionOutput by_id = llm.generate({in}, {q})[0].outputs[0];
  EXPECT_EQ(std::get<int64_t>(by_id.stop_reason), free_run.token_ids[4]);
  EXPECT_LE(by_id.token_ids.size(), 5u);
  q.stop_token_ids.clear();
  q.stop = {free_run.text.substr(10, 3)};
  const CompletionOutput by_str = llm.generate({in}, {q})[0].outputs[0];
  EXPECT_EQ(by_str.finish_reason, "stop");
  EXPECT_EQ(std::get<std::string>(by_str.stop_reason), q.stop[0]);
  EXPECT_EQ(by_str.text, free_run.text.substr(0, free_run.text.find(q.stop[0])));
  expect_all_blocks_free(llm);
}

TEST(EngineStops, BadWordsAsTextAreNeverGenerated) {
  ModelBundle b = bundle(kStories);
  LLM llm(b, engine_config(256, 256));
  PromptInput in;
  in.text = "Once upon a time";
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 40;
  p.ignore_eos = true;
  const CompletionOutput free_run = llm.generate({in}, {p})[0].outputs[0];
  // The word's token sequences (alone and after a space) never occur in the output.
  const std::vector<std::vector<int32_t>> words{llm.tokenizer().encode("girl", false),
                                                llm.tokenizer().encode(" girl", false)};
  auto occurs = [&](const std::vector<int32_t>& ids) {
    for (const auto& w : words)
      if (std::search(ids.begin(), ids.end(), w.begin(), w.end()) != ids.end()) return true;
    return false;
  };
  ASSERT_TRUE(occurs(free_run.token_ids)) << free_run.text;
  p.bad_words = {"girl"};
  const CompletionOutput banned = llm.generate({in}, {p})[0].outputs[0];
  EXPECT_FALSE(occurs(banned.token_ids)) << banned.text;
  EXPECT_NE(banned.token_ids, free_run.token_ids);
}

TEST(AsyncStreams, ParallelSequencesStreamByIndexAndMatchTheOfflineResult) {
  ModelBundle b = bundle(kStories);
  SamplingParams p;
  p.n = 3;
  p.seed = 11;
  p.max_tokens = 25;
  p.ignore_eos = true;
  p.stop = {"the"};
  p.logprobs = 1;
  PromptInput in;
  in.token_ids = {1, 403, 407};
  LLM llm(b, engine_config(256, 256));
  const GenerateResult want = llm.generate({in}, {p})[0];
  AsyncEngine engine(b, engine_config(256, 256));
  auto stream = engine.add_request(std::make_shared<Request>("s", in.token_ids, p));
  std::vector<std::string> text(3);
  std::vector<std::vector<int32_t>> ids(3);
  std::vector<size_t> logprobs(3);
  while (auto out = stream->next(std::chrono::milliseconds(10000))) {
    text.at(static_cast<size_t>(out->index)) += out->new_text;
    auto& v = ids.at(static_cast<size_t>(out->index));
    v.insert(v.end(), out->new_token_ids.begin(), out->new_token_ids.end());
    logprobs[static_cast<size_t>(out->index)] += out->new_logprobs.size();
    if (out->finished) break;
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(text[i], want.outputs[i].text) << i;
    EXPECT_EQ(ids[i], want.outputs[i].token_ids) << i;
    EXPECT_EQ(logprobs[i], ids[i].size());
  }
  engine.shutdown();
}

}  // namespace
}  // namespace pagellm
