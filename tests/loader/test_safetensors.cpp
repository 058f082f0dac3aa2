#include <gtest/gtest.h>

#include "loader/safetensors.h"
#include "loader_test_util.h"
#include "tensor/convert.h"
#include "test_paths.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm {
namespace {

using test::expect_error;

std::string stories_st() { return test::shared_dir() + "/models/stories260K/hf/model.safetensors"; }

// A safetensors file from a header (written verbatim, space-padded to 8 bytes as HF's writer
// does, so the data stays aligned) and the data bytes.
std::string st_bytes(std::string header_json, const std::string& data) {
  header_json.resize((header_json.size() + 7) / 8 * 8, ' ');
  return test::le<uint64_t>(header_json.size()) + header_json + data;
}
std::string st_bytes(const Json& header, const std::string& data) { return st_bytes(header.dump(), data); }

Json entry(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
  return Json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

TEST(Safetensors, Stories260K) {
  auto st = SafetensorsFile::open(stories_st());
  EXPECT_EQ(st->tensors().size(), 2u + 5u * 9u);  // tied: no lm_head
  EXPECT_FALSE(st->tensors().count("lm_head.weight"));
  const TensorView& embed = st->tensors().at("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, DType::kF32);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(st->tensors().at("model.layers.4.self_attn.k_proj.weight").shape, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(st->tensors().at("model.layers.0.mlp.down_proj.weight").shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(st->tensors().at("model.norm.weight").shape, (std::vector<int64_t>{64}));
  for (const auto& [name, view] : st->tensors()) {
    EXPECT_GE(view.data, st->file()->data()) << name;
    EXPECT_LE(view.data + view.nbytes(), st->file()->data() + st->file()->size()) << name;
  }
}

TEST(Safetensors, TinyRandomAllFixtures) {
  for (const char* variant : {"llama-gqa", "llama-tied-mha", "llama3-rope", "qwen2-bias", "qwen3-qknorm"}) {
    auto st = SafetensorsFile::open(test::shared_dir() + "/models/tiny-random/" + variant + "/hf/model.safetensors");
    EXPECT_TRUE(st->tensors().count("model.embed_tokens.weight")) << variant;
  }
  auto qwen2 = SafetensorsFile::open(test::shared_dir() + "/models/tiny-random/qwen2-bias/hf/model.safetensors");
  EXPECT_EQ(qwen2->tensors().at("model.layers.1.self_attn.k_proj.bias").shape, (std::vector<int64_t>{32}));
  auto qwen3 = SafetensorsFile::open(test::shared_dir() + "/models/tiny-random/qwen3-qknorm/hf/model.safetensors");
  EXPECT_EQ(qwen3->tensors().at("model.layers.0.self_attn.q_norm.weight").shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(qwen3->tensors().at("model.layers.0.self_attn.q_proj.weight").shape, (std::vector<int64_t>{128, 64}));
}

TEST(Safetensors, HandBuiltValuesDtypesAndMetadata) {
  test::TempDir dir;
  std::string data = test::f32_bytes({1.0f, -2.0f, 3.5f});
  data += test::le<uint16_t>(0x3c00) + test::le<uint16_t>(0xc000);  // f16 1, -2
  data += test::le<uint16_t>(0x3f80);                               // bf16 1
  Json header = {{"__metadata__", {{"format", "pt"}, {"note", "x"}}},
                 {"a", entry("F32", {3}, 0, 12)},
                 {"h", entry("F16", {1, 2}, 12, 16)},
                 {"b", entry("BF16", {1}, 16, 18)},
                 {"empty", entry("F32", {0, 4}, 18, 18)},
                 {"scalar", entry("F32", {}, 0, 4)}};
  // "scalar" shares bytes with "a": that is an overlap, so drop it for the success case.
  header.erase("scalar");
  test::write_bytes(dir.file("m.safetensors"), st_bytes(header, data));
  auto st = SafetensorsFile::open(dir.file("m.safetensors"));
  EXPECT_EQ(st->metadata().at("format"), "pt");
  EXPECT_EQ(st->metadata().size(), 2u);
  ASSERT_EQ(st->tensors().size(), 4u);
  const TensorView& a = st->tensors().at("a");
  float values[3];
  dequantize_row(a.dtype, a.data, values, 3);
  EXPECT_EQ(values[1], -2.0f);
  EXPECT_EQ(values[2], 3.5f);
  const TensorView& h = st->tensors().at("h");
  EXPECT_EQ(h.dtype, DType::kF16);
  dequantize_row(h.dtype, h.data, values, 2);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.0f);
  EXPECT_EQ(st->tensors().at("b").dtype, DType::kBF16);
  EXPECT_EQ(st->tensors().at("empty").numel(), 0);

  // An empty file maps fine but is not a safetensors file.
  test::write_bytes(dir.file("empty.safetensors"), "");
  expect_error([&] { SafetensorsFile::open(dir.file("empty.safetensors")); }, ErrorCode::kInvalidModel,
               {"empty.safetensors"});
}

TEST(Safetensors, Errors) {
  test::TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto expect_open_error = [&](const std::string& bytes, ErrorCode code, std::vector<std::string> parts) {
    SCOPED_TRACE(parts.front());
    test::write_bytes(path, bytes);
    parts.push_back(path);
    expect_error([&] { SafetensorsFile::open(path); }, code, parts);
  };
  const std::string eight = test::f32_bytes({1, 2});

  expect_open_error("abc", ErrorCode::kInvalidModel, {"too small"});
  expect_open_error(test::le<uint64_t>(1000) + "{}", ErrorCode::kInvalidModel, {"header length 1000"});
  expect_open_error(test::le<uint64_t>(~uint64_t{0}) + "{}", ErrorCode::kInvalidModel, {"header length"});
  expect_open_error(st_bytes(std::string("{\"a\": [1,"), eight), ErrorCode::kInvalidModel, {"JSON"});
  expect_open_error(st_bytes(std::string("[1, 2]"), eight), ErrorCode::kInvalidModel, {"object"});
  expect_open_error(st_bytes(Json{{"w", entry("F32", {2}, 0, 16)}}, eight), ErrorCode::kInvalidModel,
                    {"w", "data_offsets"});
  expect_open_error(st_bytes(Json{{"w", entry("F32", {2}, 8, 0)}}, eight), ErrorCode::kInvalidModel, {"w"});
  expect_open_error(st_bytes(Json{{"w", entry("F32", {2}, 0, 4)}}, eight), ErrorCode::kInvalidModel,
                    {"w", "expected 8"});
  expect_open_error(st_bytes(Json{{"w", entry("F16", {2}, 0, 8)}}, eight), ErrorCode::kInvalidModel, {"w"});
  expect_open_error(st_bytes(Json{{"w", entry("F32", {1}, 0, 4)}, {"v", entry("F32", {1}, 2, 6)}}, eight),
                    ErrorCode::kInvalidModel, {"overlap", "w", "v"});
  expect_open_error(st_bytes(Json{{"w", entry("I64", {1}, 0, 8)}}, eight), ErrorCode::kUnsupported, {"w", "I64"});
  expect_open_error(st_bytes(Json{{"w", entry("F8_E4M3", {8}, 0, 8)}}, eight), ErrorCode::kUnsupported,
                    {"w", "F8_E4M3"});
  Json negative = entry("F32", {2}, 0, 8);
  negative["shape"] = {-1, -2};
  expect_open_error(st_bytes(Json{{"w", negative}}, eight), ErrorCode::kInvalidModel, {"w", "shape"});
  Json huge = entry("F32", {2}, 0, 8);
  huge["shape"] = {uint64_t{1} << 62, uint64_t{1} << 62};
  expect_open_error(st_bytes(Json{{"w", huge}}, eight), ErrorCode::kInvalidModel, {"w", "shape"});
  Json no_dtype = entry("F32", {2}, 0, 8);
  no_dtype.erase("dtype");
  expect_open_error(st_bytes(Json{{"w", no_dtype}}, eight), ErrorCode::kInvalidModel, {"w", "dtype"});
  Json bad_offsets = entry("F32", {2}, 0, 8);
  bad_offsets["data_offsets"] = {0};
  expect_open_error(st_bytes(Json{{"w", bad_offsets}}, eight), ErrorCode::kInvalidModel, {"w", "data_offsets"});
  expect_open_error(st_bytes(Json{{"w", 5}}, eight), ErrorCode::kInvalidModel, {"w"});
  expect_open_error(st_bytes(Json{{"__metadata__", {{"k", 1}}}}, eight), ErrorCode::kInvalidModel, {"__metadata__"});
  expect_error([&] { SafetensorsFile::open(dir.file("nope.safetensors")); }, ErrorCode::kNotFound,
               {"nope.safetensors"});
}

// Two shards and an index, as HF writes them for big models.
void write_sharded(const test::TempDir& dir, const Json& weight_map) {
  test::write_bytes(
      dir.file("model-00001-of-00002.safetensors"),
      st_bytes(Json{{"a", entry("F32", {2}, 0, 8)}, {"b", entry("F32", {1}, 8, 12)}}, test::f32_bytes({1, 2, 3})));
  test::write_bytes(dir.file("model-00002-of-00002.safetensors"),
                    st_bytes(Json{{"c", entry("BF16", {2}, 0, 4)}}, test::le<uint32_t>(0x3f803f80)));
  test::write_bytes(dir.file("model.safetensors.index.json"),
                    Json{{"metadata", {{"total_size", 16}}}, {"weight_map", weight_map}}.dump());
}

TEST(Safetensors, ShardedDirectory) {
  test::TempDir dir;
  write_sharded(dir, {{"a", "model-00001-of-00002.safetensors"},
                      {"b", "model-00001-of-00002.safetensors"},
                      {"c", "model-00002-of-00002.safetensors"}});
  auto files = open_safetensors_dir(dir.path().string());
  ASSERT_EQ(files.size(), 2u);
  std::map<std::string, TensorView> all;
  for (const auto& f : files) all.insert(f->tensors().begin(), f->tensors().end());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.at("c").dtype, DType::kBF16);
  float v[2];
  dequantize_row(all.at("a").dtype, all.at("a").data, v, 2);
  EXPECT_EQ(v[1], 2.0f);
}

TEST(Safetensors, ShardedErrors) {
  {
    test::TempDir dir;
    write_sharded(dir, {{"a", "model-00001-of-00002.safetensors"}, {"c", "model-00003-of-00003.safetensors"}});
    expect_error([&] { open_safetensors_dir(dir.path().string()); }, ErrorCode::kNotFound,
                 {"model-00003-of-00003.safetensors", "c"});
  }
  {
    test::TempDir dir;
    write_sharded(dir, {{"a", "model-00001-of-00002.safetensors"}, {"zz", "model-00002-of-00002.safetensors"}});
    expect_error([&] { open_safetensors_dir(dir.path().string()); }, ErrorCode::kInvalidModel,
                 {"zz", "model-00002-of-00002.safetensors"});
  }
  {
    test::TempDir dir;
    write_sharded(dir, {{"a", "../model-00001-of-00002.safetensors"}});
    expect_error([&] { open_safetensors_dir(dir.path().string()); }, ErrorCode::kInvalidModel, {"a", "shard"});
  }
  {
    test::TempDir dir;  // the same tensor in both shards
    write_sharded(dir, {{"a", "model-00001-of-00002.safetensors"}, {"c", "model-00002-of-00002.safetensors"}});
    test::write_bytes(
        dir.file("model-00002-of-00002.safetensors"),
        st_bytes(Json{{"c", entry("F32", {1}, 0, 4)}, {"a", entry("F32", {1}, 4, 8)}}, test::f32_bytes({1, 2})));
    expect_error([&] { open_safetensors_dir(dir.path().string()); }, ErrorCode::kInvalidModel,
                 {"a", "more than one shard"});
  }
  {
    test::TempDir dir;
    test::write_bytes(dir.file("model.safetensors.index.json"), "{\"weight_map\": 3}");
    expect_error([&] { open_safetensors_dir(dir.path().string()); }, ErrorCode::kInvalidModel, {"weight_map"});
  }
  {
    test::TempDir dir;
    expect_error([&] { open_safetensors_dir(dir.path().string()); }, ErrorCode::kNotFound, {"model.safetensors"});
  }
}

}  // namespace
}  // namespace pagellm
