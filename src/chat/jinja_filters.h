#pragma once
// Jinja's built-in filters (`x | trim`, `x | tojson(indent=4)`, ...), with Python results: Jinja's defaults
// are kept (e.g. `sort` and `unique` ignore case unless case_sensitive=true) and `tojson` is transformers'
// json.dumps(ensure_ascii=False) rather than Jinja's HTML-safe one.
#include <string_view>

#include "chat/jinja_value.h"

namespace pagellm::jinja {

bool has_filter(std::string_view name);
// Throws ValueError for an unknown filter, bad arguments or a type Python would reject.
Value apply_filter(std::string_view name, const Value& subject, const CallArgs& args);

}  // namespace pagellm::jinja
