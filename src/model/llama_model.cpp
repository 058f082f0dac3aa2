#include "model/llama_model.h"

#include <cmath>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/rope.h"
#include "model/rope_frequencies.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace pagellm {
namespace {

std::vector<float> to_floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(t.dtype, t.row(r), out.data() + r * t.cols(), t.cols());
  return out;
}

std::vector<float> optional_floats(const WeightStore& w, const std::string& name) {
  const TensorView* t = w.find(name);
  return t ? to_floats(*t) : std::vector<float>{};
}

void add_in_place(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

LlamaModel::LlamaModel(std::shared_ptr<const LoadedModel> loaded) : loaded_(std::move(loaded)) {
  const WeightStore& w = loaded_->weights;
  const ModelConfig& c = loaded_->config;
  embed_tokens_ = &w.get("model.embed_tokens.weight");
  lm_head_ = w.find("lm_head.weight");
  if (!lm_head_) lm_head_ = embed_tokens_;
  final_norm_ = to_floats(w.get("model.norm.weight"));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights lw{&w.get(p + "self_attn.q_proj.weight"),
                    &w.get(p + "self_attn.k_proj.weight"),
                    &w.get(p + "self_attn.v_proj.weight"),
                    &w.get(p + "self_attn.o_proj.weight"),
                    &w.get(p + "mlp.gate_proj.weight"),
                    &w.get(p + "mlp.up_proj.weight"),
                    &w.get(p + "mlp.down_proj.weight"),
                    to_floats(w.get(p + "input_layernorm.weight")),
                    to_floats(w.get(p + "post_attention_layernorm.weight")),
                    optional_floats(w, p + "self_attn.q_proj.bias"),
                    optional_floats(w, p + "self_attn.k_proj.bias"),
                    optional_floats(w, p + "self_attn.v_proj.bias"),
                    optional_floats(w, p + "self_attn.q_norm.weight"),
                    optional_floats(w, p + "self_attn.k_norm.weight")};
    layers_.push_back(std::move(lw));
  }
  inv_freq_ = rope_inverse_frequencies(c);
}

void LlamaModel::check_batch(const ForwardBatch& batch, const KVCache& cache) const {
  const int64_t n = batch.num_tokens();
  if (static_cast<int64_t>(batch.positions.size()) != n || static_cast<int64_t>(batch.slot_mapping.size()) != n)
    fail(ErrorCode::kInternal, "forward batch: {} tokens but {} positions and {} slots", n, batch.positions.size(),
         batch.slot_mapping.size());
  for (int32_t id : batch.token_ids)
    if (id < 0 || id >= config().vocab_size)
      fail(ErrorCode::kInvalidArgument, "token id {} is out of range for vocabulary size {}", id, config().vocab_size);
  for (int64_t slot : batch.slot_mapping)
    if (slot < 0 || slot >= cache.num_slots()) fail(ErrorCode::kInternal, "KV slot {} out of range", slot);
  for (const BatchSequence& s : batch.sequences)
    for (int32_t b : s.block_table)
      if (b < 0 || b >= cache.num_blocks()) fail(ErrorCode::kInternal, "block {} out of range", b);
  for (int64_t i : batch.logits_indices)
    if (i < 0 || i >= n) fail(ErrorCode::kInternal, "logits index {} out of range", i);
}

std::vector<float> LlamaModel::forward(const ForwardBatch& batch, KVCache& cache) const {
  check_batch(batch, cache);
  const ModelConfig& c = config();
  const int64_t T = batch.num_tokens();
  const int64_t H = c.hidden_size;
  const int64_t q_dim = c.num_heads * c.head_dim;
  const int64_t kv_dim = c.num_kv_heads * c.head_dim;
  const int64_t F = c.intermediate_size;

  std::vector<float> x(static_cast<size_t>(T * H));
  for (int64_t t = 0; t < T; ++t)
    dequantize_row(embed_tokens_->dtype, embed_tokens_->row(batch.token_ids[t]), x.data() + t * H, H);

  std::vector<float> h(x.size()), q(static_cast<size_t>(T * q_dim)), k(static_cast<size_t>(T * kv_dim)),
      v(static_cast<size_t>(T * kv_dim)), attn(static_cast<size_t>(T * q_dim)), proj(x.size()),
      gate(static_cast<size_t>(T * F)), up(static_cast<size_t>(T * F));
  const kernels::AttentionShape shape{c.num_heads, c.num_kv_heads, c.head_dim,
                                      static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)))};

  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& lw = layers_[static_cast<size_t>(l)];
    const kernels::KVLayerView kv = cache.layer(l);

    kernels::rms_norm(x.data(), lw.input_norm.data(), T, H, c.rms_norm_eps, h.data());
    kernels::matmul(*lw.q_proj, h.data(), T, q.data(), lw.q_bias.empty() ? nullptr : lw.q_bias.data());
    kernels::matmul(*lw.k_proj, h.data(), T, k.data(), lw.k_bias.empty() ? nullptr : lw.k_bias.data());
    kernels::matmul(*lw.v_proj, h.data(), T, v.data(), lw.v_bias.empty() ? nullptr : lw.v_bias.data());
    if (!lw.q_norm.empty()) {
      kernels::rms_norm(q.data(), lw.q_norm.data(), T * c.num_heads, c.head_dim, c.rms_norm_eps, q.data());
      kernels::rms_norm(k.data(), lw.k_norm.data(), T * c.num_kv_heads, c.head_dim, c.rms_norm_eps, k.data());
    }
    for (int64_t t = 0; t < T; ++t) {
      kernels::rope_rotate_half(q.data() + t * q_dim, c.num_heads, c.head_dim, batch.positions[t], inv_freq_.data());
      kernels::rope_rotate_half(k.data() + t * kv_dim, c.num_kv_heads, c.head_dim, batch.positions[t],
                                inv_freq_.data());
      kernels::write_kv_slot(kv, batch.slot_mapping[t], k.data() + t * kv_dim, v.data() + t * kv_dim);
    }
    for (const BatchSequence& s : batch.sequences)
      kernels::paged_attention(shape, q.data() + s.query_start * q_dim, s.num_queries, s.context_len,
                               s.block_table.data(), kv, attn.data() + s.query_start * q_dim);
    kernels::matmul(*lw.o_proj, attn.data(), T, proj.data());
    add_in_place(x.data(), proj.data(), T * H);

    kernels::rms_norm(x.data(), lw.post_attention_norm.data(), T, H, c.rms_norm_eps, h.data());
    kernels::matmul(*lw.gate_proj, h.data(), T, gate.data());
    kernels::matmul(*lw.up_proj, h.data(), T, up.data());
    kernels::silu_mul(gate.data(), up.data(), T * F, gate.data());
    kernels::matmul(*lw.down_proj, gate.data(), T, proj.data());
    add_in_place(x.data(), proj.data(), T * H);
  }

  const auto n_logits = static_cast<int64_t>(batch.logits_indices.size());
  std::vector<float> last(static_cast<size_t>(n_logits * H));
  for (int64_t i = 0; i < n_logits; ++i)
    kernels::rms_norm(x.data() + batch.logits_indices[i] * H, final_norm_.data(), 1, H, c.rms_norm_eps,
                      last.data() + i * H);
  std::vector<float> logits(static_cast<size_t>(n_logits * c.vocab_size));
  kernels::matmul(*lm_head_, last.data(), n_logits, logits.data());
  return logits;
}

}  // namespace pagellm
