#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace pagellm::tok {
namespace {

// GPT-2's pattern, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

using Ranges = std::vector<std::pair<size_t, size_t>>;

// One piece of a word after matching: [b, e), and whether it is a delimiter (a match, or a
// gap when the split is inverted). Consecutive matches stay separate parts, as in HF.
struct Part {
  size_t b, e;
  bool delim;
};

// Applies HF's SplitDelimiterBehavior to `parts` of `w`, appending the resulting words to out.
void apply_behavior(const Word& w, const std::vector<Part>& parts, SplitBehavior behavior, std::vector<Word>& out) {
  std::vector<Part> pieces;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& p : parts)
        if (!p.delim) pieces.push_back(p);
      break;
    case SplitBehavior::kIsolated:
      pieces = parts;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      // A delimiter joins the piece before it, unless that piece is a delimiter too.
      bool prev_delim = false;
      for (const auto& p : parts) {
        if (p.delim && !prev_delim && !pieces.empty())
          pieces.back().e = p.e;
        else
          pieces.push_back(p);
        prev_delim = p.delim;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // Mirror image: a delimiter joins the piece after it, unless that one is a delimiter.
      bool next_delim = false;
      for (size_t k = parts.size(); k-- > 0;) {
        const Part& p = parts[k];
        if (p.delim && !next_delim && !pieces.empty())
          pieces.back().b = p.b;
        else
          pieces.push_back(p);
        next_delim = p.delim;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool prev_delim = false;
      for (const auto& p : parts) {
        if (p.delim && prev_delim)
          pieces.back().e = p.e;
        else
          pieces.push_back(p);
        prev_delim = p.delim;
      }
      break;
    }
  }
  for (const auto& p : pieces)
    if (p.e > p.b) out.push_back(Word{w.text.substr(p.b, p.e - p.b), w.first && p.b == 0});
}

class RegexSplit : public PreTokenizer {
 public:
  RegexSplit(const std::string& pattern, SplitBehavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    std::vector<Word> out;
    Ranges m;
    std::vector<Part> parts;
    for (const auto& w : words) {
      regex_.find_all(w.text, m);
      parts.clear();
      size_t last = 0;
      for (auto [b, e] : m) {
        if (b > last) parts.push_back({last, b, invert_});
        parts.push_back({b, e, !invert_});
        last = e;
      }
      if (last < w.text.size()) parts.push_back({last, w.text.size(), invert_});
      apply_behavior(w, parts, behavior_, out);
    }
    words.swap(out);
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// Maps every byte to GPT-2's printable code point; optionally splits with GPT-2's regex first.
class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) split_ = std::make_unique<RegexSplit>(kGpt2Pattern, SplitBehavior::kIsolated, false);
  }
  void pre_tokenize(std::vector<Word>& words) const override {
    if (add_prefix_space_)
      for (auto& w : words)
        if (w.text.empty() || w.text[0] != ' ') w.text = std::string(1, ' ') + w.text;
    if (split_) split_->pre_tokenize(words);
    const auto& table = byte_to_code_point();
    for (auto& w : words) {
      std::string mapped;
      mapped.reserve(w.text.size() * 2);
      for (unsigned char c : w.text) append_utf8(mapped, table[c]);
      w.text.swap(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<RegexSplit> split_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    std::vector<Word> out;
    for (auto& w : words) {
      std::string t;
      t.reserve(w.text.size() + replacement_.size());
      for (char c : w.text) {
        if (c == ' ')
          t += replacement_;
        else
          t += c;
      }
      bool starts = t.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && w.first)))
        t.insert(0, replacement_);
      if (!split_) {
        out.push_back(Word{std::move(t), w.first});
        continue;
      }
      // Split before each replacement character (MergedWithNext).
      size_t start = 0;
      for (size_t p = t.find(replacement_, 1); p != std::string::npos;
           p = t.find(replacement_, p + replacement_.size())) {
        if (p > start) out.push_back(Word{t.substr(start, p - start), w.first && start == 0});
        start = p;
      }
      if (start < t.size()) out.push_back(Word{t.substr(start), w.first && start == 0});
    }
    words.swap(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

// Splits on digits: each digit alone, or runs of digits.
class Digits : public PreTokenizer {
 public:
  explicit Digits(bool individual) : split_(individual ? "\\p{N}" : "\\p{N}+", SplitBehavior::kIsolated, false) {}
  void pre_tokenize(std::vector<Word>& words) const override { split_.pre_tokenize(words); }

 private:
  RegexSplit split_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(std::vector<Word>& words) const override {
    for (const auto& p : items_) p->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

SplitBehavior parse_behavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  fail(ErrorCode::kInvalidModel, "tokenizer.json: pre_tokenizer Split.behavior '{}' is unknown", s);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_regex_split(const std::string& regex, SplitBehavior behavior, bool invert) {
  return std::make_unique<RegexSplit>(regex, behavior, invert);
}
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> items) {
  return std::make_unique<SequencePre>(std::move(items));
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type"))
    fail(ErrorCode::kInvalidModel, "tokenizer.json: pre_tokenizer needs a 'type'");
  const std::string type = j["type"].get<std::string>();
  if (type == "ByteLevel") return make_byte_level(j.value("add_prefix_space", true), j.value("use_regex", true));
  if (type == "Metaspace") {
    PrependScheme scheme = PrependScheme::kAlways;
    if (j.contains("prepend_scheme")) {
      std::string s = j["prepend_scheme"].get<std::string>();
      scheme = s == "first" ? PrependScheme::kFirst : s == "never" ? PrependScheme::kNever : PrependScheme::kAlways;
    } else if (j.contains("add_prefix_space") && !j["add_prefix_space"].get<bool>()) {
      scheme = PrependScheme::kNever;
    }
    return std::make_unique<Metaspace>(j.value("replacement", std::string("\xE2\x96\x81")), scheme,
                                       j.value("split", true));
  }
  if (type == "Split") {
    const Json& pat = j.at("pattern");
    std::string regex =
        pat.contains("Regex") ? pat["Regex"].get<std::string>() : Regex::escape(pat.at("String").get<std::string>());
    return make_regex_split(regex, parse_behavior(j.at("behavior").get<std::string>()), j.value("invert", false));
  }
  if (type == "Digits") return std::make_unique<Digits>(j.value("individual_digits", false));
  // HF's punctuation: Unicode P* or ASCII punctuation (which includes symbols like $ + < = > ^ ` | ~).
  const std::string punct = R"([\p{P}\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}])";
  if (type == "Punctuation")
    return make_regex_split(punct, parse_behavior(j.value("behavior", std::string("Isolated"))), false);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> items;
    items.push_back(make_regex_split(R"(\s+)", SplitBehavior::kRemoved, false));
    items.push_back(make_regex_split(punct, SplitBehavior::kIsolated, false));
    return make_sequence(std::move(items));
  }
  if (type == "Whitespace") return make_regex_split(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true);
  if (type == "WhitespaceSplit") return make_regex_split(R"(\s+)", SplitBehavior::kRemoved, false);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (const auto& p : j.at("pretokenizers"))
      if (auto q = make_pre_tokenizer(p)) items.push_back(std::move(q));
    return make_sequence(std::move(items));
  }
  fail(ErrorCode::kUnsupported, "tokenizer.json: pre_tokenizer type '{}' is not supported", type);
}

}  // namespace pagellm::tok
