#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "loader/gguf.h"
#include "loader_test_util.h"
#include "low_bit_gguf.h"
#include "model/llama_model.h"
#include "model/model_loader.h"
#include "tensor/convert.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

namespace fs = std::filesystem;
using test::dequantize;
using test::expect_error;
using test::gguf_array;
using test::gguf_str;
using test::GgufWriter;
using test::le;
using test::tiny_random_dir;
using test::tiny_random_gguf;

std::string stories() { return test::shared_dir() + "/models/stories260K"; }

// One row of models/README.md's table.
struct Expected {
  const char* variant;
  Architecture arch;
  int64_t hidden, layers, heads, kv_heads, head_dim, ffn;
  bool tie;
  double theta, eps;
};
const Expected kTiny[] = {
    {"llama-gqa", Architecture::kLlama, 64, 2, 4, 2, 16, 128, false, 1e4, 1e-5},
    {"llama-tied-mha", Architecture::kLlama, 128, 3, 4, 4, 32, 256, true, 5e5, 1e-6},
    {"llama3-rope", Architecture::kLlama, 128, 2, 8, 2, 16, 256, false, 1e4, 1e-5},
    {"qwen2-bias", Architecture::kQwen2, 64, 2, 4, 2, 16, 128, true, 1e6, 1e-6},
    {"qwen3-qknorm", Architecture::kQwen3, 64, 2, 4, 2, 32, 128, false, 1e6, 1e-6},
};

void expect_config(const ModelConfig& c, const Expected& e, bool from_gguf) {
  SCOPED_TRACE(e.variant);
  EXPECT_EQ(c.arch, e.arch);
  EXPECT_EQ(c.hidden_size, e.hidden);
  EXPECT_EQ(c.num_layers, e.layers);
  EXPECT_EQ(c.num_heads, e.heads);
  EXPECT_EQ(c.num_kv_heads, e.kv_heads);
  EXPECT_EQ(c.head_dim, e.head_dim);
  EXPECT_EQ(c.intermediate_size, e.ffn);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.tie_word_embeddings, e.tie);
  EXPECT_EQ(c.rope_theta, e.theta);
  EXPECT_NEAR(c.rms_norm_eps, e.eps, e.eps * 1e-6);  // GGUF stores it as float32
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{2});
  EXPECT_EQ(c.attention_bias, e.arch == Architecture::kQwen2);
  EXPECT_EQ(c.qk_norm, e.arch == Architecture::kQwen3);
  const bool llama3 = std::string(e.variant) == "llama3-rope";
  if (llama3 && !from_gguf) {
    EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLlama3);
    EXPECT_EQ(c.rope_scaling.factor, 8.0);
    EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
    EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
  } else {
    EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
  }
  // The GGUF carries llama3 scaling as per-frequency divisors instead.
  EXPECT_EQ(c.rope_freq_divisors.size(), llama3 && from_gguf ? 8u : 0u);
}

TEST(ModelLoader, Stories260KGguf) {
  auto m = load_model(stories() + "/stories260K.gguf");
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.arch_name, "llama");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 2048);  // the converter's default, see models/README.md
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);  // the file carries output.weight
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{2});
  ASSERT_NE(m->gguf, nullptr);
  EXPECT_TRUE(m->hf_dir.empty());
  EXPECT_EQ(m->weights.all().size(), 3u + 5u * 9u);
  EXPECT_EQ(m->weights.get("lm_head.weight").shape, (std::vector<int64_t>{512, 64}));
}

TEST(ModelLoader, Stories260KHfDir) {
  auto m = load_model(stories() + "/hf");
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.arch_name, "LlamaForCausalLM");
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(m->weights.contains("lm_head.weight"));
  EXPECT_EQ(m->gguf, nullptr);
  EXPECT_EQ(m->hf_dir, stories() + "/hf");
  EXPECT_EQ(m->generation.eos_token_ids, std::vector<int32_t>{2});
  EXPECT_FALSE(m->generation.temperature.has_value());
  expect_error([&] { m->weights.get("lm_head.weight"); }, ErrorCode::kInvalidModel, {"lm_head.weight"});
}

