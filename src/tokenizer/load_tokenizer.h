#pragma once
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace pagellm {

// The tokenizer of a model path without loading its weights: an HF directory (tokenizer.json +
// tokenizer_config.json), a tokenizer.json file, or a .gguf file's vocabulary.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path);

}  // namespace pagellm
