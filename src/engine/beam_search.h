#pragma once
// Beam search as vLLM does it: each step expands every live beam by its 2 * beam_width most
// likely next tokens, moves expansions ending in EOS (unless ignore_eos) to the finished list,
// and keeps the beam_width best of the rest by score; at the end the finished and live beams are
// ranked together. score = cumulative_logprob / length ^ length_penalty, with length = prompt +
// generated tokens, not counting a final EOS (vLLM's get_beam_search_score).
//
// A beam search request runs inside the engine like any other (BeamGroup, beam_group.h): its
// beams are scheduled sequences that fork their parent's KV blocks, so other requests are
// served in the same steps.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sampling/logprobs.h"
#include "sampling/sampling_params.h"

namespace pagellm {

// vLLM's BeamSearchParams, plus what the OpenAI server passes along with them.
struct BeamSearchParams {
  int64_t beam_width = 1;
  int64_t max_tokens = 16;
  bool ignore_eos = false;
  double temperature = 0.0;  // logprobs are taken at this temperature (0 or 1: the raw logprobs)
  double length_penalty = 1.0;
  bool early_stopping = false;  // stop as soon as beam_width hypotheses have finished
  // The EOS that ended a beam stays in its token ids (never in its text). The offline API
  // (LLM::beam_search) always keeps it, as vLLM's LLM.beam_search does.
  bool include_stop_str_in_output = false;
  int64_t num_returned = 0;                // how many of the best beams come back (0: beam_width)
  std::optional<int64_t> logprobs;         // per generated token: the chosen token plus the top-k
  std::optional<int64_t> prompt_logprobs;  // in the first output, as for any request
  bool skip_special_tokens = true;         // for the returned text
  bool spaces_between_special_tokens = true;
  std::optional<int32_t> eos_token_id;  // default: the tokenizer's EOS
};

// What the server's `use_beam_search` request means: width best_of (else n), n returned, and
// the other fields of the request (vLLM's CompletionRequest.to_beam_search_params).
BeamSearchParams beam_search_params(const SamplingParams& params);

struct BeamSequence {
  std::vector<int32_t> token_ids;  // generated tokens (EOS included when it ended the beam)
  std::string text;
  double cumulative_logprob = 0;
  double score = 0;                        // cumulative_logprob / (length ^ length_penalty)
  std::string finish_reason;               // "stop" (EOS) or "length"
  std::vector<PositionLogprobs> logprobs;  // one per token in token_ids, when asked for
};

struct BeamSearchResult {
  std::vector<BeamSequence> sequences;  // best first, beam_width of them
};

// The score above, for a beam of `length` tokens (prompt included, final EOS excluded).
double beam_score(double cumulative_logprob, int64_t length, double length_penalty);

}  // namespace pagellm
