#include "chat/jinja_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pagellm::jinja::text {

char32_t next_cp(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto byte = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    char32_t cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | byte(1);
    i += 2;
    return cp;
  }
  if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    char32_t cp = (static_cast<char32_t>(b0 & 0x0F) << 12) | (byte(1) << 6) | byte(2);
    i += 3;
    return cp;
  }
  if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    char32_t cp = (static_cast<char32_t>(b0 & 0x07) << 18) | (byte(1) << 12) | (byte(2) << 6) | byte(3);
    i += 4;
    return cp;
  }
  ++i;
  return b0;
}

std::vector<std::string_view> code_points(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    next_cp(s, i);
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<std::string_view> splitlines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    const char32_t c = next_cp(s, i);
    const bool line_break = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
                            c == 0x2028 || c == 0x2029;
    if (!line_break) continue;
    lines.push_back(s.substr(start, at - start));
    if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
    start = i;
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

bool is_printable(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0)) return false;  // Cc, and NBSP (Zs)
  if (is_space(c)) return false;                           // Zs, Zl, Zp
  // Cf (format) characters that appear in real text: soft hyphen, zero-width and bidi controls, BOM.
  if (c == 0xAD || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
      (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0x600 && c <= 0x605) ||
      c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E || c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F))
    return false;
  if ((c >= 0xD800 && c <= 0xDFFF) || (c >= 0xE000 && c <= 0xF8FF) || c >= 0xF0000) return false;  // Cs, Co
  return true;
}

std::string_view strip(std::string_view s, const std::optional<std::string_view>& chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars)
    for (size_t i = 0; i < chars->size();) set.push_back(next_cp(*chars, i));
  auto strippable = [&](char32_t c) {
    if (!chars) return is_space(c);
    for (char32_t x : set)
      if (x == c) return true;
    return false;
  };
  size_t begin = 0;
  if (left) {
    while (begin < s.size()) {
      size_t i = begin;
      if (!strippable(next_cp(s, i))) break;
      begin = i;
    }
  }
  size_t end = s.size();
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      size_t i = start;
      if (!strippable(next_cp(s, i))) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

namespace {

// str.split; on whitespace, the remainder after maxsplit splits loses its trailing whitespace when strip_rest.
std::vector<std::string> split_impl(std::string_view s, const std::optional<std::string_view>& sep, long maxsplit,
                                    bool strip_rest) {
  std::vector<std::string> out;
  if (sep) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<long>(out.size()) < maxsplit) {
      size_t hit = s.find(*sep, pos);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size()) {
      size_t j = i;
      if (!is_space(next_cp(s, j))) break;
      i = j;
    }
  };
  skip_space();
  while (i < s.size()) {
    if (maxsplit >= 0 && static_cast<long>(out.size()) >= maxsplit) {
      // Python keeps the remainder verbatim except for whitespace stripped on the right.
      out.emplace_back(strip_rest ? strip(s.substr(i), std::nullopt, false, true) : s.substr(i));
      return out;
    }
    size_t start = i;
    size_t end = i;
    while (i < s.size()) {
      size_t j = i;
      if (is_space(next_cp(s, j))) break;
      i = j;
      end = i;
    }
    out.emplace_back(s.substr(start, end - start));
    skip_space();
  }
  return out;
}

std::string reverse_code_points(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const std::vector<std::string_view> cps = code_points(s);
  for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
  return out;
}

}  // namespace

std::vector<std::string> split(std::string_view s, const std::optional<std::string_view>& sep, long maxsplit) {
  return split_impl(s, sep, maxsplit, /*strip_rest=*/true);
}

// rsplit is split of the text read backwards: Python's rsplit keeps the remainder's leading whitespace and drops
// its trailing whitespace, which backwards is split keeping the remainder whole.
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string_view>& sep, long maxsplit) {
  std::optional<std::string> reversed_sep;
  if (sep) reversed_sep = reverse_code_points(*sep);
  std::vector<std::string> parts =
      split_impl(reverse_code_points(s), reversed_sep ? std::optional<std::string_view>(*reversed_sep) : std::nullopt,
                 maxsplit, /*strip_rest=*/false);
  std::vector<std::string> out;
  out.reserve(parts.size());
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out.push_back(reverse_code_points(*it));
  return out;
}

