#pragma once
// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): split a piece of normalized text into
// words that the model encodes independently.
#include <memory>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace pagellm::tok {

struct Word {
  std::string text;
  bool first = false;  // starts at offset 0 of the original input (Metaspace prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` by their splits (empty words are dropped, as HF does).
  virtual void pre_tokenize(std::vector<Word>& words) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j);  // nullptr for null JSON

// Building blocks reused by the GGUF vocab pipelines.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
std::unique_ptr<PreTokenizer> make_regex_split(const std::string& regex, SplitBehavior behavior, bool invert);
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> items);

}  // namespace pagellm::tok