// The HF dir was converted from the GGUF with unpermute_qk, so after our own un-permutation
// every tensor must match bit for bit (and the GGUF's output.weight equals the tied embedding).
// Low-bit tensors are converted to Q8_0 copies that the model frees once packed: a second model from the same
// LoadedModel is an error that says so, not a read of freed memory.
TEST(ModelLoader, LowBitCopiesAreFreedOncePacked) {
  test::TempDir dir;
  const std::string path = dir.file("low-bit.gguf");
  test::write_bytes(path, test::as_low_bit_types(tiny_random_gguf("llama-gqa", "q8_0")));
  std::shared_ptr<const LoadedModel> loaded(load_model(path));
  const std::string down = "model.layers.0.mlp.down_proj.weight";
  ASSERT_EQ(loaded->weights.get(down).dtype, DType::kQ8_0);
  ASSERT_NE(loaded->weights.get(down).data, nullptr);
  { LlamaModel first(loaded); }
  expect_error([&] { loaded->weights.get(down); }, ErrorCode::kInternal, {down, "load the file again"});
  expect_error([&] { LlamaModel second(loaded); }, ErrorCode::kInternal, {"load the file again"});
}

TEST(ModelLoader, Stories260KGgufEqualsHfAfterUnpermute) {
  auto gguf = load_model(stories() + "/stories260K.gguf");
  auto hf = load_model(stories() + "/hf");
  for (const auto& [name, view] : hf->weights.all()) {
    const TensorView* g = gguf->weights.find(name);
    ASSERT_NE(g, nullptr) << name;
    ASSERT_EQ(g->shape, view.shape) << name;
    ASSERT_EQ(std::memcmp(g->data, view.data, view.nbytes()), 0) << name;
  }
  const TensorView& lm_head = gguf->weights.get("lm_head.weight");
  EXPECT_EQ(std::memcmp(lm_head.data, hf->weights.get("model.embed_tokens.weight").data, lm_head.nbytes()), 0);
  // Negative control: the raw GGUF rows differ from HF's for Q (the permutation is not a no-op).
  const TensorView& raw_q = gguf->gguf->find_tensor("blk.0.attn_q.weight")->view;
  const TensorView& hf_q = hf->weights.get("model.layers.0.self_attn.q_proj.weight");
  EXPECT_NE(std::memcmp(raw_q.data, hf_q.data, hf_q.nbytes()), 0);
}

TEST(ModelLoader, TinyRandomHfConfigs) {
  for (const Expected& e : kTiny) {
    auto m = load_model(tiny_random_dir(e.variant) + "/hf");
    expect_config(m->config, e, false);
    EXPECT_EQ(m->config.qk_norm, m->weights.contains("model.layers.1.self_attn.k_norm.weight"));
    EXPECT_EQ(m->config.attention_bias, m->weights.contains("model.layers.1.self_attn.v_proj.bias"));
    EXPECT_EQ(m->weights.contains("lm_head.weight"), !e.tie);
  }
}

// Per-element tolerance of q8_0: half a quantization step plus the fp16 scale's rounding.
void expect_q8_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t b = 0; b < want.size(); b += 32) {
    float amax = 0;
    for (size_t k = b; k < b + 32 && k < want.size(); ++k) amax = std::max(amax, std::fabs(want[k]));
    const float tol = amax / 127 * 0.5f + amax * 2e-3f + 1e-8f;
    for (size_t k = b; k < b + 32 && k < want.size(); ++k)
      ASSERT_LE(std::fabs(got[k] - want[k]), tol) << what << "[" << k << "]";
  }
}

TEST(ModelLoader, TinyRandomGgufsMatchHf) {
  for (const Expected& e : kTiny) {
    if (e.arch != Architecture::kLlama) continue;  // the Qwen variants have no GGUF
    auto hf = load_model(tiny_random_dir(e.variant) + "/hf");
    for (const char* type : {"f32", "f16", "bf16", "q8_0"}) {
      SCOPED_TRACE(std::string(e.variant) + " " + type);
      auto m = load_model(tiny_random_gguf(e.variant, type));
      expect_config(m->config, e, true);
      if (!m->config.rope_freq_divisors.empty()) {
        EXPECT_EQ(m->config.rope_freq_divisors.front(), 1.0f);  // short wavelengths unscaled
        EXPECT_EQ(m->config.rope_freq_divisors.back(), 8.0f);   // long ones divided by the factor
      }
      ASSERT_EQ(m->weights.all().size(), hf->weights.all().size());
      for (const auto& [name, want_view] : hf->weights.all()) {
        const TensorView* got_view = m->weights.find(name);
        ASSERT_NE(got_view, nullptr) << name;
        ASSERT_EQ(got_view->shape, want_view.shape) << name;
        std::vector<float> got = dequantize(*got_view), want = dequantize(want_view);
        const std::string t = type;
        if (t == "f32" || t == "bf16") {
          ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << name;
        } else if (t == "f16") {
          for (size_t k = 0; k < got.size(); ++k) {
            float tol = std::fabs(want[k]) < std::ldexp(1.0f, -14) ? std::ldexp(1.0f, -24) : 0.0f;
            ASSERT_LE(std::fabs(got[k] - want[k]), tol) << name << "[" << k << "]";
          }
        } else if (got_view->dtype == DType::kQ8_0) {
          expect_q8_close(got, want, name);
        } else {
          ASSERT_EQ(got, want) << name;  // norms stay F32 in a q8_0 file
        }
      }
    }
  }
}

