#include <utf8proc.h>

#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace pagellm::tok {

namespace {

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// The first code point of `c`'s canonical decomposition. llama.cpp's WPM "NFD" maps each code point
// to that one (its tables keep only the first), so a precomposed letter loses its accents and a
// Hangul syllable becomes its leading jamo.
char32_t decomposition_head(char32_t c) {
  utf8proc_int32_t decomposed[8];
  auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), decomposed, 8, UTF8PROC_DECOMPOSE, nullptr);
  return n >= 1 && n <= 8 ? static_cast<char32_t>(decomposed[0]) : c;
}

// BERT's basic tokenization as llama.cpp runs it for WPM vocabularies: the words of `text`,
// lowercased, each punctuation mark, ASCII symbol and CJK ideograph a word of its own. Marks (Mn, Mc,
// Me), controls, format characters, private use and surrogates are dropped; unassigned code points
// are kept as letters are (llama.cpp's tables mark them undefined, not control).
std::vector<std::string> bert_words(std::string_view text) {
  std::vector<std::string> words(1);
  auto finish = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (size_t i = 0; i < text.size();) {
    const char32_t c = decomposition_head(next_code_point(text, i));
    if (is_whitespace(c)) {
      finish();
      continue;
    }
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
    const bool control = cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
                         cat == UTF8PROC_CATEGORY_CS;
    const bool mark = cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME;
    if (c == 0 || c == 0xFFFD || control || mark) continue;
    std::string s;
    append_utf8(s, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    const bool punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
    const bool ascii_symbol = c < 0x7F && cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
    if (punct || ascii_symbol || is_cjk(c)) {
      finish();
      words.back() = s;
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

WpmModel::WpmModel(Vocab vocab, int32_t unk_id) : vocab_(std::move(vocab)), unk_id_(unk_id) {
  for (const auto& p : vocab_.pieces) max_piece_len_ = std::max(max_piece_len_, p.size());
}

void WpmModel::encode_word(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& word : bert_words(text)) {
    const std::string w = "\xE2\x96\x81" + word;  // the phantom space marking a word start
    const size_t start = out.size();
    // Greedy longest match, byte position by byte position (as llama.cpp does).
    for (size_t i = 0; i < w.size();) {
      size_t j = std::min(w.size(), i + max_piece_len_ + 1);
      bool matched = false;
      for (; j > i; --j) {
        if (auto id = vocab_.find(std::string_view(w).substr(i, j - i))) {
          out.push_back(*id);
          matched = true;
          break;
        }
      }
      if (!matched) {
        out.resize(start);  // discard the partial word
        break;
      }
      i = j;
    }
    if (out.size() == start && unk_id_ >= 0) out.push_back(unk_id_);
  }
}

}  // namespace pagellm::tok
