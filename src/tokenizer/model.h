#pragma once
// The vocabulary and the word -> ids models (BPE with merge ranks, SentencePiece scores).
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pagellm::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// id <-> piece for the model's own vocabulary (ids may have holes: empty pieces).
struct Vocab {
  std::vector<std::string> pieces;
  TokenMap ids;
  std::optional<int32_t> find(std::string_view piece) const {
    auto it = ids.find(piece);
    return it == ids.end() ? std::nullopt : std::optional<int32_t>(it->second);
  }
  void add(std::string piece, int32_t id);
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenized word.
  virtual void encode_word(std::string_view word, std::vector<int32_t>& out) const = 0;
  virtual const Vocab& vocab() const = 0;
};

struct BpeOptions {
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

// HF tokenizers' BPE: split a word into characters, then repeatedly apply the lowest-ranked
// merge (leftmost on ties). Results of short words are cached.
class BpeModel : public Model {
 public:
  // Throws Error(kInvalidModel) naming a merge whose pieces (or result) are not in the vocab.
  BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);
  void encode_word(std::string_view word, std::vector<int32_t>& out) const override;
  const Vocab& vocab() const override { return vocab_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

  Vocab vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions opt_;
  std::optional<int32_t> unk_id_;
  int32_t byte_ids_[256];   // <0xXX> tokens for byte_fallback, -1 when missing
  int32_t ascii_ids_[128];  // ids of one-byte pieces, -1 when missing (hot path of the first split)
  // SentencePiece vocabularies without pre-tokenizer hand whole texts to the model. When no
  // vocab piece has "▁" right after another character, no merge can cross the boundary before
  // a "▁" that follows a non-"▁" character, so words are cut there and cached separately.
  bool split_before_metaspace_ = false;

  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

// SentencePiece BPE as llama.cpp runs it on GGUF vocabularies: merge the adjacent pair whose
// concatenation is the highest-scoring vocab piece (leftmost on ties); pieces that end up
// unknown are spelled with <0xXX> byte tokens.
class SpmModel : public Model {
 public:
  SpmModel(Vocab vocab, std::vector<float> scores, std::optional<int32_t> unk_id);
  void encode_word(std::string_view word, std::vector<int32_t>& out) const override;
  const Vocab& vocab() const override { return vocab_; }

 private:
  void encode_piece(std::string_view text, std::vector<int32_t>& out) const;

  Vocab vocab_;
  std::vector<float> scores_;
  std::optional<int32_t> unk_id_;
  int32_t byte_ids_[256];
  bool split_before_metaspace_ = false;  // as in BpeModel: keeps long texts linear
};

// WordPiece as llama.cpp runs BERT GGUF vocabularies (whose word-initial pieces carry a "▁"
// prefix instead of continuation pieces carrying "##"): NFD, lowercase, drop controls and
// accents, split on whitespace, punctuation and CJK characters, then greedy longest match per
// word; a word with an unmatched position becomes <unk>. The model does its own normalizing and splitting.
class WpmModel : public Model {
 public:
  WpmModel(Vocab vocab, int32_t unk_id);
  void encode_word(std::string_view text, std::vector<int32_t>& out) const override;
  const Vocab& vocab() const override { return vocab_; }

 private:
  Vocab vocab_;
  int32_t unk_id_;
  size_t max_piece_len_ = 0;
};

// True when no piece of `vocab` has "▁" (U+2581) right after a different character, so merges
// never cross the boundary in front of a "▁" that follows a non-"▁" character.
bool metaspace_boundaries_are_safe(const Vocab& vocab);
// Calls fn(piece) for the pieces of `word` cut in front of each such "▁".
template <typename Fn>
void for_each_metaspace_piece(std::string_view word, Fn&& fn) {
  constexpr std::string_view kMeta = "\xE2\x96\x81";
  size_t start = 0;
  for (size_t p = word.find(kMeta, 1); p != std::string_view::npos; p = word.find(kMeta, p + kMeta.size())) {
    if (p >= start + kMeta.size() && word.compare(p - kMeta.size(), kMeta.size(), kMeta) == 0) continue;
    fn(word.substr(start, p - start));
    start = p;
  }
  fn(word.substr(start));
}

}  // namespace pagellm::tok