// ---- error cases on modified copies ------------------------------------------------------

// An HF dir in a temp dir: stories260K's config.json with `edit` applied, its weights linked.
std::string hf_dir_with(const test::TempDir& dir, const std::function<void(Json&)>& edit) {
  Json config = read_json_file(stories() + "/hf/config.json");
  edit(config);
  test::write_bytes(dir.file("config.json"), config.dump());
  fs::remove(dir.file("model.safetensors"));
  fs::create_symlink(fs::absolute(stories() + "/hf/model.safetensors"), dir.file("model.safetensors"));
  return dir.path().string();
}

TEST(ModelLoader, ConfigErrors) {
  struct Case {
    const char* what;
    std::function<void(Json&)> edit;
    ErrorCode code;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"zero heads", [](Json& j) { j["num_attention_heads"] = 0; }, ErrorCode::kInvalidModel, {"num_attention_heads"}},
      {"heads not dividing hidden",
       [](Json& j) {
         j["num_attention_heads"] = 7;
         j.erase("head_dim");
       },
       ErrorCode::kInvalidModel,
       {"num_attention_heads=7"}},
      {"kv heads not dividing heads",
       [](Json& j) { j["num_key_value_heads"] = 3; },
       ErrorCode::kInvalidModel,
       {"num_key_value_heads=3"}},
      {"unknown architecture",
       [](Json& j) { j["architectures"] = {"GPT2LMHeadModel"}; },
       ErrorCode::kUnsupported,
       {"GPT2LMHeadModel"}},
      {"wrong type", [](Json& j) { j["hidden_size"] = "64"; }, ErrorCode::kInvalidModel, {"hidden_size"}},
      {"float for int", [](Json& j) { j["vocab_size"] = 512.5; }, ErrorCode::kInvalidModel, {"vocab_size"}},
      {"missing field", [](Json& j) { j.erase("intermediate_size"); }, ErrorCode::kInvalidModel, {"intermediate_size"}},
      {"bad eps", [](Json& j) { j["rms_norm_eps"] = -1; }, ErrorCode::kInvalidModel, {"rms_norm_eps"}},
      {"bad eos",
       [](Json& j) {
         j["eos_token_id"] = {2, "x"};
       },
       ErrorCode::kInvalidModel,
       {"eos_token_id"}},
      {"unsupported rope",
       [](Json& j) {
         j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
       },
       ErrorCode::kUnsupported,
       {"yarn"}},
      {"missing tensor",
       [](Json& j) { j["num_hidden_layers"] = 6; },
       ErrorCode::kInvalidModel,
       {"missing tensor model.layers.5."}},
      {"wrong kv shape",
       [](Json& j) { j["num_key_value_heads"] = 8; },
       ErrorCode::kInvalidModel,
       {"model.layers.0.self_attn.k_proj.weight has shape [32, 64], expected [64, 64]", "num_key_value_heads=8"}},
      {"wrong vocab",
       [](Json& j) { j["vocab_size"] = 500; },
       ErrorCode::kInvalidModel,
       {"model.embed_tokens.weight", "vocab_size=500"}},
      {"untied without lm_head",
       [](Json& j) { j["tie_word_embeddings"] = false; },
       ErrorCode::kInvalidModel,
       {"missing tensor lm_head.weight"}},
      {"qwen2 without biases",
       [](Json& j) { j["architectures"] = {"Qwen2ForCausalLM"}; },
       ErrorCode::kInvalidModel,
       {"self_attn.q_proj.bias"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    test::TempDir dir;
    const std::string path = hf_dir_with(dir, c.edit);
    expect_error([&] { load_model(path); }, c.code, c.parts);
  }
  // Sanity: the unmodified copy loads, and the rope_scaling forms parse.
  test::TempDir dir;
  EXPECT_NO_THROW(load_model(hf_dir_with(dir, [](Json&) {})));
  auto linear = load_model(hf_dir_with(dir, [](Json& j) { j["rope_scaling"] = {{"type", "linear"}, {"factor", 2}}; }));
  EXPECT_EQ(linear->config.rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_EQ(linear->config.rope_scaling.factor, 2.0);
  auto plain = load_model(hf_dir_with(dir, [](Json& j) {
    j["rope_scaling"] = {{"rope_type", "default"}};
    j["eos_token_id"] = {2, 7};
  }));
  EXPECT_EQ(plain->config.rope_scaling.type, RopeScaling::Type::kNone);
  EXPECT_EQ(plain->config.eos_token_ids, (std::vector<int32_t>{2, 7}));
}

TEST(ModelConfig, DefaultsAndExplicitHeadDim) {
  Json j = {{"architectures", {"MistralForCausalLM"}},
            {"hidden_size", 64},
            {"intermediate_size", 128},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"vocab_size", 100},
            {"max_position_embeddings", 256}};
  ModelConfig c = ModelConfig::from_hf_json(j, "cfg");
  EXPECT_EQ(c.arch, Architecture::kMistral);
  EXPECT_EQ(c.num_kv_heads, 4);  // defaults to the head count
  EXPECT_EQ(c.head_dim, 16);     // hidden / heads
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_TRUE(c.eos_token_ids.empty());
  j["num_attention_heads"] = 3;
  j["head_dim"] = 32;  // explicit head_dim need not divide hidden
  EXPECT_EQ(ModelConfig::from_hf_json(j, "cfg").head_dim, 32);
  j["attention_bias"] = true;
  EXPECT_TRUE(ModelConfig::from_hf_json(j, "cfg").attention_bias);
  j["head_dim"] = 0;
  expect_error([&] { ModelConfig::from_hf_json(j, "cfg"); }, ErrorCode::kInvalidModel, {"cfg", "head_dim"});
  expect_error([&] { ModelConfig::from_hf_json(Json::array(), "cfg"); }, ErrorCode::kInvalidModel, {"cfg"});
}

// transformers 5 folds rope_theta and the scaling into rope_parameters.
TEST(ModelConfig, RopeParameters) {
  Json j = read_json_file(tiny_random_dir("llama3-rope") + "/hf/config.json");
  Json params = j["rope_scaling"];
  params["rope_theta"] = 250000.0;
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = params;
  ModelConfig c = ModelConfig::from_hf_json(j, "cfg");
  EXPECT_EQ(c.rope_theta, 250000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  c = ModelConfig::from_hf_json(j, "cfg");
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kNone);
}

// safetensors does not require a padded header: with one extra header byte every tensor is
// misaligned in the file, and the loader must hand out aligned copies with the same values.
TEST(ModelLoader, MisalignedSafetensorsDataIsCopied) {
  test::TempDir dir;
  const std::string path = hf_dir_with(dir, [](Json&) {});
  const std::string original = test::read_bytes(stories() + "/hf/model.safetensors");
  uint64_t header_len;
  std::memcpy(&header_len, original.data(), 8);
  std::string shifted =
      test::le<uint64_t>(header_len + 1) + original.substr(8, header_len) + " " + original.substr(8 + header_len);
  fs::remove(dir.file("model.safetensors"));
  test::write_bytes(dir.file("model.safetensors"), shifted);
  auto m = load_model(path);
  auto reference = load_model(stories() + "/hf");
  ASSERT_EQ(m->weights.all().size(), reference->weights.all().size());
  for (const auto& [name, view] : m->weights.all()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(view.data) % 4, 0u) << name;
    const TensorView& want = reference->weights.get(name);
    ASSERT_EQ(std::memcmp(view.data, want.data, want.nbytes()), 0) << name;
  }
}

