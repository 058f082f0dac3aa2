#include "chat/jinja_format.h"

#include <fmt/format.h>

#include <cmath>

#include "chat/jinja_object.h"
#include "chat/jinja_text.h"

namespace pagellm::jinja {
namespace {

struct Spec {
  char fill = ' ';
  char align = '\0';  // '<', '>', '^', '=' or none
  char sign = '-';
  bool zero = false;
  size_t width = 0;
  int precision = -1;
  char type = '\0';
};

std::string pad(std::string body, const Spec& s, bool numeric) {
  const size_t len = text::cp_count(body);
  if (len >= s.width) return body;
  const size_t n = s.width - len;
  char align = s.align ? s.align : (numeric ? '>' : '<');
  char fill = s.fill;
  if (s.zero && !s.align && numeric) {
    // zero padding goes after the sign
    size_t sign_len = !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
    return body.substr(0, sign_len) + std::string(n, '0') + body.substr(sign_len);
  }
  if (align == '<') return body + std::string(n, fill);
  if (align == '^') return std::string(n / 2, fill) + body + std::string(n - n / 2, fill);
  return std::string(n, fill) + body;
}

std::string format_number(const Value& v, const Spec& s, char type) {
  if (!v.is_number()) throw ValueError(fmt::format("format requires a number for '{}', not {}", type, v.type_name()));
  std::string body;
  switch (type) {
    case 'd':
    case 'i':
    case 'u':
      body = std::to_string(v.is_float() ? static_cast<int64_t>(v.as_double()) : v.as_int());
      break;
    case 'x':
    case 'X':
    case 'o': {
      if (v.is_float()) throw ValueError("%x format: an integer is required, not float");
      int64_t x = v.as_int();
      body = fmt::format(fmt::runtime(type == 'x' ? "{:x}" : type == 'X' ? "{:X}" : "{:o}"), x < 0 ? -x : x);
      if (x < 0) body = "-" + body;
      break;
    }
    case 'f':
    case 'F':
      body = fmt::format("{:.{}f}", v.as_double(), s.precision < 0 ? 6 : s.precision);
      break;
    case 'e':
    case 'E':
      body = fmt::format(fmt::runtime(type == 'e' ? "{:.{}e}" : "{:.{}E}"), v.as_double(),
                         s.precision < 0 ? 6 : s.precision);
      break;
    case '%':
      body = fmt::format("{:.{}f}%", v.as_double() * 100, s.precision < 0 ? 6 : s.precision);
      break;
    default:
      throw ValueError(fmt::format("unsupported format character '{}'", type));
  }
  if (body[0] != '-' && s.sign != '-') body = std::string(1, s.sign) + body;
  return pad(body, s, true);
}

std::string format_value(const Value& v, const Spec& s) {
  char type = s.type;
  if (type == '\0') {
    if (s.precision >= 0 && v.is_float())
      type = 'g';
    else if (v.is_number() && !v.is_bool() && (s.sign != '-' || s.zero))
      type = v.is_float() ? 'g' : 'd';
  }
  if (type == 'g') {
    Spec t = s;
    std::string body =
        s.precision >= 0 ? fmt::format("{:.{}g}", v.as_double(), s.precision) : text::float_repr(v.as_double());
    if (body[0] != '-' && s.sign != '-') body = std::string(1, s.sign) + body;
    return pad(body, t, true);
  }
  if (type == '\0' || type == 's') {
    std::string body = v.to_str();
    if (s.precision >= 0) {
      auto cps = text::code_points(body);
      if (cps.size() > static_cast<size_t>(s.precision)) {
        std::string cut;
        for (int i = 0; i < s.precision; ++i) cut += cps[static_cast<size_t>(i)];
        body = cut;
      }
    }
    return pad(body, s, v.is_number() && !v.is_bool());
  }
  return format_number(v, s, type);
}

// Parses `[[fill]align][sign][0][width][.precision][type]` (str.format mini-language).
Spec parse_brace_spec(std::string_view spec) {
  Spec s;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (spec.size() >= 2 && is_align(spec[1])) {
    s.fill = spec[0];
    s.align = spec[1];
    i = 2;
  } else if (!spec.empty() && is_align(spec[0])) {
    s.align = spec[0];
    i = 1;
  }
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) s.sign = spec[i++];
  if (i < spec.size() && spec[i] == '0') {
    s.zero = true;
    ++i;
  }
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9')
    s.width = s.width * 10 + static_cast<size_t>(spec[i++] - '0');
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    s.precision = 0;
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') s.precision = s.precision * 10 + (spec[i++] - '0');
  }
  if (i < spec.size()) s.type = spec[i++];
  if (i != spec.size()) throw ValueError(fmt::format("invalid format specifier '{}'", spec));
  return s;
}

}  // namespace

