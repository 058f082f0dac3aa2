#include <gtest/gtest.h>

#include "chat/jinja_parser.h"
#include "render_helper.h"

namespace pagellm::jinja {
namespace {

using test::render;
using test::render_error;

const Expr& output_expr(const TemplateAst& ast, size_t i = 0) {
  EXPECT_EQ(ast.body[i]->kind, Node::Kind::kOutput);
  return *ast.body[i]->expr;
}

TEST(JinjaParser, StatementTree) {
  TemplateAst ast =
      parse_template("{% if a %}x{% elif b %}y{% else %}z{% endif %}{% for k, v in d.items() if v %}{% endfor %}");
  ASSERT_EQ(ast.body.size(), 2u);
  EXPECT_EQ(ast.body[0]->kind, Node::Kind::kIf);
  EXPECT_EQ(ast.body[0]->branches.size(), 2u);
  EXPECT_EQ(ast.body[0]->else_body.size(), 1u);
  const Node& loop = *ast.body[1];
  EXPECT_EQ(loop.kind, Node::Kind::kFor);
  EXPECT_EQ(loop.targets, (std::vector<std::string>{"k", "v"}));
  ASSERT_TRUE(loop.cond);
  EXPECT_EQ(loop.expr->kind, Expr::Kind::kCall);
}

TEST(JinjaParser, FilterBindsTighterThanArithmetic) {
  TemplateAst ast = parse_template("{{ 'a' + x | upper }}");
  const Expr& e = output_expr(ast);
  ASSERT_EQ(e.kind, Expr::Kind::kBinary);
  EXPECT_EQ(e.items[1]->kind, Expr::Kind::kFilter);
  EXPECT_EQ(e.items[1]->name, "upper");
}

TEST(JinjaParser, ConditionalAndTests) {
  TemplateAst ast = parse_template("{{ a if b is not none else c }}");
  const Expr& e = output_expr(ast);
  ASSERT_EQ(e.kind, Expr::Kind::kCondExpr);
  EXPECT_EQ(e.items[1]->kind, Expr::Kind::kTest);
  EXPECT_TRUE(e.items[1]->negated);
  EXPECT_EQ(e.items[1]->name, "none");
  EXPECT_TRUE(e.items[2]);
}

TEST(JinjaParser, SlicesAndSubscripts) {
  TemplateAst ast = parse_template("{{ m[1:] }}{{ m[::-1] }}{{ m[-1] }}{{ m.a.0 }}");
  EXPECT_EQ(output_expr(ast, 0).kind, Expr::Kind::kSlice);
  EXPECT_EQ(output_expr(ast, 1).kind, Expr::Kind::kSlice);
  EXPECT_FALSE(output_expr(ast, 1).items[1]);
  EXPECT_TRUE(output_expr(ast, 1).items[3]);
  EXPECT_EQ(output_expr(ast, 2).kind, Expr::Kind::kGetItem);
  EXPECT_EQ(output_expr(ast, 3).kind, Expr::Kind::kGetItem);
}

TEST(JinjaParser, OperatorPrecedenceMatchesJinja) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 - 4 / 2 }}"), "5.0");
  EXPECT_EQ(render("{{ 2 ** 3 ** 2 }}"), "64");  // Jinja's ** is left-associative
  EXPECT_EQ(render("{{ -2 ** 2 }}"), "4");
  EXPECT_EQ(render("{{ not 1 in [1] }}"), "False");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }}|{{ 1 < 3 < 2 }}"), "True|False");
  EXPECT_EQ(render("{{ 2 * 3 ~ 1 }}"), "61");
  // `~` binds tighter than `+` in Jinja, so this is ('a' ~ 1) + 2: a str + int TypeError.
  EXPECT_NE(render_error("{{ 'a' ~ 1 + 2 }}").find("can only concatenate str"), std::string::npos);
  EXPECT_EQ(render("{{ [1,2,3] | length > 2 and 'y' or 'n' }}"), "y");
}

TEST(JinjaParser, Literals) {
  EXPECT_EQ(render("{{ [1, 'a', none, True, 2.5, {'k': 'v'}] }}"), "[1, 'a', None, True, 2.5, {'k': 'v'}]");
  EXPECT_EQ(render("{{ ('a',) }}{{ () }}{{ (1, 2) }}"), "('a',)()(1, 2)");
  EXPECT_EQ(render("{{ 'a' 'b' }}"), "ab");
}

TEST(JinjaParser, GenerationTagRendersItsBody) {
  EXPECT_EQ(render("{% generation %}gen {{ 1 }}{% endgeneration %}!"), "gen 1!");
}

TEST(JinjaParser, SyntaxErrorsNameLineColumnAndProblem) {
  EXPECT_EQ(render_error("line1\n{{ 1 + }}"), "chat template line 2, column 8: unexpected '}}'");
  EXPECT_EQ(render_error("{% if x %}open"),
            "chat template line 1, column 15: unexpected end of template, expected 'endif'");
  EXPECT_EQ(render_error("{% foo %}"), "chat template line 1, column 4: unknown tag 'foo'");
  EXPECT_EQ(render_error("{{ 1 2 }}"), "chat template line 1, column 6: expected '}}', got '2'");
  EXPECT_EQ(render_error("\n\n  {% break %}"), "chat template line 3, column 6: 'break' outside of a loop");
  EXPECT_EQ(render_error("{% include 'x' %}"),
            "chat template line 1, column 4: the 'include' tag is not supported in chat templates");
  EXPECT_EQ(render_error("{% for x in y recursive %}{% endfor %}"),
            "chat template line 1, column 15: recursive for loops are not supported");
}

TEST(JinjaParser, DeepNestingIsAnErrorNotACrash) {
  std::string deep(5000, '(');
  deep = "{{ " + deep + "1" + std::string(5000, ')') + " }}";
  EXPECT_NE(render_error(deep).find("nested too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 3000; ++i) ifs += "{% if true %}";
  EXPECT_NE(render_error(ifs).find("nested too deeply"), std::string::npos);
  std::string negs = "{{ " + std::string(10000, '-') + "1 }}";
  EXPECT_NE(render_error(negs).find("nested too deeply"), std::string::npos);
  // Long operator and filter chains are parsed in loops but evaluate recursively: bounded too.
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += " ~ 1";
  EXPECT_NE(render_error(chain + " }}").find("expression nested too deeply"), std::string::npos);
  std::string filters = "{{ 'a'";
  for (int i = 0; i < 100000; ++i) filters += "|upper";
  EXPECT_NE(render_error(filters + " }}").find("expression nested too deeply"), std::string::npos);
  std::string attrs = "{{ x";
  for (int i = 0; i < 100000; ++i) attrs += ".a";
  EXPECT_NE(render_error(attrs + " }}").find("expression nested too deeply"), std::string::npos);
  std::string ok_chain = "{{ ''";
  for (int i = 0; i < 300; ++i) ok_chain += " ~ 'x'";
  EXPECT_EQ(render(ok_chain + " }}"), std::string(300, 'x'));
  // Moderate nesting is fine.
  EXPECT_EQ(render("{{ " + std::string(50, '(') + "1" + std::string(50, ')') + " }}"), "1");
}

}  // namespace
}  // namespace pagellm::jinja
