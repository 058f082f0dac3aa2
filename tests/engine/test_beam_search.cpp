// Beam search: the offline API against exhaustive and full-recompute references, and the same
// search inside the engine next to other requests (batch invariance), under KV pressure (beams
// parked and recomputed), aborted, and within max_num_seqs; every block free afterwards.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>

#include "engine/llm.h"
#include "engine_test_util.h"
#include "sampling/logprobs.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

using test::bundle;
using test::expect_all_blocks_free;
using test::kStories;

// A token budget and `blocks` KV blocks (chunked prefill on).
EngineConfig engine_config(int64_t budget, int64_t blocks, bool prefix = true) {
  return test::engine_config(budget, blocks, true, prefix);
}

// Next-token log-probabilities of `tokens` by a fresh full forward pass (no shared cache).
std::vector<double> next_logprobs(const ModelBundle& b, const std::vector<int32_t>& tokens) {
  const int64_t blocks = (static_cast<int64_t>(tokens.size()) + 15) / 16;
  KVCache cache(b.config(), blocks, 16);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  std::iota(table.begin(), table.end(), 0);
  ForwardBatch batch;
  batch.add_sequence(tokens, 0, table, 16);
  const std::vector<float> logits = b.model->forward(batch, cache);
  const double lse = log_sum_exp(logits);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
  return out;
}

TEST(BeamSearch, WidthVocabLengthTwoEqualsExhaustiveSearch) {
  // With beam_width >= V, two steps of beam search keep every first token, so the result must be
  // the best beam_width of all V^2 two-token continuations.
  ModelBundle b = bundle(kStories);
  const int64_t V = b.config().vocab_size;
  const std::vector<int32_t> prompt{1, 403, 407};
  const std::vector<double> first = next_logprobs(b, prompt);
  struct Seq {
    double lp;
    int32_t a, c;
  };
  std::vector<Seq> all;
  for (int32_t a = 0; a < V; ++a) {
    std::vector<int32_t> t = prompt;
    t.push_back(a);
    const std::vector<double> second = next_logprobs(b, t);
    for (int32_t c = 0; c < V; ++c)
      all.push_back({first[static_cast<size_t>(a)] + second[static_cast<size_t>(c)], a, c});
  }
  std::sort(all.begin(), all.end(), [](const Seq& x, const Seq& y) { return x.lp > y.lp; });

  EngineConfig config = engine_config(2048, 2048);
  config.scheduler.max_num_seqs = V;  // every beam runs at once
  LLM llm(b, config);
  BeamSearchParams bp;
  bp.beam_width = V;
  bp.max_tokens = 2;
  bp.ignore_eos = true;
  PromptInput in;
  in.token_ids = prompt;
  const BeamSearchResult r = llm.beam_search({in}, bp)[0];
  ASSERT_EQ(r.sequences.size(), static_cast<size_t>(V));
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(r.sequences[i].token_ids, (std::vector<int32_t>{all[i].a, all[i].c})) << i;
    EXPECT_NEAR(r.sequences[i].cumulative_logprob, all[i].lp, 1e-4) << i;
  }
  expect_all_blocks_free(llm);
}

TEST(BeamSearch, EqualsAFullRecomputeReferenceBeam) {
  ModelBundle b = bundle("models/tiny-random/llama-gqa/hf");
  const std::vector<int32_t> prompt{1, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200};
  for (const int64_t width : {1, 3, 5}) {
    const int64_t steps = 5;
    // Reference: expand every beam with every token; keep the best `width` by cumulative logprob.
    struct Ref {
      std::vector<int32_t> tokens;
      double lp;
    };
    std::vector<Ref> beams{{{}, 0.0}};
    for (int64_t s = 0; s < steps; ++s) {
      std::vector<Ref> next;
      for (const Ref& r : beams) {
        std::vector<int32_t> t = prompt;
        t.insert(t.end(), r.tokens.begin(), r.tokens.end());
        const std::vector<double> lp = next_logprobs(b, t);
        for (size_t c = 0; c < lp.size(); ++c) {
          Ref n = r;
          n.tokens.push_back(static_cast<int32_t>(c));
          n.lp += lp[c];
          next.push_back(n);
        }
      }
      std::stable_sort(next.begin(), next.end(), [](const Ref& x, const Ref& y) { return x.lp > y.lp; });
      next.resize(static_cast<size_t>(width));
      beams = next;
    }
    LLM llm(b, engine_config(256, 64));
    BeamSearchParams bp;
    bp.beam_width = width;
    bp.max_tokens = steps;
    bp.ignore_eos = true;
    PromptInput in;
    in.token_ids = prompt;
    const BeamSearchResult r = llm.beam_search({in}, bp)[0];
    ASSERT_EQ(r.sequences.size(), static_cast<size_t>(width));
    for (size_t i = 0; i < beams.size(); ++i) {
      EXPECT_EQ(r.sequences[i].token_ids, beams[i].tokens) << "width " << width << " beam " << i;
      EXPECT_NEAR(r.sequences[i].cumulative_logprob, beams[i].lp, 1e-4);
      EXPECT_NEAR(r.sequences[i].score, beams[i].lp / static_cast<double>(prompt.size() + steps), 1e-6);
      EXPECT_EQ(r.sequences[i].finish_reason, "length");
    }
    expect_all_blocks_free(llm);
    // The engine still serves ordinary requests afterwards.
    SamplingParams p;
    p.max_tokens = 3;
    EXPECT_EQ(llm.generate({in}, {p})[0].outputs[0].token_ids.size(), 3u);
    expect_all_blocks_free(llm);
  }
}

