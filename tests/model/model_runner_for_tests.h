#pragma once
// Drives LlamaModel directly (no engine) for the forward-pass tests: prefill a prompt, decode
// greedily, with a caller-chosen block table.
#include <algorithm>
#include <numeric>
#include <vector>

#include "model/llama_model.h"

namespace pagellm::test {

constexpr int64_t kBlockSize = 16;

inline std::vector<int32_t> identity_blocks(int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), 0);
  return t;
}

// All-position logits of `ids` fed in chunks of `chunk` tokens through the same cache.
inline std::vector<float> logits_in_chunks(const LlamaModel& model, const std::vector<int32_t>& ids, int64_t chunk,
                                           const std::vector<int32_t>& table, int64_t num_blocks,
                                           kernels::KVDType kv_dtype = kernels::KVDType::kFloat32) {
  KVCache cache(model.config(), num_blocks, kBlockSize, kv_dtype);
  std::vector<float> all;
  for (int64_t start = 0; start < static_cast<int64_t>(ids.size()); start += chunk) {
    const int64_t n = std::min<int64_t>(chunk, static_cast<int64_t>(ids.size()) - start);
    ForwardBatch batch;
    batch.add_sequence(std::span(ids).subspan(static_cast<size_t>(start), static_cast<size_t>(n)), start, table,
                       kBlockSize, false);
    for (int64_t i = 0; i < n; ++i) batch.logits_indices.push_back(i);
    std::vector<float> logits = model.forward(batch, cache);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

inline int32_t argmax(const float* x, int64_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

inline std::vector<int32_t> greedy(const LlamaModel& model, const std::vector<int32_t>& prompt, int64_t steps,
                                   kernels::KVDType kv_dtype = kernels::KVDType::kFloat32) {
  const int64_t total = static_cast<int64_t>(prompt.size()) + steps;
  const int64_t blocks = (total + kBlockSize - 1) / kBlockSize;
  KVCache cache(model.config(), blocks, kBlockSize, kv_dtype);
  std::vector<int32_t> table = identity_blocks(blocks);
  std::vector<int32_t> out;
  ForwardBatch batch;
  batch.add_sequence(prompt, 0, table, kBlockSize);
  std::vector<float> logits = model.forward(batch, cache);
  for (int64_t s = 0; s < steps; ++s) {
    out.push_back(argmax(logits.data(), model.config().vocab_size));
    if (s + 1 == steps) break;
    ForwardBatch next;
    const std::vector<int32_t> tok{out.back()};
    next.add_sequence(tok, static_cast<int64_t>(prompt.size()) + s, table, kBlockSize);
    logits = model.forward(next, cache);
  }
  return out;
}

}  // namespace pagellm::test
