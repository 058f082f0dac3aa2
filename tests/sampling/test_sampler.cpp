// Sampling against independent brute-force references: every processor on fixed logits, the
// distribution a seeded generator actually draws from (chi-square), and the parameter checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "util/error.h"

namespace pagellm {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<float> random_logits(size_t v, uint32_t seed, double scale = 3.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<float> l(v);
  for (float& x : l) x = static_cast<float>(d(rng));
  return l;
}

// ---- Brute-force references, written straight from the formulas (HF / vLLM semantics) --------

std::vector<double> reference_processed(const std::vector<float>& logits, const SamplingParams& p,
                                        const std::vector<int32_t>& prompt, const std::vector<int32_t>& output,
                                        const std::vector<int32_t>& eos) {
  std::vector<double> l(logits.begin(), logits.end());
  const size_t v = l.size();
  for (size_t id = 0; id < v; ++id) {
    const auto t = static_cast<int32_t>(id);
    if (p.allowed_token_ids && std::count(p.allowed_token_ids->begin(), p.allowed_token_ids->end(), t) == 0)
      l[id] = -kInf;
    for (const auto& w : p.bad_words_token_ids) {
      if (w.back() != t || output.size() < w.size() - 1) continue;
      bool match = true;
      for (size_t k = 0; k + 1 < w.size(); ++k) match &= output[output.size() - (w.size() - 1) + k] == w[k];
      if (match) l[id] = -kInf;
    }
    if (static_cast<int64_t>(output.size()) < p.min_tokens &&
        (std::count(p.stop_token_ids.begin(), p.stop_token_ids.end(), t) ||
         (!p.ignore_eos && std::count(eos.begin(), eos.end(), t))))
      l[id] = -kInf;
    if (p.logit_bias.contains(t)) l[id] += p.logit_bias.at(t);
    const bool seen = std::count(prompt.begin(), prompt.end(), t) + std::count(output.begin(), output.end(), t) > 0;
    if (seen) l[id] = l[id] > 0 ? l[id] / p.repetition_penalty : l[id] * p.repetition_penalty;
    const auto count = static_cast<double>(std::count(output.begin(), output.end(), t));
    l[id] -= p.frequency_penalty * count + p.presence_penalty * (count > 0 ? 1.0 : 0.0);
  }
  return l;
}

std::vector<double> softmax(const std::vector<double>& l) {
  const double m = *std::max_element(l.begin(), l.end());
  std::vector<double> p(l.size());
  double s = 0;
  for (size_t i = 0; i < l.size(); ++i) s += p[i] = std::isinf(l[i]) ? 0.0 : std::exp(l[i] - m);
  for (double& x : p) x /= s;
  return p;
}

// Full distribution over the vocabulary after temperature, min_p, top_k, top_p.
std::vector<double> reference_distribution(std::vector<double> l, const SamplingParams& p) {
  for (double& x : l) x /= p.temperature;
  std::vector<double> probs = softmax(l);
  const double pmax = *std::max_element(probs.begin(), probs.end());
  for (size_t i = 0; i < l.size(); ++i)
    if (probs[i] < p.min_p * pmax) l[i] = -kInf;
  if (p.top_k > 0) {
    // Rank by (logit desc, id asc); drop rank >= k.
    for (size_t i = 0; i < l.size(); ++i) {
      int64_t better = 0;
      for (size_t j = 0; j < l.size(); ++j) better += l[j] > l[i] || (l[j] == l[i] && j < i);
      if (better >= p.top_k) l[i] = -kInf;
    }
  }
  probs = softmax(l);
  if (p.top_p < 1.0) {
    // Drop a token when the tokens more likely than it already reach top_p.
    std::vector<double> keep = probs;
    for (size_t i = 0; i < probs.size(); ++i) {
      double before = 0;
      for (size_t j = 0; j < probs.size(); ++j)
        if (probs[j] > probs[i] || (probs[j] == probs[i] && j < i)) before += probs[j];
      if (before >= p.top_p) keep[i] = 0;
    }
    const double s = std::accumulate(keep.begin(), keep.end(), 0.0);
    for (double& x : keep) x /= s;
    probs = keep;
  }
  return probs;
}

std::vector<double> dense(const std::vector<TokenProb>& dist, size_t v) {
  std::vector<double> d(v, 0.0);
  for (const TokenProb& t : dist) d[static_cast<size_t>(t.id)] += t.prob;
  return d;
}

struct Case {
  const char* name;
  SamplingParams params;
};

std::vector<Case> processor_cases() {
  std::vector<Case> cases;
  auto add = [&](const char* name, auto&& edit) {
    SamplingParams p;
    edit(p);
    cases.push_back({name, p});
  };
  add("repetition 1.3", [](SamplingParams& p) { p.repetition_penalty = 1.3; });
  add("repetition 0.7", [](SamplingParams& p) { p.repetition_penalty = 0.7; });
  add("frequency", [](SamplingParams& p) { p.frequency_penalty = 0.8; });
  add("presence", [](SamplingParams& p) { p.presence_penalty = -0.6; });
  add("all penalties",
      [](SamplingParams& p) { p.repetition_penalty = 1.2, p.frequency_penalty = 0.5, p.presence_penalty = 0.4; });
  add("logit bias", [](SamplingParams& p) { p.logit_bias = {{3, 5.0}, {17, -100.0}, {40, 2.5}}; });
  add("allowed", [](SamplingParams& p) { p.allowed_token_ids = std::vector<int32_t>{1, 5, 9, 33, 47}; });
  add("bad words", [](SamplingParams& p) { p.bad_words_token_ids = {{7}, {11, 12}, {4, 8, 20}, {99 % 50, 21}}; });
  add("min_tokens", [](SamplingParams& p) { p.min_tokens = 100, p.stop_token_ids = {6, 13}; });
  add("min_tokens ignore_eos",
      [](SamplingParams& p) { p.min_tokens = 100, p.stop_token_ids = {6}, p.ignore_eos = true; });
  add("everything", [](SamplingParams& p) {
    p.repetition_penalty = 1.5, p.frequency_penalty = 0.3, p.presence_penalty = 0.2;
    p.logit_bias = {{2, 1.0}, {30, -3.0}};
    p.bad_words_token_ids = {{8, 20}};
    p.min_tokens = 50, p.stop_token_ids = {13};
  });
  return cases;
}

TEST(LogitsProcessing, EveryProcessorMatchesTheFormula) {
  const std::vector<int32_t> prompt{1, 5, 5, 9, 17, 3};
  const std::vector<int32_t> output{9, 4, 8, 17, 17, 11, 40, 4, 8};
  const std::vector<int32_t> eos{2};
  for (const Case& c : processor_cases()) {
    const std::vector<float> raw = random_logits(50, 1);
    std::vector<float> got = raw;
    ASSERT_TRUE(needs_processing(c.params)) << c.name;
    apply_logits_processing(got, c.params, {prompt, output, eos});
    const std::vector<double> want = reference_processed(raw, c.params, prompt, output, eos);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (std::isinf(want[i])) {
        EXPECT_TRUE(std::isinf(got[i]) && got[i] < 0) << c.name << " token " << i;
      } else {
        EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::fabs(want[i]))) << c.name << " token " << i;
      }
    }
  }
}

