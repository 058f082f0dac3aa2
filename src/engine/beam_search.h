#pragma once
// Beam search as vLLM's LLM.beam_search does it: each step expands every live beam by its
// 2 * beam_width most likely next tokens, moves expansions ending in EOS (unless ignore_eos) to
// the finished list, and keeps the beam_width best of the rest by score; at the end the finished
// and live beams are ranked together. score = cumulative_logprob / length ^ length_penalty, with
// length = prompt + generated tokens, not counting a final EOS (vLLM's get_beam_search_score).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pagellm {

// vLLM's BeamSearchParams.
struct BeamSearchParams {
  int64_t beam_width = 1;
  int64_t max_tokens = 16;
  bool ignore_eos = false;
  double temperature = 0.0;  // logprobs are taken at this temperature (0 or 1: the raw logprobs)
  double length_penalty = 1.0;
  bool early_stopping = false;          // stop as soon as beam_width hypotheses have finished
  std::optional<int32_t> eos_token_id;  // default: the tokenizer's EOS
};

struct BeamSequence {
  std::vector<int32_t> token_ids;  // generated tokens (EOS included when it ended the beam)
  std::string text;
  double cumulative_logprob = 0;
  double score = 0;           // cumulative_logprob / (length ^ length_penalty)
  std::string finish_reason;  // "stop" (EOS) or "length"
};

struct BeamSearchResult {
  std::vector<BeamSequence> sequences;  // best first, beam_width of them
};

// The score above, for a beam of `length` tokens (prompt included, final EOS excluded).
double beam_score(double cumulative_logprob, int64_t length, double length_penalty);

}  // namespace pagellm
