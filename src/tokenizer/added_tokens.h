#pragma once
// Added tokens (tokenizer.json "added_tokens", GGUF control/user-defined tokens): matched in the
// text before the model runs, leftmost then longest, with HF's lstrip/rstrip/single_word rules.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pagellm::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  // lstrip/rstrip take only ASCII whitespace, byte by byte (llama.cpp's isspace) instead of
  // Unicode whitespace (HF).
  bool strip_ascii_only = false;
  bool normalized = false;  // matched in normalized text (true) or in the raw input (false)
  // What is searched for: the content, or for normalized tokens the content as the
  // normalizer rewrites it (HF matches that form). Empty means `content`.
  std::string pattern;
  const std::string& match_text() const { return pattern.empty() ? content : pattern; }
};

// A piece of input: either plain text [begin, end) or one added token id.
struct Segment {
  size_t begin = 0, end = 0;
  int32_t id = -1;  // -1: text
};

class AddedTokens {
 public:
  void add(const AddedToken& token);
  // Splits `text` by the tokens whose `normalized` flag equals `normalized`; with
  // `parse_special` false, special tokens are not matched (HF split_special_tokens).
  void split(std::string_view text, bool normalized, bool parse_special, std::vector<Segment>& out) const;

  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  const std::vector<AddedToken>& all() const { return tokens_; }
  bool has_normalized() const { return !sets_[1].empty(); }

 private:
  // For one set: token indices by first byte, longest first.
  struct MatchSet {
    std::array<std::vector<size_t>, 256> by_first;
    bool empty() const;
  };
  std::vector<AddedToken> tokens_;
  MatchSet sets_[2];
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
};

}  // namespace pagellm::tok