TEST(LogitsProcessing, CustomProcessorRunsFirstWithTheTokens) {
  struct BanLastOutput : LogitsProcessor {
    void apply(std::span<const int32_t>, std::span<const int32_t> out, std::span<float> logits) const override {
      if (!out.empty()) logits[static_cast<size_t>(out.back())] = -std::numeric_limits<float>::infinity();
    }
  };
  SamplingParams p;
  p.logits_processors.push_back(std::make_shared<BanLastOutput>());
  p.logit_bias = {{4, 50.0}};  // applied after the ban: -inf stays -inf
  std::vector<float> l = random_logits(10, 2);
  const std::vector<int32_t> out{4};
  apply_logits_processing(l, p, {{}, out, {}});
  EXPECT_TRUE(std::isinf(l[4]));
}

TEST(Truncation, DistributionMatchesBruteForce) {
  struct T {
    double temperature, top_p, min_p;
    int64_t top_k;
  };
  for (const T t : {T{1.0, 1.0, 0.0, 0}, T{0.7, 1.0, 0.0, 5}, T{1.3, 0.8, 0.0, 0}, T{0.9, 0.6, 0.0, 12},
                    T{1.0, 1.0, 0.05, 0}, T{2.0, 0.9, 0.1, 20}, T{0.5, 0.3, 0.0, 1}, T{1.0, 0.999, 0.0, -1}}) {
    SamplingParams p;
    p.temperature = t.temperature, p.top_p = t.top_p, p.min_p = t.min_p, p.top_k = t.top_k;
    const std::vector<float> raw = random_logits(60, 3);
    const auto got = dense(sampling_distribution(raw, p), raw.size());
    const auto want = reference_distribution(std::vector<double>(raw.begin(), raw.end()), p);
    for (size_t i = 0; i < raw.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-6) << "T=" << t.temperature << " top_p=" << t.top_p << " min_p=" << t.min_p
                                         << " top_k=" << t.top_k << " token " << i;
  }
}

