#include "model/model_config.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "loader/gguf.h"
#include "model/hf_fields.h"
#include "util/error.h"
#include "util/logging.h"

namespace pagellm {
namespace {

std::string hf_arch_name(const Json& config, const std::string& source) {
  auto it = config.find("architectures");
  if (it == config.end() || it->is_null()) {
    // Older configs name only model_type; map it to the class name it implies.
    HfFields f(config, source);
    const std::string type = f.string("model_type");
    if (type == "llama") return "LlamaForCausalLM";
    if (type == "mistral") return "MistralForCausalLM";
    if (type == "qwen2") return "Qwen2ForCausalLM";
    if (type == "qwen3") return "Qwen3ForCausalLM";
    fail(ErrorCode::kInvalidModel, "{}: missing field architectures", source);
  }
  if (!it->is_array() || it->empty() || !(*it)[0].is_string())
    fail(ErrorCode::kInvalidModel, "{}: field architectures must be a non-empty list of strings", source);
  return (*it)[0].get<std::string>();
}

// transformers >= 5 writes `rope_parameters` (rope_type, rope_theta and the scaling fields)
// where older versions wrote `rope_scaling` and a top-level `rope_theta`.
const char* rope_scaling_key(const Json& config) {
  auto it = config.find("rope_scaling");
  return (it == config.end() || it->is_null()) && config.contains("rope_parameters") ? "rope_parameters"
                                                                                     : "rope_scaling";
}

RopeScaling hf_rope_scaling(const Json& config, const std::string& source) {
  RopeScaling rs;
  const char* key = rope_scaling_key(config);
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return rs;
  if (!it->is_object()) fail(ErrorCode::kInvalidModel, "{}: field {} must be an object or null", source, key);
  HfFields f(*it, source);
  std::string type = f.string("rope_type");
  if (type.empty()) type = f.string("type");
  if (type.empty() || type == "default") return rs;
  if (type == "linear") {
    rs.type = RopeScaling::Type::kLinear;
    rs.factor = f.number("factor");
  } else if (type == "llama3") {
    rs.type = RopeScaling::Type::kLlama3;
    rs.factor = f.number("factor");
    rs.low_freq_factor = f.number("low_freq_factor", rs.low_freq_factor);
    rs.high_freq_factor = f.number("high_freq_factor", rs.high_freq_factor);
    rs.original_max_position_embeddings =
        f.integer("original_max_position_embeddings", rs.original_max_position_embeddings);
  } else {
    fail(ErrorCode::kUnsupported, "{}: rope_scaling type '{}' is not supported (linear, llama3)", source, type);
  }
  return rs;
}

// head_dim = hidden / heads when the file does not give it; heads must then divide hidden.
int64_t default_head_dim(int64_t hidden, int64_t heads, const std::string& source, const char* heads_field) {
  if (heads <= 0) fail(ErrorCode::kInvalidModel, "{}: {} must be positive, got {}", source, heads_field, heads);
  if (hidden % heads != 0)
    fail(ErrorCode::kInvalidModel, "{}: {}={} does not divide hidden size {} (and no explicit head_dim)", source,
         heads_field, heads, hidden);
  return hidden / heads;
}

}  // namespace

ModelConfig ModelConfig::from_hf_json(const Json& config, const std::string& source) {
  if (!config.is_object()) fail(ErrorCode::kInvalidModel, "{}: config is not a JSON object", source);
  ModelConfig c;
  c.arch_name = hf_arch_name(config, source);
  if (c.arch_name == "LlamaForCausalLM")
    c.arch = Architecture::kLlama;
  else if (c.arch_name == "MistralForCausalLM")
    c.arch = Architecture::kMistral;
  else if (c.arch_name == "Qwen2ForCausalLM")
    c.arch = Architecture::kQwen2;
  else if (c.arch_name == "Qwen3ForCausalLM")
    c.arch = Architecture::kQwen3;
  else
    fail(ErrorCode::kUnsupported,
         "{}: architecture {} is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
         "Qwen3ForCausalLM)",
         source, c.arch_name);

  HfFields f(config, source);
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads);
  if (f.find("head_dim"))
    c.head_dim = f.integer("head_dim");
  else
    c.head_dim = default_head_dim(c.hidden_size, c.num_heads, source, "num_attention_heads");
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer("max_position_embeddings");
  c.rms_norm_eps = f.number("rms_norm_eps", c.rms_norm_eps);
  c.rope_theta = f.number("rope_theta", c.rope_theta);
  if (const Json* params = f.find("rope_parameters"); params && params->is_object() && !f.find("rope_theta"))
    c.rope_theta = HfFields(*params, source).number("rope_theta", c.rope_theta);
  c.rope_scaling = hf_rope_scaling(config, source);
  if (const Json* window = f.find("sliding_window");
      window && window->is_number_integer() && window->get<int64_t>() < c.max_position_embeddings &&
      !(f.find("use_sliding_window") && !f.boolean("use_sliding_window", false)))
    log_warning("{}: sliding_window {} is ignored: attention spans the whole context", source, window->get<int64_t>());
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.attention_bias = c.arch == Architecture::kQwen2 || f.boolean("attention_bias", false);
  c.qk_norm = c.arch == Architecture::kQwen3;
  if (const Json* bos = f.find("bos_token_id")) c.bos_token_id = token_id(*bos, source, "bos_token_id");
  if (const Json* eos = f.find("eos_token_id")) {
    token_ids(*eos, source, "eos_token_id", &c.eos_token_ids);
  }
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::from_gguf(const GgufFile& gguf) {
  const std::string& source = gguf.path();
  ModelConfig c;
  std::optional<std::string> arch = gguf.get_string("general.architecture");
  if (!arch) fail(ErrorCode::kInvalidModel, "{}: missing key general.architecture", source);
  c.arch_name = *arch;
  if (*arch == "llama")
    c.arch = Architecture::kLlama;
  else if (*arch == "qwen2")
    c.arch = Architecture::kQwen2;
  else if (*arch == "qwen3")
    c.arch = Architecture::kQwen3;
  else
    fail(ErrorCode::kUnsupported, "{}: general.architecture '{}' is not supported (llama, qwen2, qwen3)", source,
         *arch);

  const std::string p = *arch + ".";
  auto required_int = [&](const std::string& key) {
    std::optional<int64_t> v = gguf.get_int(key);
    if (!v) fail(ErrorCode::kInvalidModel, "{}: missing key {}", source, key);
    return *v;
  };
  c.hidden_size = required_int(p + "embedding_length");
  c.intermediate_size = required_int(p + "feed_forward_length");
  c.num_layers = required_int(p + "block_count");
  c.num_heads = required_int(p + "attention.head_count");
  c.num_kv_heads = gguf.get_int(p + "attention.head_count_kv").value_or(c.num_heads);
  if (auto key_length = gguf.get_int(p + "attention.key_length"))
    c.head_dim = *key_length;
  else
    c.head_dim = default_head_dim(c.hidden_size, c.num_heads, source, (p + "attention.head_count").c_str());
  if (auto rope_dims = gguf.get_int(p + "rope.dimension_count"); rope_dims && *rope_dims != c.head_dim)
    fail(ErrorCode::kUnsupported, "{}: {}rope.dimension_count {} != head_dim {} (partial rotary)", source, p,
         *rope_dims, c.head_dim);
  c.max_position_embeddings = gguf.get_int(p + "context_length").value_or(2048);
  c.rms_norm_eps = gguf.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  c.rope_theta = gguf.get_float(p + "rope.freq_base").value_or(10000.0);
  const std::string scaling = gguf.get_string(p + "rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    c.rope_scaling.type = RopeScaling::Type::kLinear;
    c.rope_scaling.factor = gguf.get_float(p + "rope.scaling.factor").value_or(1.0);
  } else if (scaling != "none") {
    fail(ErrorCode::kUnsupported, "{}: {}rope.scaling.type '{}' is not supported (none, linear)", source, p, scaling);
  }

  if (const auto* tokens = gguf.get_string_array("tokenizer.ggml.tokens"))
    c.vocab_size = static_cast<int64_t>(tokens->size());
  else if (auto v = gguf.get_int(p + "vocab_size"))
    c.vocab_size = *v;
  else if (const auto* embd = gguf.find_tensor("token_embd.weight"))
    c.vocab_size = embd->view.shape.front();
  // llama.cpp writes uint32 max (or -1) for "no such token"; anything outside the vocabulary
  // is treated as absent rather than as an id.
  auto token = [&](const char* key) -> std::optional<int32_t> {
    std::optional<int64_t> id = gguf.get_int(key);
    if (!id || *id < 0 || *id >= c.vocab_size) return std::nullopt;
    return static_cast<int32_t>(*id);
  };
  c.bos_token_id = token("tokenizer.ggml.bos_token_id").value_or(-1);
  if (auto eos = token("tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(*eos);
  c.tie_word_embeddings = gguf.find_tensor("output.weight") == nullptr;
  c.attention_bias = c.arch == Architecture::kQwen2;
  c.qk_norm = c.arch == Architecture::kQwen3;
  c.validate(source);
  return c;
}

void ModelConfig::validate(const std::string& source) const {
  // Generous caps: far beyond any real model, small enough that size products cannot overflow.
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  auto check_size = [&](const char* field, int64_t v) {
    if (v <= 0 || v > kMaxDim)
      fail(ErrorCode::kInvalidModel, "{}: {} must be in [1, {}], got {}", source, field, kMaxDim, v);
  };
  check_size("hidden_size", hidden_size);
  check_size("intermediate_size", intermediate_size);
  // Layers bound the list of expected tensors, so a corrupt count must not reach billions.
  constexpr int64_t kMaxLayers = 4096;
  if (num_layers <= 0 || num_layers > kMaxLayers)
    fail(ErrorCode::kInvalidModel, "{}: num_hidden_layers must be in [1, {}], got {}", source, kMaxLayers, num_layers);
  check_size("num_attention_heads", num_heads);
  check_size("num_key_value_heads", num_kv_heads);
  check_size("head_dim", head_dim);
  check_size("vocab_size", vocab_size);
  check_size("max_position_embeddings", max_position_embeddings);
  if (num_heads % num_kv_heads != 0)
    fail(ErrorCode::kInvalidModel, "{}: num_key_value_heads={} does not divide num_attention_heads={}", source,
         num_kv_heads, num_heads);
  if (head_dim % 2 != 0) fail(ErrorCode::kInvalidModel, "{}: head_dim={} must be even for RoPE", source, head_dim);
  if (num_heads * head_dim > kMaxDim)
    fail(ErrorCode::kInvalidModel, "{}: num_attention_heads * head_dim = {} is too large", source,
         num_heads * head_dim);
  if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps))
    fail(ErrorCode::kInvalidModel, "{}: rms_norm_eps must be positive, got {}", source, rms_norm_eps);
  if (!(rope_theta > 0) || !std::isfinite(rope_theta))
    fail(ErrorCode::kInvalidModel, "{}: rope_theta must be positive, got {}", source, rope_theta);
  if (rope_scaling.type != RopeScaling::Type::kNone &&
      (!(rope_scaling.factor > 0) || !std::isfinite(rope_scaling.factor)))
    fail(ErrorCode::kInvalidModel, "{}: rope_scaling factor must be positive, got {}", source, rope_scaling.factor);
  if (rope_scaling.type == RopeScaling::Type::kLlama3 &&
      (rope_scaling.original_max_position_embeddings <= 0 || !(rope_scaling.low_freq_factor > 0) ||
       !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor)))
    fail(
        ErrorCode::kInvalidModel,
        "{}: rope_scaling llama3 needs original_max_position_embeddings > 0 and 0 < low_freq_factor < high_freq_factor",
        source);
  if (!rope_freq_divisors.empty() && static_cast<int64_t>(rope_freq_divisors.size()) != head_dim / 2)
    fail(ErrorCode::kInvalidModel, "{}: rope_freqs has {} values, expected head_dim/2 = {}", source,
         rope_freq_divisors.size(), head_dim / 2);
}

}  // namespace pagellm
