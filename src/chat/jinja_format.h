#pragma once
// Python string formatting that templates occasionally use: `"%s: %d" % (a, b)` and `"{}: {name}".format(...)`.
// The common conversions are covered; anything else raises rather than guessing.
#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace pagellm::jinja {

std::string percent_format(std::string_view format, const Value& args);   // str % args
std::string brace_format(std::string_view format, const CallArgs& args);  // str.format(*args, **kwargs)

}  // namespace pagellm::jinja
