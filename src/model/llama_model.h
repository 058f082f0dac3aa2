#pragma once
// The Llama-family decoder (Llama, Mistral, Qwen2 with q/k/v bias, Qwen3 with q/k norm), written
// plainly: embeddings, then per layer RMSNorm -> attention over the paged KV cache -> residual ->
// RMSNorm -> SwiGLU MLP -> residual, then the final norm and the LM head. Speed lives in kernels/.
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "kernels/cpu/packed_matmul.h"
#include "kernels/cpu/paged_attention.h"
#include "model/forward_batch.h"
#include "model/forward_profile.h"
#include "model/kv_cache.h"
#include "model/model_loader.h"
#include "tensor/weight_arena.h"

namespace pagellm {

class LlamaModel {
 public:
  // precision: kExact keeps every weight at its stored precision with float32 activations
  // (matches the float64 reference to ~1e-5); kBF16 computes F32/F16/BF16 projections with bf16
  // activations (AMX tiles where present, else vdpbf16ps; 3-4x the prefill throughput with AMX;
  // error as models/README.md's "bf16 activations" row). Without an explicit choice, PAGELLM_MATMUL=bf16 in the
  // environment picks kBF16.
  explicit LlamaModel(std::shared_ptr<const LoadedModel> loaded);
  // code_weights: BF16 projections stored coded where the CPU can decode them (PackedWeight).
  LlamaModel(std::shared_ptr<const LoadedModel> loaded, kernels::MatmulPrecision precision, bool code_weights = false);
  bool weights_coded() const;
  kernels::MatmulPrecision precision() const { return precision_; }

  const ModelConfig& config() const { return loaded_->config; }
  const LoadedModel& loaded() const { return *loaded_; }

  // Runs every token of the batch, writing its K/V into `cache` at its slot, and returns the
  // logits of the rows in batch.logits_indices: [logits_indices.size(), vocab_size].
  std::vector<float> forward(const ForwardBatch& batch, KVCache& cache) const;

  // Time per part of forward() when PAGELLM_PROFILE=1 was set at construction (else none). Read
  // and reset between forward() calls.
  std::optional<ForwardProfile> profile() const;
  void reset_profile() const;

  // One plain read of every packed weight a decode step streams (each thread its share of each,
  // in step order, with no barriers): the in-process reference for the decode step's speed.
  struct WeightRead {
    double seconds = 0;
    int64_t bytes = 0;
  };
  WeightRead read_weights() const;

 private:
  // Projections that read the same input, packed for kernels/ (fused where dtypes agree).
  class Linear {
   public:
    Linear() = default;
    // epilogue kSiluMul: gate and up parts of one dtype become one SiLU-gated weight (one output,
    // silu(gate) * up); parts of two dtypes stay two outputs, for a separate SwiGLU pass.
    Linear(std::span<const kernels::LinearPart> parts, kernels::MatmulPrecision precision, WeightArena* arena,
           bool code, kernels::Epilogue epilogue = kernels::Epilogue::kNone);
    bool silu_fused() const { return groups_.size() == 1 && groups_.front().epilogue() == kernels::Epilogue::kSiluMul; }
    // next: the projection the forward pass runs after this one (its weights are warmed at the
    // barrier between them in decode steps).
    void forward(const float* x, int64_t m, std::span<float* const> ys, const Linear& next) const;
    const std::vector<kernels::PackedWeight>& groups() const { return groups_; }
    void forward(const float* x, int64_t m, float* y, const Linear& next) const {
      forward(x, m, std::span<float* const>(&y, 1), next);
    }
    // Whether every group takes its activations already rounded to bf16 (kernels::Bf16Rows), so
    // the step before can store them so (the norms, the gated projection) and the rounding pass
    // goes away.
    bool takes_bf16_rows() const;
    void forward(kernels::Bf16Rows x, int64_t m, std::span<float* const> ys, const Linear& next) const;
    void forward(kernels::Bf16Rows x, int64_t m, float* y, const Linear& next) const {
      forward(x, m, std::span<float* const>(&y, 1), next);
    }
    // silu_fused() and takes_bf16_rows(): silu(gate) * up stored as bf16 rows (ld_y pairs a row).
    void forward_gated(kernels::Bf16Rows x, int64_t m, uint32_t* y, int64_t ld_y, const Linear& next) const;

   private:
    // Each group in turn over the same activations (float or bf16 rows), into its outputs.
    template <class X>
    void forward_groups(X x, int64_t m, std::span<float* const> ys, const Linear& next) const;
    std::vector<kernels::PackedWeight> groups_;
  };

  // Activation buffers reused across steps (grown to the largest batch seen).
  struct Scratch {
    std::vector<float> x, h, q, k, v, attn, proj, gate, up, last, rope_cos, rope_sin;
    // h and gate as bf16 rows, for projections that take them so (Linear::takes_bf16_rows).
    std::vector<uint32_t> h_bf16, gate_bf16;
    std::vector<kernels::AttentionSequence> seqs;
  };

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
    Linear qkv, o, gate_up, down;

    // Drops the mapped source pages of the seven projections (only their packed copies are read).
    void release_sources(const WeightStore& w) const;
    // The gate/up projection stores silu(gate) * up as the bf16 rows the down projection reads.
    bool gate_as_bf16() const { return gate_up.silu_fused() && gate_up.takes_bf16_rows() && down.takes_bf16_rows(); }
  };

  // Which activation buffers the layers use (fixed at load): h and gate as floats and/or as bf16
  // rows, and `up` only where gate and up stay two outputs.
  struct ScratchUse {
    bool h_float = false, h_bf16 = false, gate_float = false, gate_bf16 = false, up = false;
  };
  ScratchUse scratch_use() const;

  void check_batch(const ForwardBatch& batch, const KVCache& cache) const;
  void map_embedding_rows() const;

  std::shared_ptr<const LoadedModel> loaded_;
  WeightArena arena_;  // the packed weights' memory: declared before them, so it outlives them
  const TensorView* embed_tokens_;
  const TensorView* lm_head_;
  std::vector<float> final_norm_;
  std::vector<LayerWeights> layers_;
  std::vector<double> inv_freq_;
  Linear lm_head_packed_;
  kernels::MatmulPrecision precision_;
  bool code_weights_;
  ScratchUse scratch_use_;
  mutable std::unique_ptr<ForwardProfile> profile_;  // guarded by scratch_mutex_
  mutable std::mutex scratch_mutex_;                 // forward() calls are serialized on the scratch buffers
  mutable Scratch scratch_;
};

}  // namespace pagellm
