#pragma once
// The requests behind one API call: one engine request per prompt (its n sequences forked inside
// the engine), all on one shared stream, with each choice's text, tokens and logprobs accumulated
// as deltas arrive. Destroying an unfinished group aborts its requests, so a client that goes
// away frees its blocks.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/async_engine.h"

namespace pagellm::server {

struct Choice {
  int64_t index = 0;  // prompt_index * n + sequence index, as OpenAI numbers choices
  int64_t prompt_index = 0;
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<PositionLogprobs> logprobs;
  std::vector<int64_t> text_offsets;  // per token with logprobs: where its text starts in `text`
  std::string finish_reason;          // non-empty once this choice finished
  StopReason stop_reason;
  int64_t num_prompt_tokens = 0;
  int64_t num_cached_tokens = 0;
};

struct ChoiceDelta {
  size_t choice = 0;
  RequestOutput output;
};

class GenerationGroup {
 public:
  GenerationGroup(AsyncEngine& engine, std::string base_id);
  ~GenerationGroup();
  GenerationGroup(const GenerationGroup&) = delete;
  GenerationGroup& operator=(const GenerationGroup&) = delete;

  // Submits one request per prompt with `params.n` choices each. Throws what
  // AsyncEngine::add_request throws, after aborting what was already submitted.
  void submit(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& params, int64_t priority);
  // The next delta of any choice (already applied to choices()); nullopt on timeout or when done.
  std::optional<ChoiceDelta> next(std::chrono::milliseconds timeout);
  bool finished() const { return stream_ && stream_->finished(); }
  void abort();

  const std::vector<Choice>& choices() const { return choices_; }
  const std::vector<int32_t>& prompt_ids(int64_t prompt_index) const {
    return prompts_.at(static_cast<size_t>(prompt_index));
  }
  // The prompt's logprobs once they arrived (when prompt_logprobs was set); entry 0 is empty.
  const std::optional<std::vector<std::optional<PositionLogprobs>>>& prompt_logprobs(int64_t prompt_index) const {
    return prompt_logprobs_.at(static_cast<size_t>(prompt_index));
  }
  int64_t prompt_tokens() const;  // each prompt counted once, whatever n
  int64_t completion_tokens() const;
  int64_t cached_tokens() const;

 private:
  std::string request_id(size_t prompt_index) const { return base_id_ + "-" + std::to_string(prompt_index); }

  AsyncEngine& engine_;
  std::string base_id_;
  std::shared_ptr<RequestStream> stream_;
  std::vector<Choice> choices_;
  std::vector<std::vector<int32_t>> prompts_;
  std::vector<std::optional<std::vector<std::optional<PositionLogprobs>>>> prompt_logprobs_;
  size_t num_prompts_ = 0;
  int64_t n_ = 1;
};

// vLLM's stop_reason in JSON: null, the stop token id, or the matched stop string.
Json stop_reason_json(const StopReason& reason);

}  // namespace pagellm::server
