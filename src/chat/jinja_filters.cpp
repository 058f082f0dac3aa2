#include "chat/jinja_filters.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "chat/jinja_format.h"
#include "chat/jinja_object.h"
#include "chat/jinja_tests.h"
#include "chat/jinja_text.h"

namespace pagellm::jinja {
namespace {

using FilterFn = Value (*)(const Value&, const CallArgs&);

// Jinja's soft_str: the Python str() of anything, "" for Undefined.
std::string str_of(const Value& v) { return v.to_str(); }

bool bool_arg(const CallArgs& a, size_t i, std::string_view name, bool dflt) {
  const Value* v = a.get(i, name);
  return v ? v->truthy() : dflt;
}

const Value* opt_arg(const CallArgs& a, size_t i, std::string_view name) {
  const Value* v = a.get(i, name);
  return v && !v->is_none() ? v : nullptr;
}

std::string str_arg(const CallArgs& a, size_t i, std::string_view name, const char* filter) {
  const Value* v = a.get(i, name);
  if (!v) throw ValueError(fmt::format("filter '{}' is missing argument '{}'", filter, name));
  return str_of(*v);
}

// Key used by sort/unique/min/max/dictsort: optionally an attribute, lowercased unless case_sensitive.
Value sort_key(const Value& item, const Value* attribute, bool case_sensitive) {
  Value k = attribute ? get_attr_path(item, attribute->to_str()) : item;
  if (!case_sensitive && k.is_string()) return Value::string(text::lower(k.str()));
  return k;
}

// Rest of the positional arguments, starting at `from`, for select/map.
CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs out;
  for (size_t i = from; i < a.positional.size(); ++i) out.positional.push_back(a.positional[i]);
  out.keyword = a.keyword;
  return out;
}

Value select_impl(const Value& seq, const CallArgs& a, bool by_attr, bool keep) {
  ValueList out;
  if (!seq.truthy()) return Value::list({});  // Jinja yields nothing for a falsy input (None included)
  std::string attr;
  size_t test_at = 0;
  if (by_attr) {
    attr = str_arg(a, 0, "attr", "selectattr");
    test_at = 1;
  }
  const Value* test = test_at < a.positional.size() ? &a.positional[test_at] : nullptr;
  CallArgs test_args = rest_args(a, test_at + 1);
  for (const Value& item : iterate(seq)) {
    Value subject = by_attr ? get_attr_path(item, attr) : item;
    bool ok = test ? apply_test(test->to_str(), subject, test_args) : subject.truthy();
    if (ok == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value do_map(const Value& seq, const CallArgs& a) {
  ValueList out;
  if (!seq.truthy()) return Value::list({});
  bool by_attr = false;
  for (const auto& [k, v] : a.keyword) by_attr = by_attr || k == "attribute";
  if (by_attr && a.positional.empty()) {
    std::string attr = a.get(99, "attribute")->to_str();
    const Value* dflt = a.get(99, "default");
    for (const Value& item : iterate(seq)) {
      Value v = get_attr_path(item, attr);
      out.push_back(v.is_undefined() && dflt ? *dflt : v);
    }
    return Value::list(std::move(out));
  }
  if (a.positional.empty()) throw ValueError("map() needs a filter name or attribute=");
  std::string filter = a.positional[0].to_str();
  CallArgs fargs = rest_args(a, 1);
  for (const Value& item : iterate(seq)) out.push_back(apply_filter(filter, item, fargs));
  return Value::list(std::move(out));
}

Value do_join(const Value& seq, const CallArgs& a) {
  a.check("join", 2, {"d", "attribute"});
  std::string sep = a.get(0, "d") ? str_of(*a.get(0, "d")) : "";
  const Value* attr = opt_arg(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(seq)) {
    if (!first) out += sep;
    first = false;
    (attr ? get_attr_path(item, attr->to_str()) : item).append_str(out);
  }
  return Value::string(std::move(out));
}

Value do_tojson(const Value& v, const CallArgs& a) {
  a.check("tojson", 1, {"indent", "ensure_ascii", "sort_keys", "separators"});
  if (bool_arg(a, 99, "ensure_ascii", false)) throw ValueError("tojson(ensure_ascii=true) is not supported");
  JsonStyle style;
  if (const Value* i = opt_arg(a, 0, "indent"); i && !i->is_none()) {
    if (!i->is_int()) throw ValueError("tojson indent must be an integer");
    style.indent = static_cast<int>(std::max<int64_t>(0, i->as_int()));
    style.item_separator = ",";
  }
  style.sort_keys = bool_arg(a, 99, "sort_keys", false);
  if (const Value* s = opt_arg(a, 99, "separators"); s && !s->is_none()) {
    if (!s->is_list() || s->list_size() != 2 || !s->list_at(0).is_string() || !s->list_at(1).is_string())
      throw ValueError("tojson separators must be an (item_separator, key_separator) pair of strings");
    style.item_separator = std::string(s->list_at(0).str());
    style.key_separator = std::string(s->list_at(1).str());
  }
  if (v.is_undefined()) throw ValueError("Object of type Undefined is not JSON serializable");
  std::string out;
  v.append_json(out, style);
  return Value::string(std::move(out));
}

Value do_default(const Value& v, const CallArgs& a) {
  a.check("default", 2, {"default_value", "boolean"});
  const Value* d = a.get(0, "default_value");
  bool boolean = bool_arg(a, 1, "boolean", false);
  if (v.is_undefined() || (boolean && !v.truthy())) return d ? *d : Value::string("");
  return v;
}

Value do_int(const Value& v, const CallArgs& a) {
  a.check("int", 2, {"default", "base"});
  const Value* d = a.get(0, "default");
  Value dflt = d ? *d : Value::integer(0);
  int base = a.get(1, "base") ? static_cast<int>(a.get(1, "base")->as_int()) : 10;
  if (v.is_undefined())
    throw ValueError(v.undefined_hint().empty() ? "value is undefined" : std::string(v.undefined_hint()));
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) return std::isfinite(v.as_double()) ? Value::integer(static_cast<int64_t>(v.as_double())) : dflt;
  if (v.is_string()) {
    std::string s(text::strip(v.str(), std::nullopt, true, true));
    std::string digits;
    for (char c : s)
      if (c != '_') digits += c;
    try {
      size_t used = 0;
      long long x = std::stoll(digits, &used, base);
      if (used == digits.size()) return Value::integer(x);
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      double x = std::stod(s, &used);
      if (used == s.size() && std::isfinite(x)) return Value::integer(static_cast<int64_t>(x));
    } catch (const std::exception&) {
    }
  }
  return dflt;
}

Value do_float(const Value& v, const CallArgs& a) {
  a.check("float", 1, {"default"});
  const Value* d = a.get(0, "default");
  Value dflt = d ? *d : Value::floating(0.0);
  if (v.is_undefined())
    throw ValueError(v.undefined_hint().empty() ? "value is undefined" : std::string(v.undefined_hint()));
  if (v.is_number()) return Value::floating(v.as_double());
  if (v.is_string()) {
    std::string s(text::strip(v.str(), std::nullopt, true, true));
    try {
      size_t used = 0;
      double x = std::stod(s, &used);
      if (used == s.size()) return Value::floating(x);
    } catch (const std::exception&) {
    }
  }
  return dflt;
}

Value do_items(const Value& v, const CallArgs& a) {
  a.check("items", 0, {});
  if (v.is_undefined()) return Value::list({});
  if (!v.is_dict()) throw ValueError(fmt::format("items filter needs a mapping, got {}", v.type_name()));
  ValueList out;
  for (size_t i = 0; i < v.dict_size(); ++i) out.push_back(Value::list({v.dict_key_value(i), v.dict_value(i)}, true));
  return Value::list(std::move(out));
}

Value do_first(const Value& v, const CallArgs&) {
  if (v.is_list()) return v.list_size() ? v.list_at(0) : Value::undefined("No first item, sequence was empty.");
  ValueList items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value do_last(const Value& v, const CallArgs&) {
  if (v.is_list())
    return v.list_size() ? v.list_at(v.list_size() - 1) : Value::undefined("No last item, sequence was empty.");
  ValueList items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value do_unique(const Value& v, const CallArgs& a) {
  a.check("unique", 2, {"case_sensitive", "attribute"});
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  const Value* attr = opt_arg(a, 1, "attribute");
  ValueList out, seen;
  for (const Value& item : iterate(v)) {
    Value key = sort_key(item, attr, cs);
    bool dup = false;
    for (const Value& s : seen) dup = dup || values_equal(s, key);
    if (dup) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value do_sort(const Value& v, const CallArgs& a) {
  a.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
  bool reverse = bool_arg(a, 0, "reverse", false);
  bool cs = bool_arg(a, 1, "case_sensitive", false);
  const Value* attr = opt_arg(a, 2, "attribute");
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : iterate(v)) keyed.emplace_back(sort_key(item, attr, cs), item);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    int c = compare_values(x.first, y.first);
    return reverse ? c > 0 : c < 0;
  });
  ValueList out;
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return Value::list(std::move(out));
}

Value do_dictsort(const Value& v, const CallArgs& a) {
  a.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw ValueError("dictsort needs a mapping");
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  std::string by = a.get(1, "by") ? a.get(1, "by")->to_str() : "key";
  bool reverse = bool_arg(a, 2, "reverse", false);
  if (by != "key" && by != "value") throw ValueError("You can only sort by either \"key\" or \"value\"");
  ValueList pairs;
  for (size_t i = 0; i < v.dict_size(); ++i) pairs.push_back(Value::list({v.dict_key_value(i), v.dict_value(i)}, true));
  const size_t pos = by == "key" ? 0 : 1;
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    int c = compare_values(sort_key(x.list_at(pos), nullptr, cs), sort_key(y.list_at(pos), nullptr, cs));
    return reverse ? c > 0 : c < 0;
  });
  return Value::list(std::move(pairs));
}

Value min_max(const Value& v, const CallArgs& a, bool want_max) {
  a.check(want_max ? "max" : "min", 2, {"case_sensitive", "attribute"});
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  const Value* attr = opt_arg(a, 1, "attribute");
  ValueList items = iterate(v);
  if (items.empty()) return Value::undefined(fmt::format("No aggregated item, sequence was empty."));
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    int c = compare_values(sort_key(items[i], attr, cs), sort_key(items[best], attr, cs));
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}

Value add_numbers(const Value& x, const Value& y) {
  if (x.is_list() && y.is_list() && x.is_tuple() == y.is_tuple()) {  // sum(lists, start=[]) concatenates
    ValueList out = iterate(x);
    for (size_t i = 0; i < y.list_size(); ++i) out.push_back(y.list_at(i));
    return Value::list(std::move(out), x.is_tuple());
  }
  if (!x.is_number() || !y.is_number())
    throw ValueError(fmt::format("unsupported operand type(s) for +: '{}' and '{}'", x.type_name(), y.type_name()));
  if (x.is_float() || y.is_float()) return Value::floating(x.as_double() + y.as_double());
  return Value::integer(x.as_int() + y.as_int());
}

Value do_sum(const Value& v, const CallArgs& a) {
  a.check("sum", 2, {"attribute", "start"});
  const Value* attr = opt_arg(a, 0, "attribute");
  Value total = a.get(1, "start") ? *a.get(1, "start") : Value::integer(0);
  for (const Value& item : iterate(v)) total = add_numbers(total, attr ? get_attr_path(item, attr->to_str()) : item);
  return total;
}

Value do_round(const Value& v, const CallArgs& a) {
  a.check("round", 2, {"precision", "method"});
  int precision = a.get(0, "precision") ? static_cast<int>(a.get(0, "precision")->as_int()) : 0;
  std::string method = a.get(1, "method") ? a.get(1, "method")->to_str() : "common";
  if (!v.is_number()) throw ValueError(fmt::format("type {} doesn't define __round__ method", v.type_name()));
  if (method == "common" && !v.is_float() && precision >= 0) return Value::integer(v.as_int());
  const double scale = std::pow(10.0, precision);
  double x = v.as_double() * scale;
  if (method == "common")
    x = std::nearbyint(x);  // round-half-even, like Python's round()
  else if (method == "ceil")
    x = std::ceil(x);
  else if (method == "floor")
    x = std::floor(x);
  else
    throw ValueError("method must be common, ceil or floor");
  return Value::floating(x / scale);
}

// Jinja2's format filter: `value % args` (or % kwargs as a mapping), Python's printf-style formatting.
Value do_format(const Value& v, const CallArgs& a) {
  if (!a.positional.empty() && !a.keyword.empty())
    throw ValueError("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.keyword.empty()) {
    Entries entries;
    for (const auto& [k, val] : a.keyword) entries.emplace_back(std::string(k), val);
    args = Value::dict(std::move(entries));
  } else {
    args = Value::list(ValueList(a.positional.begin(), a.positional.end()), /*tuple=*/true);
  }
  return Value::string(percent_format(str_of(v), args));
}

Value do_indent(const Value& v, const CallArgs& a) {
  a.check("indent", 3, {"width", "first", "blank"});
  std::string pad;
  if (const Value* w = a.get(0, "width"))
    pad = w->is_string() ? std::string(w->str())
                         : std::string(static_cast<size_t>(std::max<int64_t>(0, w->as_int())), ' ');
  else
    pad = "    ";
  bool first = bool_arg(a, 1, "first", false);
  bool blank = bool_arg(a, 2, "blank", false);
  if (!v.is_string())
    throw ValueError(fmt::format("unsupported operand type(s) for +=: '{}' and 'str'", v.type_name()));
  // Jinja2's do_indent: a newline appended first (its "quirk necessary for splitlines"), so text
  // ending in a line break keeps it; blank pads empty lines too.
  const std::string s = str_of(v) + "\n";
  const std::vector<std::string_view> lines = text::splitlines(s);
  std::string out(lines.empty() ? std::string_view() : lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    out += '\n';
    if (blank || !lines[i].empty()) out += pad;
    out += lines[i];
  }
  if (first) out = pad + out;
  return Value::string(std::move(out));
}

Value do_escape(const Value& v, const CallArgs&) {
  if (v.is_markup()) return v;
  return Value::markup(text::html_escape(str_of(v)));
}

Value do_title(const Value& v, const CallArgs&) {
  // Jinja's title filter starts words after whitespace and -({[<, unlike str.title().
  std::string s = str_of(v), out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = text::next_cp(s, i);
    std::string_view cp(s.data() + start, i - start);
    bool sep = text::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    out += word_start && !sep ? text::upper(cp) : (sep ? std::string(cp) : text::lower(cp));
    word_start = sep;
  }
  return Value::string(std::move(out));
}

Value do_batch(const Value& v, const CallArgs& a) {
  a.check("batch", 2, {"linecount", "fill_with"});
  const Value* n = a.get(0, "linecount");
  if (!n || n->as_int() <= 0) throw ValueError("batch needs a positive linecount");
  const Value* fill = opt_arg(a, 1, "fill_with");
  ValueList out, cur;
  for (const Value& item : iterate(v)) {
    cur.push_back(item);
    if (static_cast<int64_t>(cur.size()) == n->as_int()) {
      out.push_back(Value::list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    while (fill && static_cast<int64_t>(cur.size()) < n->as_int()) cur.push_back(*fill);
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::list(std::move(out));
}

// Jinja2's groupby: sorted by the attribute (lowercased unless case_sensitive), runs of equal keys become
// (grouper, list) pairs whose grouper is the first item's own value.
Value do_groupby(const Value& v, const CallArgs& a) {
  a.check("groupby", 3, {"attribute", "default", "case_sensitive"});
  const std::string attribute = str_arg(a, 0, "attribute", "groupby");
  const Value* dflt = opt_arg(a, 1, "default");
  const bool case_sensitive = bool_arg(a, 2, "case_sensitive", false);
  auto key_of = [&](const Value& item) {
    Value k = get_attr_path(item, attribute);
    if (!k.is_undefined()) return k;
    if (!dflt) throw ValueError(std::string(k.undefined_hint()));  // Jinja2 fails comparing it
    return *dflt;
  };
  auto compare_key = [&](const Value& item) {
    Value k = key_of(item);
    return !case_sensitive && k.is_string() ? Value::string(text::lower(k.str())) : k;
  };
  ValueList items = iterate(v);
  std::vector<std::pair<Value, size_t>> keyed;
  keyed.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) keyed.emplace_back(compare_key(items[i]), i);
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& x, const auto& y) { return compare_values(x.first, y.first) < 0; });
  ValueList out;
  for (size_t i = 0; i < keyed.size();) {
    ValueList group;
    size_t j = i;
    for (; j < keyed.size() && values_equal(keyed[j].first, keyed[i].first); ++j)
      group.push_back(items[keyed[j].second]);
    Value grouper = key_of(group.front());
    out.push_back(Value::group_tuple(std::move(grouper), std::move(group)));
    i = j;
  }
  return Value::list(std::move(out));
}

// Jinja2's slice: `slices` columns, the first (length % slices) one item longer; fill_with pads the others.
Value do_slice(const Value& v, const CallArgs& a) {
  a.check("slice", 2, {"slices", "fill_with"});
  const Value* n = a.get(0, "slices");
  if (!n || !(n->is_int() || n->is_bool())) throw ValueError("slice needs an integer number of slices");
  const int64_t slices = n->as_int();
  const Value* fill = opt_arg(a, 1, "fill_with");
  const ValueList seq = iterate(v);
  if (slices <= 0) {
    if (!seq.empty()) throw ValueError("integer division or modulo by zero");
    return Value::list({});
  }
  const auto length = static_cast<int64_t>(seq.size());
  const int64_t per_slice = length / slices, with_extra = length % slices;
  ValueList out;
  int64_t offset = 0;
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t start = offset + s * per_slice;
    if (s < with_extra) ++offset;
    const int64_t end = offset + (s + 1) * per_slice;
    ValueList column(seq.begin() + start, seq.begin() + end);
    if (fill && s >= with_extra) column.push_back(*fill);
    out.push_back(Value::list(std::move(column)));
  }
  return Value::list(std::move(out));
}

