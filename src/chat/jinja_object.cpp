#include "chat/jinja_object.h"

#include <fmt/format.h>

#include "chat/jinja_format.h"
#include "chat/jinja_text.h"

namespace pagellm::jinja {
namespace {

[[noreturn]] void undefined_error(const Value& u) {
  if (u.undefined_hint().empty()) throw ValueError("value is undefined");
  throw ValueError(std::string(u.undefined_hint()));
}

std::string arg_str(const CallArgs& args, size_t i, std::string_view name, const char* method) {
  const Value* v = args.get(i, name);
  if (!v || !v->is_string())
    throw ValueError(fmt::format("{}() argument must be str, not {}", method, v ? v->type_name() : "nothing"));
  return std::string(v->str());
}

std::optional<std::string_view> opt_chars(const CallArgs& args, const char* method) {
  const Value* v = args.get(0, "chars");
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_string()) throw ValueError(fmt::format("{} arg must be None or str", method));
  return v->str();
}

bool starts_or_ends(const Value& s, const CallArgs& args, bool starts, const char* method) {
  args.check(method, 1, {});
  const Value* p = args.get(0, "prefix");
  if (!p) throw ValueError(fmt::format("{}() takes at least 1 argument (0 given)", method));
  auto test = [&](std::string_view x) {
    std::string_view str = s.str();
    if (x.size() > str.size()) return false;
    return starts ? str.substr(0, x.size()) == x : str.substr(str.size() - x.size()) == x;
  };
  if (p->is_string()) return test(p->str());
  if (p->is_list()) {
    for (size_t i = 0; i < p->list_size(); ++i) {
      Value x = p->list_at(i);
      if (!x.is_string()) throw ValueError(fmt::format("tuple for {} must only contain str", method));
      if (test(x.str())) return true;
    }
    return false;
  }
  throw ValueError(fmt::format("{} first arg must be str or a tuple of str, not {}", method, p->type_name()));
}

Value string_method(const Value& s, std::string_view name, const CallArgs& args) {
  std::string_view str = s.str();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    args.check("strip", 1, {"chars"});
    return Value::string(std::string(text::strip(str, opt_chars(args, "strip"), name != "rstrip", name != "lstrip")));
  }
  if (name == "split" || name == "rsplit") {
    args.check("split", 2, {"sep", "maxsplit"});
    std::optional<std::string_view> sep;
    if (const Value* v = args.get(0, "sep"); v && !v->is_none()) {
      if (!v->is_string()) throw ValueError("must be str or None");
      if (v->str().empty()) throw ValueError("empty separator");
      sep = v->str();
    }
    long maxsplit = -1;
    if (const Value* v = args.get(1, "maxsplit")) maxsplit = static_cast<long>(v->as_int());
    ValueList out;
    for (auto& part : name == "split" ? text::split(str, sep, maxsplit) : text::rsplit(str, sep, maxsplit))
      out.push_back(Value::string(std::move(part)));
    return Value::list(std::move(out));
  }
  if (name == "splitlines") {
    args.check("splitlines", 0, {});
    ValueList out;
    for (std::string_view line : text::splitlines(str)) out.push_back(Value::string(std::string(line)));
    return Value::list(std::move(out));
  }
  if (name == "startswith") return Value::boolean(starts_or_ends(s, args, true, "startswith"));
  if (name == "endswith") return Value::boolean(starts_or_ends(s, args, false, "endswith"));
  if (name == "upper") return Value::string(text::upper(str));
  if (name == "lower") return Value::string(text::lower(str));
  if (name == "title") return Value::string(text::py_title(str));
  if (name == "capitalize") return Value::string(text::capitalize(str));
  if (name == "replace") {
    args.check("replace", 3, {});
    long count = -1;
    if (const Value* v = args.get(2, "count")) count = static_cast<long>(v->as_int());
    return Value::string(
        text::replace(str, arg_str(args, 0, "old", "replace"), arg_str(args, 1, "new", "replace"), count));
  }
  if (name == "join") {
    args.check("join", 1, {});
    const Value* v = args.get(0, "iterable");
    if (!v) throw ValueError("join() takes exactly one argument (0 given)");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(*v)) {
      if (!item.is_string())
        throw ValueError(fmt::format("sequence item: expected str instance, {} found", item.type_name()));
      if (!first) out += str;
      first = false;
      out += item.str();
    }
    return Value::string(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const std::string method(name);
    args.check(method.c_str(), 1, {});
    const std::string sub = arg_str(args, 0, "sub", method.c_str());
    const size_t at = name == "find" || name == "index" ? str.find(sub) : str.rfind(sub);
    if (at == std::string_view::npos && name[name.size() - 1] == 'x') throw ValueError("substring not found");
    return Value::integer(at == std::string_view::npos ? -1 : static_cast<int64_t>(text::cp_count(str.substr(0, at))));
  }
  if (name == "partition" || name == "rpartition") {
    args.check(std::string(name).c_str(), 1, {});
    const std::string sep = arg_str(args, 0, "sep", std::string(name).c_str());
    if (sep.empty()) throw ValueError("empty separator");
    const size_t at = name == "partition" ? str.find(sep) : str.rfind(sep);
    if (at == std::string_view::npos) {
      const Value whole = Value::string(std::string(str)), empty = Value::string("");
      return Value::list(name == "partition" ? ValueList{whole, empty, empty} : ValueList{empty, empty, whole}, true);
    }
    return Value::list({Value::string(std::string(str.substr(0, at))), Value::string(sep),
                        Value::string(std::string(str.substr(at + sep.size())))},
                       true);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    args.check(std::string(name).c_str(), 1, {});
    const std::string affix = arg_str(args, 0, "affix", std::string(name).c_str());
    const bool prefix = name == "removeprefix";
    if (affix.size() > str.size() ||
        (prefix ? str.substr(0, affix.size()) : str.substr(str.size() - affix.size())) != std::string_view(affix))
      return Value::string(std::string(str));
    return Value::string(std::string(prefix ? str.substr(affix.size()) : str.substr(0, str.size() - affix.size())));
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    const std::string method(name);
    args.check(method.c_str(), name == "zfill" ? 1 : 2, {});
    const Value* width_arg = args.get(0, "width");
    if (!width_arg || !(width_arg->is_int() || width_arg->is_bool()))
      throw ValueError(fmt::format("{}() takes an integer width", method));
    const int64_t width = width_arg->as_int();
    std::string fill = " ";
    if (name != "zfill" && args.get(1, "fillchar")) {
      fill = arg_str(args, 1, "fillchar", method.c_str());
      if (text::cp_count(fill) != 1) throw ValueError("The fill character must be exactly one character long");
    }
    if (name == "center") return Value::string(text::center(str, width, fill));
    const auto pad = std::max<int64_t>(0, width - static_cast<int64_t>(text::cp_count(str)));
    std::string padding;
    for (int64_t i = 0; i < pad; ++i) padding += name == "zfill" ? "0" : fill;
    if (name == "ljust") return Value::string(std::string(str) + padding);
    if (name == "rjust") return Value::string(padding + std::string(str));
    const bool sign = !str.empty() && (str[0] == '+' || str[0] == '-');  // zfill pads after the sign
    return Value::string(sign ? std::string(str.substr(0, 1)) + padding + std::string(str.substr(1))
                              : padding + std::string(str));
  }
  if (name == "islower" || name == "isupper") return Value::boolean(text::all_cased(str, name == "islower"));
  if (name == "count") {
    args.check("count", 1, {});
    std::string sub = arg_str(args, 0, "sub", "count");
    if (sub.empty()) return Value::integer(static_cast<int64_t>(text::cp_count(str) + 1));
    int64_t n = 0;
    for (size_t at = str.find(sub); at != std::string_view::npos; at = str.find(sub, at + sub.size())) ++n;
    return Value::integer(n);
  }
  if (name == "format") return Value::string(brace_format(str, args));
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
    if (str.empty()) return Value::boolean(false);
    for (size_t i = 0; i < str.size();) {
      char32_t c = text::next_cp(str, i);
      bool ok = name == "isspace"   ? text::is_space(c)
                : name == "isdigit" ? (c >= '0' && c <= '9')
                : name == "isalpha" ? ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80
                                    : ((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  throw ValueError(fmt::format("'str' object has no attribute '{}'", name));
}

Value dict_method(const Value& d, std::string_view name, const CallArgs& args) {
  if (name == "items" || name == "keys" || name == "values") {
    args.check(std::string(name).c_str(), 0, {});
    ValueList out;
    out.reserve(d.dict_size());
    for (size_t i = 0; i < d.dict_size(); ++i) {
      if (name == "items")
        out.push_back(Value::list({d.dict_key_value(i), d.dict_value(i)}, true));
      else
        out.push_back(name == "keys" ? d.dict_key_value(i) : d.dict_value(i));
    }
    return Value::list(std::move(out));
  }
  if (name == "get") {
    args.check("get", 2, {});
    const Value* key = args.get(0, "key");
    if (!key) throw ValueError("get expected at least 1 argument, got 0");
    const Value* def = args.get(1, "default");
    if (auto v = d.dict_get(*key)) return *v;
    return def ? *def : Value::none();
  }
  throw ValueError(fmt::format("'dict' object has no attribute '{}'", name));
}

Value list_method(const Value& l, std::string_view name, const CallArgs& args) {
  const Value* x = args.get(0, "value");
  if (!x) throw ValueError(fmt::format("{}() takes exactly one argument (0 given)", name));
  int64_t count = 0;
  for (size_t i = 0; i < l.list_size(); ++i) {
    if (values_equal(l.list_at(i), *x)) {
      if (name == "index") return Value::integer(static_cast<int64_t>(i));
      ++count;
    }
  }
  if (name == "index") throw ValueError("list.index(x): x not in list");
  return Value::integer(count);
}

bool is_string_method(std::string_view n) {
  static constexpr std::string_view kNames[] = {
      "strip",  "lstrip",  "rstrip",  "split",      "rsplit",     "startswith",   "endswith",
      "upper",  "lower",   "title",   "capitalize", "replace",    "join",         "find",
      "count",  "isdigit", "isspace", "isalpha",    "isalnum",    "format",       "splitlines",
      "rfind",  "index",   "rindex",  "partition",  "rpartition", "removeprefix", "removesuffix",
      "center", "ljust",   "rjust",   "zfill",      "islower",    "isupper"};
  for (auto k : kNames)
    if (k == n) return true;
  return false;
}
bool is_dict_method(std::string_view n) { return n == "items" || n == "keys" || n == "values" || n == "get"; }
bool is_list_method(std::string_view n) { return n == "index" || n == "count"; }
bool is_mutating_method(std::string_view n) {
  static constexpr std::string_view kNames[] = {"append", "extend",  "insert", "pop",        "remove",  "clear",
                                                "sort",   "reverse", "update", "setdefault", "popitem", "__setitem__"};
  for (auto k : kNames)
    if (k == n) return true;
  return false;
}

Value bound(const Value& obj, std::string_view name, Value (*method)(const Value&, std::string_view, const CallArgs&)) {
  std::string n(name);
  return Value::callable(fmt::format("{}.{}", obj.type_name(), n),
                         [obj, n, method](const CallArgs& args) { return method(obj, n, args); });
}

Value loop_attr(const Value& obj, std::string_view name) {
  const LoopData& loop = obj.as_loop();
  const auto n = static_cast<int64_t>(loop.items->size());
  const auto i = static_cast<int64_t>(loop.index0);
  if (name == "index0") return Value::integer(i);
  if (name == "index") return Value::integer(i + 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "depth") return Value::integer(1);
  if (name == "depth0") return Value::integer(0);
  if (name == "previtem")
    return i > 0 ? (*loop.items)[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item");
  if (name == "nextitem")
    return i + 1 < n ? (*loop.items)[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item");
  if (name == "cycle") {
    return Value::callable("loop.cycle", [obj](const CallArgs& args) {
      if (args.positional.empty()) throw ValueError("no items for cycling given");
      return args.positional[obj.as_loop().index0 % args.positional.size()];
    });
  }
  if (name == "changed") {
    return Value::callable("loop.changed", [obj](const CallArgs& args) {
      LoopData& state = obj.as_loop();
      if (state.last_changed_args && values_equal(Value::list(*state.last_changed_args), Value::list(args.positional)))
        return Value::boolean(false);
      state.last_changed_args = std::make_shared<ValueList>(args.positional);
      return Value::boolean(true);
    });
  }
  return Value::undefined(fmt::format("'LoopContext' object has no attribute '{}'", name));
}

Value missing(const std::string& msg) { return Value::undefined(msg); }

int64_t normalize_index(int64_t i, size_t n) { return i < 0 ? i + static_cast<int64_t>(n) : i; }

}  // namespace

std::optional<Value> call_method(const Value& obj, std::string_view name, const CallArgs& args) {
  switch (obj.kind()) {
    case Value::Kind::kString:
      if (is_string_method(name)) return string_method(obj, name, args);
      break;
    case Value::Kind::kDict:
      if (is_dict_method(name)) return dict_method(obj, name, args);
      break;
    case Value::Kind::kList:
      if (is_list_method(name)) return list_method(obj, name, args);
      break;
    default:
      break;
  }
  return std::nullopt;
}

Value get_attr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      undefined_error(obj);
    case Value::Kind::kDict:
      if (is_dict_method(name)) return bound(obj, name, dict_method);
      if (auto v = obj.dict_get(name)) return *v;
      if (is_mutating_method(name))
        return Value::callable("dict." + std::string(name), [n = std::string(name)](const CallArgs&) -> Value {
          throw ValueError(fmt::format("dict.{}() is not allowed: template values are immutable", n));
        });
      return missing(fmt::format("'dict object' has no attribute '{}'", name));
    case Value::Kind::kNamespace:
      for (const auto& [k, v] : obj.namespace_attrs())
        if (k == name) return v;
      return missing(fmt::format("'Namespace' object has no attribute '{}'", name));
    case Value::Kind::kLoop:
      return loop_attr(obj, name);
    case Value::Kind::kString:
      if (is_string_method(name)) return bound(obj, name, string_method);
      return missing(fmt::format("'str object' has no attribute '{}'", name));
    case Value::Kind::kList:
      if (obj.is_group_tuple() && (name == "grouper" || name == "list")) return obj.list_at(name == "grouper" ? 0 : 1);
      if (is_list_method(name)) return bound(obj, name, list_method);
      if (is_mutating_method(name))
        return Value::callable("list." + std::string(name), [n = std::string(name)](const CallArgs&) -> Value {
          throw ValueError(fmt::format("list.{}() is not allowed: template values are immutable", n));
        });
      return missing(fmt::format("'{} object' has no attribute '{}'", obj.type_name(), name));
    default:
      return missing(fmt::format("'{} object' has no attribute '{}'", obj.type_name(), name));
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      undefined_error(obj);
    case Value::Kind::kDict:
      if (key.is_string()) {
        if (auto v = obj.dict_get(key.str())) return *v;
        return missing(fmt::format("'dict object' has no attribute '{}'", key.str()));
      }
      if (auto v = obj.dict_get(key)) return *v;
      return missing(fmt::format("'dict object' has no element {}", key.to_str()));
    case Value::Kind::kList:
      if (key.is_int() || key.is_bool()) {
        int64_t i = normalize_index(key.as_int(), obj.list_size());
        if (i >= 0 && static_cast<size_t>(i) < obj.list_size()) return obj.list_at(static_cast<size_t>(i));
        return missing(fmt::format("'{} object' has no element {}", obj.type_name(), key.as_int()));
      }
      if (key.is_string()) return get_attr(obj, key.str());
      return missing(fmt::format("'{} object' has no element {}", obj.type_name(), key.to_str()));
    case Value::Kind::kString:
      if (key.is_int() || key.is_bool()) {
        // Walk to the code point instead of splitting the whole (possibly huge) string.
        std::string_view str = obj.str();
        int64_t i = key.as_int();
        if (i < 0) i += static_cast<int64_t>(text::cp_count(str));
        size_t pos = 0;
        for (int64_t k = 0; i >= 0 && k < i && pos < str.size(); ++k) text::next_cp(str, pos);
        if (i >= 0 && pos < str.size()) {
          size_t end = pos;
          text::next_cp(str, end);
          return Value::string(std::string(str.substr(pos, end - pos)));
        }
        return missing(fmt::format("'str object' has no element {}", key.as_int()));
      }
      if (key.is_string()) return get_attr(obj, key.str());
      return missing(fmt::format("'str object' has no element {}", key.to_str()));
    default:
      if (key.is_string()) return get_attr(obj, key.str());
      return missing(fmt::format("'{} object' has no element {}", obj.type_name(), key.to_str()));
  }
}

Value get_attr_only(const Value& obj, std::string_view name) {
  if (obj.is_dict() && !is_dict_method(name)) return missing(fmt::format("'dict object' has no attribute '{}'", name));
  return get_attr(obj, name);
}

Value get_attr_path(const Value& obj, std::string_view path) {
  Value cur = obj;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string_view part = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool numeric = !part.empty();
    for (char c : part) numeric = numeric && c >= '0' && c <= '9';
    if (cur.is_undefined()) return cur;
    cur =
        numeric ? get_item(cur, Value::integer(std::stoll(std::string(part)))) : get_item(cur, Value::string_ref(part));
    if (dot == std::string_view::npos) return cur;
    start = dot + 1;
  }
}

Value slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
  if (obj.is_undefined()) undefined_error(obj);
  auto as_index = [](const Value* v) -> std::optional<int64_t> {
    if (!v || v->is_none()) return std::nullopt;
    if (!v->is_int() && !v->is_bool())
      throw ValueError("slice indices must be integers or None or have an __index__ method");
    return v->as_int();
  };
  int64_t st = as_index(step).value_or(1);
  if (st == 0) throw ValueError("slice step cannot be zero");
  std::vector<std::string_view> cps;
  size_t n;
  if (obj.is_string()) {
    cps = text::code_points(obj.str());
    n = cps.size();
  } else if (obj.is_list()) {
    n = obj.list_size();
  } else if (obj.is_dict()) {
    throw ValueError("unhashable type: 'slice'");  // Jinja emits slices as plain Python subscripts
  } else {
    throw ValueError(fmt::format("'{}' object is not subscriptable", obj.type_name()));
  }
  const auto len = static_cast<int64_t>(n);
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += len;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= len) {
      x = st < 0 ? len - 1 : len;
    }
    return x;
  };
  int64_t b = adjust(as_index(start), st < 0 ? len - 1 : 0);
  int64_t e = adjust(as_index(stop), st < 0 ? -1 : len);
  std::vector<size_t> picks;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) picks.push_back(static_cast<size_t>(i));
  if (obj.is_string()) {
    std::string out;
    for (size_t i : picks) out += cps[i];
    return Value::string(std::move(out));
  }
  ValueList out;
  out.reserve(picks.size());
  for (size_t i : picks) out.push_back(obj.list_at(i));
  return Value::list(std::move(out), obj.is_tuple());
}