TEST(BeamSearch, EosLengthPenaltyAndEarlyStoppingFollowTheReferenceAlgorithm) {
  // EOS is set to a token the random model likes (the 3rd most likely first token), so beams
  // finish early and the length penalty matters. Reference: vLLM's algorithm written over
  // full-recompute logprobs, no KV sharing.
  ModelBundle b = bundle("models/tiny-random/llama-gqa/hf");
  const std::vector<int32_t> prompt{1, 300, 301, 302, 303};
  const std::vector<double> first = next_logprobs(b, prompt);
  std::vector<int32_t> order(first.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t x, int32_t y) { return first[x] > first[y]; });
  const int32_t eos = order[2];
  const int64_t width = 24, steps = 4;
  for (const bool early : {false, true})
    for (const double penalty : {1.0, 0.0}) {  // 0: raw cumulative logprob, short EOS beams win
      struct Ref {
        std::vector<int32_t> tokens;
        double lp, score;
      };
      auto score = [&](const std::vector<int32_t>& t, double lp) {
        const auto len = static_cast<int64_t>(prompt.size() + t.size()) - (!t.empty() && t.back() == eos ? 1 : 0);
        return lp / std::pow(static_cast<double>(len), penalty);
      };
      std::vector<Ref> live{{{}, 0.0, 0.0}}, done;
      for (int64_t s = 0; s < steps && !live.empty(); ++s) {
        std::vector<Ref> next;
        for (const Ref& r : live) {
          std::vector<int32_t> t = prompt;
          t.insert(t.end(), r.tokens.begin(), r.tokens.end());
          const std::vector<double> lp = next_logprobs(b, t);
          std::vector<int32_t> ids(lp.size());
          std::iota(ids.begin(), ids.end(), 0);
          std::stable_sort(ids.begin(), ids.end(), [&](int32_t x, int32_t y) { return lp[x] > lp[y]; });
          for (int64_t k = 0; k < 2 * width; ++k) {
            Ref n = r;
            n.tokens.push_back(ids[static_cast<size_t>(k)]);
            n.lp += lp[static_cast<size_t>(ids[static_cast<size_t>(k)])];
            n.score = score(n.tokens, n.lp);
            (n.tokens.back() == eos ? done : next).push_back(n);
          }
        }
        std::stable_sort(next.begin(), next.end(), [](const Ref& x, const Ref& y) { return x.score > y.score; });
        if (static_cast<int64_t>(next.size()) > width) next.resize(static_cast<size_t>(width));
        live = next;
        if (early && static_cast<int64_t>(done.size()) >= width) break;
      }
      const size_t eos_expansions = done.size();
      done.insert(done.end(), live.begin(), live.end());
      std::stable_sort(done.begin(), done.end(), [](const Ref& x, const Ref& y) { return x.score > y.score; });
      done.resize(static_cast<size_t>(width));
      int64_t finished_by_eos = 0;
      for (const Ref& r : done) finished_by_eos += r.tokens.back() == eos;

      LLM llm(b, engine_config(512, 512));
      BeamSearchParams bp;
      bp.beam_width = width;
      bp.max_tokens = steps;
      bp.length_penalty = penalty;
      bp.early_stopping = early;
      bp.eos_token_id = eos;
      PromptInput in;
      in.token_ids = prompt;
      const BeamSearchResult r = llm.beam_search({in}, bp)[0];
      const std::string label = std::string(early ? "early " : "") + "penalty " + std::to_string(penalty);
      ASSERT_EQ(r.sequences.size(), done.size()) << label;
      EXPECT_GT(eos_expansions, 0u) << label << ": the fixture should finish some beams with EOS";
      if (penalty == 0.0) {
        EXPECT_GT(finished_by_eos, 0) << label;
      }
      for (size_t i = 0; i < done.size(); ++i) {
        EXPECT_EQ(r.sequences[i].token_ids, done[i].tokens) << label << " beam " << i;
        EXPECT_NEAR(r.sequences[i].score, done[i].score, 1e-5) << label << " beam " << i;
        EXPECT_EQ(r.sequences[i].finish_reason, done[i].tokens.back() == eos ? "stop" : "length");
      }
      expect_all_blocks_free(llm);
    }
}

