#pragma once
// Errors in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with the HTTP status
// the SDKs map to their typed error classes (400 BadRequestError, 401 AuthenticationError, ...).
#include <optional>
#include <stdexcept>
#include <string>

#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::optional<std::string> param = std::nullopt);
  int status() const { return status_; }
  const std::optional<std::string>& param() const { return param_; }
  Json body() const;

 private:
  int status_;
  std::optional<std::string> param_;
};

// The status a pagellm::Error deserves (kInvalidArgument 400, kNotFound 404, kUnavailable 503, ...).
int http_status_for(ErrorCode code);
Json error_body(int status, const std::string& message, const std::optional<std::string>& param = std::nullopt);

[[noreturn]] inline void bad_request(const std::string& message,
                                     const std::optional<std::string>& param = std::nullopt) {
  throw ApiError(400, message, param);
}

}  // namespace pagellm::server
