#include "chat/jinja_interpreter.h"

#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "chat/jinja_filters.h"
#include "chat/jinja_format.h"
#include "chat/jinja_object.h"
#include "chat/jinja_tests.h"
#include "chat/jinja_text.h"
#include "chat/template_error.h"
#include "util/error.h"

namespace pagellm::jinja {
namespace {

struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string_view, Value>> vars;  // names point into the AST or the inputs

  const Value* find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      for (auto it = s->vars.rbegin(); it != s->vars.rend(); ++it)
        if (it->first == name) return &it->second;
    return nullptr;
  }
  void set(std::string_view name, Value v) {
    for (auto& [k, old] : vars) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    vars.emplace_back(name, std::move(v));
  }
};
using ScopePtr = std::shared_ptr<Scope>;

[[noreturn]] void fail_at(SourcePos p, const std::string& what) {
  fail(ErrorCode::kInvalidArgument, "chat template line {}, column {}: {}", p.line, p.column, what);
}

[[noreturn]] void raise_undefined(const Value& u) {
  throw ValueError(u.undefined_hint().empty() ? std::string("value is undefined") : std::string(u.undefined_hint()));
}

// Python ints never overflow; ours are 64-bit, so overflow is an error rather than a wrong number.
[[noreturn]] void overflow() { throw ValueError("integer overflow: the result does not fit in 64 bits"); }
int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}
int64_t checked_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = checked_mul(result, base);
    exp >>= 1;
    if (exp > 0) base = checked_mul(base, base);
  }
  return result;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) overflow();
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value repeat(const Value& seq, int64_t n) {
  const size_t unit = seq.is_string() ? seq.str().size() : seq.list_size();
  if (n > 0 && unit > 0 && static_cast<uint64_t>(n) > (uint64_t{1} << 30) / unit)
    throw ValueError("sequence repetition result is too large");
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value::string(std::move(out));
  }
  ValueList out;
  for (int64_t i = 0; i < n; ++i)
    for (size_t j = 0; j < seq.list_size(); ++j) out.push_back(seq.list_at(j));
  return Value::list(std::move(out), seq.is_tuple());
}

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kFloorDiv:
      return "//";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "**";
    default:
      return "?";
  }
}

// Python arithmetic on two evaluated operands (not and/or/~).
Value arithmetic(BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  if (a.is_number() && b.is_number()) {
    const bool flt = a.is_float() || b.is_float();
    switch (op) {
      case BinOp::kAdd:
        return flt ? Value::floating(a.as_double() + b.as_double())
                   : Value::integer(checked_add(a.as_int(), b.as_int()));
      case BinOp::kSub:
        return flt ? Value::floating(a.as_double() - b.as_double())
                   : Value::integer(checked_sub(a.as_int(), b.as_int()));
      case BinOp::kMul:
        return flt ? Value::floating(a.as_double() * b.as_double())
                   : Value::integer(checked_mul(a.as_int(), b.as_int()));
      case BinOp::kDiv:
        if (b.as_double() == 0) throw ValueError("division by zero");
        return Value::floating(a.as_double() / b.as_double());
      case BinOp::kFloorDiv:
        if (b.as_double() == 0) throw ValueError("integer division or modulo by zero");
        return flt ? Value::floating(std::floor(a.as_double() / b.as_double()))
                   : Value::integer(floor_div(a.as_int(), b.as_int()));
      case BinOp::kMod:
        if (b.as_double() == 0) throw ValueError("integer division or modulo by zero");
        if (flt) {
          double r = std::fmod(a.as_double(), b.as_double());
          if (r == 0)
            r = std::copysign(0.0, b.as_double());  // Python: a zero remainder takes the divisor's sign
          else if ((r < 0) != (b.as_double() < 0))
            r += b.as_double();
          return Value::floating(r);
        }
        if (b.as_int() == -1) return Value::integer(0);
        return Value::integer(a.as_int() - floor_div(a.as_int(), b.as_int()) * b.as_int());
      case BinOp::kPow:
        if (a.as_double() == 0 && b.as_double() < 0) throw ValueError("0.0 cannot be raised to a negative power");
        if (!flt && b.as_int() >= 0) return Value::integer(checked_pow(a.as_int(), b.as_int()));
        return Value::floating(std::pow(a.as_double(), b.as_double()));
      default:
        break;
    }
  }
  if (op == BinOp::kAdd) {
    if (a.is_string() && b.is_string() && (a.is_markup() || b.is_markup())) {
      // markupsafe: Markup + str escapes the plain side and stays Markup.
      std::string out = a.is_markup() ? std::string(a.str()) : text::html_escape(a.str());
      out += b.is_markup() ? std::string(b.str()) : text::html_escape(b.str());
      return Value::markup(std::move(out));
    }
    if (a.is_string() && b.is_string()) {
      std::string out;
      out.reserve(a.str().size() + b.str().size());
      out += a.str();
      out += b.str();
      return Value::string(std::move(out));
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      ValueList out;
      for (size_t i = 0; i < a.list_size(); ++i) out.push_back(a.list_at(i));
      for (size_t i = 0; i < b.list_size(); ++i) out.push_back(b.list_at(i));
      return Value::list(std::move(out), a.is_tuple());
    }
    if (a.is_string() || a.is_list())
      throw ValueError(
          fmt::format("can only concatenate {} (not \"{}\") to {}", a.type_name(), b.type_name(), a.type_name()));
  }
  if (op == BinOp::kMul) {
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  }
  if (op == BinOp::kMod && a.is_string()) return Value::string(percent_format(a.str(), b));
  throw ValueError(
      fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op_symbol(op), a.type_name(), b.type_name()));
}

