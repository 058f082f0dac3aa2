#pragma once
// The sampling fields of /v1/completions and /v1/chat/completions (OpenAI's plus vLLM's extras)
// into SamplingParams, with a 400 naming the first bad field.
#include <optional>
#include <string>

#include "model/model_loader.h"
#include "sampling/sampling_params.h"
#include "util/json_file.h"

namespace pagellm::server {

struct SamplingDefaults {
  GenerationDefaults generation;  // generation_config.json
  int64_t max_model_len = 0;
  int64_t max_logprobs = 20;
  int64_t vocab_size = -1;
};

// The sampling field a validation message (SamplingParams::validate, the engine's checks) is
// about, for the OpenAI error's `param`; nullopt when it names none.
std::optional<std::string> field_named_in(const std::string& message);

// `max_tokens` is the request's explicit limit (max_tokens / max_completion_tokens) or nullopt.
SamplingParams parse_sampling_params(const Json& body, const SamplingDefaults& defaults,
                                     std::optional<int64_t> max_tokens);

}  // namespace pagellm::server
