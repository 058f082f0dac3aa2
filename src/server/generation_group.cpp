#include "server/generation_group.h"

#include <unordered_map>

namespace pagellm::server {

GenerationGroup::GenerationGroup(AsyncEngine& engine, std::string base_id)
    : engine_(engine), base_id_(std::move(base_id)) {}

GenerationGroup::~GenerationGroup() {
  if (stream_ && !stream_->finished()) abort();
}

void GenerationGroup::submit(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& params, int64_t n,
                             int64_t priority) {
  n_ = n;
  stream_ = std::make_shared<RequestStream>(prompts.size() * static_cast<size_t>(n));
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int64_t i = 0; i < n; ++i) {
      Choice c;
      c.index = static_cast<int64_t>(p) * n + i;
      c.prompt_index = static_cast<int64_t>(p);
      c.request_id = base_id_ + "-" + std::to_string(c.index);
      c.num_prompt_tokens = static_cast<int64_t>(prompts[p].size());
      SamplingParams sp = params;
      if (sp.seed) sp.seed = *sp.seed + static_cast<uint64_t>(i);
      try {
        engine_.add_request(std::make_shared<Request>(c.request_id, prompts[p], sp, 0, priority), stream_);
      } catch (...) {
        for (const Choice& done : choices_) engine_.abort(done.request_id);
        stream_.reset();
        throw;
      }
      choices_.push_back(std::move(c));
    }
  }
}

std::optional<ChoiceDelta> GenerationGroup::next(std::chrono::milliseconds timeout) {
  if (!stream_) return std::nullopt;
  std::optional<RequestOutput> out = stream_->next(timeout);
  if (!out) return std::nullopt;
  // Request ids end in "-<choice index>".
  const size_t index = std::stoul(out->request_id.substr(out->request_id.rfind('-') + 1));
  Choice& c = choices_.at(index);
  c.text += out->new_text;
  c.token_ids.insert(c.token_ids.end(), out->new_token_ids.begin(), out->new_token_ids.end());
  c.num_cached_tokens = out->num_cached_tokens;
  if (out->finished) {
    c.finished = true;
    c.finish_reason = out->finish_reason;
    c.stop_token_id = out->stop_token_id;
  }
  return ChoiceDelta{index, std::move(*out)};
}

void GenerationGroup::abort() {
  for (const Choice& c : choices_)
    if (!c.finished) engine_.abort(c.request_id);
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

}  // namespace pagellm::server
