#pragma once
// Turns template source into tokens, applying Jinja's whitespace rules as transformers configures them:
// trim_blocks (drop the first newline after a block or comment tag), lstrip_blocks (drop spaces and tabs before
// a block or comment tag that starts a line), `-` / `+` whitespace control, and keep_trailing_newline=False.
// Text, comments and {% raw %} are resolved here, so the parser sees only text and tag contents.
#include <cstdint>
#include <string>
#include <vector>

namespace pagellm::jinja {

enum class TokenType : uint8_t {
  kText,
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // value holds the unescaped string
  kInteger,
  kFloat,
  kOperator,  // value holds the operator text: + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  kEof,
};

struct Token {
  TokenType type;
  std::string value;
  uint32_t line = 1;
  uint32_t column = 1;
};

// Throws Error(kInvalidArgument) "chat template line L, column C: ..." for an unterminated tag, string or comment,
// or a character that starts no token.
std::vector<Token> lex_template(const std::string& source);

}  // namespace pagellm::jinja
