#include <queue>

#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace pagellm::tok {

SpmModel::SpmModel(Vocab vocab, std::vector<float> scores, std::optional<int32_t> unk_id)
    : vocab_(std::move(vocab)), scores_(std::move(scores)), unk_id_(unk_id) {
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
    auto id = vocab_.find(name);
    if (!id) id = vocab_.find(std::string(1, static_cast<char>(b)));  // llama.cpp's fallback
    byte_ids_[b] = id ? *id : (unk_id_ ? *unk_id_ : -1);
  }
  split_before_metaspace_ = metaspace_boundaries_are_safe(vocab_);
}

void SpmModel::encode_word(std::string_view text, std::vector<int32_t>& out) const {
  if (!split_before_metaspace_) {
    encode_piece(text, out);
    return;
  }
  for_each_metaspace_piece(text, [&](std::string_view piece) { encode_piece(piece, out); });
}

void SpmModel::encode_piece(std::string_view text, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t prev, next;
    size_t begin, len;
  };
  std::vector<Symbol> syms;
  for (size_t i = 0; i < text.size();) {
    size_t n = std::min(utf8_len(static_cast<unsigned char>(text[i])), text.size() - i);
    int32_t k = static_cast<int32_t>(syms.size());
    syms.push_back(Symbol{k - 1, k + 1, i, n});
    i += n;
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  struct Bigram {
    int32_t left, right;
    float score;
    size_t size;
    bool operator<(const Bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
  };
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    std::string_view piece = text.substr(syms[static_cast<size_t>(l)].begin,
                                         syms[static_cast<size_t>(l)].len + syms[static_cast<size_t>(r)].len);
    auto id = vocab_.find(piece);
    if (!id || static_cast<size_t>(*id) >= scores_.size()) return;
    queue.push(Bigram{l, r, scores_[static_cast<size_t>(*id)], piece.size()});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[static_cast<size_t>(b.left)];
    Symbol& r = syms[static_cast<size_t>(b.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;  // outdated
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  // Merged pieces are in the vocab by construction; a single character that is not is spelled
  // with byte tokens (llama.cpp's resegment reduces to this).
  for (int32_t i = 0; i >= 0; i = syms[static_cast<size_t>(i)].next) {
    std::string_view piece = text.substr(syms[static_cast<size_t>(i)].begin, syms[static_cast<size_t>(i)].len);
    if (auto id = vocab_.find(piece)) {
      out.push_back(*id);
      continue;
    }
    for (unsigned char c : piece)
      if (byte_ids_[c] >= 0) out.push_back(byte_ids_[c]);
  }
}

}  // namespace pagellm::tok