std::string percent_format(std::string_view f, const Value& args) {
  std::string out;
  size_t next_arg = 0;
  const bool is_tuple = args.is_tuple();
  bool used_single = false;
  auto take = [&]() -> Value {
    if (is_tuple) {
      if (next_arg >= args.list_size()) throw ValueError("not enough arguments for format string");
      return args.list_at(next_arg++);
    }
    if (used_single) throw ValueError("not enough arguments for format string");
    used_single = true;
    return args;
  };
  bool used_mapping = false;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (++i >= f.size()) throw ValueError("incomplete format");
    if (f[i] == '%') {
      out += '%';
      continue;
    }
    std::optional<Value> mapped;
    if (f[i] == '(') {
      size_t close = f.find(')', i);
      if (close == std::string_view::npos) throw ValueError("incomplete format key");
      if (!args.is_dict()) throw ValueError("format requires a mapping");
      mapped = get_item(args, Value::string(std::string(f.substr(i + 1, close - i - 1))));
      if (mapped->is_undefined()) throw ValueError(fmt::format("KeyError: '{}'", f.substr(i + 1, close - i - 1)));
      used_mapping = true;
      i = close + 1;
    }
    Spec s;
    for (; i < f.size() && std::string_view("-+ 0#").find(f[i]) != std::string_view::npos; ++i) {
      if (f[i] == '-') s.align = '<';
      if (f[i] == '+' || f[i] == ' ') s.sign = f[i];
      if (f[i] == '0') s.zero = true;
    }
    for (; i < f.size() && f[i] >= '0' && f[i] <= '9'; ++i) s.width = s.width * 10 + static_cast<size_t>(f[i] - '0');
    if (i < f.size() && f[i] == '.') {
      s.precision = 0;
      for (++i; i < f.size() && f[i] >= '0' && f[i] <= '9'; ++i) s.precision = s.precision * 10 + (f[i] - '0');
    }
    if (i >= f.size()) throw ValueError("incomplete format");
    if (s.align == '<') s.zero = false;
    const char type = f[i];
    Value v = mapped ? *mapped : take();
    if (type == 's') {
      s.type = 's';
      s.zero = false;
      out += format_value(v, s);
    } else if (type == 'r') {
      std::string r;
      v.append_repr(r);
      s.zero = false;
      out += pad(r, s, false);
    } else {
      out += format_number(v, s, type);
    }
  }
  if (is_tuple && next_arg != args.list_size())
    throw ValueError("not all arguments converted during string formatting");
  // Like Python, a non-tuple argument that supports indexing (list, dict) may go unused.
  if (!is_tuple && !used_single && !used_mapping && !args.is_dict() && !args.is_list())
    throw ValueError("not all arguments converted during string formatting");
  return out;
}

std::string brace_format(std::string_view f, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      throw ValueError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = f.find('}', i);
    if (close == std::string_view::npos) throw ValueError("Single '{' encountered in format string");
    std::string_view field = f.substr(i + 1, close - i - 1);
    i = close;
    std::string_view spec, conv;
    if (size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string_view::npos) {
      conv = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    Value v;
    if (field.empty()) {
      if (auto_index >= args.positional.size())
        throw ValueError(fmt::format("Replacement index {} out of range for positional args tuple", auto_index));
      v = args.positional[auto_index++];
    } else if (field[0] >= '0' && field[0] <= '9') {
      size_t idx = static_cast<size_t>(std::stoul(std::string(field)));
      if (idx >= args.positional.size())
        throw ValueError(fmt::format("Replacement index {} out of range for positional args tuple", idx));
      v = args.positional[idx];
    } else {
      const Value* kw = nullptr;
      for (const auto& [k, val] : args.keyword)
        if (k == field) kw = &val;
      if (!kw) throw ValueError(fmt::format("KeyError: '{}'", field));
      v = *kw;
    }
    if (conv == "r") {
      std::string r;
      v.append_repr(r);
      v = Value::string(std::move(r));
    } else if (conv == "s") {
      v = Value::string(v.to_str());
    } else if (!conv.empty()) {
      throw ValueError(fmt::format("Unknown conversion specifier {}", conv));
    }
    out += format_value(v, parse_brace_spec(spec));
  }
  return out;
}

}  // namespace pagellm::jinja
