#pragma once
// Walks the AST and renders text. Scoping follows Jinja: `for` bodies and macros get their own scope (so
// `set` inside a loop does not leak out; templates use namespace() for that), `if` does not.
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace pagellm::jinja {

// Macro calls nested deeper than this fail with an error instead of exhausting the stack.
inline constexpr int kMaxCallDepth = 100;
// Bound on nested statement + expression evaluation across macro calls (keeps stack use to a few MB).
inline constexpr int kMaxNesting = 1000;
// Jinja's sandbox refuses range() results longer than this.
inline constexpr int64_t kMaxRange = 100000;

struct RenderEnv {
  // Template variables (messages, tools, bos_token, ...). Names and values must outlive the render call.
  std::vector<std::pair<std::string_view, Value>> variables;
  std::function<std::tm()> clock;  // for strftime_now
};

// Throws Error(kInvalidArgument) "chat template line L, column C: ..." for template errors, and TemplateError
// (message unchanged) for raise_exception().
std::string render_ast(const TemplateAst& ast, const RenderEnv& env);

}  // namespace pagellm::jinja
