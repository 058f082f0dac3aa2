#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/cpu/exp_weights.h"

namespace pagellm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool ends_with(std::span<const int32_t> seq, std::span<const int32_t> suffix) {
  return suffix.size() <= seq.size() && std::equal(suffix.begin(), suffix.end(), seq.end() - suffix.size());
}

std::vector<int32_t> sorted_unique(std::span<const int32_t> a, std::span<const int32_t> b = {}) {
  std::vector<int32_t> v(a.begin(), a.end());
  v.insert(v.end(), b.begin(), b.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

void ban(std::span<float> logits, int32_t id) {
  if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] = kNegInf;
}

}  // namespace

bool needs_processing(const SamplingParams& p) {
  return !p.logits_processors.empty() || p.allowed_token_ids || !p.bad_words_token_ids.empty() || p.min_tokens > 0 ||
         !p.logit_bias.empty() || p.repetition_penalty != 1.0 || p.frequency_penalty != 0.0 ||
         p.presence_penalty != 0.0;
}

void apply_logits_processing(std::span<float> logits, const SamplingParams& p, const SequenceTokens& seq) {
  // 1. Custom processors.
  for (const auto& processor : p.logits_processors) processor->apply(seq.prompt, seq.output, logits);

  // 2. Masks and bias.
  if (p.allowed_token_ids) {
    std::vector<float> kept(logits.size(), kNegInf);
    for (int32_t id : *p.allowed_token_ids) kept[static_cast<size_t>(id)] = logits[static_cast<size_t>(id)];
    std::copy(kept.begin(), kept.end(), logits.begin());
  }
  for (const auto& word : p.bad_words_token_ids)
    if (ends_with(seq.output, std::span(word).first(word.size() - 1))) ban(logits, word.back());
  if (static_cast<int64_t>(seq.output.size()) < p.min_tokens) {
    for (int32_t id : p.stop_token_ids) ban(logits, id);
    if (!p.ignore_eos)
      for (int32_t id : seq.eos_token_ids) ban(logits, id);
  }
  for (const auto& [id, bias] : p.logit_bias) logits[static_cast<size_t>(id)] += static_cast<float>(bias);

  // 3. Penalties.
  if (p.repetition_penalty != 1.0) {
    const auto rp = static_cast<float>(p.repetition_penalty);
    for (int32_t id : sorted_unique(seq.prompt, seq.output)) {
      float& l = logits[static_cast<size_t>(id)];
      l = l > 0 ? l / rp : l * rp;
    }
  }
  if (p.frequency_penalty != 0.0 || p.presence_penalty != 0.0) {
    std::vector<int32_t> out(seq.output.begin(), seq.output.end());
    std::sort(out.begin(), out.end());
    for (size_t i = 0; i < out.size();) {
      size_t j = i;
      while (j < out.size() && out[j] == out[i]) ++j;
      logits[static_cast<size_t>(out[i])] -=
          static_cast<float>(p.frequency_penalty * static_cast<double>(j - i) + p.presence_penalty);
      i = j;
    }
  }
}

std::vector<TokenProb> sampling_distribution(std::span<const float> logits, const SamplingParams& p) {
  // Temperature-scaled logits of the tokens still allowed.
  std::vector<TokenProb> c;  // .prob holds the scaled logit until the softmax
  c.reserve(logits.size());
  const double inv_t = 1.0 / p.temperature;
  double max = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == kNegInf || std::isnan(logits[i])) continue;
    const double l = static_cast<double>(logits[i]) * inv_t;
    c.push_back({static_cast<int32_t>(i), l});
    max = std::max(max, l);
  }
  if (c.empty()) return {{argmax_token(logits), 1.0}};  // everything banned: fall back to the argmax
  auto more_likely = [](const TokenProb& a, const TokenProb& b) {
    return a.prob > b.prob || (a.prob == b.prob && a.id < b.id);
  };

  // min_p: p_i >= min_p * p_max  <=>  l_i >= l_max + log(min_p).
  if (p.min_p > 0.0) {
    const double threshold = max + std::log(p.min_p);
    std::erase_if(c, [&](const TokenProb& t) { return t.prob < threshold; });
  }
  // top_k: partition, no full sort.
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) {
    std::nth_element(c.begin(), c.begin() + p.top_k - 1, c.end(), more_likely);
    c.resize(static_cast<size_t>(p.top_k));
  }
  // Softmax over what is left.
  double total = 0;
  for (TokenProb& t : c) total += t.prob = std::exp(t.prob - max);
  for (TokenProb& t : c) t.prob /= total;

  // top_p: sort only as far as needed (growing partial sorts), keep the smallest prefix whose
  // mass reaches top_p.
  if (p.top_p < 1.0) {
    size_t sorted = std::min<size_t>(c.size(), 256);
    while (true) {
      std::partial_sort(c.begin(), c.begin() + static_cast<long>(sorted), c.end(), more_likely);
      double mass = 0;
      size_t keep = 0;
      while (keep < sorted && mass < p.top_p) mass += c[keep++].prob;
      if (mass >= p.top_p || sorted == c.size()) {
        c.resize(keep);
        break;
      }
      sorted = std::min(c.size(), sorted * 4);
    }
    double kept = 0;
    for (const TokenProb& t : c) kept += t.prob;
    for (TokenProb& t : c) t.prob /= kept;
  }
  return c;
}

