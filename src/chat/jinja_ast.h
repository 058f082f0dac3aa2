#pragma once
// The parsed form of a template: expressions and statements, each remembering its line and column so render
// errors can point at the source. Built once per template and only read while rendering (thread-safe to share).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace pagellm::jinja {

struct SourcePos {
  uint32_t line = 1;
  uint32_t column = 1;
};

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kConcat, kAnd, kOr };
enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind : uint8_t {
    kLiteral,   // value
    kName,      // name
    kList,      // items
    kTuple,     // items
    kDict,      // items: key0, value0, key1, value1, ...
    kGetAttr,   // items[0].name
    kGetItem,   // items[0][items[1]]
    kSlice,     // items[0][items[1]:items[2]:items[3]] (null parts omitted)
    kCall,      // items[0](items[1..], kwargs)
    kFilter,    // items[0] | name(items[1..], kwargs)
    kTest,      // items[0] is [not] name(items[1..], kwargs)
    kNeg,       // -items[0]
    kPos,       // +items[0]
    kNot,       // not items[0]
    kBinary,    // items[0] op items[1]
    kCompare,   // items[0] cmp_ops[0] items[1] cmp_ops[1] items[2] ... (chained like Python)
    kCondExpr,  // items[0] if items[1] else items[2] (items[2] may be null)
  };
  Kind kind;
  SourcePos pos;
  Value value;
  std::string name;
  BinOp op = BinOp::kAdd;
  bool negated = false;  // kTest: `is not`
  uint32_t depth = 1;    // height of this subtree, bounded by the parser
  std::vector<CmpOp> cmp_ops;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required (Undefined when not passed)
};

struct Node {
  enum class Kind : uint8_t {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches (cond, body) ..., else_body
    kFor,          // for targets in expr [if cond]: body, else_body
    kSet,          // set targets = expr, or set targets[0].attr = expr
    kSetBlock,     // set targets[0] [| filters in expr] %}body{% endset
    kMacro,        // macro name(params): body
    kCallBlock,    // call(params) expr: body
    kFilterBlock,  // filter expr(with null operand): body
    kBreak,
    kContinue,
  };
  Kind kind;
  SourcePos pos;
  std::string text;
  std::string name;  // macro name
  std::string attr;  // set ns.attr
  ExprPtr expr;
  ExprPtr cond;  // for: filter condition
  std::vector<std::string> targets;
  std::vector<MacroParam> params;
  // Macro / call block: whether the body mentions `varargs` / `kwargs`. As in Jinja, only then may callers pass
  // extra positional / keyword arguments.
  bool uses_varargs = false;
  bool uses_kwargs = false;
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList body;
  NodeList else_body;
};

struct TemplateAst {
  NodeList body;
};

}  // namespace pagellm::jinja
