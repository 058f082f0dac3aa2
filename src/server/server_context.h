#pragma once
// What every endpoint handler needs: the engine, the tokenizer and chat template, the served
// names and limits. Built once the model is loaded; handlers only read it.
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "chat/chat_template.h"
#include "engine/async_engine.h"
#include "server/sampling_request.h"
#include "server/server_config.h"

namespace pagellm::server {

struct ServerContext {
  ServerConfig config;
  std::string model_path;
  std::unique_ptr<AsyncEngine> engine;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;
  SamplingDefaults sampling_defaults;
  int64_t created = 0;  // unix time the model was loaded
  // Generation responses still being written (shutdown waits for them, not only for the engine).
  mutable std::atomic<int64_t> open_responses{0};

  const std::string& default_model_name() const { return config.served_model_names.front(); }
  // The served name a request asked for; 404 (OpenAI's "model does not exist") for any other.
  const std::string& resolve_model(const std::optional<std::string>& requested) const;
  int64_t max_model_len() const { return engine->config().scheduler.max_model_len; }
  std::string system_fingerprint() const;
};

// "cmpl-" + 32 hex digits.
std::string random_id(const std::string& prefix);
int64_t unix_time();

}  // namespace pagellm::server
