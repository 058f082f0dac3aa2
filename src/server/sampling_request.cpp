#include "server/sampling_request.h"

#include "server/api_error.h"
#include "server/json_fields.h"

namespace pagellm::server {
namespace {

bool absent(const Json& body, const char* name) { return !body.contains(name) || body[name].is_null(); }

}  // namespace

std::optional<std::string> field_named_in(const std::string& message) {
  // Longer names first where one contains another (top_logprobs before logprobs).
  static const char* kFields[] = {"presence_penalty",
                                  "frequency_penalty",
                                  "repetition_penalty",
                                  "temperature",
                                  "top_p",
                                  "top_k",
                                  "min_p",
                                  "max_tokens",
                                  "min_tokens",
                                  "prompt_logprobs",
                                  "top_logprobs",
                                  "logprobs",
                                  "logit_bias",
                                  "allowed_token_ids",
                                  "stop_token_ids",
                                  "bad_words",
                                  "best_of",
                                  "length_penalty",
                                  "early_stopping",
                                  "use_beam_search",
                                  "seed",
                                  "stop",
                                  "n"};
  // Validation messages start with the field they are about ("n must be at least 1",
  // "stop_token_ids[2] must be ...", "stop strings are only ...").
  for (const char* f : kFields) {
    const size_t len = std::char_traits<char>::length(f);
    if (message.compare(0, len, f) == 0 &&
        (message.size() == len || std::string(" [").find(message[len]) != std::string::npos))
      return f;
  }
  return std::nullopt;
}

SamplingParams parse_sampling_params(const Json& body, const SamplingDefaults& defaults,
                                     std::optional<int64_t> max_tokens) {
  SamplingParams p;
  try {
    p = SamplingParams::from_json(body);
    if (absent(body, "temperature") && defaults.generation.temperature)
      p.temperature = *defaults.generation.temperature;
    if (absent(body, "top_p") && defaults.generation.top_p) p.top_p = *defaults.generation.top_p;
    if (absent(body, "top_k") && defaults.generation.top_k) p.top_k = *defaults.generation.top_k;
    if (absent(body, "repetition_penalty") && defaults.generation.repetition_penalty)
      p.repetition_penalty = *defaults.generation.repetition_penalty;
    if (max_tokens) p.max_tokens = *max_tokens;
    p.validate(defaults.vocab_size, defaults.max_logprobs);
  } catch (const Error& e) {
    bad_request(e.what(), field_named_in(e.what()));
  }
  if (p.n > 128) bad_request(fmt::format("'n' must be at most 128, got {}", p.n), "n");
  return p;
}

}  // namespace pagellm::server
