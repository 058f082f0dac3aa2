#pragma once
// The per-request channel from the engine thread to a reader (an HTTP handler). The engine
// never blocks on it: when the reader lags, new deltas are merged into the last queued one, so
// the queue holds at most a few entries however slow the reader is.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "engine/request_output.h"

namespace pagellm {

class RequestStream {
 public:
  void push(RequestOutput output);  // engine thread
  // Waits up to `timeout` for the next delta; nullopt on timeout. After the finished delta was
  // taken, returns nullopt at once.
  std::optional<RequestOutput> next(std::chrono::milliseconds timeout);
  bool finished() const;

 private:
  static constexpr size_t kMaxQueued = 4;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestOutput> queue_;
  bool finished_pushed_ = false;
  bool finished_taken_ = false;
};

}  // namespace pagellm
