#include "chat/jinja_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "chat/jinja_lexer.h"
#include "util/error.h"

namespace pagellm::jinja {
namespace {

const char* describe(TokenType t) {
  switch (t) {
    case TokenType::kText:
      return "template text";
    case TokenType::kVarBegin:
      return "'{{'";
    case TokenType::kVarEnd:
      return "'}}'";
    case TokenType::kBlockBegin:
      return "'{%'";
    case TokenType::kBlockEnd:
      return "'%}'";
    case TokenType::kName:
      return "name";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kOperator:
      return "operator";
    case TokenType::kEof:
      return "end of template";
  }
  return "token";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  TemplateAst run() {
    TemplateAst ast;
    ast.body = parse_body({});
    return ast;
  }

 private:
  // Guards recursion: deeply nested input becomes an error, not a stack overflow.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxParseDepth)
        p.error(fmt::format("template nested too deeply (more than {} levels)", kMaxParseDepth));
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
  SourcePos here() const { return {cur().line, cur().column}; }
  void advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }

  std::string token_text(const Token& t) const {
    if (t.type == TokenType::kName || t.type == TokenType::kOperator || t.type == TokenType::kInteger ||
        t.type == TokenType::kFloat)
      return "'" + t.value + "'";
    return describe(t.type);
  }

  [[noreturn]] void error(const std::string& what) const { error_at(here(), what); }
  [[noreturn]] void error_at(SourcePos p, const std::string& what) const {
    fail(ErrorCode::kInvalidArgument, "chat template line {}, column {}: {}", p.line, p.column, what);
  }

  bool is_op(std::string_view op) const { return cur().type == TokenType::kOperator && cur().value == op; }
  bool is_name(std::string_view n) const { return cur().type == TokenType::kName && cur().value == n; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) error(fmt::format("expected '{}', got {}", op, token_text(cur())));
  }
  void expect(TokenType t) {
    if (cur().type != t) error(fmt::format("expected {}, got {}", describe(t), token_text(cur())));
    advance();
  }
  std::string expect_name(const char* what) {
    if (cur().type != TokenType::kName) error(fmt::format("expected {}, got {}", what, token_text(cur())));
    std::string n = cur().value;
    advance();
    return n;
  }

  // Records how deep the finished node's subtree is. Chains like `a ~ b ~ c ~ ...` or `x|f|f|f...` are parsed
  // in loops but evaluate (and destruct) recursively, so their depth is bounded here too.
  ExprPtr seal(ExprPtr e) {
    uint32_t d = 0;
    for (const auto& c : e->items)
      if (c) d = std::max(d, c->depth);
    for (const auto& [k, c] : e->kwargs) d = std::max(d, c->depth);
    e->depth = d + 1;
    if (e->depth > kMaxExprDepth)
      error_at(e->pos, fmt::format("expression nested too deeply (more than {} levels)", kMaxExprDepth));
    return e;
  }

