#include "tokenizer/load_tokenizer.h"

#include <filesystem>

#include "loader/gguf.h"

namespace pagellm {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path) {
  const std::filesystem::path path(model_path);
  if (std::filesystem::is_directory(path) || path.extension() == ".json") return Tokenizer::from_hf(model_path);
  return Tokenizer::from_gguf(*GgufFile::open(model_path));
}

}  // namespace pagellm
