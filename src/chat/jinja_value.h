#pragma once
// The values a template computes with. Inputs (messages, tools, kwargs) are borrowed from the caller's Json
// without copying — a 10 MB message stays where it is — and values the template builds are owned through
// shared pointers, so copying a Value is cheap and never deep.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/json_file.h"

namespace pagellm::jinja {

// What Python would raise as TypeError/ValueError/UndefinedError. Thrown without a position; the interpreter
// adds the line and column of the expression being evaluated.
class ValueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Value;
// json.dumps' layout options as transformers' tojson passes them: indent (< 0: None), the item and
// key separators (Python's defaults: ", " / ": ", or "," / ": " with an indent), sort_keys.
struct JsonStyle {
  int indent = -1;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};

struct CallArgs;

using ValueList = std::vector<Value>;
using Entries = std::vector<std::pair<std::string, Value>>;  // dicts keep insertion order, like Python

// State of the innermost `{% for %}` behind `loop.index`, `loop.previtem` and friends.
struct LoopData {
  std::shared_ptr<const ValueList> items;
  size_t index0 = 0;
  std::shared_ptr<ValueList> last_changed_args;  // loop.changed()'s previous arguments; null before its first call
};

struct Callable {
  std::string name;
  std::function<Value(const CallArgs&)> fn;
};

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable,
    kLoop
  };

  Value() = default;                                   // undefined
  static Value undefined(std::string_view hint = {});  // hint: the error to raise if it is used
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value string_ref(std::string_view s);  // caller guarantees the bytes outlive the render
  // A markupsafe.Markup string (from `|safe` or `|escape`): `Markup + str` HTML-escapes the str, as in Jinja.
  static Value markup(std::string s);
  Value as_markup() const;  // this string flagged as Markup
  static Value list(ValueList items, bool tuple = false);
  // groupby's (grouper, list) pair: a tuple whose items are also its attributes `grouper` and `list`.
  static Value group_tuple(Value grouper, ValueList items);
  static Value dict(Entries entries);
  static Value from_json(const Json& j);  // borrows j
  static Value make_namespace(Entries attrs);
  static Value callable(std::string name, std::function<Value(const CallArgs&)> fn);
  static Value loop(std::shared_ptr<LoopData> data);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && tuple_; }
  bool is_group_tuple() const { return is_tuple() && group_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }
  bool is_loop() const { return kind_ == Kind::kLoop; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(as_int()); }
  std::string_view str() const { return sv_; }             // kString
  std::string_view undefined_hint() const { return sv_; }  // kUndefined: what was missing, for errors

  // Lists (and tuples).
  size_t list_size() const;
  Value list_at(size_t i) const;
  // Dicts: entries in insertion order.
  size_t dict_size() const;
  std::string_view dict_key(size_t i) const;  // valid while this Value (or its source) lives
  Value dict_key_value(size_t i) const;       // the key as a Value that owns or borrows safely
  Value dict_value(size_t i) const;
  std::optional<Value> dict_get(std::string_view key) const;  // key encoded as dict_key_of() does
  std::optional<Value> dict_get(const Value& key) const;      // nullopt for keys no dict here can hold

  Entries& namespace_attrs() const;  // namespaces are the one mutable object templates may write to
  const Callable& as_callable() const;
  LoopData& as_loop() const;

  bool truthy() const;
  const char* type_name() const;

  // Python str() and repr().
  std::string to_str() const;
  void append_str(std::string& out) const;
  void append_repr(std::string& out, int depth = 0) const;
  // json.dumps(v, ensure_ascii=False) laid out as `style` says.
  void append_json(std::string& out, const JsonStyle& style, int level = 0) const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool tuple_ = false;
  bool markup_ = false;
  bool group_ = false;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string_view sv_;
  const Json* json_ = nullptr;       // borrowed list or dict
  std::shared_ptr<const void> obj_;  // owned payload: std::string, ValueList, Entries, Callable, LoopData
};

// Arguments of a call, filter or test after evaluation.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string_view, Value>> keyword;

  // Argument `index` given positionally, or by `name`; nullptr when absent.
  const Value* get(size_t index, std::string_view name) const;
  // Rejects surplus positionals and unknown keywords, like Python's TypeError for a bad signature.
  void check(const char* what, size_t max_positional, std::initializer_list<std::string_view> names) const;
};

// Python dicts may have int, float, bool and None keys (a `{512: 128}` literal, say). Entries hold every key as a
// string: a str as itself, any other key as 0xFF, a tag and its value, which no UTF-8 text can spell. Keys that are
// equal in Python (1, 1.0, True) get the same encoding.
std::string dict_key_of(const Value& key);      // throws ValueError for an unhashable key
Value dict_key_from(std::string_view encoded);  // the key as a Value again (an int for True)

// Python ==, and ordering for <, >, sort (throws ValueError where Python raises TypeError).
bool values_equal(const Value& a, const Value& b, int depth = 0);
int compare_values(const Value& a, const Value& b);

// Python-side limit on how deep printing/comparing nested data may go before we refuse (no stack overflow).
inline constexpr int kMaxDataDepth = 512;

}  // namespace pagellm::jinja
