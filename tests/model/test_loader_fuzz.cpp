// Corrupted model files must fail with pagellm::Error, never another exception, a crash, a
// hang or a sanitizer report. Truncated and byte-mutated copies of real fixtures, fixed seeds.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "loader/gguf.h"
#include "loader_test_util.h"
#include "low_bit_gguf.h"
#include "model/model_loader.h"
#include "test_paths.h"
#include "util/error.h"

namespace pagellm {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int loaded = 0, rejected = 0;
};

// Loads `path`; any exception other than pagellm::Error fails the test.
void load_expecting_success_or_error(const std::string& path, const std::string& what, Outcome* outcome) {
  try {
    auto m = load_model(path);
    // Touch every weight so a view pointing outside its file would trip ASan.
    uint64_t sum = 0;
    for (const auto& [name, view] : m->weights.all())
      for (int64_t k = 0; k < view.nbytes(); k += 97) sum += view.data[k];
    (void)sum;
    ++outcome->loaded;
  } catch (const Error&) {
    ++outcome->rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": non-pagellm exception: " << e.what();
  } catch (...) {
    ADD_FAILURE() << what << ": unknown exception";
  }
}

// Overwrites 1..4 bytes, mostly within the first `hot` bytes (headers), sometimes anywhere.
std::string mutate(const std::string& original, size_t hot, std::mt19937_64& rng) {
  std::string s = original;
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < n; ++k) {
    size_t limit = (rng() % 4 != 0) ? std::min(hot, s.size()) : s.size();
    size_t pos = rng() % limit;
    static const uint8_t kSpecial[] = {0x00, 0xff, 0x7f, 0x80, 0x01, '"', '{', ']', '-', '9'};
    s[pos] = static_cast<char>(rng() % 2 ? kSpecial[rng() % sizeof(kSpecial)] : rng() % 256);
  }
  return s;
}

std::vector<size_t> truncation_lengths(size_t size, size_t hot, std::mt19937_64& rng, int count) {
  std::vector<size_t> lengths = {0, 1, 3, 4, 8, 16, 23, 24, size - 1, size / 2};
  while (static_cast<int>(lengths.size()) < count) lengths.push_back(rng() % 2 ? rng() % hot : rng() % size);
  return lengths;
}

// Bytes up to the end of the tensor infos: where the GGUF parser spends its effort.
size_t gguf_header_bytes(const std::string& path) {
  auto g = GgufFile::open(path);
  size_t first = g->file()->size();
  for (const auto& t : g->tensors()) {
    const uint8_t* data = t.quantized.empty() ? t.view.data : t.quantized.data();
    first = std::min(first, static_cast<size_t>(data - g->file()->data()));
  }
  return first;
}

void fuzz_gguf(const std::string& fixture, uint64_t seed, int truncations, int mutations) {
  test::TempDir dir;
  const std::string original = test::read_bytes(fixture);
  ASSERT_FALSE(original.empty()) << fixture;
  const size_t hot = gguf_header_bytes(fixture);
  std::mt19937_64 rng(seed);
  const std::string path = dir.file("fuzz.gguf");
  Outcome outcome;
  for (size_t len : truncation_lengths(original.size(), hot, rng, truncations)) {
    test::write_bytes(path, original.substr(0, len));
    load_expecting_success_or_error(path, fixture + " truncated to " + std::to_string(len), &outcome);
  }
  for (int k = 0; k < mutations; ++k) {
    test::write_bytes(path, mutate(original, hot, rng));
    load_expecting_success_or_error(path, fixture + " mutation " + std::to_string(k), &outcome);
  }
  EXPECT_GT(outcome.rejected, truncations / 2);  // the cases really were broken
  EXPECT_GT(outcome.loaded, 0);                  // and some mutations are harmless (tensor data)
}

TEST(LoaderFuzz, Stories260KGguf) {
  fuzz_gguf(test::shared_dir() + "/models/stories260K/stories260K.gguf", 1234, 60, 200);
}

TEST(LoaderFuzz, TinyRandomQ8Gguf) {
  fuzz_gguf(test::shared_dir() + "/models/tiny-random/llama-gqa/llama-gqa-q8_0.gguf", 99, 40, 150);
}

TEST(LoaderFuzz, TinyRandomLowBitGguf) {
  test::TempDir dir;
  const std::string fixture = dir.file("low-bit.gguf");
  test::write_bytes(fixture,
                    test::as_low_bit_types(test::shared_dir() + "/models/tiny-random/llama-gqa/llama-gqa-q8_0.gguf"));
  int low_bit = 0;
  const auto converted = GgufFile::open(fixture);
  for (const GgufTensorInfo& t : converted->tensors()) low_bit += !t.quantized.empty();
  ASSERT_GT(low_bit, 5);  // the copy really holds them
  fuzz_gguf(fixture, 7, 40, 150);
}

TEST(LoaderFuzz, Stories260KHfDir) {
  const std::string src = test::shared_dir() + "/models/stories260K/hf";
  const std::string st = test::read_bytes(src + "/model.safetensors");
  const std::string config = test::read_bytes(src + "/config.json");
  ASSERT_GT(st.size(), 8u);
  uint64_t header_len;
  std::memcpy(&header_len, st.data(), 8);
  const size_t hot = 8 + static_cast<size_t>(header_len);
  test::TempDir dir;
  test::write_bytes(dir.file("generation_config.json"), test::read_bytes(src + "/generation_config.json"));
  const std::string path = dir.path().string();
  std::mt19937_64 rng(42);
  Outcome outcome;

  test::write_bytes(dir.file("config.json"), config);
  for (size_t len : truncation_lengths(st.size(), hot, rng, 40)) {
    test::write_bytes(dir.file("model.safetensors"), st.substr(0, len));
    load_expecting_success_or_error(path, "model.safetensors truncated to " + std::to_string(len), &outcome);
  }
  for (int k = 0; k < 150; ++k) {
    test::write_bytes(dir.file("model.safetensors"), mutate(st, hot, rng));
    load_expecting_success_or_error(path, "model.safetensors mutation " + std::to_string(k), &outcome);
  }
  test::write_bytes(dir.file("model.safetensors"), st);
  for (size_t len : truncation_lengths(config.size(), config.size(), rng, 20)) {
    test::write_bytes(dir.file("config.json"), config.substr(0, len));
    load_expecting_success_or_error(path, "config.json truncated to " + std::to_string(len), &outcome);
  }
  for (int k = 0; k < 150; ++k) {
    test::write_bytes(dir.file("config.json"), mutate(config, config.size(), rng));
    load_expecting_success_or_error(path, "config.json mutation " + std::to_string(k), &outcome);
  }
  EXPECT_GT(outcome.rejected, 50);
  EXPECT_GT(outcome.loaded, 0);
}

}  // namespace
}  // namespace pagellm
