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
  virtual void normalize(std::string& text) const = 0;
};

// Builds from the JSON object; null JSON gives nullptr. Error(kUnsupported) on unknown types.
std::unique_ptr<Normalizer> make_normalizer(const Json& j);

// Exposed for GGUF vocab pipelines and tests.
std::unique_ptr<Normalizer> make_unicode_normalizer(const std::string& form);  // NFC NFD NFKC NFKD

}  // namespace pagellm::tok
