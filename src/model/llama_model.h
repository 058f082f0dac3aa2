#pragma once
// The Llama-family decoder (Llama, Mistral, Qwen2 with q/k/v bias, Qwen3 with q/k norm), written
// plainly: embeddings, then per layer RMSNorm -> attention over the paged KV cache -> residual ->
// RMSNorm -> SwiGLU MLP -> residual, then the final norm and the LM head. Speed lives in kernels/.
#include <memory>
#include <vector>

#include "model/forward_batch.h"
#include "model/kv_cache.h"
#include "model/model_loader.h"

namespace pagellm {

class LlamaModel {
 public:
  explicit LlamaModel(std::shared_ptr<const LoadedModel> loaded);

  const ModelConfig& config() const { return loaded_->config; }
  const LoadedModel& loaded() const { return *loaded_; }

  // Runs every token of the batch, writing its K/V into `cache` at its slot, and returns the
  // logits of the rows in batch.logits_indices: [logits_indices.size(), vocab_size].
  std::vector<float> forward(const ForwardBatch& batch, KVCache& cache) const;

 private:
  struct LayerWeights {
    const TensorView* q_proj;
    const TensorView* k_proj;
    const TensorView* v_proj;
    const TensorView* o_proj;
    const TensorView* gate_proj;
    const TensorView* up_proj;
    const TensorView* down_proj;
    std::vector<float> input_norm;
    std::vector<float> post_attention_norm;
    std::vector<float> q_bias, k_bias, v_bias;  // empty unless attention_bias
    std::vector<float> q_norm, k_norm;          // empty unless qk_norm
  };

  void check_batch(const ForwardBatch& batch, const KVCache& cache) const;

  std::shared_ptr<const LoadedModel> loaded_;
  const TensorView* embed_tokens_;
  const TensorView* lm_head_;
  std::vector<float> final_norm_;
  std::vector<LayerWeights> layers_;
  std::vector<double> inv_freq_;
};

}  // namespace pagellm
