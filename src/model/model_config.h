#pragma once
// The architecture of a Llama-family model, from an HF config.json or GGUF metadata.
#include <cstdint>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace pagellm {

class GgufFile;

enum class Architecture { kLlama, kMistral, kQwen2, kQwen3 };

struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string arch_name;  // as written in the file ("LlamaForCausalLM", "llama")
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  // Per-frequency divisors of the rotary inverse frequencies (GGUF `rope_freqs.weight`,
  // head_dim / 2 values); empty when absent. Applied on top of rope_scaling.
  std::vector<float> rope_freq_divisors;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projection biases (Qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k (Qwen3)
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;

  // `source` names the file for error messages. Throws Error(kInvalidModel / kUnsupported).
  static ModelConfig from_hf_json(const Json& config, const std::string& source);
  static ModelConfig from_gguf(const GgufFile& gguf);

  // Rejects absurd values (0 heads, heads not dividing hidden size without explicit head_dim,
  // kv heads not dividing heads, non-positive sizes or eps), naming the field and source.
  void validate(const std::string& source) const;
};

}  // namespace pagellm
