#pragma once
// The tokenizer part of a GGUF file's metadata (tokenizer.ggml.*), as plain data, so the
// tokenizer can be built from it without caring how it was read.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pagellm {
class GgufFile;
}

namespace pagellm::tok {

// llama.cpp's token types.
enum class GgufTokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct GgufVocab {
  // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE) or "bert" (WordPiece)
  std::string model;
  std::string pre;  // tokenizer.ggml.pre: pre-tokenizer name for gpt2 models
  // general.name (lowercased) and general.architecture: llama.cpp keys the strip rules of some
  // special tokens on them, since GGUF stores no per-token lstrip/rstrip.
  std::string name, architecture;
  std::vector<std::string> tokens;
  std::vector<float> scores;         // may be empty
  std::vector<int32_t> token_types;  // may be empty (all normal)
  std::vector<std::string> merges;   // "a b"
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, cls_id = -1, sep_id = -1;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::optional<std::string> chat_template;
  std::map<std::string, std::string> named_chat_templates;  // tokenizer.chat_template.<name>

  // Reads tokenizer.* keys; Error(kInvalidModel) naming the key when one is missing or malformed.
  static GgufVocab read(const GgufFile& gguf);
};

// The Split regexes (applied in order, each isolating its matches) that llama.cpp and the
// models' original tokenizer.json files use for a tokenizer.ggml.pre name.
std::vector<std::string> gguf_pre_tokenizer_regexes(const std::string& pre);

}  // namespace pagellm::tok
