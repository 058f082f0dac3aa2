#pragma once
// The one error type of pagellm: a code (mapped to exit codes and HTTP statuses by the callers)
// and a message that names the file, field or tensor at fault.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace pagellm {

enum class ErrorCode {
  kInvalidArgument,    // bad flag, request field or prompt
  kNotFound,           // missing file, tensor, token or route
  kInvalidModel,       // a model or tokenizer file that is corrupt or inconsistent
  kUnsupported,        // valid input we do not handle (yet)
  kResourceExhausted,  // out of KV blocks, body too large
  kUnavailable,        // loading or shutting down
  kInternal,           // a bug
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace pagellm
