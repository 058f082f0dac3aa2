#include "engine/model_bundle.h"

#include <algorithm>

#include "loader/gguf.h"

namespace pagellm {

ModelBundle load_model_bundle(const std::string& path) {
  ModelBundle bundle;
  std::shared_ptr<LoadedModel> files = load_model(path);
  bundle.tokenizer = files->gguf ? Tokenizer::from_gguf(*files->gguf) : Tokenizer::from_hf(files->hf_dir);
  bundle.files = files;
  bundle.model = std::make_shared<LlamaModel>(bundle.files);
  return bundle;
}

std::vector<int32_t> ModelBundle::eos_token_ids() const {
  std::vector<int32_t> ids = files->generation.eos_token_ids;
  ids.insert(ids.end(), files->config.eos_token_ids.begin(), files->config.eos_token_ids.end());
  if (tokenizer->eos_token_id() >= 0) ids.push_back(tokenizer->eos_token_id());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace pagellm