ValueList iterate(const Value& obj) {
  ValueList out;
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      return out;
    case Value::Kind::kList:
      out.reserve(obj.list_size());
      for (size_t i = 0; i < obj.list_size(); ++i) out.push_back(obj.list_at(i));
      return out;
    case Value::Kind::kDict:
      out.reserve(obj.dict_size());
      for (size_t i = 0; i < obj.dict_size(); ++i) out.push_back(obj.dict_key_value(i));
      return out;
    case Value::Kind::kString:
      for (auto cp : text::code_points(obj.str())) out.push_back(Value::string(std::string(cp)));
      return out;
    default:
      throw ValueError(fmt::format("'{}' object is not iterable", obj.type_name()));
  }
}

size_t length_of(const Value& obj) {
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kList:
      return obj.list_size();
    case Value::Kind::kDict:
      return obj.dict_size();
    case Value::Kind::kString:
      return text::cp_count(obj.str());
    default:
      throw ValueError(fmt::format("object of type '{}' has no len()", obj.type_name()));
  }
}

bool contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!needle.is_string())
        throw ValueError(fmt::format("'in <string>' requires string as left operand, not {}", needle.type_name()));
      return haystack.str().find(needle.str()) != std::string_view::npos;
    case Value::Kind::kList:
      for (size_t i = 0; i < haystack.list_size(); ++i)
        if (values_equal(haystack.list_at(i), needle)) return true;
      return false;
    case Value::Kind::kDict:
      return haystack.dict_get(needle).has_value();
    case Value::Kind::kNamespace:
    default:
      throw ValueError(fmt::format("argument of type '{}' is not iterable", haystack.type_name()));
  }
}

}  // namespace pagellm::jinja
