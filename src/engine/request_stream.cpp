#include "engine/request_stream.h"

namespace pagellm {
namespace {

void merge_into(RequestOutput& last, RequestOutput& next) {
  last.new_token_ids.insert(last.new_token_ids.end(), next.new_token_ids.begin(), next.new_token_ids.end());
  last.new_text += next.new_text;
  last.new_logprobs.insert(last.new_logprobs.end(), next.new_logprobs.begin(), next.new_logprobs.end());
  last.new_text_offsets.insert(last.new_text_offsets.end(), next.new_text_offsets.begin(), next.new_text_offsets.end());
  last.stop_reason = next.stop_reason;
  last.cumulative_logprob = next.cumulative_logprob;
  last.finished = next.finished;
  last.finish_reason = next.finish_reason;
  last.stop_token_id = next.stop_token_id;
  last.num_output_tokens = next.num_output_tokens;
  last.num_cached_tokens = next.num_cached_tokens;
}

}  // namespace

void RequestStream::push(RequestOutput output) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bool merged = false;
    // Prompt logprobs come once, in a request's first output: never merged away. A request's
    // final output is never merged either: moving it ahead of its other sequences' last deltas
    // would end the stream before they were read.
    if (queue_.size() >= queued_limit() && !output.prompt_logprobs && !output.finished) {
      for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
        if (it->request_id != output.request_id || it->index != output.index) continue;
        if (!it->finished && it->finish_reason.empty()) merge_into(*it, output), merged = true;
        break;
      }
    }
    if (!merged) queue_.push_back(std::move(output));
  }
  ready_.notify_all();
}

std::optional<RequestOutput> RequestStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (unfinished_ == 0 && queue_.empty()) return std::nullopt;
  if (!ready_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) return std::nullopt;
  RequestOutput out = std::move(queue_.front());
  queue_.pop_front();
  if (out.finished && unfinished_ > 0) --unfinished_;
  return out;
}

bool RequestStream::finished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return unfinished_ == 0 && queue_.empty();
}

}  // namespace pagellm
