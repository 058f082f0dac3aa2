#include "engine/request_stream.h"

namespace pagellm {

void RequestStream::push(RequestOutput output) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_pushed_) return;
    finished_pushed_ = output.finished;
    if (queue_.size() >= kMaxQueued && queue_.back().index == output.index && !output.prompt_logprobs) {
      RequestOutput& last = queue_.back();
      last.new_token_ids.insert(last.new_token_ids.end(), output.new_token_ids.begin(), output.new_token_ids.end());
      last.new_text += output.new_text;
      last.new_logprobs.insert(last.new_logprobs.end(), output.new_logprobs.begin(), output.new_logprobs.end());
      last.stop_reason = output.stop_reason;
      last.cumulative_logprob = output.cumulative_logprob;
      last.finished = output.finished;
      last.finish_reason = output.finish_reason;
      last.stop_token_id = output.stop_token_id;
      last.num_output_tokens = output.num_output_tokens;
      last.num_cached_tokens = output.num_cached_tokens;
    } else {
      queue_.push_back(std::move(output));
    }
  }
  ready_.notify_all();
}

std::optional<RequestOutput> RequestStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (finished_taken_) return std::nullopt;
  if (!ready_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) return std::nullopt;
  RequestOutput out = std::move(queue_.front());
  queue_.pop_front();
  finished_taken_ = out.finished;
  return out;
}

bool RequestStream::finished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return finished_taken_;
}

}  // namespace pagellm