  ExprPtr make(Expr::Kind kind, SourcePos p) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = p;
    return e;
  }

  // ---- statements ----

  NodeList parse_body(std::initializer_list<std::string_view> stops) {
    DepthGuard guard(*this);
    NodeList body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::kEof) {
        if (stops.size() != 0) error(fmt::format("unexpected end of template, expected '{}'", *(stops.end() - 1)));
        return body;
      }
      if (t.type == TokenType::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->pos = here();
        n->text = t.value;
        body.push_back(std::move(n));
        advance();
        continue;
      }
      if (t.type == TokenType::kVarBegin) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        advance();
        n->pos = here();
        n->expr = parse_tuple(true);
        expect(TokenType::kVarEnd);
        body.push_back(std::move(n));
        continue;
      }
      if (t.type != TokenType::kBlockBegin) error(fmt::format("unexpected {}", token_text(t)));
      advance();
      if (cur().type != TokenType::kName) error(fmt::format("expected a tag name, got {}", token_text(cur())));
      for (auto s : stops)
        if (cur().value == s) return body;
      parse_statement(body);
    }
  }

  void parse_statement(NodeList& body) {
    const std::string tag = cur().value;
    const SourcePos p = here();
    auto n = std::make_unique<Node>();
    n->pos = p;
    advance();
    if (tag == "if") {
      n->kind = Node::Kind::kIf;
      ExprPtr cond = parse_tuple(false);
      expect(TokenType::kBlockEnd);
      NodeList branch = parse_body({"elif", "else", "endif"});
      n->branches.emplace_back(std::move(cond), std::move(branch));
      while (true) {
        if (skip_name("elif")) {
          cond = parse_tuple(false);
          expect(TokenType::kBlockEnd);
          branch = parse_body({"elif", "else", "endif"});
          n->branches.emplace_back(std::move(cond), std::move(branch));
        } else if (skip_name("else")) {
          expect(TokenType::kBlockEnd);
          n->else_body = parse_body({"endif"});
        } else {
          expect_name("'endif'");
          expect(TokenType::kBlockEnd);
          break;
        }
      }
    } else if (tag == "for") {
      n->kind = Node::Kind::kFor;
      bool paren = skip_op("(");
      do {
        n->targets.push_back(expect_name("a loop variable"));
      } while (skip_op(","));
      if (paren) expect_op(")");
      if (!skip_name("in")) error(fmt::format("expected 'in', got {}", token_text(cur())));
      n->expr = parse_tuple(false);
      if (skip_name("if")) n->cond = parse_expression(true);
      if (is_name("recursive")) error("recursive for loops are not supported");
      expect(TokenType::kBlockEnd);
      ++loop_depth_;
      n->body = parse_body({"endfor", "else"});
      --loop_depth_;
      if (skip_name("else")) {
        expect(TokenType::kBlockEnd);
        n->else_body = parse_body({"endfor"});
      }
      expect_name("'endfor'");
      expect(TokenType::kBlockEnd);
    } else if (tag == "set") {
      n->targets.push_back(expect_name("a variable name"));
      if (skip_op(".")) {
        n->attr = expect_name("an attribute name");
      } else {
        while (skip_op(",")) n->targets.push_back(expect_name("a variable name"));
      }
      if (skip_op("=")) {
        n->kind = Node::Kind::kSet;
        n->expr = parse_tuple(true);
        expect(TokenType::kBlockEnd);
      } else {
        if (n->targets.size() != 1 || !n->attr.empty()) error("block set takes a single variable name");
        if (skip_op("|")) {  // {% set x | upper %}...{% endset %}: filters applied to the captured text
          ExprPtr chain;
          do {
            chain = parse_filter(std::move(chain));
          } while (skip_op("|"));
          n->expr = std::move(chain);
        }
        n->kind = Node::Kind::kSetBlock;
        expect(TokenType::kBlockEnd);
        n->body = parse_body({"endset"});
        advance();
        expect(TokenType::kBlockEnd);
      }
    } else if (tag == "macro") {
      n->kind = Node::Kind::kMacro;
      n->name = expect_name("a macro name");
      parse_params(n->params);
      expect(TokenType::kBlockEnd);
      int saved_loop = loop_depth_;
      loop_depth_ = 0;
      macros_.push_back(n.get());
      n->body = parse_body({"endmacro"});
      macros_.pop_back();
      loop_depth_ = saved_loop;
      advance();
      expect(TokenType::kBlockEnd);
    } else if (tag == "call") {
      n->kind = Node::Kind::kCallBlock;
      if (is_op("(")) parse_params(n->params);
      n->expr = parse_expression(true);
      if (n->expr->kind != Expr::Kind::kCall) error_at(n->expr->pos, "{% call %} expects a macro call");
      expect(TokenType::kBlockEnd);
      macros_.push_back(n.get());
      n->body = parse_body({"endcall"});
      macros_.pop_back();
      advance();
      expect(TokenType::kBlockEnd);
    } else if (tag == "filter") {
      n->kind = Node::Kind::kFilterBlock;
      ExprPtr chain;
      do {
        chain = parse_filter(std::move(chain));
      } while (skip_op("|"));
      n->expr = std::move(chain);
      expect(TokenType::kBlockEnd);
      n->body = parse_body({"endfilter"});
      advance();
      expect(TokenType::kBlockEnd);
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) error_at(p, fmt::format("'{}' outside of a loop", tag));
      n->kind = tag == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      expect(TokenType::kBlockEnd);
    } else if (tag == "generation") {
      // transformers' generation tag only marks assistant spans for masks; the text renders unchanged.
      expect(TokenType::kBlockEnd);
      NodeList inner = parse_body({"endgeneration"});
      advance();
      expect(TokenType::kBlockEnd);
      for (auto& x : inner) body.push_back(std::move(x));
      return;
    } else if (tag == "include" || tag == "import" || tag == "from" || tag == "extends" || tag == "block" ||
               tag == "with" || tag == "do" || tag == "autoescape") {
      error_at(p, fmt::format("the '{}' tag is not supported in chat templates", tag));
    } else {
      error_at(p, fmt::format("unknown tag '{}'", tag));
    }
    body.push_back(std::move(n));
  }

  void parse_params(std::vector<MacroParam>& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam param;
      param.name = expect_name("a parameter name");
      if (skip_op("=")) param.default_value = parse_expression(true);
      params.push_back(std::move(param));
    }
    advance();
  }

  // ---- expressions ----

  // Comma-separated expressions form a tuple: `{% set a, b = 1, 2 %}`, `{% for x in a, b %}`.
  ExprPtr parse_tuple(bool with_condexpr) {
    const SourcePos p = here();
    ExprPtr first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto tuple = make(Expr::Kind::kTuple, p);
    tuple->items.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().type == TokenType::kBlockEnd || cur().type == TokenType::kVarEnd || is_op(")")) break;
      tuple->items.push_back(parse_expression(with_condexpr));
    }
    return seal(std::move(tuple));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      const SourcePos p = here();
      advance();
      auto cond = make(Expr::Kind::kCondExpr, p);
      cond->items.push_back(std::move(expr));
      cond->items.push_back(parse_or());
      cond->items.push_back(skip_name("else") ? parse_condexpr() : nullptr);
      expr = seal(std::move(cond));
    }
    return expr;
  }

  ExprPtr binary(BinOp op, ExprPtr left, ExprPtr right, SourcePos p) {
    auto e = make(Expr::Kind::kBinary, p);
    e->op = op;
    e->items.push_back(std::move(left));
    e->items.push_back(std::move(right));
    return seal(std::move(e));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const SourcePos p = here();
      advance();
      left = binary(BinOp::kOr, std::move(left), parse_and(), p);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const SourcePos p = here();
      advance();
      left = binary(BinOp::kAnd, std::move(left), parse_not(), p);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make(Expr::Kind::kNot, here());
      advance();
      e->items.push_back(parse_not());
      return seal(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos p = here();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      CmpOp op;
      if (skip_op("=="))
        op = CmpOp::kEq;
      else if (skip_op("!="))
        op = CmpOp::kNe;
      else if (skip_op("<"))
        op = CmpOp::kLt;
      else if (skip_op("<="))
        op = CmpOp::kLe;
      else if (skip_op(">"))
        op = CmpOp::kGt;
      else if (skip_op(">="))
        op = CmpOp::kGe;
      else if (skip_name("in"))
        op = CmpOp::kIn;
      else if (is_name("not") && peek().type == TokenType::kName && peek().value == "in") {
        advance();
        advance();
        op = CmpOp::kNotIn;
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::kCompare, p);
        cmp->items.push_back(std::move(first));
      }
      cmp->cmp_ops.push_back(op);
      cmp->items.push_back(parse_math1());
    }
    return cmp ? seal(std::move(cmp)) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const SourcePos p = here();
      BinOp op = cur().value == "+" ? BinOp::kAdd : BinOp::kSub;
      advance();
      left = binary(op, std::move(left), parse_concat(), p);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const SourcePos p = here();
      advance();
      left = binary(BinOp::kConcat, std::move(left), parse_math2(), p);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const SourcePos p = here();
      const std::string& v = cur().value;
      BinOp op = v == "*" ? BinOp::kMul : v == "/" ? BinOp::kDiv : v == "//" ? BinOp::kFloorDiv : BinOp::kMod;
      advance();
      left = binary(op, std::move(left), parse_pow(), p);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const SourcePos p = here();
      advance();
      left = binary(BinOp::kPow, std::move(left), parse_unary(true), p);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      node = make(cur().value == "-" ? Expr::Kind::kNeg : Expr::Kind::kPos, here());
      advance();
      node->items.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const SourcePos p = here();
    switch (t.type) {
      case TokenType::kName: {
        auto e = make(Expr::Kind::kLiteral, p);
        if (t.value == "true" || t.value == "True") {
          e->value = Value::boolean(true);
        } else if (t.value == "false" || t.value == "False") {
          e->value = Value::boolean(false);
        } else if (t.value == "none" || t.value == "None") {
          e->value = Value::none();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.value;
          if (!macros_.empty() && t.value == "varargs") macros_.back()->uses_varargs = true;
          if (!macros_.empty() && t.value == "kwargs") macros_.back()->uses_kwargs = true;
        }
        advance();
        return e;
      }
      case TokenType::kString: {
        std::string s = t.value;
        advance();
        while (cur().type == TokenType::kString) {  // adjacent literals concatenate, as in Python
          s += cur().value;
          advance();
        }
        auto e = make(Expr::Kind::kLiteral, p);
        e->value = Value::string(std::move(s));
        return e;
      }
      case TokenType::kInteger: {
        auto e = make(Expr::Kind::kLiteral, p);
        try {
          e->value = Value::integer(std::stoll(t.value));
        } catch (const std::exception&) {
          error(fmt::format("integer literal {} is out of range", t.value));
        }
        advance();
        return e;
      }
      case TokenType::kFloat: {
        auto e = make(Expr::Kind::kLiteral, p);
        e->value = Value::floating(std::stod(t.value));
        advance();
        return e;
      }
      case TokenType::kOperator: {
        if (t.value == "(") {
          advance();
          if (skip_op(")")) return make(Expr::Kind::kTuple, p);
          ExprPtr inner = parse_expression(true);
          if (is_op(",")) {
            auto tuple = make(Expr::Kind::kTuple, p);
            tuple->items.push_back(std::move(inner));
            while (skip_op(",")) {
              if (is_op(")")) break;
              tuple->items.push_back(parse_expression(true));
            }
            inner = seal(std::move(tuple));
          }
          expect_op(")");
          return inner;
        }
        if (t.value == "[") {
          advance();
          auto list = make(Expr::Kind::kList, p);
          while (!is_op("]")) {
            if (!list->items.empty()) expect_op(",");
            if (is_op("]")) break;
            list->items.push_back(parse_expression(true));
          }
          advance();
          return seal(std::move(list));
        }
        if (t.value == "{") {
          advance();
          auto dict = make(Expr::Kind::kDict, p);
          while (!is_op("}")) {
            if (!dict->items.empty()) expect_op(",");
            if (is_op("}")) break;
            dict->items.push_back(parse_expression(true));
            expect_op(":");
            dict->items.push_back(parse_expression(true));
          }
          advance();
          return seal(std::move(dict));
        }
        break;
      }
      default:
        break;
    }
    error(fmt::format("unexpected {}", token_text(t)));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const SourcePos p = here();
      if (skip_op(".")) {
        if (cur().type == TokenType::kInteger) {
          auto e = make(Expr::Kind::kGetItem, p);
          auto idx = make(Expr::Kind::kLiteral, here());
          idx->value = Value::integer(std::stoll(cur().value));
          advance();
          e->items.push_back(std::move(node));
          e->items.push_back(std::move(idx));
          node = seal(std::move(e));
        } else {
          auto e = make(Expr::Kind::kGetAttr, p);
          e->name = expect_name("an attribute name");
          e->items.push_back(std::move(node));
          node = seal(std::move(e));
        }
      } else if (skip_op("[")) {
        node = parse_subscript(std::move(node), p);
      } else if (is_op("(")) {
        auto e = make(Expr::Kind::kCall, p);
        e->items.push_back(std::move(node));
        parse_call_args(*e);
        node = seal(std::move(e));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, SourcePos p) {
    ExprPtr parts[3];
    bool slice = false;
    for (int i = 0; i < 3; ++i) {
      if (!is_op(":") && !is_op("]")) parts[i] = parse_expression(true);
      if (i < 2 && skip_op(":")) {
        slice = true;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) error_at(p, "empty subscript");
      auto e = make(Expr::Kind::kGetItem, p);
      e->items.push_back(std::move(obj));
      e->items.push_back(std::move(parts[0]));
      return seal(std::move(e));
    }
    auto e = make(Expr::Kind::kSlice, p);
    e->items.push_back(std::move(obj));
    for (auto& part : parts) e->items.push_back(std::move(part));
    return seal(std::move(e));
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) error("*args / **kwargs in calls are not supported");
      if (cur().type == TokenType::kName && peek().type == TokenType::kOperator && peek().value == "=") {
        std::string name = cur().value;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) error("positional argument follows keyword argument");
        e.items.push_back(parse_expression(true));
      }
    }
    advance();
  }

  ExprPtr parse_filter(ExprPtr operand) {
    auto e = make(Expr::Kind::kFilter, here());
    e->name = expect_name("a filter name");
    e->items.push_back(std::move(operand));
    if (is_op("(")) parse_call_args(*e);
    return seal(std::move(e));
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (skip_op("|")) {
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        auto e = make(Expr::Kind::kTest, here());
        advance();
        e->negated = skip_name("not");
        e->name = expect_name("a test name");
        e->items.push_back(std::move(node));
        const Token& t = cur();
        if (is_op("(")) {
          parse_call_args(*e);
        } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
                    t.type == TokenType::kFloat || is_op("[") || is_op("{")) &&
                   !(is_name("else") || is_name("or") || is_name("and"))) {
          // `x is divisibleby 3`, `x is sameas false`: one argument without parentheses.
          e->items.push_back(parse_postfix(parse_primary()));
        }
        node = seal(std::move(e));
      } else if (is_op("(")) {
        auto e = make(Expr::Kind::kCall, here());
        e->items.push_back(std::move(node));
        parse_call_args(*e);
        node = seal(std::move(e));
      } else {
        return node;
      }
    }
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<Node*> macros_;  // macros / call blocks being parsed, innermost last
};

}  // namespace

TemplateAst parse_template(const std::string& source) { return Parser(lex_template(source)).run(); }

}  // namespace pagellm::jinja