std::string replace(std::string_view s, std::string_view old_sub, std::string_view new_sub, long count) {
  std::string out;
  if (old_sub.empty()) {
    // Python inserts `new` between every code point (and at both ends).
    long done = 0;
    for (size_t i = 0; i <= s.size();) {
      if (count < 0 || done < count) {
        out += new_sub;
        ++done;
      }
      if (i == s.size()) break;
      size_t start = i;
      next_cp(s, i);
      out += s.substr(start, i - start);
    }
    return out;
  }
  size_t pos = 0;
  long done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(old_sub, pos);
    if (hit == std::string_view::npos) break;
    out += s.substr(pos, hit - pos);
    out += new_sub;
    pos = hit + old_sub.size();
    ++done;
  }
  out += s.substr(pos);
  return out;
}

namespace {

// Simple case mapping for ASCII, Latin-1, Greek and Cyrillic: the scripts chat templates meet in role names and
// content. Other scripts pass through unchanged.
char32_t to_upper(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}
char32_t to_lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}
bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

template <typename F>
std::string map_cps(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  size_t index = 0;
  for (size_t i = 0; i < s.size();) append_utf8(out, f(next_cp(s, i), index++));
  return out;
}

}  // namespace

std::string upper(std::string_view s) {
  if (s.find("\xC3\x9F") == std::string_view::npos) return map_cps(s, [](char32_t c, size_t) { return to_upper(c); });
  // German sharp s is the one common letter whose uppercase is two letters (ß -> SS).
  std::string out;
  for (size_t i = 0; i < s.size();) {
    char32_t c = next_cp(s, i);
    if (c == 0xDF)
      out += "SS";
    else
      append_utf8(out, to_upper(c));
  }
  return out;
}
std::string lower(std::string_view s) {
  return map_cps(s, [](char32_t c, size_t) { return to_lower(c); });
}
std::string capitalize(std::string_view s) {
  return map_cps(s, [](char32_t c, size_t i) { return i == 0 ? to_upper(c) : to_lower(c); });
}
bool all_cased(std::string_view s, bool lower) {
  bool cased = false;
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    next_cp(s, pos);
    const std::string_view c(s.data() + start, pos - start);
    const bool has_lower_form = text::lower(c) != c, has_upper_form = text::upper(c) != c;
    if (lower ? has_lower_form : has_upper_form) return false;  // a character of the other case
    cased = cased || (lower ? has_upper_form : has_lower_form);
  }
  return cased;
}

std::string center(std::string_view s, int64_t width, std::string_view fill) {
  const auto len = static_cast<int64_t>(cp_count(s));
  if (width <= len) return std::string(s);
  const int64_t margin = width - len, left = margin / 2 + (margin & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = left; i < margin; ++i) out += fill;
  return out;
}

std::string py_title(std::string_view s) {
  bool prev_cased = false;
  return map_cps(s, [&](char32_t c, size_t) {
    char32_t r = prev_cased ? to_lower(c) : to_upper(c);
    prev_cased = is_cased(c);
    return r;
  });
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  if (exp < -4 || exp >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += ebuf;
  } else if (exp >= 0) {
    size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out += digits;
      out.append(int_len - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, int_len);
      out += '.';
      out += digits.substr(int_len);
    }
  } else {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
  }
  return out;
}

std::string str_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = next_cp(s, i);
    char buf[16];
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (is_printable(c)) {
      out += s.substr(start, i - start);
    } else {
      if (c < 0x100)
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      else if (c < 0x10000)
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      else
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += quote;
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t run = 0;  // copy unescaped runs in bulk: content strings can be megabytes
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\b':
        esc = "\\b";
        break;
      case '\f':
        esc = "\\f";
        break;
      default:
        break;
    }
    if (!esc && c >= 0x20) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (esc) {
      out += esc;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

}  // namespace pagellm::jinja::text
