#pragma once
// Everything a model path gives: the weights and forward pass, and the tokenizer that goes with
// them (tokenizer.json beside an HF directory, or the vocabulary inside a GGUF).
#include <memory>
#include <string>

#include "model/compute_dtype.h"
#include "model/llama_model.h"
#include "tokenizer/tokenizer.h"

namespace pagellm {

struct ModelBundle {
  std::shared_ptr<const LoadedModel> files;
  std::shared_ptr<const LlamaModel> model;
  std::shared_ptr<const Tokenizer> tokenizer;

  const ModelConfig& config() const { return files->config; }
  // EOS ids from generation_config.json, config.json and the tokenizer, deduplicated.
  std::vector<int32_t> eos_token_ids() const;
};

// dtype: the projections' compute precision (see model/compute_dtype.h).
// code_weights: store BF16 weights coded where the CPU can decode them (codes_weights()).
ModelBundle load_model_bundle(const std::string& path, ComputeDType dtype = ComputeDType::kAuto,
                              bool code_weights = false);

}  // namespace pagellm
