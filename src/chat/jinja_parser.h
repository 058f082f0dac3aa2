#pragma once
// Recursive-descent parser from tokens to the AST, following Jinja2's grammar and operator precedence.
#include <string>

#include "chat/jinja_ast.h"

namespace pagellm::jinja {

// Nesting of blocks and expressions deeper than this is rejected rather than risking the stack.
inline constexpr int kMaxParseDepth = 200;
// Bound on the depth of one expression's tree (operator chains included).
inline constexpr uint32_t kMaxExprDepth = 500;

// Throws Error(kInvalidArgument) "chat template line L, column C: ..." naming what was not understood.
TemplateAst parse_template(const std::string& source);

}  // namespace pagellm::jinja