// stories260K's weights split over two shards with an index, as HF writes big checkpoints.
TEST(ModelLoader, ShardedHfDir) {
  test::TempDir dir;
  const std::string path = hf_dir_with(dir, [](Json&) {});
  fs::remove(dir.file("model.safetensors"));
  auto reference = load_model(stories() + "/hf");
  Json weight_map = Json::object();
  std::string shard_names[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
  Json headers[2] = {Json::object(), Json::object()};
  std::string data[2];
  int k = 0;
  for (const auto& [name, view] : reference->weights.all()) {
    const int shard = k++ % 2;
    headers[shard][name] = {{"dtype", "F32"},
                            {"shape", view.shape},
                            {"data_offsets", {data[shard].size(), data[shard].size() + view.nbytes()}}};
    data[shard].append(reinterpret_cast<const char*>(view.data), static_cast<size_t>(view.nbytes()));
    weight_map[name] = shard_names[shard];
  }
  for (int shard = 0; shard < 2; ++shard) {
    std::string header = headers[shard].dump();
    header.resize((header.size() + 7) / 8 * 8, ' ');
    test::write_bytes(dir.file(shard_names[shard]), le<uint64_t>(header.size()) + header + data[shard]);
  }
  test::write_bytes(dir.file("model.safetensors.index.json"), Json{{"weight_map", weight_map}}.dump());
  auto m = load_model(path);
  ASSERT_EQ(m->weights.all().size(), reference->weights.all().size());
  for (const auto& [name, view] : reference->weights.all())
    ASSERT_EQ(std::memcmp(m->weights.get(name).data, view.data, view.nbytes()), 0) << name;
}

TEST(ModelLoader, GenerationConfig) {
  test::TempDir dir;
  const std::string path = hf_dir_with(dir, [](Json&) {});
  test::write_bytes(dir.file("generation_config.json"),
                    R"({"temperature": 0.7, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1,
                        "max_new_tokens": 256, "eos_token_id": [2, 5], "do_sample": true})");
  auto m = load_model(path);
  EXPECT_EQ(m->generation.temperature, 0.7);
  EXPECT_EQ(m->generation.top_p, 0.9);
  EXPECT_EQ(m->generation.top_k, 40);
  EXPECT_EQ(m->generation.repetition_penalty, 1.1);
  EXPECT_EQ(m->generation.max_new_tokens, 256);
  EXPECT_EQ(m->generation.eos_token_ids, (std::vector<int32_t>{2, 5}));
  test::write_bytes(dir.file("generation_config.json"), R"({"top_k": "forty"})");
  expect_error([&] { load_model(path); }, ErrorCode::kInvalidModel, {"generation_config.json", "top_k"});
}

