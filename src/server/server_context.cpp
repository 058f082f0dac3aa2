#include "server/server_context.h"

#include <chrono>
#include <random>

#include "pagellm_version.h"
#include "server/api_error.h"

namespace pagellm::server {

const std::string& ServerContext::resolve_model(const std::optional<std::string>& requested) const {
  if (!requested) return default_model_name();
  for (const std::string& name : config.served_model_names)
    if (name == *requested) return name;
  throw ApiError(404, fmt::format("The model `{}` does not exist.", *requested), "model");
}

std::string ServerContext::system_fingerprint() const { return std::string("pagellm-") + PAGELLM_VERSION; }

std::string random_id(const std::string& prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}{:016x}{:016x}", prefix, rng(), rng());
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace pagellm::server