int32_t argmax_token(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t draw_token(const std::vector<TokenProb>& dist, std::mt19937_64& rng) {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  double cumulative = 0;
  for (const TokenProb& t : dist) {
    cumulative += t.prob;
    if (u < cumulative) return t.id;
  }
  return dist.back().id;
}

namespace {

bool truncates(const SamplingParams& p, size_t vocab) {
  return p.min_p > 0.0 || (p.top_k > 0 && static_cast<size_t>(p.top_k) < vocab) || p.top_p < 1.0;
}

// Plain temperature sampling over the whole vocabulary (no top-k/top-p/min-p): the same
// distribution as sampling_distribution + draw_token, drawn by inverting the cumulative sum in
// token-id order, without building a (token, probability) list of the vocabulary. The weights come
// vectorized with per-block sums (kernels::exp_weights), so the draw first walks the blocks, then
// the tokens of one block. One uniform draw per token, as there.
int32_t draw_untruncated(std::span<const float> logits, double temperature, std::mt19937_64& rng) {
  const auto n = static_cast<int64_t>(logits.size());
  const float max = kernels::max_logit(logits.data(), n);
  if (max == kNegInf) return argmax_token(logits);  // everything banned
  constexpr int64_t B = kernels::kExpWeightBlock;
  thread_local std::vector<float> weights;
  thread_local std::vector<double> block_sums;
  weights.resize(logits.size());
  block_sums.resize(static_cast<size_t>((n + B - 1) / B));
  kernels::exp_weights(logits.data(), n, max, static_cast<float>(1.0 / temperature), weights.data(), block_sums.data());
  double total = 0;
  for (double b : block_sums) total += b;
  const double target = std::uniform_real_distribution<double>(0.0, 1.0)(rng) * total;
  double cumulative = 0;
  int64_t last_block = -1;  // the last block with weight, for a target that rounding left past the end
  for (size_t b = 0; b < block_sums.size(); ++b) {
    if (block_sums[b] == 0.0) continue;
    last_block = static_cast<int64_t>(b);
    if (target >= cumulative + block_sums[b]) {
      cumulative += block_sums[b];
      continue;
    }
    break;
  }
  // Within the block: token by token (the weight of the max logit is 1, so some block has weight).
  int64_t drawn = -1;
  for (int64_t i = last_block * B; i < std::min(n, (last_block + 1) * B); ++i) {
    if (weights[static_cast<size_t>(i)] == 0.0f) continue;
    drawn = i;
    cumulative += weights[static_cast<size_t>(i)];
    if (target < cumulative) break;
  }
  return static_cast<int32_t>(drawn);
}

}  // namespace

int32_t sample_token(std::span<float> logits, const SamplingParams& params, const SequenceTokens& seq,
                     std::mt19937_64& rng) {
  if (needs_processing(params)) apply_logits_processing(logits, params, seq);
  if (params.greedy()) return argmax_token(logits);
  if (!truncates(params, logits.size())) return draw_untruncated(logits, params.temperature, rng);
  return draw_token(sampling_distribution(logits, params), rng);
}

}  // namespace pagellm
