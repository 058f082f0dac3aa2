#include "model/expected_tensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"

namespace pagellm {

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  const int64_t hidden = c.hidden_size, q_out = c.num_heads * c.head_dim, kv_out = c.num_kv_heads * c.head_dim;
  const std::string vocab_why = fmt::format("vocab_size={}, hidden_size={}", c.vocab_size, hidden);
  const std::string q_why =
      fmt::format("num_attention_heads={}, head_dim={}, hidden_size={}", c.num_heads, c.head_dim, hidden);
  const std::string kv_why =
      fmt::format("num_key_value_heads={}, head_dim={}, hidden_size={}", c.num_kv_heads, c.head_dim, hidden);
  const std::string ffn_why = fmt::format("intermediate_size={}, hidden_size={}", c.intermediate_size, hidden);
  const std::string hidden_why = fmt::format("hidden_size={}", hidden);
  const std::string head_why = fmt::format("head_dim={}", c.head_dim);

  std::vector<ExpectedTensor> out = {
      {"model.embed_tokens.weight", {c.vocab_size, hidden}, true, vocab_why},
      // Kept when present even if tied: the model uses lm_head if present, else embed_tokens.
      {"lm_head.weight", {c.vocab_size, hidden}, !c.tie_word_embeddings, vocab_why},
      {"model.norm.weight", {hidden}, true, hidden_why},
  };
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    out.push_back({p + "input_layernorm.weight", {hidden}, true, hidden_why});
    out.push_back({p + "post_attention_layernorm.weight", {hidden}, true, hidden_why});
    out.push_back({p + "self_attn.q_proj.weight", {q_out, hidden}, true, q_why});
    out.push_back({p + "self_attn.k_proj.weight", {kv_out, hidden}, true, kv_why});
    out.push_back({p + "self_attn.v_proj.weight", {kv_out, hidden}, true, kv_why});
    out.push_back({p + "self_attn.o_proj.weight", {hidden, q_out}, true, q_why});
    out.push_back({p + "self_attn.q_proj.bias", {q_out}, c.attention_bias, q_why});
    out.push_back({p + "self_attn.k_proj.bias", {kv_out}, c.attention_bias, kv_why});
    out.push_back({p + "self_attn.v_proj.bias", {kv_out}, c.attention_bias, kv_why});
    out.push_back({p + "self_attn.o_proj.bias", {hidden}, false, hidden_why});  // Llama with attention_bias
    out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}, c.qk_norm, head_why});
    out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}, c.qk_norm, head_why});
    out.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, hidden}, true, ffn_why});
    out.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, hidden}, true, ffn_why});
    out.push_back({p + "mlp.down_proj.weight", {hidden, c.intermediate_size}, true, ffn_why});
  }
  return out;
}

void check_tensors(const std::map<std::string, TensorView>& tensors, const std::vector<ExpectedTensor>& expected,
                   const std::string& source, const std::map<std::string, std::string>& origin) {
  auto label = [&](const std::string& name) {
    auto it = origin.find(name);
    return it == origin.end() || it->second == name ? name : fmt::format("{} ({} in the file)", name, it->second);
  };
  for (const ExpectedTensor& e : expected) {
    auto it = tensors.find(e.name);
    if (it == tensors.end()) {
      if (e.required) fail(ErrorCode::kInvalidModel, "{}: missing tensor {}", source, e.name);
      continue;
    }
    const TensorView& v = it->second;
    if (v.shape != e.shape)
      fail(ErrorCode::kInvalidModel, "{}: tensor {} has shape {}, expected [{}] for {}", source, label(e.name),
           v.shape_string(), fmt::join(e.shape, ", "), e.because);
    if (e.shape.size() == 1 && v.dtype == DType::kQ8_0)
      fail(ErrorCode::kUnsupported, "{}: tensor {} is {}; vectors must be F32, F16 or BF16", source, label(e.name),
           dtype_name(v.dtype));
    if (v.dtype == DType::kI32)
      fail(ErrorCode::kUnsupported, "{}: tensor {} has unsupported dtype {}", source, label(e.name),
           dtype_name(v.dtype));
  }
}

}  // namespace pagellm
