#include "engine/async_engine.h"

#include "util/error.h"
#include "util/logging.h"

namespace pagellm {

AsyncEngine::AsyncEngine(ModelBundle bundle, EngineConfig config)
    : bundle_(bundle), core_(std::make_unique<EngineCore>(std::move(bundle), config)) {
  config_ = core_->config();
  stats_ = core_->stats();
  thread_ = std::thread([this] { loop(); });
}

AsyncEngine::~AsyncEngine() { shutdown(); }

std::shared_ptr<RequestStream> AsyncEngine::add_request(std::shared_ptr<Request> request,
                                                        std::shared_ptr<RequestStream> stream) {
  EngineCore::validate_request(*request, bundle_.config(), config_);  // so the caller gets the error
  if (!stream) stream = std::make_shared<RequestStream>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) fail(ErrorCode::kUnavailable, "the engine is shutting down");
    if (streams_.contains(request->id))
      fail(ErrorCode::kInvalidArgument, "request id '{}' is already in use", request->id);
    streams_[request->id] = stream;
    incoming_.push_back(std::move(request));
  }
  wake_.notify_one();
  return stream;
}

void AsyncEngine::abort(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborts_.push_back(request_id);
  }
  wake_.notify_one();
}

int64_t AsyncEngine::num_in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(streams_.size());
}

EngineStats AsyncEngine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void AsyncEngine::loop() {
  while (true) {
    std::vector<std::shared_ptr<Request>> incoming;
    std::vector<std::string> aborts;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !aborts_.empty() || core_->has_unfinished(); });
      if (stopping_ && incoming_.empty() && aborts_.empty() && !core_->has_unfinished()) return;
      incoming.swap(incoming_);
      aborts.swap(aborts_);
    }
    for (auto& request : incoming) {
      try {
        core_->add_request(request);
      } catch (const Error& e) {  // checked up front, so only on a race such as a reused id
        log_warning("request {} rejected: {}", request->id, e.what());
        RequestOutput out;
        out.request_id = request->id;
        out.finished = true;
        out.finish_reason = "abort";
        std::lock_guard<std::mutex> lock(mutex_);
        if (auto it = streams_.find(request->id); it != streams_.end()) it->second->push(out), streams_.erase(it);
      }
    }
    for (const std::string& id : aborts) core_->abort_request(id);

    std::vector<RequestOutput> outputs;
    try {
      outputs = core_->step();
    } catch (const std::exception& e) {
      // A step that fails must not take the server down: abort everything that was running.
      log_error("engine step failed: {}", e.what());
      std::vector<std::string> ids;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& [id, s] : streams_) ids.push_back(id);
      }
      for (const std::string& id : ids) core_->abort_request(id);
      outputs = core_->step();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (RequestOutput& out : outputs) {
      auto it = streams_.find(out.request_id);
      if (it == streams_.end()) continue;
      const bool finished = out.finished;
      it->second->push(std::move(out));
      if (finished) streams_.erase(it);
    }
    stats_ = core_->stats();
  }
}

void AsyncEngine::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    accepting_ = false;
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (streams_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, stream] : streams_) aborts_.push_back(id);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pagellm
