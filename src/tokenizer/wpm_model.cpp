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

// BERT's basic tokenization: the words of `text`, lowercased, in NFD without accents.
std::vector<std::string> bert_words(std::string_view text) {
  std::vector<std::string> words(1);
  auto finish = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (size_t i = 0; i < text.size();) {
    char32_t cp = next_code_point(text, i);
    utf8proc_int32_t decomposed[8];
    int options = UTF8PROC_DECOMPOSE;
    auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), decomposed, 8,
                                     static_cast<utf8proc_option_t>(options), nullptr);
    if (n < 0 || n > 8) {
      decomposed[0] = static_cast<utf8proc_int32_t>(cp);
      n = 1;
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k) {
      char32_t c = static_cast<char32_t>(decomposed[k]);
      auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      if (is_whitespace(c)) {
        finish();
        continue;
      }
      bool control = cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
                     cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CN;
      // Accents are stripped (after NFD they are nonspacing marks), as BERT's uncased models do.
      if (c == 0 || c == 0xFFFD || control || cat == UTF8PROC_CATEGORY_MN) continue;
      std::string s;
      append_utf8(s, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
      bool punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
      bool ascii_symbol = c < 0x7F && cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
      if (punct || ascii_symbol || is_cjk(c)) {
        finish();
        words.back() = s;
        words.emplace_back();
      } else {
        words.back() += s;
      }
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
