#include "chat/jinja_tests.h"

#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

#include "chat/jinja_filters.h"
#include "chat/jinja_object.h"
#include "chat/jinja_text.h"

namespace pagellm::jinja {
namespace {

// Jinja2's lower / upper tests: Python's str(value).islower() / isupper(), true when every cased
// character is in that case and there is at least one ("" and "123" are neither; a list prints
// as its repr and is tested as that text).
// The `filter` and `test` tests: Jinja2 looks the value up in a dict, so a list or dict is unhashable.
bool names_one(const Value& v, bool (*exists)(std::string_view)) {
  if ((v.is_list() && !v.is_tuple()) || v.is_dict())
    throw ValueError(fmt::format("unhashable type: '{}'", v.type_name()));
  return v.is_string() && exists(v.str());
}

bool all_cased_in(const Value& v, bool lower) { return text::all_cased(v.to_str(), lower); }

// Jinja2's iterable and sequence tests (iter(), or len() and __getitem__): lists, dicts, strings, and
// Undefined, which is iterable and sized (empty), as Jinja2's Undefined is.
bool is_container(const Value& v, const CallArgs&) {
  return v.is_undefined() || v.is_list() || v.is_dict() || v.is_string();
}

using TestFn = bool (*)(const Value&, const CallArgs&);

const Value& arg(const CallArgs& args, const char* test) {
  const Value* v = args.get(0, "other");
  if (!v) throw ValueError(fmt::format("test '{}' needs an argument", test));
  return *v;
}

int64_t int_of(const Value& v, const char* test) {
  if (!v.is_int() && !v.is_bool())
    throw ValueError(fmt::format("test '{}' needs an integer, got {}", test, v.type_name()));
  return v.as_int();
}

// Python's `value % 2` (Jinja's odd/even are `value % 2 == 1` / `== 0`), floats included.
double py_mod2(const Value& v, const char* test) {
  if (v.is_float()) {
    double r = std::fmod(v.as_double(), 2.0);
    return r < 0 ? r + 2.0 : r;
  }
  int64_t i = int_of(v, test) % 2;
  return static_cast<double>(i < 0 ? i + 2 : i);
}

bool compare_test(const Value& v, const CallArgs& args, const char* name, bool (*pred)(int)) {
  return pred(compare_values(v, arg(args, name)));
}

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", [](const Value& v, const CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, const CallArgs&) { return v.is_undefined(); }},
      {"none", [](const Value& v, const CallArgs&) { return v.is_none(); }},
      {"string", [](const Value& v, const CallArgs&) { return v.is_string(); }},
      {"mapping", [](const Value& v, const CallArgs&) { return v.is_dict(); }},
      {"iterable", is_container},
      {"sequence", is_container},
      {"number", [](const Value& v, const CallArgs&) { return v.is_number(); }},
      {"integer", [](const Value& v, const CallArgs&) { return v.is_int(); }},
      {"float", [](const Value& v, const CallArgs&) { return v.is_float(); }},
      {"boolean", [](const Value& v, const CallArgs&) { return v.is_bool(); }},
      {"true", [](const Value& v, const CallArgs&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](const Value& v, const CallArgs&) { return v.is_bool() && !v.as_bool(); }},
      {"callable", [](const Value& v, const CallArgs&) { return v.is_callable() || v.is_undefined(); }},
      {"odd", [](const Value& v, const CallArgs&) { return py_mod2(v, "odd") == 1; }},
      {"even", [](const Value& v, const CallArgs&) { return py_mod2(v, "even") == 0; }},
      {"divisibleby",
       [](const Value& v, const CallArgs& a) {
         int64_t d = int_of(arg(a, "divisibleby"), "divisibleby");
         if (d == 0) throw ValueError("integer division or modulo by zero");
         return int_of(v, "divisibleby") % d == 0;
       }},
      {"eq", [](const Value& v, const CallArgs& a) { return values_equal(v, arg(a, "eq")); }},
      {"equalto", [](const Value& v, const CallArgs& a) { return values_equal(v, arg(a, "equalto")); }},
      {"==", [](const Value& v, const CallArgs& a) { return values_equal(v, arg(a, "==")); }},
      {"ne", [](const Value& v, const CallArgs& a) { return !values_equal(v, arg(a, "ne")); }},
      {"!=", [](const Value& v, const CallArgs& a) { return !values_equal(v, arg(a, "!=")); }},
      {"lt", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "lt", [](int c) { return c < 0; }); }},
      {"lessthan",
       [](const Value& v, const CallArgs& a) { return compare_test(v, a, "lessthan", [](int c) { return c < 0; }); }},
      {"<", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "<", [](int c) { return c < 0; }); }},
      {"le", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "le", [](int c) { return c <= 0; }); }},
      {"<=", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "<=", [](int c) { return c <= 0; }); }},
      {"gt", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "gt", [](int c) { return c > 0; }); }},
      {"greaterthan", [](const Value& v,
                         const CallArgs& a) { return compare_test(v, a, "greaterthan", [](int c) { return c > 0; }); }},
      {">", [](const Value& v, const CallArgs& a) { return compare_test(v, a, ">", [](int c) { return c > 0; }); }},
      {"ge", [](const Value& v, const CallArgs& a) { return compare_test(v, a, "ge", [](int c) { return c >= 0; }); }},
      {">=", [](const Value& v, const CallArgs& a) { return compare_test(v, a, ">=", [](int c) { return c >= 0; }); }},
      {"in", [](const Value& v, const CallArgs& a) { return contains(arg(a, "in"), v); }},
      {"sameas",
       [](const Value& v, const CallArgs& a) {
         const Value& o = arg(a, "sameas");
         // Identity for the singletons templates compare with (None, True, False); equality otherwise.
         return v.kind() == o.kind() && values_equal(v, o);
       }},
      {"lower", [](const Value& v, const CallArgs&) { return all_cased_in(v, /*lower=*/true); }},
      {"upper", [](const Value& v, const CallArgs&) { return all_cased_in(v, /*lower=*/false); }},
      {"escaped", [](const Value&, const CallArgs&) { return false; }},
      {"filter", [](const Value& v, const CallArgs&) { return names_one(v, has_filter); }},
      {"test", [](const Value& v, const CallArgs&) { return names_one(v, has_test); }},
  };
  return table;
}

}  // namespace

bool has_test(std::string_view name) { return tests().count(name) != 0; }

bool apply_test(std::string_view name, const Value& subject, const CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw ValueError(fmt::format("unknown test '{}'", name));
  return it->second(subject, args);
}

}  // namespace pagellm::jinja
