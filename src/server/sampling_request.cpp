#include "server/sampling_request.h"

#include "server/api_error.h"
#include "server/json_fields.h"

namespace pagellm::server {

SamplingParams parse_sampling_params(const Json& body, const SamplingDefaults& defaults,
                                     std::optional<int64_t> max_tokens) {
  SamplingParams p;
  p.temperature = number_field(body, "temperature").value_or(defaults.generation.temperature.value_or(1.0));
  p.top_p = number_field(body, "top_p").value_or(defaults.generation.top_p.value_or(1.0));
  p.top_k = int_field(body, "top_k").value_or(defaults.generation.top_k.value_or(0));
  if (auto seed = int_field(body, "seed")) p.seed = static_cast<uint64_t>(*seed);
  p.ignore_eos = bool_field(body, "ignore_eos").value_or(false);
  p.stop_token_ids = int_list_field(body, "stop_token_ids");
  if (max_tokens) {
    if (*max_tokens < 1) bad_request(fmt::format("max_tokens must be at least 1, got {}", *max_tokens), "max_tokens");
    p.max_tokens = *max_tokens;
  }
  try {
    p.validate();
  } catch (const Error& e) {
    // The message names the field; find which for `param`.
    const std::string message = e.what();
    std::optional<std::string> param;
    for (const char* f : {"temperature", "top_p", "top_k", "max_tokens", "seed"})
      if (message.find(f) != std::string::npos) param = f;
    bad_request(message, param);
  }
  return p;
}

}  // namespace pagellm::server
