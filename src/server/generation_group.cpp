#include "server/generation_group.h"

namespace pagellm::server {

GenerationGroup::GenerationGroup(AsyncEngine& engine, std::string base_id)
    : engine_(engine), base_id_(std::move(base_id)) {}

GenerationGroup::~GenerationGroup() {
  if (stream_ && !stream_->finished()) abort();
}

void GenerationGroup::submit(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& params,
                             int64_t priority) {
  n_ = params.n;
  num_prompts_ = 0;
  prompts_ = prompts;
  prompt_logprobs_.assign(prompts.size(), std::nullopt);
  stream_ = std::make_shared<RequestStream>(prompts.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    try {
      engine_.add_request(std::make_shared<Request>(request_id(p), prompts[p], params, 0, priority), stream_);
    } catch (...) {
      abort();
      stream_.reset();
      throw;
    }
    ++num_prompts_;
    for (int64_t i = 0; i < n_; ++i) {
      Choice c;
      c.index = static_cast<int64_t>(p) * n_ + i;
      c.prompt_index = static_cast<int64_t>(p);
      c.num_prompt_tokens = static_cast<int64_t>(prompts[p].size());
      choices_.push_back(std::move(c));
    }
  }
}

std::optional<ChoiceDelta> GenerationGroup::next(std::chrono::milliseconds timeout) {
  if (!stream_) return std::nullopt;
  std::optional<RequestOutput> out = stream_->next(timeout);
  if (!out) return std::nullopt;
  const size_t prompt_index = std::stoul(out->request_id.substr(out->request_id.rfind('-') + 1));
  const size_t index = prompt_index * static_cast<size_t>(n_) + static_cast<size_t>(out->index);
  Choice& c = choices_.at(index);
  c.text += out->new_text;
  c.token_ids.insert(c.token_ids.end(), out->new_token_ids.begin(), out->new_token_ids.end());
  c.logprobs.insert(c.logprobs.end(), out->new_logprobs.begin(), out->new_logprobs.end());
  c.text_offsets.insert(c.text_offsets.end(), out->new_text_offsets.begin(), out->new_text_offsets.end());
  if (out->prompt_logprobs) prompt_logprobs_.at(prompt_index) = *out->prompt_logprobs;
  c.num_cached_tokens = out->num_cached_tokens;
  if (!out->finish_reason.empty()) {
    c.finish_reason = out->finish_reason;
    c.stop_reason = out->stop_reason;
  }
  return ChoiceDelta{index, std::move(*out)};
}

void GenerationGroup::abort() {
  for (size_t p = 0; p < num_prompts_; ++p) engine_.abort(request_id(p));
}

int64_t GenerationGroup::prompt_tokens() const {
  int64_t total = 0;
  for (const Choice& c : choices_)
    if (c.index % n_ == 0) total += c.num_prompt_tokens;
  return total;
}

int64_t GenerationGroup::completion_tokens() const {
  int64_t total = 0;
  for (const Choice& c : choices_) total += static_cast<int64_t>(c.token_ids.size());
  return total;
}

int64_t GenerationGroup::cached_tokens() const {
  int64_t total = 0;
  for (const Choice& c : choices_)
    if (c.index % n_ == 0) total += c.num_cached_tokens;
  return total;
}

Json stop_reason_json(const StopReason& reason) {
  if (const auto* id = std::get_if<int64_t>(&reason)) return *id;
  if (const auto* s = std::get_if<std::string>(&reason)) return *s;
  return nullptr;
}

}  // namespace pagellm::server
