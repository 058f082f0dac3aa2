#include "model/gguf_weights.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "util/error.h"

namespace pagellm {

std::string gguf_to_hf_name(const std::string& name) {
  static const std::map<std::string, std::string> kTop = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  static const std::map<std::string, std::string> kLayer = {
      {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"}, {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  if (auto it = kTop.find(name); it != kTop.end()) return it->second;
  if (name.rfind("blk.", 0) != 0) return "";
  size_t layer_end = name.find('.', 4);
  if (layer_end == std::string::npos || layer_end == 4 || layer_end - 4 > 6) return "";
  for (size_t k = 4; k < layer_end; ++k)
    if (name[k] < '0' || name[k] > '9') return "";
  if (name[4] == '0' && layer_end > 5) return "";  // "blk.01" would alias "blk.1"
  size_t suffix_begin = name.rfind('.');
  if (suffix_begin <= layer_end) return "";
  const std::string suffix = name.substr(suffix_begin + 1);
  if (suffix != "weight" && suffix != "bias") return "";
  auto it = kLayer.find(name.substr(layer_end + 1, suffix_begin - layer_end - 1));
  if (it == kLayer.end()) return "";
  const int layer = std::stoi(name.substr(4, layer_end - 4));  // at most 6 digits: cannot overflow
  return "model.layers." + std::to_string(layer) + "." + it->second + "." + suffix;
}

void unpermute_qk_rows(const TensorView& src, int64_t n_head, uint8_t* dst, const std::string& what) {
  // A vector (bias) is permuted element by element, a matrix row by row.
  const bool vector = src.shape.size() == 1;
  const int64_t rows = vector ? src.numel() : src.shape.front();
  const int64_t row_bytes = vector ? dtype_row_bytes(src.dtype, 1) : src.nbytes() / std::max<int64_t>(rows, 1);
  if (vector && dtype_info(src.dtype).block_elems != 1)
    fail(ErrorCode::kUnsupported, "{}: cannot permute a {} vector", what, dtype_name(src.dtype));
  if (n_head <= 0 || rows % n_head != 0 || (rows / n_head) % 2 != 0)
    fail(ErrorCode::kInvalidModel, "{}: {} rows do not split into {} heads of even size", what, rows, n_head);
  const int64_t head_dim = rows / n_head, half = head_dim / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t to = h * head_dim + j * half + i, from = h * head_dim + 2 * i + j;
        std::memcpy(dst + to * row_bytes, src.data + from * row_bytes, row_bytes);
      }
}

}  // namespace pagellm