// ---- Beam search inside the engine ------------------------------------------------------------

std::vector<int32_t> prompt_of(int n, int seed) {
  std::vector<int32_t> p{1};
  for (int i = 1; i < n; ++i) p.push_back(static_cast<int32_t>(3 + (i * 37 + seed * 101) % 500));
  return p;
}

std::shared_ptr<Request> request(const std::string& id, std::vector<int32_t> prompt, SamplingParams p = {}) {
  return std::make_shared<Request>(id, std::move(prompt), std::move(p));
}

struct EngineRun {
  std::map<std::string, std::vector<RequestOutput>> outputs;  // by request id, in arrival order
  std::map<std::string, int64_t> finished_at;                 // the step of the final output
  int64_t max_running = 0;
};

// Steps until idle (with a cap, so a livelock fails instead of hanging).
EngineRun run_to_end(EngineCore& core) {
  EngineRun run;
  for (int64_t step = 0; core.has_unfinished(); ++step) {
    if (step > 20000) {
      ADD_FAILURE() << "the engine did not finish";
      break;
    }
    for (RequestOutput& out : core.step()) {
      if (out.finished) run.finished_at[out.request_id] = step;
      run.outputs[out.request_id].push_back(std::move(out));
    }
    run.max_running = std::max(run.max_running, core.stats().num_running);
  }
  return run;
}

// The engine's outputs of one beam search equal the offline result (which the tests above check
// against exhaustive search), token for token.
void expect_same_beams(const std::vector<RequestOutput>& got, const BeamSearchResult& want, const std::string& label) {
  ASSERT_EQ(got.size(), want.sequences.size()) << label;
  for (size_t i = 0; i < got.size(); ++i) {
    const RequestOutput& o = got[i];
    const BeamSequence& w = want.sequences[i];
    EXPECT_EQ(o.index, static_cast<int64_t>(i)) << label;
    EXPECT_EQ(o.new_token_ids, w.token_ids) << label << " beam " << i;
    EXPECT_EQ(o.new_text, w.text) << label << " beam " << i;
    EXPECT_EQ(o.finish_reason, w.finish_reason) << label << " beam " << i;
    EXPECT_NEAR(*o.cumulative_logprob, w.cumulative_logprob, 1e-9) << label << " beam " << i;
    EXPECT_EQ(o.finished, i + 1 == got.size()) << label;
  }
}

