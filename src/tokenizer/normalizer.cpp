#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace pagellm::tok {
namespace {

bool is_ascii(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& text, bool& /*start_moved*/) const override {
    if (is_ascii(text)) return;  // every form leaves ASCII unchanged
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                          static_cast<utf8proc_ssize_t>(text.size()), &out, static_cast<utf8proc_option_t>(options_));
    if (n < 0) return;  // input is sanitized UTF-8 before this point; keep it unchanged if not
    text.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    std::free(out);
  }

 private:
  int options_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text, bool& /*start_moved*/) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      char32_t cp = next_code_point(text, i);
      // Rust's char::to_lowercase uses the full mapping; U+0130 is the one character whose
      // lowercase is two code points ("i" + combining dot above).
      if (cp == 0x130) {
        out += "i\xCC\x87";
        continue;
      }
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
    }
    text.swap(out);
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text, bool& start_moved) const override {
    size_t b = 0, e = text.size();
    if (left_) {
      while (b < e) {
        size_t i = b;
        if (!is_whitespace(next_code_point(text, i))) break;
        b = i;
      }
    }
    if (right_) {
      while (e > b) {
        size_t s = e - 1;
        while (s > b && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
        size_t i = s;
        if (!is_whitespace(next_code_point(text, i))) break;
        e = s;
      }
    }
    if (b > 0) start_moved = true;
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(std::string& text, bool& start_moved) const override {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      char32_t cp = next_code_point(text, i);
      if (utf8proc_category(static_cast<utf8proc_int32_t>(cp)) != UTF8PROC_CATEGORY_MN)
        append_utf8(out, cp);
      else if (out.empty())
        start_moved = true;
    }
    text.swap(out);
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& text, bool& /*start_moved*/) const override {
    if (!text.empty()) text.insert(0, prepend_);  // HF prepends only to non-empty strings
  }

 private:
  std::string prepend_;
};

class Replace : public Normalizer {
 public:
  Replace(const Json& pattern, std::string content) : content_(std::move(content)) {
    if (pattern.contains("String")) {
      literal_ = pattern["String"].get<std::string>();
    } else if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else {
      fail(ErrorCode::kInvalidModel, "tokenizer.json: normalizer Replace.pattern needs String or Regex");
    }
  }
  void normalize(std::string& text, bool& start_moved) const override {
    std::vector<std::pair<size_t, size_t>> m;
    if (regex_) {
      regex_->find_all(text, m);
    } else if (!literal_.empty()) {
      for (size_t p = text.find(literal_); p != std::string::npos; p = text.find(literal_, p + literal_.size()))
        m.emplace_back(p, p + literal_.size());
    }
    if (m.empty()) return;
    if (m.front().first == 0 && content_.empty()) start_moved = true;
    std::string out;
    size_t last = 0;
    for (auto [b, e] : m) {
      out.append(text, last, b - last);
      out += content_;
      last = e;
    }
    out.append(text, last);
    text.swap(out);
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& text, bool& start_moved) const override {
    for (const auto& n : items_) n->normalize(text, start_moved);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_unicode_normalizer(const std::string& form) {
  int o = UTF8PROC_STABLE;
  if (form == "NFC")
    o |= UTF8PROC_COMPOSE;
  else if (form == "NFD")
    o |= UTF8PROC_DECOMPOSE;
  else if (form == "NFKC")
    o |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  else if (form == "NFKD")
    o |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  else
    fail(ErrorCode::kUnsupported, "tokenizer.json: normalizer type '{}' is not supported", form);
  return std::make_unique<UnicodeNormalizer>(o);
}

std::unique_ptr<Normalizer> make_normalizer(const Json& j) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type"))
    fail(ErrorCode::kInvalidModel, "tokenizer.json: normalizer needs a 'type'");
  const std::string type = j["type"].get<std::string>();
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return make_unicode_normalizer(type);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (type == "Replace") return std::make_unique<Replace>(j.at("pattern"), j.at("content").get<std::string>());
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> items;
    for (const auto& n : j.at("normalizers"))
      if (auto p = make_normalizer(n)) items.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(items));
  }
  fail(ErrorCode::kUnsupported, "tokenizer.json: normalizer type '{}' is not supported", type);
}

}  // namespace pagellm::tok
