#pragma once
// Loads a model from an HF directory (config.json + safetensors) or a .gguf file into a
// ModelConfig and a WeightStore with canonical names, checking every tensor's presence,
// dtype and shape against the config. Errors name the file and the tensor or field.
#include <memory>
#include <optional>
#include <string>

#include "model/model_config.h"
#include "model/weight_store.h"

namespace pagellm {

class GgufFile;

// Sampling defaults from generation_config.json (HF) when present.
struct GenerationDefaults {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> repetition_penalty;
  std::optional<int64_t> max_new_tokens;
  std::vector<int32_t> eos_token_ids;
};

struct LoadedModel {
  std::string path;  // as given
  ModelConfig config;
  WeightStore weights;
  GenerationDefaults generation;
  std::shared_ptr<GgufFile> gguf;  // set when loaded from a .gguf (the tokenizer reads its vocab)
  std::string hf_dir;              // set when loaded from an HF directory
};

std::unique_ptr<LoadedModel> load_model(const std::string& path);

}  // namespace pagellm