// ---- hand-built GGUF models --------------------------------------------------------------

// A 1-layer llama GGUF: hidden 8, 2 heads of 4, 1 KV head, ffn 16, 4 tokens. Every value of
// row r of a matrix is r, so row moves are visible.
struct TinyGguf {
  std::string arch = "llama";
  int64_t tokens = 4;
  bool with_ffn_up = true;
  std::string build() const {
    GgufWriter w;
    const std::string p = arch + ".";
    w.kv("general.architecture", 8, gguf_str(arch))
        .kv(p + "embedding_length", 4, le<uint32_t>(8))
        .kv(p + "feed_forward_length", 4, le<uint32_t>(16))
        .kv(p + "block_count", 4, le<uint32_t>(1))
        .kv(p + "attention.head_count", 4, le<uint32_t>(2))
        .kv(p + "attention.head_count_kv", 4, le<uint32_t>(1))
        .kv(p + "context_length", 4, le<uint32_t>(64))
        .kv(p + "attention.layer_norm_rms_epsilon", 6, le<float>(1e-5f));
    std::string toks;
    for (int64_t t = 0; t < tokens; ++t) toks += gguf_str("t" + std::to_string(t));
    w.kv("tokenizer.ggml.tokens", 9, gguf_array(8, static_cast<uint64_t>(tokens), toks));
    auto matrix = [](uint64_t in, uint64_t out) {
      std::vector<float> v;
      for (uint64_t r = 0; r < out; ++r) v.insert(v.end(), in, static_cast<float>(r));
      return test::f32_bytes(v);
    };
    w.tensor("token_embd.weight", {8, 4}, 0, matrix(8, 4));
    w.tensor("output_norm.weight", {8}, 0, matrix(8, 1));
    w.tensor("blk.0.attn_norm.weight", {8}, 0, matrix(8, 1));
    w.tensor("blk.0.ffn_norm.weight", {8}, 0, matrix(8, 1));
    w.tensor("blk.0.attn_q.weight", {8, 8}, 0, matrix(8, 8));
    w.tensor("blk.0.attn_k.weight", {8, 4}, 0, matrix(8, 4));
    w.tensor("blk.0.attn_v.weight", {8, 4}, 0, matrix(8, 4));
    w.tensor("blk.0.attn_output.weight", {8, 8}, 0, matrix(8, 8));
    w.tensor("blk.0.ffn_gate.weight", {8, 16}, 0, matrix(8, 16));
    if (with_ffn_up) w.tensor("blk.0.ffn_up.weight", {8, 16}, 0, matrix(8, 16));
    w.tensor("blk.0.ffn_down.weight", {16, 8}, 0, matrix(16, 8));
    w.tensor("blk.0.some_future_tensor.weight", {8}, 0, matrix(8, 1));  // ignored
    if (arch == "qwen2") {
      w.tensor("blk.0.attn_q.bias", {8}, 0, matrix(1, 8));
      w.tensor("blk.0.attn_k.bias", {4}, 0, matrix(1, 4));
      w.tensor("blk.0.attn_v.bias", {4}, 0, matrix(1, 4));
    }
    return w.build();
  }
};

