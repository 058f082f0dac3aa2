#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace pagellm {

int32_t sample_token(const float* logits, int64_t vocab_size, const SamplingParams& params, std::mt19937_64& rng) {
  if (params.greedy()) return static_cast<int32_t>(std::max_element(logits, logits + vocab_size) - logits);

  std::vector<int32_t> order(static_cast<size_t>(vocab_size));
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = params.top_k > 0 ? std::min(params.top_k, vocab_size) : vocab_size;
  // Highest logit first; equal logits by id so the order is the same on every run.
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), by_logit);
  order.resize(static_cast<size_t>(k));

  std::vector<double> probs(order.size());
  const double max_logit = logits[order[0]];
  double total = 0;
  for (size_t i = 0; i < order.size(); ++i)
    total += probs[i] = std::exp((logits[order[i]] - max_logit) / params.temperature);
  // Keep the smallest prefix whose mass reaches top_p (always at least one token).
  size_t keep = order.size();
  if (params.top_p < 1.0) {
    double mass = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      mass += probs[i] / total;
      if (mass >= params.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  const double kept_total = std::accumulate(probs.begin(), probs.begin() + static_cast<long>(keep), 0.0);
  const double u = std::uniform_real_distribution<double>(0.0, kept_total)(rng);
  double cumulative = 0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probs[i];
    if (u < cumulative) return order[i];
  }
  return order[keep - 1];
}

}  // namespace pagellm
