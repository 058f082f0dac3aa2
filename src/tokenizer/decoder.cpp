#include "tokenizer/decoder.h"

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace pagellm::tok {
namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  size_t last = 0;
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + from.size())) {
    out.append(s, last, p - last);
    out += to;
    last = p + from.size();
  }
  out.append(s, last);
  s.swap(out);
}

class Replace : public Decoder {
 public:
  Replace(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) replace_all(t, from_, to_);
  }

 private:
  std::string from_, to_;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// <0xXX> tokens become bytes; a run of them that is not valid UTF-8 becomes one U+FFFD per
// byte token (HF's ByteFallback).
// <0xXX> pieces to bytes. HF turns a run of them that is not valid UTF-8 into one U+FFFD per
// byte; `raw` keeps the bytes (llama.cpp's token_to_piece), and Tokenizer::decode then replaces
// each maximal invalid subpart, as a UTF-8 reader of llama.cpp's output does.
class ByteFallback : public Decoder {
 public:
  explicit ByteFallback(bool raw = false) : raw_(raw) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t nbytes = 0;
    auto flush = [&] {
      if (!nbytes) return;
      if (raw_ || is_valid_utf8(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < nbytes; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      nbytes = 0;
    };
    for (auto& t : tokens) {
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex_digit(t[3]) >= 0 && hex_digit(t[4]) >= 0) {
        bytes += static_cast<char>(hex_digit(t[3]) * 16 + hex_digit(t[4]));
        ++nbytes;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens.swap(out);
  }

 private:
  bool raw_;
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class Strip : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (auto& t : tokens) {
      size_t b = 0;
      for (size_t k = 0; k < start_ && t.compare(b, content_.size(), content_) == 0; ++k) b += content_.size();
      size_t e = t.size();
      for (size_t k = 0;
           k < stop_ && e >= b + content_.size() && t.compare(e - content_.size(), content_.size(), content_) == 0; ++k)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool prepend) : replacement_(std::move(replacement)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      // HF drops every replacement character of the first token (not just one) when the
      // pre-tokenizer prepends; elsewhere each becomes a space.
      replace_all(tokens[i], replacement_, i == 0 && prepend_ ? "" : " ");
    }
  }

 private:
  std::string replacement_;
  bool prepend_;
};

// Maps GPT-2's printable code points back to bytes; tokens with other characters (e.g. added
// tokens) pass through as their UTF-8 bytes. Invalid UTF-8 in the result becomes U+FFFD.
class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        int b = code_point_to_byte(next_code_point(t, i));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes += static_cast<char>(b);
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevel>(); }

std::unique_ptr<Decoder> make_sentencepiece_decoder(bool strip_leading, bool raw_bytes) {
  std::vector<std::unique_ptr<Decoder>> items;
  items.push_back(std::make_unique<Replace>("\xE2\x96\x81", " "));
  items.push_back(std::make_unique<ByteFallback>(raw_bytes));
  items.push_back(std::make_unique<Fuse>());
  if (strip_leading) items.push_back(std::make_unique<Strip>(" ", 1, 0));
  return std::make_unique<Sequence>(std::move(items));
}

std::unique_ptr<Decoder> make_decoder(const Json& j) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type")) fail(ErrorCode::kInvalidModel, "tokenizer.json: decoder needs a 'type'");
  const std::string type = j["type"].get<std::string>();
  if (type == "Replace") {
    const Json& pat = j.at("pattern");
    if (!pat.contains("String"))
      fail(ErrorCode::kUnsupported, "tokenizer.json: decoder Replace with a Regex pattern is not supported");
    return std::make_unique<Replace>(pat["String"].get<std::string>(), j.at("content").get<std::string>());
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    return std::make_unique<Strip>(j.at("content").get<std::string>(), j.value("start", size_t{0}),
                                   j.value("stop", size_t{0}));
  }
  if (type == "Metaspace") {
    bool prepend = true;
    if (j.contains("prepend_scheme"))
      prepend = j["prepend_scheme"].get<std::string>() != "never";
    else if (j.contains("add_prefix_space"))
      prepend = j["add_prefix_space"].get<bool>();
    return std::make_unique<Metaspace>(j.value("replacement", std::string("\xE2\x96\x81")), prepend);
  }
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> items;
    for (const auto& d : j.at("decoders"))
      if (auto p = make_decoder(d)) items.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(items));
  }
  fail(ErrorCode::kUnsupported, "tokenizer.json: decoder type '{}' is not supported", type);
}

}  // namespace pagellm::tok