TEST(BeamSearchInEngine, RunsAlongsideOtherRequestsAndMatchesTheSearchAlone) {
  ModelBundle b = bundle(kStories);
  const std::vector<int32_t> p1{1, 403, 407, 261, 378}, p2 = prompt_of(40, 1), p3 = prompt_of(20, 2);
  BeamSearchParams wide;
  wide.beam_width = 4;
  wide.max_tokens = 16;
  wide.include_stop_str_in_output = true;
  wide.logprobs = 2;
  BeamSearchParams narrow = wide;
  narrow.beam_width = 3;
  narrow.num_returned = 2;
  narrow.length_penalty = 0.5;
  narrow.temperature = 0.7;
  narrow.logprobs.reset();
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.max_tokens = 4;
  greedy.ignore_eos = true;
  SamplingParams sampled;
  sampled.n = 2;
  sampled.seed = 9;
  sampled.max_tokens = 24;
  sampled.ignore_eos = true;

  LLM ref(b, engine_config(256, 256));
  PromptInput in1, in2, in3;
  in1.token_ids = p1;
  in2.token_ids = p2;
  in3.token_ids = p3;
  const BeamSearchResult want1 = ref.beam_search({in1}, wide)[0];
  const BeamSearchResult want2 = ref.beam_search({in2}, narrow)[0];
  const GenerateResult want_greedy = ref.generate({in3}, {greedy})[0];
  const GenerateResult want_sampled = ref.generate({in3}, {sampled})[0];
  ASSERT_EQ(want1.sequences.size(), 4u);
  ASSERT_EQ(want2.sequences.size(), 2u);

  // A small token budget: prompts run in chunks next to the beams' decode tokens.
  EngineCore core(b, engine_config(24, 256));
  core.add_beam_search(request("beam1", p1), wide);
  core.add_request(request("greedy", p3, greedy));
  core.add_beam_search(request("beam2", p2), narrow);
  core.add_request(request("sampled", p3, sampled));
  const EngineRun run = run_to_end(core);
  // The short request is served while the searches run, not after them.
  EXPECT_LT(run.finished_at.at("greedy"), run.finished_at.at("beam1"));
  EXPECT_LT(run.finished_at.at("greedy"), run.finished_at.at("beam2"));
  expect_same_beams(run.outputs.at("beam1"), want1, "beam1");
  expect_same_beams(run.outputs.at("beam2"), want2, "beam2");
  std::vector<int32_t> g;
  for (const RequestOutput& o : run.outputs.at("greedy"))
    g.insert(g.end(), o.new_token_ids.begin(), o.new_token_ids.end());
  EXPECT_EQ(g, want_greedy.outputs[0].token_ids);
  std::vector<std::vector<int32_t>> s(2);
  for (const RequestOutput& o : run.outputs.at("sampled"))
    s[static_cast<size_t>(o.index)].insert(s[static_cast<size_t>(o.index)].end(), o.new_token_ids.begin(),
                                           o.new_token_ids.end());
  EXPECT_EQ(s[0], want_sampled.outputs[0].token_ids);
  EXPECT_EQ(s[1], want_sampled.outputs[1].token_ids);

  // Logprobs: one entry per token, the chosen token first, summing to the cumulative logprob.
  for (const RequestOutput& o : run.outputs.at("beam1")) {
    ASSERT_EQ(o.new_logprobs.size(), o.new_token_ids.size());
    double sum = 0;
    for (size_t t = 0; t < o.new_logprobs.size(); ++t) {
      EXPECT_EQ(o.new_logprobs[t].front().first, o.new_token_ids[t]);
      EXPECT_LE(o.new_logprobs[t].size(), 3u);
      EXPECT_FALSE(o.new_logprobs[t].front().second.decoded_token.empty());
      sum += o.new_logprobs[t].front().second.logprob;
    }
    EXPECT_NEAR(sum, *o.cumulative_logprob, 1e-4);
  }
  EXPECT_TRUE(run.outputs.at("beam2")[0].new_logprobs.empty());
  expect_all_blocks_free(core);
  EXPECT_EQ(core.stats().request_success.at("length"), 4 + 2 + 1 + 2);  // one per returned sequence
}

TEST(BeamSearchInEngine, AKvCacheTooSmallForAllBeamsParksThemAndStillMatches) {
  // Four beams of up to 70 tokens need ~14 blocks of 16; the cache has 6, so beams that reported
  // are parked (blocks freed) for their siblings, and children of parked parents recompute.
  ModelBundle b = bundle(kStories);
  const std::vector<int32_t> prompt = prompt_of(40, 3);
  BeamSearchParams bp;
  bp.beam_width = 4;
  bp.max_tokens = 30;
  bp.ignore_eos = true;
  bp.include_stop_str_in_output = true;
  PromptInput in;
  in.token_ids = prompt;
  LLM ref(b, engine_config(256, 256));
  const BeamSearchResult want = ref.beam_search({in}, bp)[0];
  SamplingParams other;
  other.temperature = 0;
  other.max_tokens = 30;
  other.ignore_eos = true;
  const GenerateResult want_other = ref.generate({in}, {other})[0];
  for (const bool prefix : {true, false}) {
    EngineConfig c = engine_config(32, 6, prefix);
    c.scheduler.max_model_len = 80;
    EngineCore core(b, c);
    core.add_beam_search(request("beams", prompt), bp);
    core.add_request(request("other", prompt, other));
    const EngineRun run = run_to_end(core);
    const std::string label = prefix ? "prefix caching" : "no prefix caching";
    expect_same_beams(run.outputs.at("beams"), want, label);
    std::vector<int32_t> got_other;
    for (const RequestOutput& o : run.outputs.at("other"))
      got_other.insert(got_other.end(), o.new_token_ids.begin(), o.new_token_ids.end());
    EXPECT_EQ(got_other, want_other.outputs[0].token_ids) << label;
    EXPECT_GT(core.stats().num_preemptions, 0) << label;
    expect_all_blocks_free(core);
  }
}

