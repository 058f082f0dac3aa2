#pragma once
// The tokenizer: text <-> token ids, matching Hugging Face `tokenizers` for tokenizer.json files
// and llama.cpp for GGUF vocabularies. Pipeline: added tokens -> normalizer -> pre-tokenizer ->
// model -> post-processor; decoding runs the decoder chain.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pagellm {

class GgufFile;

namespace tok {
class AddedTokens;
class Normalizer;
class PreTokenizer;
class Model;
class Decoder;
struct GgufVocab;
}  // namespace tok

class Tokenizer {
 public:
  // An HF dir (tokenizer.json + optional tokenizer_config.json) or a tokenizer.json path.
  static std::unique_ptr<Tokenizer> from_hf(const std::string& dir_or_file);
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& gguf);
  // From vocabulary arrays already read out of a GGUF (see gguf_vocab.h).
  static std::unique_ptr<Tokenizer> from_gguf_vocab(const tok::GgufVocab& vocab);
  ~Tokenizer();

  // add_special_tokens: what the post-processor adds (BOS/EOS). parse_special: match special
  // tokens written literally in the text (HF default true; llama.cpp's tests use false).
  // Invalid UTF-8 in `text` is replaced by U+FFFD per maximal invalid subpart before encoding
  // (HF's Rust API only takes valid strings; Python callers see the same lossy conversion).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true, bool parse_special = true) const;
  // Throws Error(kInvalidArgument) naming an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;
  // One token's text as vLLM reports it in logprobs (decoded_token): decoded alone, special
  // tokens kept, with the leading spaces a Metaspace piece ("▁the") loses in decode restored
  // (" the"). vLLM restores them only for tokenizers with a Metaspace pre-tokenizer; legacy
  // SentencePiece serializations (normalizer-based, and GGUF vocabularies) give "the".
  std::string decode_token(int32_t id) const;

  int64_t vocab_size() const;  // including added tokens
  int32_t bos_token_id() const { return bos_id_; }
  int32_t eos_token_id() const { return eos_id_; }
  std::optional<std::string> bos_token() const;
  std::optional<std::string> eos_token() const;
  std::optional<std::string> chat_template(const std::string& name = "default") const;
  bool is_special(int32_t id) const;
  // An added token (tokenizer.json's added_tokens, special or not; a GGUF's control tokens).
  bool is_added(int32_t id) const;
  // tokenizer_config.json's clean_up_tokenization_spaces: whether transformers would pass
  // decoded text through clean_up_tokenization (decode() itself never does).
  bool clean_up_tokenization_spaces() const { return clean_up_tokenization_spaces_; }
  // transformers' clean_up_tokenization: " ." -> ".", " n't" -> "n't", ... in its fixed order.
  static std::string clean_up_tokenization(std::string_view text);
  std::string id_to_token(int32_t id) const;  // raw piece; Error(kInvalidArgument) if unknown
  std::optional<int32_t> token_to_id(std::string_view token) const;

 private:
  Tokenizer();
  void finish_setup();

  std::unique_ptr<tok::AddedTokens> added_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::Model> model_;
  std::unique_ptr<tok::Decoder> decoder_;
  std::vector<int32_t> prefix_ids_, suffix_ids_;  // post-processor (add_special_tokens)
  int32_t bos_id_ = -1, eos_id_ = -1;
  std::map<std::string, std::string> chat_templates_;
  // Pieces fed to the decoder instead of id_to_token (GGUF byte-level user-defined tokens,
  // which llama.cpp prints as their raw text).
  std::unordered_map<int32_t, std::string> decode_pieces_;
  int64_t vocab_size_ = 0;
  bool clean_up_tokenization_spaces_ = false;
  // llama.cpp SPM: prepend "▁" to text that follows the start or a special token.
  bool spm_space_prefix_ = false;
  std::string leading_space_marker_;  // the Metaspace pre-tokenizer's replacement, if any

  friend struct HfLoader;
  friend struct GgufLoader;
};

}  // namespace pagellm