Value do_list(const Value& v, const CallArgs&) {
  if (!v.is_undefined() && !v.is_list() && !v.is_dict() && !v.is_string())
    throw ValueError(fmt::format("'{}' object is not iterable", v.type_name()));
  return Value::list(iterate(v));
}

Value do_reverse(const Value& v, const CallArgs&) {
  if (v.is_string()) {
    auto cps = text::code_points(v.str());
    std::string out;
    for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
    return Value::string(std::move(out));
  }
  ValueList items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value do_replace(const Value& v, const CallArgs& a) {
  a.check("replace", 3, {"old", "new", "count"});
  const Value* count = opt_arg(a, 2, "count");
  return Value::string(text::replace(str_of(v), str_arg(a, 0, "old", "replace"), str_arg(a, 1, "new", "replace"),
                                     count ? static_cast<long>(count->as_int()) : -1));
}

Value do_trim(const Value& v, const CallArgs& a) {
  a.check("trim", 1, {"chars"});
  std::string s = str_of(v);
  std::optional<std::string_view> chars;
  std::string chars_storage;
  if (const Value* c = opt_arg(a, 0, "chars")) {
    chars_storage = str_of(*c);
    chars = chars_storage;
  }
  Value out = Value::string(std::string(text::strip(s, chars, true, true)));
  return v.is_markup() ? out.as_markup() : out;
}

Value do_abs(const Value& v, const CallArgs&) {
  if (v.is_float()) return Value::floating(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) throw ValueError("integer overflow: the result does not fit in 64 bits");
    return Value::integer(std::llabs(v.as_int()));
  }
  throw ValueError(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

int64_t int_arg(const CallArgs& a, size_t i, std::string_view name, int64_t dflt, const char* filter) {
  const Value* v = opt_arg(a, i, name);
  if (!v) return dflt;
  if (!v->is_int() && !v->is_bool()) throw ValueError(fmt::format("{}: '{}' must be an integer", filter, name));
  return v->as_int();
}

// The first `n` code points of s.
std::string_view cp_prefix(std::string_view s, int64_t n) {
  size_t pos = 0;
  for (int64_t k = 0; k < n && pos < s.size(); ++k) text::next_cp(s, pos);
  return s.substr(0, pos);
}

Value do_center(const Value& v, const CallArgs& a) {
  a.check("center", 1, {"width"});
  return Value::string(text::center(str_of(v), int_arg(a, 0, "width", 80, "center")));
}

// Jinja2's truncate (leeway defaulting to its policy's 5): cut to `length` with `end`, at a space
// unless killwords.
Value do_truncate(const Value& v, const CallArgs& a) {
  a.check("truncate", 4, {"length", "killwords", "end", "leeway"});
  if (!v.is_string() && !v.is_undefined() && !v.is_list() && !v.is_dict())  // Jinja2 takes len() of it as it is
    throw ValueError(fmt::format("object of type '{}' has no len()", v.type_name()));
  const std::string s = str_of(v);
  const int64_t length = int_arg(a, 0, "length", 255, "truncate");
  const bool killwords = bool_arg(a, 1, "killwords", false);
  const std::string end = opt_arg(a, 2, "end") ? str_of(*opt_arg(a, 2, "end")) : "...";
  const int64_t leeway = int_arg(a, 3, "leeway", 5, "truncate");
  const auto end_len = static_cast<int64_t>(text::cp_count(end));
  if (length < end_len) throw ValueError(fmt::format("expected length >= {}, got {}", end_len, length));
  if (leeway < 0) throw ValueError(fmt::format("expected leeway >= 0, got {}", leeway));
  if (v.is_list() || v.is_dict()) {
    if (static_cast<int64_t>(v.is_list() ? v.list_size() : v.dict_size()) <= length + leeway) return v;
    throw ValueError(fmt::format("truncate of a {} longer than length + leeway", v.type_name()));
  }
  if (static_cast<int64_t>(text::cp_count(s)) <= length + leeway) return Value::string(s);
  std::string_view kept = cp_prefix(s, length - end_len);
  if (!killwords) {
    const size_t space = kept.rfind(' ');
    if (space != std::string_view::npos) kept = kept.substr(0, space);
  }
  return Value::string(std::string(kept) + end);
}

Value do_wordcount(const Value& v, const CallArgs&) {
  // Jinja counts runs of \w (letters, digits, underscore).
  std::string s = str_of(v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    char32_t c = text::next_cp(s, i);
    bool w = (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '_' ||
             (c >= 0xAA && !text::is_space(c) && text::is_printable(c));
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value::integer(words);
}

const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"trim", do_trim},
      {"upper", [](const Value& v, const CallArgs&) { return Value::string(text::upper(str_of(v))); }},
      {"lower", [](const Value& v, const CallArgs&) { return Value::string(text::lower(str_of(v))); }},
      {"capitalize", [](const Value& v, const CallArgs&) { return Value::string(text::capitalize(str_of(v))); }},
      {"title", do_title},
      {"length", [](const Value& v, const CallArgs&) { return Value::integer(static_cast<int64_t>(length_of(v))); }},
      {"count", [](const Value& v, const CallArgs&) { return Value::integer(static_cast<int64_t>(length_of(v))); }},
      {"first", do_first},
      {"last", do_last},
      {"join", do_join},
      {"tojson", do_tojson},
      {"string", [](const Value& v, const CallArgs&) { return v.is_string() ? v : Value::string(str_of(v)); }},
      {"int", do_int},
      {"float", do_float},
      {"default", do_default},
      {"d", do_default},
      {"selectattr", [](const Value& v, const CallArgs& a) { return select_impl(v, a, true, true); }},
      {"rejectattr", [](const Value& v, const CallArgs& a) { return select_impl(v, a, true, false); }},
      {"select", [](const Value& v, const CallArgs& a) { return select_impl(v, a, false, true); }},
      {"reject", [](const Value& v, const CallArgs& a) { return select_impl(v, a, false, false); }},
      {"map", do_map},
      {"items", do_items},
      {"safe",
       [](const Value& v, const CallArgs&) { return v.is_string() ? v.as_markup() : Value::markup(str_of(v)); }},
      {"replace", do_replace},
      {"list", do_list},
      {"unique", do_unique},
      {"dictsort", do_dictsort},
      {"abs", do_abs},
      {"round", do_round},
      {"sum", do_sum},
      {"min", [](const Value& v, const CallArgs& a) { return min_max(v, a, false); }},
      {"max", [](const Value& v, const CallArgs& a) { return min_max(v, a, true); }},
      {"sort", do_sort},
      {"reverse", do_reverse},
      {"indent", do_indent},
      {"format", do_format},
      {"center", do_center},
      {"truncate", do_truncate},
      {"escape", do_escape},
      {"e", do_escape},
      {"batch", do_batch},
      {"groupby", do_groupby},
      {"slice", do_slice},
      {"wordcount", do_wordcount},
      {"attr", [](const Value& v, const CallArgs& a) { return get_attr_only(v, str_arg(a, 0, "name", "attr")); }},
  };
  return table;
}

}  // namespace

bool has_filter(std::string_view name) { return filters().count(name) != 0; }

Value apply_filter(std::string_view name, const Value& subject, const CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw ValueError(fmt::format("unknown filter '{}'", name));
  return it->second(subject, args);
}

}  // namespace pagellm::jinja