TEST(BeamSearchInEngine, GenerateWithUseBeamSearchEqualsBeamSearch) {
  // SamplingParams::use_beam_search through LLM::generate (as a JSONL batch line sends it): width
  // best_of, the n best beams as outputs 0..n-1, the ending EOS dropped from the tokens.
  ModelBundle b = bundle(kStories);
  LLM llm(b, engine_config(256, 256));
  PromptInput in;
  in.token_ids = prompt_of(12, 9);
  SamplingParams p;
  p.use_beam_search = true;
  p.n = 2;
  p.best_of = 4;
  p.max_tokens = 40;
  p.length_penalty = 0.7;
  const GenerateResult got = llm.generate({in}, {p})[0];
  BeamSearchParams bp;
  bp.beam_width = 4;
  bp.num_returned = 2;
  bp.max_tokens = 40;
  bp.length_penalty = 0.7;
  const BeamSearchResult want = llm.beam_search({in}, bp)[0];
  ASSERT_EQ(got.outputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    std::vector<int32_t> tokens = want.sequences[i].token_ids;
    if (want.sequences[i].finish_reason == "stop") tokens.pop_back();
    EXPECT_EQ(got.outputs[i].token_ids, tokens) << i;
    EXPECT_EQ(got.outputs[i].text, want.sequences[i].text) << i;
    EXPECT_EQ(got.outputs[i].finish_reason, want.sequences[i].finish_reason) << i;
  }
  expect_all_blocks_free(llm);
}

TEST(BeamSearchInEngine, AbortFreesEveryBeam) {
  ModelBundle b = bundle(kStories);
  EngineCore core(b, engine_config(256, 64));
  BeamSearchParams bp;
  bp.beam_width = 5;
  bp.max_tokens = 100;
  bp.ignore_eos = true;
  core.add_beam_search(request("x", prompt_of(30, 4)), bp);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(core.step().empty());
  EXPECT_GT(core.kv_cache_manager().num_free_blocks(), 0);
  EXPECT_LT(core.kv_cache_manager().num_free_blocks(), 64);
  core.abort_request("x");
  std::vector<RequestOutput> outs;
  while (core.has_unfinished())
    for (auto& o : core.step()) outs.push_back(o);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_TRUE(outs[0].finished);
  EXPECT_EQ(outs[0].finish_reason, "abort");
  expect_all_blocks_free(core);
}

TEST(BeamSearchInEngine, ForkedSequencesAndBeamsStayWithinMaxNumSeqs) {
  ModelBundle b = bundle(kStories);
  SamplingParams n3;
  n3.n = 3;
  n3.seed = 4;
  n3.max_tokens = 12;
  n3.ignore_eos = true;
  SamplingParams one;
  one.temperature = 0;
  one.max_tokens = 10;
  one.ignore_eos = true;
  BeamSearchParams bp;
  bp.beam_width = 3;
  bp.max_tokens = 8;
  bp.ignore_eos = true;
  bp.include_stop_str_in_output = true;
  auto add_all = [&](EngineCore& core) {
    core.add_request(request("n3", prompt_of(10, 5), n3));
    core.add_beam_search(request("beam", prompt_of(12, 6)), bp);
    core.add_request(request("a", prompt_of(8, 7), one));
    core.add_request(request("b", prompt_of(9, 8), one));
  };
  EngineCore wide(b, engine_config(256, 256));
  add_all(wide);
  const EngineRun want = run_to_end(wide);
  EXPECT_GT(want.max_running, 4);  // unconstrained, they do run side by side

  EngineConfig c = engine_config(256, 256);
  c.scheduler.max_num_seqs = 4;
  EngineCore core(b, c);
  add_all(core);
  const EngineRun run = run_to_end(core);
  EXPECT_LE(run.max_running, 4);
  for (const char* id : {"n3", "beam", "a", "b"}) {
    std::map<int64_t, std::vector<int32_t>> got, expected;
    for (const RequestOutput& o : run.outputs.at(id))
      got[o.index].insert(got[o.index].end(), o.new_token_ids.begin(), o.new_token_ids.end());
    for (const RequestOutput& o : want.outputs.at(id))
      expected[o.index].insert(expected[o.index].end(), o.new_token_ids.begin(), o.new_token_ids.end());
    EXPECT_EQ(got, expected) << id;
  }
  expect_all_blocks_free(core);

  // A request whose sequences could never run at once is refused, naming the field.
  SamplingParams n5 = one;
  n5.n = 5;
  try {
    core.add_request(request("n5", {1, 2, 3}, n5));
    ADD_FAILURE() << "n = 5 > max_num_seqs = 4 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("n 5 is more than --max-num-seqs 4", 0), 0u) << e.what();
  }
  BeamSearchParams too_wide = bp;
  too_wide.beam_width = 5;
  EXPECT_THROW(core.add_beam_search(request("w", {1, 2, 3}), too_wide), Error);
}

}  // namespace
}  // namespace pagellm
