#pragma once
// How one request is sampled and when it stops, with vLLM's field names, defaults and checks.
// The order in which the fields act on the logits is documented in sampler.h and docs/sampling.md.
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sampling/logits_processor.h"
#include "util/json_file.h"

namespace pagellm {

enum class EarlyStopping { kFalse, kTrue, kNever };  // vLLM's early_stopping: false, true or "never"

struct SamplingParams {
  // Sequences returned, and sequences generated to pick them from (best_of >= n; default n).
  int64_t n = 1;
  std::optional<int64_t> best_of;

  double presence_penalty = 0.0;    // [-2, 2], on output tokens
  double frequency_penalty = 0.0;   // [-2, 2], on output tokens
  double repetition_penalty = 1.0;  // > 0, on prompt and output tokens (HF/vLLM)
  double temperature = 1.0;         // 0 = greedy
  double top_p = 1.0;               // (0, 1]
  int64_t top_k = 0;                // 0 or -1 = off
  double min_p = 0.0;               // [0, 1]
  std::optional<uint64_t> seed;

  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  int64_t max_tokens = 16;  // JSON null: up to the model's context length
  int64_t min_tokens = 0;   // EOS and stop_token_ids are masked (and stop strings ignored) before this

  std::optional<int64_t> logprobs;         // top-k per generated token, plus the sampled token
  std::optional<int64_t> prompt_logprobs;  // top-k per prompt position, plus the prompt token
  bool detokenize = true;
  bool skip_special_tokens = true;
  bool spaces_between_special_tokens = true;

  std::map<int32_t, double> logit_bias;  // added to the logits; clamped to [-100, 100] like vLLM
  std::optional<std::vector<int32_t>> allowed_token_ids;
  std::vector<std::string> bad_words;  // tokenized by the engine into bad_words_token_ids
  std::vector<std::vector<int32_t>> bad_words_token_ids;

  // Beam search (LLM::beam_search reads these too; the width is best_of, else n).
  bool use_beam_search = false;
  double length_penalty = 1.0;
  EarlyStopping early_stopping = EarlyStopping::kFalse;

  // Custom per-request processors, applied first (see sampler.h). Not serialized.
  std::vector<std::shared_ptr<LogitsProcessor>> logits_processors;

  // Throws Error(kInvalidArgument) naming the first invalid field. vocab_size < 0 skips the
  // token id range checks.
  void validate(int64_t vocab_size = -1, int64_t max_logprobs = 20) const;
  bool greedy() const { return temperature == 0.0; }
  int64_t num_sequences() const { return best_of.value_or(n); }  // generated sequences
  bool needs_logprobs() const { return logprobs.has_value() || num_sequences() > n; }

  // Parses vLLM's JSON field names; null keeps the default (max_tokens: no limit), unknown
  // fields are ignored, a wrong type throws Error(kInvalidArgument) naming the field.
  static SamplingParams from_json(const Json& json);
};

// The seed of sequence `index` of a request seeded with `seed` (index 0 keeps `seed`).
uint64_t derive_seed(uint64_t seed, int64_t index);

}  // namespace pagellm