TEST(Truncation, LargeVocabularyTopPGrowsItsPartialSort) {
  // 20k tokens with flat logits: top_p 0.95 needs far more than the first 256 sorted tokens.
  SamplingParams p;
  p.top_p = 0.95;
  const std::vector<float> raw = random_logits(20000, 4, 0.5);
  const auto got = sampling_distribution(raw, p);
  // Reference by one full sort.
  std::vector<double> probs = softmax(std::vector<double>(raw.begin(), raw.end()));
  std::vector<size_t> order(raw.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  double mass = 0;
  size_t keep = 0;
  while (mass < p.top_p) mass += probs[order[keep++]];
  ASSERT_EQ(got.size(), keep);
  EXPECT_GT(keep, 256u * 4);
  for (size_t i = 0; i < keep; ++i) {
    EXPECT_EQ(got[i].id, static_cast<int32_t>(order[i]));
    EXPECT_NEAR(got[i].prob, probs[order[i]] / mass, 1e-9);
  }
}

TEST(Sampling, EmpiricalDistributionPassesChiSquare) {
  // 200k seeded draws; chi-square goodness of fit against the processed distribution. The
  // threshold is the 0.999 quantile of chi-square with df = (kept tokens - 1); with a fixed seed
  // the outcome is deterministic.
  SamplingParams p;
  p.temperature = 0.8, p.top_k = 15, p.top_p = 0.9, p.repetition_penalty = 1.1;
  const std::vector<int32_t> prompt{1, 2, 3};
  std::vector<float> raw = random_logits(40, 5, 1.5);
  apply_logits_processing(raw, p, {prompt, {}, {}});
  const auto dist = sampling_distribution(raw, p);
  ASSERT_GE(dist.size(), 5u);
  std::mt19937_64 rng(1234);
  constexpr int kDraws = 200000;
  std::map<int32_t, int64_t> counts;
  for (int i = 0; i < kDraws; ++i) ++counts[draw_token(dist, rng)];
  double chi2 = 0;
  for (const TokenProb& t : dist) {
    const double expected = t.prob * kDraws;
    const double diff = static_cast<double>(counts[t.id]) - expected;
    chi2 += diff * diff / expected;
  }
  EXPECT_EQ(counts.size(), dist.size());  // nothing outside the kept set
  // 0.999 quantiles of chi-square for df 4..14.
  const double q999[] = {18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12};
  const size_t df = dist.size() - 1;
  ASSERT_LE(df, 14u);
  EXPECT_LT(chi2, q999[df - 4]) << "df=" << df;
}

// Plain temperature sampling (no truncation) draws without building the distribution: its
// empirical distribution must match the brute-force softmax of logits / T, banned tokens never
// drawn.
TEST(Sampling, UntruncatedDrawPassesChiSquare) {
  SamplingParams p;
  p.temperature = 0.7;
  std::vector<float> raw = random_logits(12, 21, 1.5);
  raw[3] = -std::numeric_limits<float>::infinity();  // banned (e.g. by logit_bias)
  double max = -1e300, total = 0;
  for (float l : raw)
    if (std::isfinite(l)) max = std::max(max, double(l));
  std::vector<double> want(raw.size(), 0.0);
  for (size_t i = 0; i < raw.size(); ++i)
    if (std::isfinite(raw[i])) total += want[i] = std::exp((double(raw[i]) - max) / p.temperature);
  for (double& w : want) w /= total;
  std::mt19937_64 rng(99);
  constexpr int kDraws = 200000;
  std::vector<int64_t> counts(raw.size(), 0);
  for (int i = 0; i < kDraws; ++i) {
    std::vector<float> l = raw;
    ++counts[static_cast<size_t>(sample_token(l, p, {}, rng))];
  }
  EXPECT_EQ(counts[3], 0);
  double chi2 = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (want[i] == 0) continue;
    const double expected = want[i] * kDraws, diff = static_cast<double>(counts[i]) - expected;
    chi2 += diff * diff / expected;
  }
  EXPECT_LT(chi2, 31.26);  // 0.999 quantile of chi-square, df = 10 (11 drawable tokens - 1)
}

