#pragma once
// Normalizers of tokenizer.json ("normalizer"): string -> string, applied to each piece of
// text between added tokens (so Prepend runs once per piece, as in HF).
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/regex.h"
#include "util/json_file.h"

namespace pagellm::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `start_moved` is set when the first remaining character no longer maps to the start of the
  // input (leading text removed), which HF's Metaspace "first" scheme observes via offsets.
  virtual void normalize(std::string& text, bool& start_moved) const = 0;
  void normalize(std::string& text) const {
    bool ignored = false;
    normalize(text, ignored);
  }
};

// Builds from the JSON object; null JSON gives nullptr. Error(kUnsupported) on unknown types.
std::unique_ptr<Normalizer> make_normalizer(const Json& j);

// Exposed for GGUF vocab pipelines and tests.
std::unique_ptr<Normalizer> make_unicode_normalizer(const std::string& form);  // NFC NFD NFKC NFKD

}  // namespace pagellm::tok
