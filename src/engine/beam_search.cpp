#include "engine/beam_search.h"

#include <cmath>

namespace pagellm {

double beam_score(double cumulative_logprob, int64_t length, double length_penalty) {
  return cumulative_logprob / std::pow(static_cast<double>(length), length_penalty);
}

BeamSearchParams beam_search_params(const SamplingParams& p) {
  BeamSearchParams b;
  b.beam_width = p.num_sequences();
  b.num_returned = p.n;
  b.max_tokens = p.max_tokens;
  b.ignore_eos = p.ignore_eos;
  b.temperature = p.temperature;
  b.length_penalty = p.length_penalty;
  b.early_stopping = p.early_stopping == EarlyStopping::kTrue;
  b.include_stop_str_in_output = p.include_stop_str_in_output;
  b.logprobs = p.logprobs;
  b.prompt_logprobs = p.prompt_logprobs;
  b.skip_special_tokens = p.skip_special_tokens;
  b.spaces_between_special_tokens = p.spaces_between_special_tokens;
  return b;
}

}  // namespace pagellm
