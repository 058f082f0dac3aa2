#pragma once
// Runs EngineCore::step() in a loop on its own thread. Any thread may add requests (validated at
// once, on the caller's thread) and abort them; each request's deltas arrive on its own stream.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/engine_core.h"
#include "engine/request_stream.h"

namespace pagellm {

class AsyncEngine {
 public:
  AsyncEngine(ModelBundle bundle, EngineConfig config);
  ~AsyncEngine();
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  // Throws Error(kInvalidArgument) for a request the engine would reject, kUnavailable after shutdown.
  // Requests of one group (n > 1, several prompts) may share a stream made for that many requests.
  std::shared_ptr<RequestStream> add_request(std::shared_ptr<Request> request,
                                             std::shared_ptr<RequestStream> stream = nullptr);
  void abort(const std::string& request_id);  // no-op for unknown or finished ids
  EngineStats stats() const;
  int64_t num_in_flight() const;  // requests added and not yet finished
  // Stops accepting; aborts what is still running after `grace` and joins the engine thread.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  const ModelBundle& bundle() const { return bundle_; }
  const EngineConfig& config() const { return config_; }

 private:
  void loop();

  ModelBundle bundle_;
  EngineConfig config_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::unique_ptr<EngineCore> core_;  // touched only by the engine thread after construction
  std::vector<std::shared_ptr<Request>> incoming_;
  std::vector<std::string> aborts_;
  std::unordered_map<std::string, std::shared_ptr<RequestStream>> streams_;
  EngineStats stats_;  // refreshed by the engine thread after each step
  bool stopping_ = false;
  bool accepting_ = true;
  std::thread thread_;
};

}  // namespace pagellm
