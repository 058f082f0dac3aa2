#pragma once
// Streaming detokenization (as vLLM does it): decode a small window of recent ids, emit only
// the text past what the window's prefix already produced, and hold text back while it ends in
// an incomplete character (U+FFFD). The concatenation of all chunks equals the full decode,
// and no chunk splits a character.
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
                         bool skip_special_tokens = true);

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
};

}  // namespace pagellm
