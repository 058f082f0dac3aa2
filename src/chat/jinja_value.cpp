#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "chat/jinja_text.h"

namespace pagellm::jinja {

Value Value::undefined(std::string_view hint) {
  Value v;
  if (!hint.empty()) {
    auto owned = std::make_shared<const std::string>(hint);
    v.sv_ = *owned;
    v.obj_ = std::move(owned);
  }
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.i_ = i;
  return v;
}
Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.f_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  auto owned = std::make_shared<const std::string>(std::move(s));
  v.sv_ = *owned;
  v.obj_ = std::move(owned);
  return v;
}
Value Value::markup(std::string s) {
  Value v = string(std::move(s));
  v.markup_ = true;
  return v;
}
Value Value::as_markup() const {
  Value v = *this;
  v.markup_ = true;
  return v;
}
Value Value::string_ref(std::string_view s) {
  Value v;
  v.kind_ = Kind::kString;
  v.sv_ = s;
  return v;
}
Value Value::list(ValueList items, bool tuple) {
  Value v;
  v.kind_ = Kind::kList;
  v.tuple_ = tuple;
  v.obj_ = std::make_shared<const ValueList>(std::move(items));
  return v;
}

Value Value::group_tuple(Value grouper, ValueList items) {
  Value v = list({std::move(grouper), list(std::move(items))}, /*tuple=*/true);
  v.group_ = true;
  return v;
}
Value Value::dict(Entries entries) {
  Value v;
  v.kind_ = Kind::kDict;
  v.obj_ = std::make_shared<const Entries>(std::move(entries));
  return v;
}
Value Value::make_namespace(Entries attrs) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.obj_ = std::make_shared<Entries>(std::move(attrs));
  return v;
}
Value Value::callable(std::string name, std::function<Value(const CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.obj_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}
Value Value::loop(std::shared_ptr<LoopData> data) {
  Value v;
  v.kind_ = Kind::kLoop;
  v.obj_ = std::move(data);
  return v;
}

Value Value::from_json(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return none();
    case Json::value_t::boolean:
      return boolean(j.get<bool>());
    case Json::value_t::number_integer:
      return integer(j.get<int64_t>());
    case Json::value_t::number_unsigned:
      return integer(static_cast<int64_t>(j.get<uint64_t>()));
    case Json::value_t::number_float:
      return floating(j.get<double>());
    case Json::value_t::string:
      return string_ref(j.get_ref<const std::string&>());
    case Json::value_t::array: {
      Value v;
      v.kind_ = Kind::kList;
      v.json_ = &j;
      return v;
    }
    case Json::value_t::object: {
      Value v;
      v.kind_ = Kind::kDict;
      v.json_ = &j;
      return v;
    }
    default:
      throw ValueError("unsupported JSON value (binary or discarded)");
  }
}

size_t Value::list_size() const { return json_ ? json_->size() : static_cast<const ValueList*>(obj_.get())->size(); }
Value Value::list_at(size_t i) const {
  return json_ ? from_json((*json_)[i]) : (*static_cast<const ValueList*>(obj_.get()))[i];
}

size_t Value::dict_size() const { return json_ ? json_->size() : static_cast<const Entries*>(obj_.get())->size(); }
std::string_view Value::dict_key(size_t i) const {
  if (json_) return (json_->get_ref<const Json::object_t&>().begin() + static_cast<std::ptrdiff_t>(i))->first;
  return (*static_cast<const Entries*>(obj_.get()))[i].first;
}
Value Value::dict_key_value(size_t i) const { return json_ ? string_ref(dict_key(i)) : dict_key_from(dict_key(i)); }

namespace {
constexpr char kNonStringKey = '\xff';
}  // namespace

std::string dict_key_of(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return std::string(key.str());
    case Value::Kind::kNone:
      return std::string{kNonStringKey, 'N'};
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return std::string{kNonStringKey, 'i'} + std::to_string(key.as_int());
    case Value::Kind::kFloat: {
      const double d = key.as_double();
      if (d == std::floor(d) && std::fabs(d) < 9.2e18)  // hash(2.0) == hash(2)
        return std::string{kNonStringKey, 'i'} + std::to_string(static_cast<int64_t>(d));
      return std::string{kNonStringKey, 'f'} + text::float_repr(d);
    }
    case Value::Kind::kList:
      if (key.is_tuple()) throw ValueError("tuples as dict keys are not supported");
      [[fallthrough]];
    default:
      throw ValueError(fmt::format("unhashable type: '{}'", key.type_name()));
  }
}

