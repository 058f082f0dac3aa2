#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pagellm::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;
  std::vector<std::string> served_model_names;  // empty: the model path
  std::optional<std::string> api_key;           // --api-key or PAGELLM_API_KEY
  std::optional<std::string> chat_template_file;
  int64_t max_logprobs = 20;
  int64_t max_body_bytes = int64_t{32} << 20;
  int max_json_depth = 64;
  bool log_requests = true;
  int64_t http_threads = 512;         // one per open connection (streams hold theirs)
  int64_t read_timeout_seconds = 30;  // a client that sends nothing for this long is dropped
  int64_t shutdown_grace_seconds = 10;
};

}  // namespace pagellm::server