std::vector<float> row_labels(const TensorView& v) {
  std::vector<float> all = dequantize(v), labels;
  for (int64_t r = 0; r < v.rows(); ++r) labels.push_back(all[static_cast<size_t>(r * v.cols())]);
  return labels;
}

TEST(ModelLoader, HandBuiltGgufUnpermutesLlamaOnly) {
  test::TempDir dir;
  test::write_bytes(dir.file("llama.gguf"), TinyGguf{}.build());
  auto m = load_model(dir.file("llama.gguf"));
  EXPECT_TRUE(m->config.tie_word_embeddings);
  EXPECT_EQ(m->config.head_dim, 4);
  // head_dim 4: HF rows (h, j, i) <- GGUF rows h*4 + 2i + j, i.e. [0, 2, 1, 3] within each head.
  EXPECT_EQ(row_labels(m->weights.get("model.layers.0.self_attn.q_proj.weight")),
            (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(row_labels(m->weights.get("model.layers.0.self_attn.k_proj.weight")), (std::vector<float>{0, 2, 1, 3}));
  EXPECT_EQ(row_labels(m->weights.get("model.layers.0.self_attn.v_proj.weight")), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_FALSE(m->weights.contains("blk.0.some_future_tensor.weight"));

  TinyGguf qwen;
  qwen.arch = "qwen2";
  test::write_bytes(dir.file("qwen.gguf"), qwen.build());
  auto q = load_model(dir.file("qwen.gguf"));
  EXPECT_EQ(q->config.arch, Architecture::kQwen2);
  EXPECT_TRUE(q->config.attention_bias);
  EXPECT_EQ(row_labels(q->weights.get("model.layers.0.self_attn.q_proj.weight")),
            (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(dequantize(q->weights.get("model.layers.0.self_attn.k_proj.bias")), (std::vector<float>{0, 1, 2, 3}));
}

TEST(ModelLoader, HandBuiltGgufErrors) {
  test::TempDir dir;
  const std::string path = dir.file("m.gguf");
  TinyGguf missing;
  missing.with_ffn_up = false;
  test::write_bytes(path, missing.build());
  expect_error([&] { load_model(path); }, ErrorCode::kInvalidModel,
               {path, "missing tensor model.layers.0.mlp.up_proj.weight"});
  TinyGguf vocab;
  vocab.tokens = 5;
  test::write_bytes(path, vocab.build());
  expect_error([&] { load_model(path); }, ErrorCode::kInvalidModel,
               {path, "model.embed_tokens.weight (token_embd.weight in the file)", "vocab_size=5"});
  TinyGguf arch;
  arch.arch = "gpt2";
  test::write_bytes(path, arch.build());
  expect_error([&] { load_model(path); }, ErrorCode::kUnsupported, {path, "gpt2"});

  expect_error([&] { load_model(dir.file("nothing-here")); }, ErrorCode::kNotFound, {"nothing-here"});
  test::write_bytes(dir.file("notes.txt"), "hello");
  expect_error([&] { load_model(dir.file("notes.txt")); }, ErrorCode::kInvalidModel, {"notes.txt"});
  // Magic sniffing: a GGUF without the .gguf suffix still loads.
  test::write_bytes(dir.file("model.bin"), TinyGguf{}.build());
  EXPECT_NE(load_model(dir.file("model.bin"))->gguf, nullptr);
}

}  // namespace
}  // namespace pagellm