bool compare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::kEq:
      return values_equal(a, b);
    case CmpOp::kNe:
      return !values_equal(a, b);
    case CmpOp::kIn:
      return contains(b, a);
    case CmpOp::kNotIn:
      return !contains(b, a);
    default:
      break;
  }
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  int c = compare_values(a, b);
  switch (op) {
    case CmpOp::kLt:
      return c < 0;
    case CmpOp::kLe:
      return c <= 0;
    case CmpOp::kGt:
      return c > 0;
    default:
      return c >= 0;
  }
}

class Interpreter {
 public:
  explicit Interpreter(const RenderEnv& env) : env_(env) { make_builtins(); }

  std::string run(const NodeList& body) {
    auto root = std::make_shared<Scope>();
    std::string out;
    exec_list(body, root, out);
    return out;
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // ---- statements ----

  Flow exec_list(const NodeList& nodes, const ScopePtr& scope, std::string& out) {
    for (const auto& n : nodes) {
      Flow f = exec(*n, scope, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  // Counts nested exec/eval calls so that no combination of nesting and macro recursion can exhaust the stack.
  struct NestGuard {
    int& depth;
    explicit NestGuard(int& d) : depth(d) {
      if (++depth > kMaxNesting) {
        --depth;
        throw ValueError(fmt::format("template evaluation nested too deeply (more than {} levels)", kMaxNesting));
      }
    }
    ~NestGuard() { --depth; }
  };

  Flow exec(const Node& n, const ScopePtr& scope, std::string& out) {
    try {
      NestGuard guard(nesting_);
      return exec_impl(n, scope, out);
    } catch (const ValueError& e) {
      fail_at(n.pos, e.what());
    }
  }

  Flow exec_impl(const Node& n, const ScopePtr& scope, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText:
        out += n.text;
        return Flow::kNormal;
      case Node::Kind::kOutput:
        eval(*n.expr, scope).append_str(out);
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches)
          if (eval(*cond, scope).truthy()) return exec_list(body, scope, out);
        return exec_list(n.else_body, scope, out);
      case Node::Kind::kFor:
        exec_for(n, scope, out);
        return Flow::kNormal;
      case Node::Kind::kSet:
        exec_set(n, scope, eval(*n.expr, scope));
        return Flow::kNormal;
      case Node::Kind::kSetBlock: {
        std::string captured;
        exec_list(n.body, scope, captured);
        Value v = Value::string(std::move(captured));
        scope->set(n.targets[0], n.expr ? apply_filter_chain(*n.expr, std::move(v), scope) : std::move(v));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        scope->set(n.name, make_macro(n.name, n, scope));
        return Flow::kNormal;
      case Node::Kind::kCallBlock: {
        Value caller = make_macro("caller", n, scope);
        const Expr& call = *n.expr;
        Value callee = eval(*call.items[0], scope);
        CallArgs args = eval_args(call, scope);
        args.keyword.emplace_back("caller", std::move(caller));
        invoke(callee, args).append_str(out);
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        std::string captured;
        exec_list(n.body, scope, captured);
        apply_filter_chain(*n.expr, Value::string(std::move(captured)), scope).append_str(out);
        return Flow::kNormal;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  void bind_targets(const std::vector<std::string>& targets, const Value& v, Scope& scope) {
    if (targets.size() == 1) {
      scope.set(targets[0], v);
      return;
    }
    ValueList parts = iterate(v);
    if (parts.size() != targets.size())
      throw ValueError(fmt::format("cannot unpack {} values into {} names", parts.size(), targets.size()));
    for (size_t i = 0; i < targets.size(); ++i) scope.set(targets[i], std::move(parts[i]));
  }

  void exec_for(const Node& n, const ScopePtr& scope, std::string& out) {
    Value iterable = eval(*n.expr, scope);
    if (!iterable.is_undefined() && !iterable.is_list() && !iterable.is_dict() && !iterable.is_string())
      fail_at(n.expr->pos, fmt::format("'{}' object is not iterable", iterable.type_name()));
    ValueList items = iterate(iterable);
    auto loop_scope = std::make_shared<Scope>();
    loop_scope->parent = scope;
    if (n.cond) {
      ValueList kept;
      for (auto& item : items) {
        loop_scope->vars.clear();
        bind_targets(n.targets, item, *loop_scope);
        if (eval(*n.cond, loop_scope).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      exec_list(n.else_body, scope, out);
      return;
    }
    auto data = std::make_shared<LoopData>();
    data->items = std::make_shared<const ValueList>(std::move(items));
    const Value loop = Value::loop(data);
    const ValueList& seq = *data->items;
    for (size_t i = 0; i < seq.size(); ++i) {
      loop_scope->vars.clear();
      data->index0 = i;
      bind_targets(n.targets, seq[i], *loop_scope);
      loop_scope->vars.emplace_back("loop", loop);
      if (exec_list(n.body, loop_scope, out) == Flow::kBreak) break;
    }
  }

  void exec_set(const Node& n, const ScopePtr& scope, Value v) {
    if (!n.attr.empty()) {
      const Value* target = scope->find(n.targets[0]);
      if (!target || !target->is_namespace())
        throw ValueError(
            fmt::format("cannot assign attribute '{}' on '{}': it is not a namespace()", n.attr, n.targets[0]));
      Entries& attrs = target->namespace_attrs();
      for (auto& [k, old] : attrs) {
        if (k == n.attr) {
          old = std::move(v);
          return;
        }
      }
      attrs.emplace_back(n.attr, std::move(v));
      return;
    }
    bind_targets(n.targets, v, *scope);
  }

  Value make_macro(std::string_view name, const Node& def, const ScopePtr& closure) {
    const std::vector<MacroParam>& params = def.params;
    const NodeList& body = def.body;
    // The macro lives in the scope it closes over, so it holds that scope weakly: a strong reference would be a
    // cycle and leak every render.
    std::weak_ptr<Scope> weak_closure = closure;
    return Value::callable(std::string(name), [this, &params, &body, &def, macro_name = std::string(name),
                                               weak_closure](const CallArgs& args) {
      ScopePtr closure = weak_closure.lock();
      if (!closure) throw ValueError("macro called after the block that defined it ended");
      if (call_depth_ >= kMaxCallDepth)
        throw ValueError(fmt::format("maximum macro recursion depth ({}) exceeded", kMaxCallDepth));
      struct DepthGuard {
        int& d;
        explicit DepthGuard(int& depth) : d(depth) { ++d; }
        ~DepthGuard() { --d; }
      } guard(call_depth_);
      auto scope = std::make_shared<Scope>();
      scope->parent = closure;
      if (args.positional.size() > params.size() && !def.uses_varargs)
        throw ValueError(fmt::format("macro '{}' takes not more than {} argument(s)", macro_name, params.size()));
      ValueList varargs;
      for (size_t i = 0; i < args.positional.size(); ++i) {
        if (i < params.size())
          scope->set(params[i].name, args.positional[i]);
        else
          varargs.push_back(args.positional[i]);
      }
      Entries kwargs;
      for (const auto& [k, v] : args.keyword) {
        bool is_param = false;
        for (const auto& p : params) is_param = is_param || p.name == k;
        if (is_param || k == "caller")
          scope->set(k, v);
        else if (def.uses_kwargs)
          kwargs.emplace_back(std::string(k), v);
        else
          throw ValueError(fmt::format("macro '{}' takes no keyword argument '{}'", macro_name, k));
      }
      for (const auto& p : params) {
        bool bound = false;
        for (const auto& [k, v] : scope->vars) bound = bound || k == p.name;
        if (!bound)
          scope->set(p.name, p.default_value
                                 ? eval(*p.default_value, scope)
                                 : Value::undefined(fmt::format("parameter '{}' was not provided", p.name)));
      }
      scope->set("varargs", Value::list(std::move(varargs), true));
      scope->set("kwargs", Value::dict(std::move(kwargs)));
      std::string out;
      exec_list(body, scope, out);
      return Value::string(std::move(out));
    });
  }

  // ---- expressions ----

  Value eval(const Expr& e, const ScopePtr& scope) {
    try {
      NestGuard guard(nesting_);
      return eval_impl(e, scope);
    } catch (const ValueError& err) {
      fail_at(e.pos, err.what());
    }
  }

  CallArgs eval_args(const Expr& e, const ScopePtr& scope) {
    CallArgs args;
    args.positional.reserve(e.items.size() - 1);
    for (size_t i = 1; i < e.items.size(); ++i) args.positional.push_back(eval(*e.items[i], scope));
    for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v, scope));
    return args;
  }

  Value invoke(const Value& callee, const CallArgs& args) {
    if (callee.is_undefined()) raise_undefined(callee);
    if (!callee.is_callable()) throw ValueError(fmt::format("'{}' object is not callable", callee.type_name()));
    return callee.as_callable().fn(args);
  }

  Value apply_filter_chain(const Expr& e, Value input, const ScopePtr& scope) {
    Value subject = e.items[0] ? apply_filter_chain(*e.items[0], std::move(input), scope) : std::move(input);
    return apply_filter(e.name, subject, eval_args(e, scope));
  }

  Value lookup(const std::string& name, const ScopePtr& scope) {
    if (const Value* v = scope->find(name)) return *v;
    for (const auto& [k, v] : env_.variables)
      if (k == name) return v;
    for (const auto& [k, v] : builtins_)
      if (k == name) return v;
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  // eval_impl is on every level of expression recursion, so it stays small: each case that needs locals lives
  // in its own (non-inlined) function and the recursion frame stays a few hundred bytes.
  Value eval_impl(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.value;
      case Expr::Kind::kName:
        return lookup(e.name, scope);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple:
        return eval_list(e, scope);
      case Expr::Kind::kDict:
        return eval_dict(e, scope);
      case Expr::Kind::kGetAttr:
        return get_attr(eval(*e.items[0], scope), e.name);
      case Expr::Kind::kGetItem:
        return get_item(eval(*e.items[0], scope), eval(*e.items[1], scope));
      case Expr::Kind::kSlice:
        return eval_slice(e, scope);
      case Expr::Kind::kCall:
        return eval_call(e, scope);
      case Expr::Kind::kFilter:
        return eval_filter(e, scope);
      case Expr::Kind::kTest:
        return eval_test(e, scope);
      case Expr::Kind::kNeg:
      case Expr::Kind::kPos:
        return eval_sign(e, scope);
      case Expr::Kind::kNot:
        return Value::boolean(!eval(*e.items[0], scope).truthy());
      case Expr::Kind::kBinary:
        return eval_binary(e, scope);
      case Expr::Kind::kCompare:
        return eval_compare(e, scope);
      case Expr::Kind::kCondExpr:
        if (eval(*e.items[1], scope).truthy()) return eval(*e.items[0], scope);
        return e.items[2] ? eval(*e.items[2], scope) : Value::undefined("the inline if-expression had no else");
    }
    throw ValueError("unknown expression");
  }

  [[gnu::noinline]] Value eval_list(const Expr& e, const ScopePtr& scope) {
    ValueList items;
    items.reserve(e.items.size());
    for (const auto& item : e.items) items.push_back(eval(*item, scope));
    return Value::list(std::move(items), e.kind == Expr::Kind::kTuple);
  }

  [[gnu::noinline]] Value eval_dict(const Expr& e, const ScopePtr& scope) {
    Entries entries;
    for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
      const std::string k = dict_key_of(eval(*e.items[i], scope));
      Value v = eval(*e.items[i + 1], scope);
      bool replaced = false;
      for (auto& [ek, ev] : entries) {
        if (ek == k) {
          ev = v;
          replaced = true;
        }
      }
      if (!replaced) entries.emplace_back(k, std::move(v));
    }
    return Value::dict(std::move(entries));
  }

  [[gnu::noinline]] Value eval_slice(const Expr& e, const ScopePtr& scope) {
    Value obj = eval(*e.items[0], scope);
    Value parts[3];
    const Value* ptrs[3] = {nullptr, nullptr, nullptr};
    for (size_t i = 0; i < 3; ++i) {
      if (e.items[i + 1]) {
        parts[i] = eval(*e.items[i + 1], scope);
        ptrs[i] = &parts[i];
      }
    }
    return slice(obj, ptrs[0], ptrs[1], ptrs[2]);
  }

  [[gnu::noinline]] Value eval_call(const Expr& e, const ScopePtr& scope) {
    if (e.items[0]->kind == Expr::Kind::kGetAttr) {  // method call: skip building a bound-method object
      const Expr& attr = *e.items[0];
      Value obj = eval(*attr.items[0], scope);
      if (obj.is_undefined()) get_attr(obj, attr.name);  // raises, as Python would before evaluating arguments
      CallArgs args = eval_args(e, scope);
      if (auto result = call_method(obj, attr.name, args)) return std::move(*result);
      return invoke(get_attr(obj, attr.name), args);
    }
    Value callee = eval(*e.items[0], scope);
    return invoke(callee, eval_args(e, scope));
  }

  [[gnu::noinline]] Value eval_filter(const Expr& e, const ScopePtr& scope) {
    return apply_filter(e.name, eval(*e.items[0], scope), eval_args(e, scope));
  }

  [[gnu::noinline]] Value eval_test(const Expr& e, const ScopePtr& scope) {
    if (!has_test(e.name)) throw ValueError(fmt::format("unknown test '{}'", e.name));
    bool r = apply_test(e.name, eval(*e.items[0], scope), eval_args(e, scope));
    return Value::boolean(r != e.negated);
  }

  [[gnu::noinline]] Value eval_sign(const Expr& e, const ScopePtr& scope) {
    Value v = eval(*e.items[0], scope);
    if (v.is_undefined()) raise_undefined(v);
    if (!v.is_number())
      throw ValueError(
          fmt::format("bad operand type for unary {}: '{}'", e.kind == Expr::Kind::kNeg ? '-' : '+', v.type_name()));
    if (e.kind == Expr::Kind::kPos) return v.is_float() ? v : Value::integer(v.as_int());
    return v.is_float() ? Value::floating(-v.as_double()) : Value::integer(checked_sub(0, v.as_int()));
  }

  [[gnu::noinline]] Value eval_binary(const Expr& e, const ScopePtr& scope) {
    if (e.op == BinOp::kAnd || e.op == BinOp::kOr) {  // Python: returns an operand, short-circuits
      Value a = eval(*e.items[0], scope);
      if (a.truthy() == (e.op == BinOp::kOr)) return a;
      return eval(*e.items[1], scope);
    }
    Value a = eval(*e.items[0], scope);
    Value b = eval(*e.items[1], scope);
    if (e.op == BinOp::kConcat) {
      std::string out;
      a.append_str(out);
      b.append_str(out);
      return Value::string(std::move(out));
    }
    return arithmetic(e.op, a, b);
  }

  [[gnu::noinline]] Value eval_compare(const Expr& e, const ScopePtr& scope) {
    Value left = eval(*e.items[0], scope);
    for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
      Value right = eval(*e.items[i + 1], scope);
      if (!compare(e.cmp_ops[i], left, right)) return Value::boolean(false);
      left = std::move(right);
    }
    return Value::boolean(true);
  }

  // ---- globals ----

  void make_builtins() {
    builtins_.emplace_back("raise_exception", Value::callable("raise_exception", [](const CallArgs& a) -> Value {
                             const Value* msg = a.get(0, "message");
                             throw TemplateError(msg ? msg->to_str() : std::string());
                           }));
    builtins_.emplace_back("strftime_now", Value::callable("strftime_now", [this](const CallArgs& a) {
                             const Value* fmt_arg = a.get(0, "format");
                             if (!fmt_arg || !fmt_arg->is_string())
                               throw ValueError("strftime_now() needs a format string");
                             std::tm now = env_.clock ? env_.clock() : std::tm{};
                             std::string f(fmt_arg->str());
                             if (f.empty()) return Value::string("");
                             std::vector<char> buf(256);
                             while (true) {
                               size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &now);
                               if (n > 0) return Value::string(std::string(buf.data(), n));
                               if (buf.size() > 65536) return Value::string("");
                               buf.resize(buf.size() * 4);
                             }
                           }));
    builtins_.emplace_back(
        "range", Value::callable("range", [](const CallArgs& a) {
          a.check("range", 3, {});
          for (const auto& v : a.positional)
            if (!v.is_int() && !v.is_bool())
              throw ValueError(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
          int64_t start = 0, stop = 0, step = 1;
          if (a.positional.size() == 1) {
            stop = a.positional[0].as_int();
          } else if (a.positional.size() >= 2) {
            start = a.positional[0].as_int();
            stop = a.positional[1].as_int();
            if (a.positional.size() == 3) step = a.positional[2].as_int();
          } else {
            throw ValueError("range expected at least 1 argument, got 0");
          }
          if (step == 0) throw ValueError("range() arg 3 must not be zero");
          ValueList out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (static_cast<int64_t>(out.size()) >= kMaxRange)
              throw ValueError(fmt::format("range too big, maximum size for range is {}", kMaxRange));
            out.push_back(Value::integer(i));
          }
          return Value::list(std::move(out));
        }));
    auto from_kwargs = [](const CallArgs& a, const char* what) {
      Entries entries;
      if (a.positional.size() > 1) throw ValueError(fmt::format("{}() takes at most 1 positional argument", what));
      if (!a.positional.empty()) {
        const Value& d = a.positional[0];
        if (!d.is_dict()) throw ValueError(fmt::format("{}() positional argument must be a dict", what));
        for (size_t i = 0; i < d.dict_size(); ++i) entries.emplace_back(std::string(d.dict_key(i)), d.dict_value(i));
      }
      for (const auto& [k, v] : a.keyword) entries.emplace_back(std::string(k), v);
      return entries;
    };
    builtins_.emplace_back("namespace", Value::callable("namespace", [from_kwargs](const CallArgs& a) {
                             return Value::make_namespace(from_kwargs(a, "namespace"));
                           }));
    builtins_.emplace_back("dict", Value::callable("dict", [from_kwargs](const CallArgs& a) {
                             return Value::dict(from_kwargs(a, "dict"));
                           }));
    // joiner(sep=", "): a callable that returns "" the first time and sep after.
    builtins_.emplace_back("joiner", Value::callable("joiner", [](const CallArgs& a) {
                             a.check("joiner", 1, {"sep"});
                             const Value* given = a.get(0, "sep");
                             Value sep = given ? *given : Value::string(", ");
                             auto used = std::make_shared<bool>(false);
                             return Value::callable("joiner", [sep, used](const CallArgs& call) {
                               call.check("joiner", 0, {});
                               if (*used) return sep;
                               *used = true;
                               return Value::string("");
                             });
                           }));
  }

  const RenderEnv& env_;
  std::vector<std::pair<std::string_view, Value>> builtins_;
  int call_depth_ = 0;
  int nesting_ = 0;
};

}  // namespace

std::string render_ast(const TemplateAst& ast, const RenderEnv& env) { return Interpreter(env).run(ast.body); }

}  // namespace pagellm::jinja
