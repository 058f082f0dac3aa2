#pragma once
// The error a template raises on purpose with raise_exception(msg): what() is exactly the template's message,
// so callers can show it to users unchanged (e.g. "Conversation roles must alternate user/assistant/...").
#include <string>

#include "util/error.h"

namespace pagellm {

class TemplateError : public Error {
 public:
  explicit TemplateError(const std::string& message) : Error(ErrorCode::kInvalidArgument, message) {}
};

}  // namespace pagellm
