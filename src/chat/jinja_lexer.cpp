#include "chat/jinja_lexer.h"

#include <algorithm>

#include "chat/jinja_text.h"
#include "util/error.h"

namespace pagellm::jinja {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;  // the previous tag ended a line (or we are at the start)
    while (pos < src_.size()) {
      size_t tag = find_tag(pos);
      std::string_view text(src_.data() + pos, tag - pos);
      if (tag < src_.size()) {
        const char kind = src_[tag + 1];
        const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
        if (sign == '-') {
          text = text::strip(text, std::nullopt, false, true);
        } else if (sign != '+' && kind != '{') {
          // lstrip_blocks: drop spaces/tabs between the line start and a block or comment tag.
          size_t l_pos = text.rfind('\n');
          l_pos = l_pos == std::string_view::npos ? 0 : l_pos + 1;
          if (l_pos > 0 || line_starting) {
            auto tail = text.substr(l_pos);
            if (std::all_of(tail.begin(), tail.end(), [](char c) { return c == ' ' || c == '\t'; }))
              text = text.substr(0, l_pos);
          }
        }
      }
      if (!text.empty()) push(TokenType::kText, std::string(text), pos);
      if (tag >= src_.size()) break;
      const char kind = src_[tag + 1];
      if (kind == '#') {
        pos = lex_comment(tag);
      } else if (kind == '%' && is_raw(tag)) {
        pos = lex_raw(tag);
      } else {
        pos = lex_tag(tag, kind == '%');
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    push(TokenType::kEof, "", src_.size());
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error_at(size_t offset, const std::string& what) const {
    auto [line, col] = position(offset);
    fail(ErrorCode::kInvalidArgument, "chat template line {}, column {}: {}", line, col, what);
  }

  // Line and column (in code points) of a byte offset. Tokens arrive in source order, so the column is counted
  // on from the previous token on the same line: linear in the line length, even for a one-line template.
  std::pair<uint32_t, uint32_t> position(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line_start = it == line_starts_.begin() ? 0 : *(it - 1);
    const auto line = static_cast<uint32_t>(it - line_starts_.begin() + 1);
    size_t from = line_start;
    uint32_t col = 1;
    if (cursor_line_ == line && cursor_offset_ <= offset) {
      from = cursor_offset_;
      col = cursor_col_;
    }
    col += static_cast<uint32_t>(text::cp_count(std::string_view(src_).substr(from, offset - from)));
    cursor_line_ = line;
    cursor_offset_ = offset;
    cursor_col_ = col;
    return {line, col};
  }

  void push(TokenType type, std::string value, size_t offset) {
    auto [line, col] = position(offset);
    tokens_.push_back(Token{type, std::move(value), line, col});
  }

  size_t find_tag(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  // After a closing `-%}` all whitespace goes; after a plain `%}` / `#}` one newline goes (trim_blocks).
  size_t after_block_end(size_t end_pos, char sign) const {
    if (sign == '-') {
      size_t p = end_pos;
      while (p < src_.size()) {
        size_t q = p;
        if (!text::is_space(text::next_cp(src_, q))) break;
        p = q;
      }
      return p;
    }
    if (sign != '+' && end_pos < src_.size() && src_[end_pos] == '\n') return end_pos + 1;
    return end_pos;
  }

  size_t lex_comment(size_t tag) {
    size_t end = src_.find("#}", tag + 2);
    if (end == std::string::npos) error_at(tag, "unterminated comment: missing '#}'");
    char sign = end > tag + 2 ? src_[end - 1] : '\0';
    return after_block_end(end + 2, sign);
  }

  // Matches `{%[-+]? raw [-+]?%}` at tag; returns the offset after it or npos.
  size_t match_keyword_tag(size_t tag, std::string_view word, char* close_sign) const {
    size_t p = tag + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    while (p < src_.size() && text::is_space(static_cast<unsigned char>(src_[p]))) ++p;
    if (src_.compare(p, word.size(), word) != 0) return std::string::npos;
    p += word.size();
    if (p < src_.size() && is_name_char(src_[p])) return std::string::npos;
    while (p < src_.size() && text::is_space(static_cast<unsigned char>(src_[p]))) ++p;
    *close_sign = '\0';
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) *close_sign = src_[p++];
    if (src_.compare(p, 2, "%}") != 0) return std::string::npos;
    return p + 2;
  }

  bool is_raw(size_t tag) const {
    char sign;
    return match_keyword_tag(tag, "raw", &sign) != std::string::npos;
  }

  size_t lex_raw(size_t tag) {
    char sign;
    size_t body = match_keyword_tag(tag, "raw", &sign);
    if (sign == '-') body = after_block_end(body, '-');  // no trim_blocks after {% raw %}, as in Jinja
    for (size_t p = src_.find("{%", body); p != std::string::npos; p = src_.find("{%", p + 2)) {
      char end_sign;
      size_t after = match_keyword_tag(p, "endraw", &end_sign);
      if (after == std::string::npos) continue;
      std::string_view content(src_.data() + body, p - body);
      const char open_sign = src_[p + 2];
      if (open_sign == '-') {
        content = text::strip(content, std::nullopt, false, true);
      } else if (open_sign != '+') {
        size_t l_pos = content.rfind('\n');
        if (l_pos != std::string_view::npos) {
          auto tail = content.substr(l_pos + 1);
          if (std::all_of(tail.begin(), tail.end(), [](char c) { return c == ' ' || c == '\t'; }))
            content = content.substr(0, l_pos + 1);
        }
      }
      if (!content.empty()) push(TokenType::kText, std::string(content), body);
      return after_block_end(after, end_sign);
    }
    error_at(tag, "unterminated {% raw %} block: missing {% endraw %}");
  }

  size_t lex_tag(size_t tag, bool block) {
    push(block ? TokenType::kBlockBegin : TokenType::kVarBegin, "", tag);
    size_t p = tag + 2;
    if (p < src_.size() && (src_[p] == '-' || (block && src_[p] == '+'))) ++p;
    int depth = 0;  // brackets open inside the tag: `}}` inside a dict literal is not the end
    while (true) {
      while (p < src_.size() && text::is_space(static_cast<unsigned char>(src_[p]))) ++p;
      if (p >= src_.size())
        error_at(tag, block ? "unterminated block tag: missing '%}'" : "unterminated expression: missing '}}'");
      // End of tag?
      const std::string_view close = block ? "%}" : "}}";
      char sign = '\0';
      size_t end = std::string::npos;
      if ((src_[p] == '-' || (block && src_[p] == '+')) && src_.compare(p + 1, 2, close) == 0) {
        sign = src_[p];
        end = p + 3;
      } else if (src_.compare(p, 2, close) == 0 && (block || depth == 0)) {
        end = p + 2;
      }
      if (end != std::string::npos) {
        push(block ? TokenType::kBlockEnd : TokenType::kVarEnd, "", p);
        return block ? after_block_end(end, sign) : (sign == '-' ? after_block_end(end, '-') : end);
      }
      p = lex_expr_token(p, depth);
    }
  }

  size_t lex_expr_token(size_t p, int& depth) {
    const char c = src_[p];
    if (is_name_start(c)) {
      size_t e = p;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      push(TokenType::kName, src_.substr(p, e - p), p);
      return e;
    }
    if (is_digit(c)) return lex_number(p);
    if (c == '\'' || c == '"') return lex_string(p);
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (auto op : kTwo) {
      if (src_.compare(p, 2, op) == 0) {
        push(TokenType::kOperator, std::string(op), p);
        return p + 2;
      }
    }
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) != std::string_view::npos) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      push(TokenType::kOperator, std::string(1, c), p);
      return p + 1;
    }
    error_at(p, std::string("unexpected character '") + c + "' in tag");
  }

  size_t lex_number(size_t p) {
    size_t e = p;
    auto digits = [&] {
      while (e < src_.size() && (is_digit(src_[e]) || (src_[e] == '_' && e + 1 < src_.size() && is_digit(src_[e + 1]))))
        ++e;
    };
    digits();
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
      is_float = true;
      ++e;
      digits();
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && is_digit(src_[q])) {
        is_float = true;
        e = q;
        digits();
      }
    }
    std::string value;
    for (size_t i = p; i < e; ++i)
      if (src_[i] != '_') value += src_[i];
    push(is_float ? TokenType::kFloat : TokenType::kInteger, value, p);
    return e;
  }

  size_t lex_string(size_t p) {
    const char quote = src_[p];
    std::string value;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) error_at(p, "unterminated string literal");
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) error_at(p, "unterminated string literal");
      char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case '0':
          value += '\0';
          break;
        case 'a':
          value += '\a';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'v':
          value += '\v';
          break;
        case '\\':
          value += '\\';
          break;
        case '\'':
          value += '\'';
          break;
        case '"':
          value += '"';
          break;
        case '\n':
          break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          if (i + n > src_.size()) error_at(i - 2, "truncated \\" + std::string(1, e) + " escape");
          char32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            char h = src_[i + k];
            int d = is_digit(h)              ? h - '0'
                    : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                             : -1;
            if (d < 0) error_at(i - 2, "invalid \\" + std::string(1, e) + " escape");
            cp = cp * 16 + static_cast<char32_t>(d);
          }
          i += n;
          text::append_utf8(value, cp);
          break;
        }
        default:  // Python keeps unknown escapes verbatim
          value += '\\';
          value += e;
      }
    }
    push(TokenType::kString, std::move(value), p);
    return i + 1;
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  mutable uint32_t cursor_line_ = 0;  // last position computed, to continue from
  mutable size_t cursor_offset_ = 0;
  mutable uint32_t cursor_col_ = 1;
  std::vector<Token> tokens_;
};

// Jinja splits the source into lines and joins them with '\n': CRLF becomes LF and one final newline is lost.
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> lex_template(const std::string& source) { return Lexer(normalize_newlines(source)).run(); }

}  // namespace pagellm::jinja
