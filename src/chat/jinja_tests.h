#pragma once
// Jinja's `is` tests (`x is defined`, `x is divisibleby 3`, ...).
#include <string_view>

#include "chat/jinja_value.h"

namespace pagellm::jinja {

bool has_test(std::string_view name);
// Throws ValueError for an unknown test or bad arguments.
bool apply_test(std::string_view name, const Value& subject, const CallArgs& args);

}  // namespace pagellm::jinja
