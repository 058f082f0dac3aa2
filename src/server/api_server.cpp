#include "server/api_server.h"

#include <sys/socket.h>

#include "server/api_error.h"
#include "server/body_parser.h"
#include "server/chat_completions.h"
#include "server/completions.h"
#include "server/metrics.h"
#include "server/sampling_request.h"
#include "server/simple_endpoints.h"
#include "server/sse.h"
#include "util/logging.h"

namespace pagellm::server {
namespace {

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};

}  // namespace

ApiServer::ApiServer(ServerConfig config) : config_(std::move(config)) {
  const size_t threads = static_cast<size_t>(std::max<int64_t>(4, config_.http_threads));
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_payload_max_length(static_cast<size_t>(config_.max_body_bytes));
  http_.set_read_timeout(static_cast<time_t>(config_.read_timeout_seconds), 0);
  http_.set_write_timeout(static_cast<time_t>(config_.read_timeout_seconds), 0);
  http_.set_keep_alive_max_count(10000);
  http_.set_keep_alive_timeout(5);
  http_.set_tcp_nodelay(true);
  // The library listens with a backlog of 5, which drops connections when hundreds of clients
  // connect at once; remember the listening socket to raise it after binding.
  http_.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_socket_ = sock;
  });
  // Unknown routes, oversized bodies and unparsable requests, in OpenAI's error shape.
  http_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    switch (res.status) {
      case 404:
        message = fmt::format("Not Found: no route {} {}", req.method, req.path);
        break;
      case 413:
        message = "the request body is larger than the server's limit";
        break;
      default:
        message = fmt::format("HTTP error {}", res.status);
    }
    send_json(res, res.status, error_body(res.status, message));
  });

  add_route(
      "/health", "GET",
      [](const ServerContext&, const Json&, const std::string&, httplib::Response& res) { res.status = 200; }, false);
  add_route(
      "/version", "GET",
      [](const ServerContext&, const Json&, const std::string&, httplib::Response& res) {
        send_json(res, 200, version_response());
      },
      false);
  add_route(
      "/v1/models", "GET",
      [](const ServerContext& ctx, const Json&, const std::string&, httplib::Response& res) {
        send_json(res, 200, models_response(ctx));
      },
      false);
  add_route(
      "/metrics", "GET",
      [](const ServerContext& ctx, const Json&, const std::string&, httplib::Response& res) {
        res.set_content(prometheus_metrics(ctx.engine->stats(), ctx.default_model_name()), "text/plain; version=0.0.4");
      },
      false);
  add_route(
      "/tokenize", "POST",
      [](const ServerContext& ctx, const Json& body, const std::string&, httplib::Response& res) {
        send_json(res, 200, tokenize_response(ctx, body));
      },
      true);
  add_route(
      "/detokenize", "POST",
      [](const ServerContext& ctx, const Json& body, const std::string&, httplib::Response& res) {
        send_json(res, 200, detokenize_response(ctx, body));
      },
      true);
  add_route("/v1/completions", "POST", handle_completions, true);
  add_route("/v1/chat/completions", "POST", handle_chat_completions, true);
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::add_route(const std::string& path, const std::string& method, JsonHandler handler, bool needs_body) {
  const std::string pattern = path;  // exact paths only: no regex metacharacters in ours
  auto serve = [this, handler, needs_body](const httplib::Request& req, httplib::Response& res) {
    handle(req, res, handler, needs_body);
  };
  auto not_allowed = [method](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Allow", method);
    send_json(res, 405,
              error_body(405, fmt::format("Method {} not allowed for {} (use {})", req.method, req.path, method)));
  };
  for (const char* m : kMethods) {
    const bool match = method == m;
    auto fn = match ? httplib::Server::Handler(serve) : httplib::Server::Handler(not_allowed);
    if (std::string(m) == "GET")
      http_.Get(pattern, fn);
    else if (std::string(m) == "POST")
      http_.Post(pattern, fn);
    else if (std::string(m) == "PUT")
      http_.Put(pattern, fn);
    else if (std::string(m) == "DELETE")
      http_.Delete(pattern, fn);
    else
      http_.Patch(pattern, fn);
  }
}

std::shared_ptr<ServerContext> ApiServer::context() const {
  std::lock_guard<std::mutex> lock(context_mutex_);
  return context_;
}

void ApiServer::set_context(std::shared_ptr<ServerContext> context) {
  std::lock_guard<std::mutex> lock(context_mutex_);
  context_ = std::move(context);
}

void ApiServer::handle(const httplib::Request& req, httplib::Response& res, const JsonHandler& handler,
                       bool needs_body) {
  std::string request_id = req.get_header_value("X-Request-Id");
  if (request_id.empty() || request_id.size() > 256)
    request_id = random_id(req.path == "/v1/chat/completions" ? "chatcmpl-" : "cmpl-");
  res.set_header("X-Request-Id", request_id);
  try {
    if (req.path.rfind("/v1/", 0) == 0 && config_.api_key &&
        req.get_header_value("Authorization") != "Bearer " + *config_.api_key)
      throw ApiError(401, "Unauthorized: a valid API key is required (Authorization: Bearer <key>)");
    std::shared_ptr<ServerContext> ctx = context();
    if (!ctx) throw ApiError(503, "the model is still loading; try again shortly");
    if (draining_) throw ApiError(503, "the server is shutting down");
    const Json body = needs_body ? parse_request_body(req.body, config_.max_json_depth) : Json::object();
    handler(*ctx, body, request_id, res);
  } catch (const ApiError& e) {
    send_json(res, e.status(), e.body());
  } catch (const Error& e) {
    // The engine's own checks (run on this thread when a request is added) name their field too.
    const int status = http_status_for(e.code());
    send_json(res, status, error_body(status, e.what(), status == 400 ? field_named_in(e.what()) : std::nullopt));
  } catch (const std::exception& e) {
    send_json(res, 500, error_body(500, fmt::format("internal error: {}", e.what())));
  }
  if (config_.log_requests) log_info("{} {} -> {} ({})", req.method, req.path, res.status, request_id);
}

void ApiServer::start() {
  port_ = config_.port == 0 ? http_.bind_to_any_port(config_.host)
                            : (http_.bind_to_port(config_.host, config_.port) ? config_.port : -1);
  if (port_ <= 0)
    fail(ErrorCode::kUnavailable, "cannot listen on {}:{} (address in use or not available)", config_.host,
         config_.port);
  if (listen_socket_ >= 0) ::listen(listen_socket_, 4096);  // Linux raises a listening socket's backlog
  thread_ = std::thread([this] {
    http_.listen_after_bind();
    listener_done_ = true;
  });
  // stop() only works once the listener runs; wait for it so an early stop cannot be lost.
  while (!http_.is_running() && !listener_done_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void ApiServer::stop() {
  http_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pagellm::server
