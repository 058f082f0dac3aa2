#pragma once
// The hook for per-request logits processors (structured output, custom bans): called once per
// sampled token with the request's tokens so far, before any built-in processing (see sampler.h).
// A processor may be shared by the sequences of one request (n > 1, beam search), so it must
// derive any state from `output_ids` rather than from earlier calls.
#include <cstdint>
#include <span>

namespace pagellm {

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  // Edits `logits` (one row, the whole vocabulary) in place; -infinity bans a token.
  virtual void apply(std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids,
                     std::span<float> logits) const = 0;
};

}  // namespace pagellm
