#pragma once
// Decoders of tokenizer.json ("decoder"): a chain of token-list transforms whose output pieces
// are concatenated into the decoded text.
#include <memory>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace pagellm::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const Json& j);  // nullptr for null JSON

// Building blocks for GGUF vocab pipelines.
std::unique_ptr<Decoder> make_byte_level_decoder();
// SentencePiece: "▁" -> " ", <0xXX> bytes, fuse, drop one leading space when strip_leading.
// raw_bytes: byte pieces stay bytes even where they are not valid UTF-8 (llama.cpp), instead of
// HF's one U+FFFD per byte of such a run.
std::unique_ptr<Decoder> make_sentencepiece_decoder(bool strip_leading, bool raw_bytes = false);

}  // namespace pagellm::tok
