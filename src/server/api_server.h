#pragma once
// The OpenAI-compatible HTTP server: routes, auth, request ids, body limits, error JSON, and the
// life cycle (503 while the model loads and while shutting down).
#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "server/server_context.h"

namespace pagellm::server {

class ApiServer {
 public:
  explicit ApiServer(ServerConfig config);
  ~ApiServer();

  // Binds host:port (throws Error naming them if it cannot) and starts serving on a thread;
  // every route answers 503 until set_context().
  void start();
  void set_context(std::shared_ptr<ServerContext> context);
  // New requests get 503; requests already running continue.
  void begin_shutdown() { draining_ = true; }
  void stop();
  int port() const { return port_; }
  const ServerConfig& config() const { return config_; }

 private:
  using JsonHandler = std::function<void(const ServerContext&, const Json& body, const std::string& request_id,
                                         httplib::Response& res)>;
  void add_route(const std::string& path, const std::string& method, JsonHandler handler, bool needs_body);
  void handle(const httplib::Request& req, httplib::Response& res, const JsonHandler& handler, bool needs_body);
  std::shared_ptr<ServerContext> context() const;

  ServerConfig config_;
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex context_mutex_;
  std::shared_ptr<ServerContext> context_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> listener_done_{false};
  int listen_socket_ = -1;
};

}  // namespace pagellm::server
