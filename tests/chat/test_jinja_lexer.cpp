#include <gtest/gtest.h>

#include "chat/jinja_lexer.h"
#include "render_helper.h"

namespace pagellm::jinja {
namespace {

using test::render;

std::vector<TokenType> types(const std::string& src) {
  std::vector<TokenType> out;
  for (const auto& t : lex_template(src)) out.push_back(t.type);
  return out;
}

TEST(JinjaLexer, TokenizesTextAndTags) {
  auto toks = lex_template("Hi {{ name|upper }}!{% if x %}y{% endif %}");
  using T = TokenType;
  EXPECT_EQ(
      types("Hi {{ name|upper }}!{% if x %}y{% endif %}"),
      (std::vector<T>{T::kText, T::kVarBegin, T::kName, T::kOperator, T::kName, T::kVarEnd, T::kText, T::kBlockBegin,
                      T::kName, T::kName, T::kBlockEnd, T::kText, T::kBlockBegin, T::kName, T::kBlockEnd, T::kEof}));
  EXPECT_EQ(toks[0].value, "Hi ");
  EXPECT_EQ(toks[2].value, "name");
  EXPECT_EQ(toks[3].value, "|");
}

TEST(JinjaLexer, Operators) {
  auto toks = lex_template("{{ a // b ** c == d != e <= f >= g ~ h }}");
  std::vector<std::string> ops;
  for (const auto& t : toks)
    if (t.type == TokenType::kOperator) ops.push_back(t.value);
  EXPECT_EQ(ops, (std::vector<std::string>{"//", "**", "==", "!=", "<=", ">=", "~"}));
}

TEST(JinjaLexer, NumbersAndStrings) {
  auto toks = lex_template(R"({{ 42 1_000 1.5 2e3 'a\n\'b' "\u00e9\x41" }})");
  EXPECT_EQ(toks[1].type, TokenType::kInteger);
  EXPECT_EQ(toks[1].value, "42");
  EXPECT_EQ(toks[2].value, "1000");
  EXPECT_EQ(toks[3].type, TokenType::kFloat);
  EXPECT_EQ(toks[4].type, TokenType::kFloat);
  EXPECT_EQ(toks[5].type, TokenType::kString);
  EXPECT_EQ(toks[5].value, "a\n'b");
  EXPECT_EQ(toks[6].value,
            "\xC3\xA9"
            "A");
}

TEST(JinjaLexer, LineAndColumn) {
  auto toks = lex_template("ab\n  {{ x }}");
  EXPECT_EQ(toks[1].type, TokenType::kVarBegin);
  EXPECT_EQ(toks[1].line, 2u);
  EXPECT_EQ(toks[1].column, 3u);
  EXPECT_EQ(toks[2].column, 6u);
}

TEST(JinjaLexer, WhitespaceControlMinus) {
  EXPECT_EQ(render("a  \n {{- 'b' -}} \n c"), "abc");
  EXPECT_EQ(render("a \n{%- if true -%}\n b \n{%- endif %}"), "ab");
  EXPECT_EQ(render("x {#- comment -#} y"), "xy");
}

TEST(JinjaLexer, TrimBlocksDropsOneNewlineAfterBlocks) {
  EXPECT_EQ(render("{% if true %}\nyes\n{% endif %}\nafter"), "yes\nafter");
  EXPECT_EQ(render("{# c #}\nx"), "x");
  EXPECT_EQ(render("{{ 'v' }}\nx"), "v\nx");  // not after expressions
  EXPECT_EQ(render("{% if true +%}\nx{% endif %}"), "\nx");
}

TEST(JinjaLexer, LstripBlocksOnlyAtLineStart) {
  EXPECT_EQ(render("  {% if true %}x{% endif %}"), "x");
  EXPECT_EQ(render("a\n    {% if true %}x\n    {% endif %}b"), "a\nx\nb");
  EXPECT_EQ(render("a {% if true %}x{% endif %}"), "a x");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render("  {{ 'v' }}"), "  v");  // expressions keep their indentation
}

TEST(JinjaLexer, TrailingNewlineDroppedOnce) {
  EXPECT_EQ(render("abc\n"), "abc");
  EXPECT_EQ(render("abc\n\n"), "abc\n");
  EXPECT_EQ(render("a\r\nb"), "a\nb");
}

TEST(JinjaLexer, RawAndComments) {
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}!"), "{{ x }}{% if %}!");
  EXPECT_EQ(render("a{# {{ ignored }} #}b"), "ab");
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
}

TEST(JinjaLexer, ErrorsNameThePosition) {
  try {
    lex_template("ok\n  {{ 'open");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "chat template line 2, column 6: unterminated string literal");
  }
  EXPECT_THROW(lex_template("{# never closed"), Error);
  EXPECT_THROW(lex_template("{{ a $ b }}"), Error);
  EXPECT_THROW(lex_template("{% if x "), Error);
  EXPECT_THROW(lex_template("{% raw %}abc"), Error);
}

}  // namespace
}  // namespace pagellm::jinja
