#include <mutex>
#include <queue>

#include "tokenizer/model.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace pagellm::tok {

void Vocab::add(std::string piece, int32_t id) {
  if (id < 0) return;
  if (pieces.size() <= static_cast<size_t>(id)) pieces.resize(static_cast<size_t>(id) + 1);
  pieces[static_cast<size_t>(id)] = piece;
  ids.emplace(std::move(piece), id);
}

static constexpr std::string_view kMeta = "\xE2\x96\x81";  // U+2581, SentencePiece's space

static void find_byte_tokens(const Vocab& v, int32_t* ids) {
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
    auto id = v.find(name);
    ids[b] = id ? *id : -1;
  }
}

BpeModel::BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : vocab_(std::move(vocab)), opt_(std::move(options)) {
  merges_.reserve(merges.size());
  const size_t plen = opt_.continuing_subword_prefix.size();
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (!ia || !ib)
      fail(ErrorCode::kInvalidModel, "tokenizer.json: model.merges[{}] names unknown token '{}'", r, !ia ? a : b);
    std::string merged = a + (b.size() >= plen ? b.substr(plen) : b);
    auto im = vocab_.find(merged);
    if (!im)
      fail(ErrorCode::kInvalidModel, "tokenizer.json: model.merges[{}] result '{}' is not in the vocab", r, merged);
    merges_.insert_or_assign(key(*ia, *ib),
                             Merge{static_cast<int32_t>(r), *im});  // HF: a repeated pair keeps its last rank
  }
  if (opt_.unk_token) unk_id_ = vocab_.find(*opt_.unk_token);
  find_byte_tokens(vocab_, byte_ids_);
  for (int c = 0; c < 128; ++c) {
    auto id = vocab_.find(std::string_view(reinterpret_cast<const char*>(&c), 1));
    ascii_ids_[c] = id ? *id : -1;
  }
  split_before_metaspace_ = opt_.continuing_subword_prefix.empty() && opt_.end_of_word_suffix.empty() &&
                            metaspace_boundaries_are_safe(vocab_);
}

bool metaspace_boundaries_are_safe(const Vocab& vocab) {
  if (!vocab.find(kMeta)) return false;
  for (const auto& [piece, id] : vocab.ids) {
    for (size_t p = piece.find(kMeta, 1); p != std::string::npos; p = piece.find(kMeta, p + 1))
      if (p < kMeta.size() || piece.compare(p - kMeta.size(), kMeta.size(), kMeta) != 0) return false;
  }
  return true;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (opt_.ignore_merges) {
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  if (!split_before_metaspace_) {
    encode_piece(word, out);
    return;
  }
  for_each_metaspace_piece(word, [&](std::string_view piece) { encode_piece(piece, out); });
}

void BpeModel::encode_piece(std::string_view word, std::vector<int32_t>& out) const {
  constexpr size_t kMaxCachedLen = 256;
  if (word.size() <= kMaxCachedLen) {
    std::shared_lock lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  merge_word(word, out);
  if (word.size() <= kMaxCachedLen) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() > 200000) cache_.clear();  // bound memory on adversarial input
    cache_.emplace(std::string(word),
                   std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> syms;
  syms.reserve(word.size());
  auto push = [&](int32_t id) {
    int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back(Symbol{id, n - 1, n + 1, true});
  };
  // Initial symbols: one per character; unknown characters become byte tokens or <unk>.
  std::string buf;
  bool last_was_unk = false;
  for (size_t i = 0; i < word.size();) {
    size_t n = utf8_len(static_cast<unsigned char>(word[i]));
    if (i + n > word.size()) n = word.size() - i;
    std::string_view ch = word.substr(i, n);
    bool first = i == 0, last = i + n == word.size();
    std::optional<int32_t> id;
    if ((!first && !opt_.continuing_subword_prefix.empty()) || (last && !opt_.end_of_word_suffix.empty())) {
      buf.clear();
      if (!first) buf += opt_.continuing_subword_prefix;
      buf += ch;
      if (last) buf += opt_.end_of_word_suffix;
      id = vocab_.find(buf);
    } else if (n == 1 && static_cast<unsigned char>(ch[0]) < 128) {
      int32_t a = ascii_ids_[static_cast<unsigned char>(ch[0])];
      if (a >= 0) id = a;
    } else {
      id = vocab_.find(ch);
    }
    i += n;
    if (id) {
      push(*id);
      last_was_unk = false;
      continue;
    }
    if (opt_.byte_fallback) {
      bool all = true;
      for (unsigned char c : ch) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : ch) push(byte_ids_[c]);
        last_was_unk = false;
        continue;
      }
    }
    if (unk_id_) {
      if (!(opt_.fuse_unk && last_was_unk)) push(*unk_id_);
      last_was_unk = true;
    }
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  struct Cand {
    int32_t rank, pos, new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    int32_t right = syms[static_cast<size_t>(left)].next;
    if (right < 0) return;
    auto it = merges_.find(key(syms[static_cast<size_t>(left)].id, syms[static_cast<size_t>(right)].id));
    if (it != merges_.end()) queue.push(Cand{it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i) consider(i);
  while (!queue.empty()) {
    Cand c = queue.top();
    queue.pop();
    Symbol& s = syms[static_cast<size_t>(c.pos)];
    if (!s.alive || s.next < 0) continue;
    Symbol& r = syms[static_cast<size_t>(s.next)];
    auto it = merges_.find(key(s.id, r.id));
    if (it == merges_.end() || it->second.new_id != c.new_id) continue;  // stale candidate
    s.id = c.new_id;
    r.alive = false;
    s.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = c.pos;
    consider(s.prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[static_cast<size_t>(i)].next) out.push_back(syms[static_cast<size_t>(i)].id);
}

}  // namespace pagellm::tok
