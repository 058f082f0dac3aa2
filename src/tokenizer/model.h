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

  Vocab vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  BpeOptions opt_;
  std::optional<int32_t> unk_id_;
  int32_t byte_ids_[256];  // <0xXX> tokens for byte_fallback, -1 when missing

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
  Vocab vocab_;
  std::vector<float> scores_;
  std::optional<int32_t> unk_id_;
  int32_t byte_ids_[256];
};

}  // namespace pagellm::tok
