#pragma once
// Streaming detokenization (as vLLM does it): decode a small window of recent ids, emit only
// the text past what the window's prefix already produced, and hold text back while it ends in
// an incomplete character (U+FFFD). The concatenation of all chunks equals the full decode,
// and no chunk splits a character.
//
// spaces_between_special_tokens = false (with special tokens kept) follows vLLM's detokenizer for
// fast tokenizers: an added token right after another added token contributes its raw content,
// without the space the decoder may put before it. Only decoders that join pieces with spaces
// (a tokenizer.json without a decoder, which HF joins with " ") are affected; the byte-level and
// SentencePiece decoders of Llama, Mistral, Qwen and GPT-2 never separate added tokens.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace pagellm {

class IncrementalDetokenizer {
 public:
  // prompt_ids give context only (their text is not emitted); the tokenizer must outlive this.
  IncrementalDetokenizer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids,
                         bool skip_special_tokens = true, bool spaces_between_special_tokens = true);

  // Adds one generated id; returns the newly complete text (possibly empty).
  std::string add(int32_t id);
  // Flushes held-back text (e.g. a trailing incomplete byte sequence, as U+FFFD).
  std::string finish();

  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  std::string emit(bool force);
  bool ends_in_byte_run() const;

  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_;  // start of the decode window
  size_t read_offset_;    // ids before this are already emitted
  bool skip_special_;
  bool join_added_tight_;    // spaces_between_special_tokens off (and special tokens kept)
  bool last_added_ = false;  // the previous generated id was an added token
};

}  // namespace pagellm
