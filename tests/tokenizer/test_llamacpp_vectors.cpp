// llama.cpp's ggml-vocab-*.gguf.inp/.out vectors: encode with add_special=false and special-token
// parsing off. Inputs without a GGUF run against the equivalent tokenizer.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "gguf_test_reader.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "vectors.h"

namespace pagellm {
namespace {

namespace fs = std::filesystem;

fs::path vocab_dir() { return test::tokenizers_dir() / "llama.cpp-vocab"; }

std::vector<std::string> read_inputs(const fs::path& p) {
  std::string s = read_text_file(p.string());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find(sep, pos);
    if (e == std::string::npos) break;
    out.push_back(s.substr(pos, e - pos));
    pos = e + sep.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> read_outputs(const fs::path& p) {
  std::string s = read_text_file(p.string());
  std::vector<std::vector<int32_t>> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t e = s.find('\n', pos);
    if (e == std::string::npos) e = s.size();
    std::vector<int32_t> ids;
    std::string line = s.substr(pos, e - pos);
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size()) break;
      size_t j = line.find(' ', i);
      if (j == std::string::npos) j = line.size();
      ids.push_back(std::stoi(line.substr(i, j - i)));
      i = j;
    }
    out.push_back(ids);
    pos = e + 1;
  }
  return out;
}

// Runs all cases of one .inp/.out pair; returns the number that pass.
int run_pair(const Tokenizer& tok, const std::string& name) {
  auto inputs = read_inputs(vocab_dir() / (name + ".gguf.inp"));
  auto outputs = read_outputs(vocab_dir() / (name + ".gguf.out"));
  EXPECT_EQ(inputs.size(), outputs.size()) << name;
  int pass = 0;
  for (size_t i = 0; i < inputs.size() && i < outputs.size(); ++i) {
    auto got = tok.encode(inputs[i], false, false);
    EXPECT_EQ(test::ids_str(got), test::ids_str(outputs[i])) << name << " input #" << i << ": '" << inputs[i] << "'";
    if (got == outputs[i]) ++pass;
  }
  std::printf("[llama.cpp-vectors] %s: %d/%zu pass\n", name.c_str(), pass, inputs.size());
  return pass;
}

TEST(LlamaCppVectors, EveryGgufWithVectors) {
  int files = 0;
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(vocab_dir()))
    if (e.path().extension() == ".gguf" && fs::exists(e.path().string() + ".inp")) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    std::string name = p.stem().string();
    auto vocab = test::GgufTestReader::read(p.string());
    if (vocab.model == "bert") {
      // WordPiece vocabularies are not supported; loading must say so clearly.
      EXPECT_THROW(Tokenizer::from_gguf_vocab(vocab), Error) << name;
      std::printf("[llama.cpp-vectors] %s: skipped (model '%s' unsupported)\n", name.c_str(), vocab.model.c_str());
      continue;
    }
    ++files;
    auto tok = Tokenizer::from_gguf_vocab(vocab);
    run_pair(*tok, name);
  }
  EXPECT_GE(files, 9);
}

TEST(LlamaCppVectors, NoGgufAgainstTokenizerJson) {
  const std::map<std::string, std::string> pairs = {
      {"ggml-vocab-llama-bpe", "llama-3-8b-instruct"},
      {"ggml-vocab-qwen2", "qwen3"},
      {"ggml-vocab-deepseek-r1-qwen", "qwen3"},
  };
  for (const auto& [name, dir] : pairs) {
    auto tok = Tokenizer::from_hf((test::tokenizers_dir() / dir).string());
    run_pair(*tok, name);
  }
}

}  // namespace
}  // namespace pagellm