Value dict_key_from(std::string_view encoded) {
  if (encoded.size() < 2 || encoded[0] != kNonStringKey) return Value::string(std::string(encoded));
  const std::string payload(encoded.substr(2));
  switch (encoded[1]) {
    case 'N':
      return Value::none();
    case 'i':
      return Value::integer(std::stoll(payload));
    default:
      return Value::floating(std::strtod(payload.c_str(), nullptr));
  }
}
Value Value::dict_value(size_t i) const {
  if (json_)
    return from_json((json_->get_ref<const Json::object_t&>().begin() + static_cast<std::ptrdiff_t>(i))->second);
  return (*static_cast<const Entries*>(obj_.get()))[i].second;
}
std::optional<Value> Value::dict_get(std::string_view key) const {
  if (json_) {
    for (const auto& [k, v] : json_->get_ref<const Json::object_t&>())
      if (k == key) return from_json(v);
    return std::nullopt;
  }
  for (const auto& [k, v] : *static_cast<const Entries*>(obj_.get()))
    if (k == key) return v;
  return std::nullopt;
}

std::optional<Value> Value::dict_get(const Value& key) const {
  switch (key.kind()) {
    case Kind::kUndefined:  // hashable in Python, but never a key of ours
    case Kind::kNamespace:
    case Kind::kCallable:
    case Kind::kLoop:
      return std::nullopt;
    default:
      if (key.is_tuple()) return std::nullopt;
      return dict_get(dict_key_of(key));  // lists and dicts raise: unhashable
  }
}

Entries& Value::namespace_attrs() const { return *static_cast<Entries*>(const_cast<void*>(obj_.get())); }
const Callable& Value::as_callable() const { return *static_cast<const Callable*>(obj_.get()); }
LoopData& Value::as_loop() const { return *static_cast<LoopData*>(const_cast<void*>(obj_.get())); }

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return b_;
    case Kind::kInt:
      return i_ != 0;
    case Kind::kFloat:
      return f_ != 0;
    case Kind::kString:
      return !sv_.empty();
    case Kind::kList:
      return list_size() != 0;
    case Kind::kDict:
      return dict_size() != 0;
    default:
      return true;
  }
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return tuple_ ? "tuple" : "list";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kCallable:
      return "function";
    case Kind::kLoop:
      return "LoopContext";
  }
  return "object";
}

std::string Value::to_str() const {
  if (kind_ == Kind::kString) return std::string(sv_);
  std::string out;
  append_str(out);
  return out;
}

void Value::append_str(std::string& out) const {
  switch (kind_) {
    case Kind::kUndefined:
      return;
    case Kind::kString:
      out += sv_;
      return;
    case Kind::kCallable:
    case Kind::kLoop:
      throw ValueError(fmt::format("cannot print a {} object", type_name()));
    default:
      append_repr(out);
      return;
  }
}

void Value::append_repr(std::string& out, int depth) const {
  if (depth > kMaxDataDepth) throw ValueError("data nested too deeply to print");
  switch (kind_) {
    case Kind::kUndefined:
      out += "Undefined";  // jinja2.Undefined's repr, as str() of a list or dict holding one shows it
      return;
    case Kind::kNone:
      out += "None";
      return;
    case Kind::kBool:
      out += b_ ? "True" : "False";
      return;
    case Kind::kInt:
      out += std::to_string(i_);
      return;
    case Kind::kFloat:
      out += text::float_repr(f_);
      return;
    case Kind::kString:
      out += text::str_repr(sv_);
      return;
    case Kind::kList: {
      out += tuple_ ? '(' : '[';
      const size_t n = list_size();
      for (size_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        list_at(i).append_repr(out, depth + 1);
      }
      if (tuple_ && n == 1) out += ',';
      out += tuple_ ? ')' : ']';
      return;
    }
    case Kind::kDict: {
      out += '{';
      const size_t n = dict_size();
      for (size_t i = 0; i < n; ++i) {
        if (i) out += ", ";
        dict_key_value(i).append_repr(out, depth + 1);
        out += ": ";
        dict_value(i).append_repr(out, depth + 1);
      }
      out += '}';
      return;
    }
    case Kind::kNamespace: {
      out += "<Namespace {";
      bool first = true;
      for (const auto& [k, v] : namespace_attrs()) {
        if (!first) out += ", ";
        first = false;
        out += text::str_repr(k);
        out += ": ";
        v.append_repr(out, depth + 1);
      }
      out += "}>";
      return;
    }
    default:
      throw ValueError(fmt::format("cannot print a {} object", type_name()));
  }
}