TEST(Sampling, SameSeedSameTokensGreedyIsArgmax) {
  SamplingParams p;
  p.temperature = 1.0;
  std::vector<int32_t> a, b;
  std::mt19937_64 r1(7), r2(7);
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l1 = random_logits(100, static_cast<uint32_t>(i)), l2 = l1;
    a.push_back(sample_token(l1, p, {}, r1));
    b.push_back(sample_token(l2, p, {}, r2));
  }
  EXPECT_EQ(a, b);
  p.temperature = 0;
  std::vector<float> l = random_logits(100, 9);
  const int32_t want = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
  EXPECT_EQ(sample_token(l, p, {}, r1), want);
  EXPECT_NE(derive_seed(5, 1), derive_seed(5, 2));
  EXPECT_EQ(derive_seed(5, 0), 5u);
}

TEST(Logprobs, LogSoftmaxRanksAndTopK) {
  const std::vector<float> l{1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
  double z = 0;
  for (float x : l) z += std::exp(static_cast<double>(x));
  const PositionLogprobs lp = compute_logprobs(l, 2, 3);
  ASSERT_EQ(lp.size(), 3u);  // chosen (2), then top-3 {1, 3, 2} without the duplicate
  EXPECT_EQ(lp[0].first, 2);
  EXPECT_NEAR(lp[0].second.logprob, 2.0 - std::log(z), 1e-6);
  EXPECT_EQ(lp[0].second.rank, 3);
  EXPECT_EQ(lp[1].first, 1);
  EXPECT_EQ(lp[1].second.rank, 1);
  EXPECT_EQ(lp[2].first, 3);
  EXPECT_EQ(lp[2].second.rank, 2);
  EXPECT_EQ(compute_logprobs(l, 4, 0).size(), 1u);
  EXPECT_EQ(compute_logprobs(l, 4, 0)[0].second.rank, 5);
}

void expect_invalid(const SamplingParams& p, const std::string& field, int64_t vocab = 100) {
  try {
    p.validate(vocab);
    ADD_FAILURE() << "accepted bad " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(SamplingParams, ValidationNamesTheField) {
  SamplingParams ok;
  ok.validate(100);
  auto with = [](auto edit) {
    SamplingParams p;
    edit(p);
    return p;
  };
  expect_invalid(with([](SamplingParams& p) { p.temperature = -0.1; }), "temperature");
  expect_invalid(with([](SamplingParams& p) { p.top_p = 0; }), "top_p");
  expect_invalid(with([](SamplingParams& p) { p.top_p = 1.5; }), "top_p");
  expect_invalid(with([](SamplingParams& p) { p.top_k = -2; }), "top_k");
  expect_invalid(with([](SamplingParams& p) { p.min_p = 1.5; }), "min_p");
  expect_invalid(with([](SamplingParams& p) { p.n = 0; }), "n must");
  expect_invalid(with([](SamplingParams& p) { p.n = 3, p.best_of = 2; }), "best_of");
  expect_invalid(with([](SamplingParams& p) { p.presence_penalty = 2.5; }), "presence_penalty");
  expect_invalid(with([](SamplingParams& p) { p.frequency_penalty = -3; }), "frequency_penalty");
  expect_invalid(with([](SamplingParams& p) { p.repetition_penalty = 0; }), "repetition_penalty");
  expect_invalid(with([](SamplingParams& p) { p.logprobs = 21; }), "logprobs");
  expect_invalid(with([](SamplingParams& p) { p.prompt_logprobs = -1; }), "prompt_logprobs");
  expect_invalid(with([](SamplingParams& p) { p.max_tokens = 0; }), "max_tokens");
  expect_invalid(with([](SamplingParams& p) { p.min_tokens = 20; }), "min_tokens");
  expect_invalid(with([](SamplingParams& p) { p.stop_token_ids = {100}; }), "stop_token_ids");
  expect_invalid(with([](SamplingParams& p) { p.logit_bias = {{-1, 1.0}}; }), "logit_bias");
  expect_invalid(with([](SamplingParams& p) {
                   p.allowed_token_ids = std::vector<int32_t>{5, 200};
                 }),
                 "allowed_token_ids");
  expect_invalid(with([](SamplingParams& p) { p.bad_words_token_ids = {{1, 100}}; }), "bad_words");
  expect_invalid(with([](SamplingParams& p) { p.stop = {""}; }), "stop");
  expect_invalid(with([](SamplingParams& p) { p.stop = {"x"}, p.detokenize = false; }), "detokenize");
  expect_invalid(with([](SamplingParams& p) { p.early_stopping = EarlyStopping::kTrue; }), "early_stopping");
  SamplingParams many;
  many.logprobs = 50;
  many.validate(100, 50);  // a larger max_logprobs
}

TEST(SamplingParams, FromJsonUsesVllmNames) {
  const Json j = Json::parse(R"({"n": 2, "best_of": 3, "temperature": 0, "top_p": 0.5, "top_k": 7, "min_p": 0.1,
    "presence_penalty": 0.1, "frequency_penalty": 0.2, "repetition_penalty": 1.1, "seed": 42, "stop": "\n\n",
    "stop_token_ids": [5, 6], "include_stop_str_in_output": true, "ignore_eos": true, "max_tokens": 30,
    "min_tokens": 2, "logprobs": 3, "prompt_logprobs": 1, "skip_special_tokens": false,
    "spaces_between_special_tokens": false, "detokenize": true, "logit_bias": {"12": 150, "7": -1.5},
    "allowed_token_ids": [1, 2, 3], "bad_words": ["foo bar"], "use_beam_search": false, "length_penalty": 0.5,
    "model": "ignored", "stream": true, "some_future_field": {"x": 1}})");
  const SamplingParams p = SamplingParams::from_json(j);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.best_of, 3);
  EXPECT_EQ(p.temperature, 0.0);
  EXPECT_EQ(p.top_p, 0.5);
  EXPECT_EQ(p.top_k, 7);
  EXPECT_EQ(p.min_p, 0.1);
  EXPECT_EQ(p.seed, 42u);
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_TRUE(p.include_stop_str_in_output);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_EQ(p.max_tokens, 30);
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_EQ(p.logprobs, 3);
  EXPECT_EQ(p.prompt_logprobs, 1);
  EXPECT_FALSE(p.skip_special_tokens);
  EXPECT_FALSE(p.spaces_between_special_tokens);
  EXPECT_EQ(p.logit_bias.at(12), 100.0);  // clamped
  EXPECT_EQ(p.logit_bias.at(7), -1.5);
  EXPECT_EQ(p.allowed_token_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(p.bad_words, std::vector<std::string>{"foo bar"});
  EXPECT_EQ(p.length_penalty, 0.5);
  p.validate(100);

  EXPECT_EQ(SamplingParams::from_json(Json::parse(R"({"max_tokens": null, "stop": ["a", "b"]})")).max_tokens,
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(SamplingParams::from_json(Json::parse(R"({"early_stopping": "never"})")).early_stopping,
            EarlyStopping::kNever);
  for (const char* bad : {R"({"temperature": "hot"})", R"({"top_k": 1.5})", R"({"n": true})", R"({"stop": [1]})",
                          R"({"stop_token_ids": "5"})", R"({"logit_bias": {"x": 1}})", R"({"logit_bias": {"5": "a"}})",
                          R"({"ignore_eos": 1})", R"({"early_stopping": "soon"})", R"({"allowed_token_ids": [-1]})"}) {
    const Json j2 = Json::parse(bad);
    const std::string field = j2.begin().key();
    try {
      SamplingParams::from_json(j2);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace pagellm
