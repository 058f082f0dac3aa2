#pragma once
// The channel from the engine thread to a reader (an HTTP handler), for one request or a group of
// them (n > 1, a list of prompts): outputs carry their request id. The engine never blocks on it:
// when the reader lags, a new delta is merged into the last queued delta of the same request, so
// the queue stays short however slow the reader is.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "engine/request_output.h"

namespace pagellm {

class RequestStream {
 public:
  explicit RequestStream(size_t num_requests = 1) : unfinished_(num_requests) {}

  void push(RequestOutput output);  // engine thread
  // Waits up to `timeout` for the next delta; nullopt on timeout or once every request's final
  // delta has been taken.
  std::optional<RequestOutput> next(std::chrono::milliseconds timeout);
  bool finished() const;  // every request's final delta was taken

 private:
  size_t queued_limit() const { return 4 + 2 * unfinished_; }

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestOutput> queue_;
  size_t unfinished_;  // requests whose final delta was not taken yet
};

}  // namespace pagellm