namespace {
void newline_indent(std::string& out, int indent, int level) {
  out += '\n';
  out.append(static_cast<size_t>(indent * level), ' ');
}
}  // namespace

void Value::append_json(std::string& out, const JsonStyle& style, int level) const {
  const int indent = style.indent;
  if (level > kMaxDataDepth) throw ValueError("data nested too deeply for tojson");
  switch (kind_) {
    case Kind::kNone:
      out += "null";
      return;
    case Kind::kBool:
      out += b_ ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(i_);
      return;
    case Kind::kFloat:
      if (std::isnan(f_)) {
        out += "NaN";
      } else if (std::isinf(f_)) {
        out += f_ > 0 ? "Infinity" : "-Infinity";
      } else {
        out += text::float_repr(f_);
      }
      return;
    case Kind::kString:
      text::append_json_string(out, sv_);
      return;
    case Kind::kList: {
      const size_t n = list_size();
      if (n == 0) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < n; ++i) {
        if (i) out += style.item_separator;
        if (indent >= 0) newline_indent(out, indent, level + 1);
        list_at(i).append_json(out, style, level + 1);
      }
      if (indent >= 0) newline_indent(out, indent, level);
      out += ']';
      return;
    }
    case Kind::kDict: {
      const size_t n = dict_size();
      if (n == 0) {
        out += "{}";
        return;
      }
      std::vector<size_t> order(n);
      for (size_t i = 0; i < n; ++i) order[i] = i;
      if (style.sort_keys)  // as Python: str keys by code point, numbers by value, a mix raises TypeError
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t x, size_t y) { return compare_values(dict_key_value(x), dict_key_value(y)) < 0; });
      out += '{';
      for (size_t i = 0; i < n; ++i) {
        if (i) out += style.item_separator;
        if (indent >= 0) newline_indent(out, indent, level + 1);
        const Value key = dict_key_value(order[i]);  // json.dumps writes a non-str key as its JSON text, quoted
        if (key.is_string())
          text::append_json_string(out, key.str());
        else
          text::append_json_string(out, key.is_none() ? "null" : key.to_str());
        out += style.key_separator;
        dict_value(order[i]).append_json(out, style, level + 1);
      }
      if (indent >= 0) newline_indent(out, indent, level);
      out += '}';
      return;
    }
    default:
      throw ValueError(fmt::format("Object of type {} is not JSON serializable", type_name()));
  }
}

const Value* CallArgs::get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

void CallArgs::check(const char* what, size_t max_positional, std::initializer_list<std::string_view> names) const {
  if (positional.size() > max_positional)
    throw ValueError(
        fmt::format("{}() takes at most {} positional arguments ({} given)", what, max_positional, positional.size()));
  for (const auto& [k, v] : keyword) {
    bool known = false;
    for (auto n : names) known = known || n == k;
    if (!known) throw ValueError(fmt::format("{}() got an unexpected keyword argument '{}'", what, k));
  }
}

bool values_equal(const Value& a, const Value& b, int depth) {
  if (depth > kMaxDataDepth) throw ValueError("data nested too deeply to compare");
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.str() == b.str();
    case Value::Kind::kList: {
      if (a.is_tuple() != b.is_tuple() || a.list_size() != b.list_size()) return false;
      for (size_t i = 0; i < a.list_size(); ++i)
        if (!values_equal(a.list_at(i), b.list_at(i), depth + 1)) return false;
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict_size() != b.dict_size()) return false;
      for (size_t i = 0; i < a.dict_size(); ++i) {
        auto other = b.dict_get(a.dict_key(i));
        if (!other || !values_equal(a.dict_value(i), *other, depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
    case Value::Kind::kLoop:
      return &a.namespace_attrs() == &b.namespace_attrs();  // identity
    default:
      return false;
  }
}

int compare_values(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const size_t n = std::min(a.list_size(), b.list_size());
    for (size_t i = 0; i < n; ++i) {
      Value x = a.list_at(i), y = b.list_at(i);
      if (!values_equal(x, y)) return compare_values(x, y);
    }
    return a.list_size() < b.list_size() ? -1 : (a.list_size() > b.list_size() ? 1 : 0);
  }
  throw ValueError(fmt::format("'<' not supported between instances of '{}' and '{}'", a.type_name(), b.type_name()));
}

}  // namespace pagellm::jinja
