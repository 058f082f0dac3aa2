#include "server/api_error.h"

namespace pagellm::server {
namespace {

const char* error_type(int status) {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 403:
      return "PermissionDeniedError";
    case 404:
      return "NotFoundError";
    case 405:
      return "MethodNotAllowedError";
    case 413:
      return "RequestTooLargeError";
    case 422:
      return "UnprocessableEntityError";
    case 429:
      return "RateLimitError";
    case 503:
      return "ServiceUnavailableError";
    default:
      return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

}  // namespace

ApiError::ApiError(int status, std::string message, std::optional<std::string> param)
    : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)) {}

Json ApiError::body() const { return error_body(status_, what(), param_); }

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kUnsupported:
      return 400;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInvalidModel:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

Json error_body(int status, const std::string& message, const std::optional<std::string>& param) {
  return Json{{"error",
               {{"message", message},
                {"type", error_type(status)},
                {"param", param ? Json(*param) : Json(nullptr)},
                {"code", status}}}};
}

}  // namespace pagellm::server
