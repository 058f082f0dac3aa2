#include "sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace pagellm {

double log_sum_exp(std::span<const float> logits) {
  float max = -std::numeric_limits<float>::infinity();
  for (float l : logits) max = std::max(max, l);
  if (!std::isfinite(max)) return max;
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  return max + std::log(sum);
}

PositionLogprobs compute_logprobs(std::span<const float> raw_logits, int32_t chosen, int64_t top_k) {
  const double lse = log_sum_exp(raw_logits);
  const float chosen_logit = raw_logits[static_cast<size_t>(chosen)];
  int64_t ahead = 0;
  for (float l : raw_logits) ahead += l >= chosen_logit;
  PositionLogprobs out;
  out.push_back({chosen, {chosen_logit - lse, ahead, ""}});
  if (top_k <= 0) return out;
  const auto k = static_cast<size_t>(std::min<int64_t>(top_k, static_cast<int64_t>(raw_logits.size())));
  std::vector<int32_t> ids(raw_logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(k), ids.end(), [&](int32_t a, int32_t b) {
    return raw_logits[a] > raw_logits[b] || (raw_logits[a] == raw_logits[b] && a < b);
  });
  for (size_t i = 0; i < k; ++i)
    if (ids[i] != chosen)
      out.push_back({ids[i], {raw_logits[static_cast<size_t>(ids[i])] - lse, static_cast<int64_t>(i + 1), ""}});
  return out;
}

}  // namespace pagellm
