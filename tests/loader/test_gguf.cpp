#include <gtest/gtest.h>

#include <cmath>

#include "loader/gguf.h"
#include "loader/safetensors.h"
#include "loader_test_util.h"
#include "tensor/convert.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

using test::dequantize;
using test::expect_error;
using test::gguf_array;
using test::gguf_str;
using test::GgufWriter;
using test::le;
using test::tiny_random_dir;
using test::tiny_random_gguf;

std::string stories_gguf() { return test::shared_dir() + "/models/stories260K/stories260K.gguf"; }

TEST(Gguf, Stories260KMetadata) {
  auto g = GgufFile::open(stories_gguf());
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), 32u);
  EXPECT_EQ(g->get_string("general.architecture"), "llama");
  EXPECT_EQ(g->get_int("llama.embedding_length"), 64);
  EXPECT_EQ(g->get_int("llama.block_count"), 5);
  EXPECT_EQ(g->get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(g->get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(g->get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(g->get_int("llama.context_length"), 2048);
  EXPECT_NEAR(*g->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  EXPECT_EQ(g->get_int("tokenizer.ggml.seperator_token_id"), 4294967295);  // uint32 max, kept exactly
  const auto* tokens = g->get_string_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->size(), 512u);
  EXPECT_EQ((*tokens)[1], "<s>");
  EXPECT_EQ((*tokens)[3], "<0x00>");
  const auto* scores = g->get_number_array("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->size(), 512u);
  EXPECT_EQ(scores->back(), -252.0);
  EXPECT_FALSE(g->get_string("no.such.key").has_value());
  EXPECT_EQ(g->get_string_array("no.such.key"), nullptr);
  expect_error([&] { g->get_string("llama.block_count"); }, ErrorCode::kInvalidModel, {"llama.block_count"});
  expect_error([&] { g->get_int("general.architecture"); }, ErrorCode::kInvalidModel, {"general.architecture"});
  expect_error([&] { g->get_number_array("tokenizer.ggml.tokens"); }, ErrorCode::kInvalidModel,
               {"tokenizer.ggml.tokens"});
}

TEST(Gguf, Stories260KTensors) {
  auto g = GgufFile::open(stories_gguf());
  EXPECT_EQ(g->tensors().size(), 3u + 5u * 9u);
  struct Want {
    const char* name;
    std::vector<int64_t> shape;
  };
  for (const Want& w : std::vector<Want>{{"token_embd.weight", {512, 64}},
                                         {"output.weight", {512, 64}},
                                         {"output_norm.weight", {64}},
                                         {"blk.0.attn_q.weight", {64, 64}},
                                         {"blk.0.attn_k.weight", {32, 64}},
                                         {"blk.4.attn_v.weight", {32, 64}},
                                         {"blk.2.ffn_gate.weight", {172, 64}},
                                         {"blk.2.ffn_down.weight", {64, 172}}}) {
    const GgufTensorInfo* t = g->find_tensor(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t->view.shape, w.shape) << w.name;
    EXPECT_EQ(t->view.dtype, DType::kF32) << w.name;
    EXPECT_EQ(t->offset % g->alignment(), 0u);
  }
  EXPECT_EQ(g->find_tensor("blk.5.attn_q.weight"), nullptr);
  // The published file's output.weight is bit-identical to token_embd.weight (llama2.c ties).
  const TensorView& embd = g->find_tensor("token_embd.weight")->view;
  const TensorView& out = g->find_tensor("output.weight")->view;
  EXPECT_EQ(std::memcmp(embd.data, out.data, embd.nbytes()), 0);
  EXPECT_NE(embd.data, out.data);
}

TEST(Gguf, TinyRandomDtypes) {
  const std::pair<const char*, DType> kTypes[] = {
      {"f32", DType::kF32}, {"f16", DType::kF16}, {"bf16", DType::kBF16}, {"q8_0", DType::kQ8_0}};
  for (const auto& [type, dtype] : kTypes) {
    auto g = GgufFile::open(tiny_random_gguf("llama-gqa", type));
    EXPECT_EQ(g->find_tensor("blk.0.attn_q.weight")->view.dtype, dtype) << type;
    EXPECT_EQ(g->find_tensor("blk.1.ffn_down.weight")->view.dtype, dtype) << type;
    EXPECT_EQ(g->find_tensor("blk.1.ffn_down.weight")->view.shape, (std::vector<int64_t>{64, 128}));
    EXPECT_EQ(g->find_tensor("blk.0.attn_norm.weight")->view.dtype, DType::kF32) << type;  // norms stay F32
    EXPECT_EQ(g->find_tensor("output.weight")->view.shape, (std::vector<int64_t>{512, 64}));
  }
  auto rope = GgufFile::open(tiny_random_gguf("llama3-rope", "bf16"));
  const GgufTensorInfo* freqs = rope->find_tensor("rope_freqs.weight");
  ASSERT_NE(freqs, nullptr);
  EXPECT_EQ(freqs->view.shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(freqs->view.dtype, DType::kF32);
  EXPECT_EQ(GgufFile::open(tiny_random_gguf("llama-tied-mha", "f32"))->find_tensor("output.weight"), nullptr);
}

// F16/BF16 GGUF tensors hold the same (bf16-rounded) values as the F32 GGUF, so dequantized
// they must be equal; tensors GGUF does not permute must also equal the HF safetensors.
TEST(Gguf, HalfPrecisionValuesMatchF32AndHf) {
  const std::map<std::string, std::string> kHfName = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"},
      {"blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"}};
  for (const char* variant : {"llama-gqa", "llama3-rope"}) {
    auto f32 = GgufFile::open(tiny_random_gguf(variant, "f32"));
    auto hf = SafetensorsFile::open(tiny_random_dir(variant) + "/hf/model.safetensors");
    for (const char* type : {"f16", "bf16"}) {
      auto half = GgufFile::open(tiny_random_gguf(variant, type));
      ASSERT_EQ(half->tensors().size(), f32->tensors().size());
      for (const GgufTensorInfo& t : half->tensors()) {
        const GgufTensorInfo* ref = f32->find_tensor(t.name);
        ASSERT_NE(ref, nullptr) << t.name;
        ASSERT_EQ(t.view.shape, ref->view.shape) << t.name;
        std::vector<float> got = dequantize(t.view), want = dequantize(ref->view);
        for (size_t k = 0; k < got.size(); ++k) {
          // f16 cannot hold values below 2^-14 exactly (subnormals); bf16 holds all of them.
          float tol =
              std::string(type) == "f16" && std::fabs(want[k]) < std::ldexp(1.0f, -14) ? std::ldexp(1.0f, -24) : 0;
          ASSERT_LE(std::fabs(got[k] - want[k]), tol) << variant << " " << type << " " << t.name << "[" << k << "]";
        }
        if (auto it = kHfName.find(t.name); it != kHfName.end() && std::string(type) == "bf16") {
          std::vector<float> hf_values = dequantize(hf->tensors().at(it->second));
          EXPECT_EQ(got, hf_values) << t.name;
        }
      }
    }
  }
}

// ---- hand-built files --------------------------------------------------------------------

GgufWriter minimal_writer() {
  GgufWriter w;
  w.kv("general.architecture", 8, gguf_str("llama"));
  return w;
}

std::shared_ptr<GgufFile> open_bytes(const test::TempDir& dir, const std::string& bytes,
                                     const std::string& name = "t.gguf") {
  test::write_bytes(dir.file(name), bytes);
  return GgufFile::open(dir.file(name));
}

TEST(Gguf, EveryMetadataType) {
  test::TempDir dir;
  GgufWriter w;
  w.kv("u8", 0, le<uint8_t>(200))
      .kv("i8", 1, le<int8_t>(-100))
      .kv("u16", 2, le<uint16_t>(60000))
      .kv("i16", 3, le<int16_t>(-30000))
      .kv("u32", 4, le<uint32_t>(4000000000u))
      .kv("i32", 5, le<int32_t>(-2000000000))
      .kv("f32", 6, le<float>(1.5f))
      .kv("bool", 7, le<uint8_t>(1))
      .kv("str", 8, gguf_str("héllo"))
      .kv("u64", 10, le<uint64_t>(uint64_t{1} << 40))
      .kv("i64", 11, le<int64_t>(-(int64_t{1} << 40)))
      .kv("f64", 12, le<double>(0.1))
      .kv("empty_str", 8, gguf_str(""))
      .kv("strs", 9, gguf_array(8, 3, gguf_str("a") + gguf_str("") + gguf_str("ccc")))
      .kv("i32s", 9, gguf_array(5, 2, le<int32_t>(-7) + le<int32_t>(9)))
      .kv("f32s", 9, gguf_array(6, 2, le<float>(0.25f) + le<float>(-3.0f)))
      .kv("bools", 9, gguf_array(7, 2, le<uint8_t>(0) + le<uint8_t>(1)))
      .kv("empty", 9, gguf_array(4, 0, ""))
      .kv("nested", 9,
          gguf_array(9, 2,
                     gguf_array(4, 2, le<uint32_t>(1) + le<uint32_t>(2)) +
                         gguf_array(9, 1, gguf_array(8, 1, gguf_str("deep")))));
  auto g = open_bytes(dir, w.build());
  EXPECT_EQ(g->metadata().size(), 19u);
  EXPECT_EQ(g->get_int("u8"), 200);
  EXPECT_EQ(g->get_int("i8"), -100);
  EXPECT_EQ(g->get_int("u16"), 60000);
  EXPECT_EQ(g->get_int("i16"), -30000);
  EXPECT_EQ(g->get_int("u32"), 4000000000LL);
  EXPECT_EQ(g->get_int("i32"), -2000000000);
  EXPECT_EQ(g->get_float("f32"), 1.5);
  EXPECT_EQ(g->get_bool("bool"), true);
  EXPECT_EQ(g->get_int("bool"), 1);
  EXPECT_EQ(g->get_string("str"), "héllo");
  EXPECT_EQ(g->get_int("u64"), int64_t{1} << 40);
  EXPECT_EQ(g->get_int("i64"), -(int64_t{1} << 40));
  EXPECT_EQ(g->get_float("f64"), 0.1);
  EXPECT_EQ(g->get_float("u16"), 60000.0);  // integers read as floats
  EXPECT_EQ(g->get_string("empty_str"), "");
  EXPECT_EQ(*g->get_string_array("strs"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(*g->get_number_array("i32s"), (std::vector<double>{-7, 9}));
  EXPECT_EQ(*g->get_number_array("f32s"), (std::vector<double>{0.25, -3.0}));
  EXPECT_EQ(*g->get_number_array("bools"), (std::vector<double>{0, 1}));
  EXPECT_TRUE(g->get_number_array("empty")->empty());
  const GgufValue* nested = g->find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->elem_type, GgufValueType::kArray);
  ASSERT_EQ(nested->arrays.size(), 2u);
  EXPECT_EQ(nested->arrays[0].numbers, (std::vector<double>{1, 2}));
  ASSERT_EQ(nested->arrays[1].arrays.size(), 1u);
  EXPECT_EQ(nested->arrays[1].arrays[0].strings, (std::vector<std::string>{"deep"}));
  EXPECT_TRUE(g->tensors().empty());
  expect_error([&] { g->get_bool("u8"); }, ErrorCode::kInvalidModel, {"u8"});
  expect_error([&] { g->get_string_array("nested"); }, ErrorCode::kInvalidModel, {"nested"});
}

TEST(Gguf, VersionTwoAccepted) {
  test::TempDir dir;
  GgufWriter w = minimal_writer();
  w.version = 2;
  EXPECT_EQ(open_bytes(dir, w.build())->version(), 2u);
}

TEST(Gguf, CustomAlignmentPlacesData) {
  test::TempDir dir;
  GgufWriter w = minimal_writer();
  w.alignment = 64;
  w.kv("general.alignment", 4, le<uint32_t>(64));
  w.tensor("a", {3}, 0, test::f32_bytes({1, 2, 3}));
  w.tensor("b", {2, 2}, 0, test::f32_bytes({4, 5, 6, 7}));
  auto g = open_bytes(dir, w.build());
  EXPECT_EQ(g->alignment(), 64u);
  const GgufTensorInfo* b = g->find_tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->offset, 64u);
  EXPECT_EQ((b->view.data - g->file()->data()) % 64, 0);
  EXPECT_EQ(dequantize(b->view), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(dequantize(g->find_tensor("a")->view), (std::vector<float>{1, 2, 3}));

  GgufWriter bad = minimal_writer();
  bad.kv("general.alignment", 4, le<uint32_t>(48));
  expect_error([&] { open_bytes(dir, bad.build()); }, ErrorCode::kInvalidModel, {"general.alignment"});
}

TEST(Gguf, ShapeIsReversedNe) {
  test::TempDir dir;
  GgufWriter w = minimal_writer();
  w.tensor("m", {4, 2, 3}, 0, test::f32_bytes(std::vector<float>(24, 1.0f)));
  w.tensor("q", {64, 2}, 8, std::string(4 * 34, '\0'));
  auto g = open_bytes(dir, w.build());
  EXPECT_EQ(g->find_tensor("m")->view.shape, (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(g->find_tensor("q")->view.shape, (std::vector<int64_t>{2, 64}));
  EXPECT_EQ(g->find_tensor("q")->view.nbytes(), 4 * 34);
}

TEST(Gguf, LowBitTensorsLoadAsQ8_0) {
  GgufWriter w = minimal_writer();
  w.tensor("q6", {256, 2}, 14, std::string(2 * 210, '\x11'));
  test::TempDir dir;
  auto g = open_bytes(dir, w.build());
  const GgufTensorInfo* t = g->find_tensor("q6");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ggml_type, 14u);
  EXPECT_EQ(t->view.dtype, DType::kQ8_0);  // what the model loader converts it to
  EXPECT_EQ(t->view.shape, (std::vector<int64_t>{2, 256}));
  EXPECT_EQ(t->view.data, nullptr);
  ASSERT_EQ(t->quantized.size(), 2u * 210u);
  EXPECT_EQ(t->quantized[0], 0x11);
}

TEST(Gguf, Errors) {
  test::TempDir dir;
  const std::string path = dir.file("t.gguf");
  auto expect_open_error = [&](const std::string& bytes, ErrorCode code, std::vector<std::string> parts) {
    SCOPED_TRACE(parts.front());
    parts.push_back(path);
    expect_error([&] { open_bytes(dir, bytes); }, code, parts);
  };
  const std::string good = minimal_writer().build();

  expect_open_error("", ErrorCode::kInvalidModel, {"magic"});
  expect_open_error("GGML" + good.substr(4), ErrorCode::kInvalidModel, {"magic"});
  GgufWriter v1 = minimal_writer();
  v1.version = 1;
  expect_open_error(v1.build(), ErrorCode::kUnsupported, {"version 1"});
  expect_open_error(good.substr(0, 10), ErrorCode::kInvalidModel, {"truncated"});
  const std::string header = minimal_writer().header();
  expect_open_error(header.substr(0, header.size() - 3), ErrorCode::kInvalidModel, {"general.architecture"});

  // A string whose length runs past the end of the file.
  expect_open_error(GgufWriter().kv("name", 8, le<uint64_t>(1000) + "abc").build(), ErrorCode::kInvalidModel,
                    {"name", "string length 1000"});
  // An array count far beyond what the file could hold must fail before allocating.
  expect_open_error(GgufWriter().kv("tokens", 9, gguf_array(8, uint64_t{1} << 60, "")).build(),
                    ErrorCode::kInvalidModel, {"tokens", "array"});
  expect_open_error(GgufWriter().kv("ints", 9, gguf_array(4, ~uint64_t{0}, "")).build(), ErrorCode::kInvalidModel,
                    {"ints"});
  expect_open_error(GgufWriter().kv("t", 13, "").build(), ErrorCode::kInvalidModel, {"t", "value type 13"});
  expect_open_error(GgufWriter().kv("b", 7, le<uint8_t>(2)).build(), ErrorCode::kInvalidModel, {"b"});
  expect_open_error(GgufWriter().kv("u", 10, le<uint64_t>(~uint64_t{0})).build(), ErrorCode::kInvalidModel, {"u"});
  expect_open_error(GgufWriter().kv("k", 4, le<uint32_t>(1)).kv("k", 4, le<uint32_t>(2)).build(),
                    ErrorCode::kInvalidModel, {"duplicate", "k"});
  expect_open_error(GgufWriter().kv("general.alignment", 8, gguf_str("32")).build(), ErrorCode::kInvalidModel,
                    {"general.alignment", "expected an integer"});
  std::string deep = gguf_array(4, 0, "");
  for (int k = 0; k < 20; ++k) deep = gguf_array(9, 1, deep);
  expect_open_error(GgufWriter().kv("deep", 9, deep).build(), ErrorCode::kInvalidModel, {"deep", "nested"});

  const std::string four = test::f32_bytes({1, 2, 3, 4});
  {
    GgufWriter w = minimal_writer();
    w.tensor("blk.0.attn_q.weight", {4}, 0, four, 4096);
    std::string bytes = w.build();
    bytes.resize(bytes.size() - 4096);  // drop the data the offset points at
    expect_open_error(bytes, ErrorCode::kInvalidModel, {"blk.0.attn_q.weight", "past the end"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("x", {4}, 0, four);
    std::string bytes = w.build();
    expect_open_error(bytes.substr(0, bytes.size() - 1), ErrorCode::kInvalidModel, {"x", "past the end"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("misaligned", {4}, 0, four, 8);
    expect_open_error(w.build(), ErrorCode::kInvalidModel, {"misaligned", "alignment"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("iq", {256}, 16, std::string(66, '\0'));  // IQ2_XXS: no decoder
    expect_open_error(w.build(), ErrorCode::kUnsupported, {"iq", "IQ2_XXS", "Q4_K"});
    GgufWriter k = minimal_writer();
    k.tensor("short_row", {32}, 12, std::string(144, '\0'));  // Q4_K holds 256 values a block
    expect_open_error(k.build(), ErrorCode::kInvalidModel, {"short_row", "Q4_K", "256"});
    GgufWriter cut = minimal_writer();
    cut.tensor("q6", {256, 2}, 14, std::string(2 * 210, '\0'));  // Q6_K: 210 bytes a block
    std::string bytes = cut.build();
    expect_open_error(bytes.substr(0, bytes.size() - 1), ErrorCode::kInvalidModel, {"q6", "past the end"});
    GgufWriter u = minimal_writer();
    u.tensor("weird", {32}, 999, std::string(144, '\0'));
    expect_open_error(u.build(), ErrorCode::kUnsupported, {"weird", "999"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("same", {4}, 0, four).tensor("same", {4}, 0, four);
    expect_open_error(w.build(), ErrorCode::kInvalidModel, {"duplicate", "same"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("q", {33}, 8, std::string(68, '\0'));
    expect_open_error(w.build(), ErrorCode::kInvalidModel, {"q", "block"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("five", {1, 1, 1, 1, 1}, 0, four);
    expect_open_error(w.build(), ErrorCode::kInvalidModel, {"five", "dimensions"});
  }
  {
    GgufWriter w = minimal_writer();
    w.tensor("huge", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, four);
    expect_open_error(w.build(), ErrorCode::kInvalidModel, {"huge"});
  }
  expect_error([&] { GgufFile::open(dir.file("missing.gguf")); }, ErrorCode::kNotFound, {"missing.gguf"});
}

}  // namespace
}  // namespace pagellm
