// llama.cpp's ggml-vocab-*.gguf.inp/.out vectors: encode with add_special=false and special-token
// parsing off. Inputs without a GGUF run against the equivalent tokenizer.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "loader/gguf.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/incremental_detokenizer.h"
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
    auto gguf = GgufFile::open(p.string());
    auto vocab = tok::GgufVocab::read(*gguf);
    ++files;
    auto tok = Tokenizer::from_gguf(*gguf);
    EXPECT_EQ(tok->vocab_size(), static_cast<int64_t>(vocab.tokens.size())) << name;
    run_pair(*tok, name);
  }
  EXPECT_GE(files, 10);
}

// Every .inp string round-trips through a GGUF vocabulary (all of them are lossless: byte
// fallback or byte-level), and streams through the incremental detokenizer unchanged.
TEST(LlamaCppVectors, GgufRoundTripAndStreaming) {
  for (const auto& e : fs::directory_iterator(vocab_dir())) {
    if (e.path().extension() != ".gguf") continue;
    auto gguf = GgufFile::open(e.path().string());
    if (tok::GgufVocab::read(*gguf).model == "bert") continue;  // lowercasing: not lossless
    auto tok = Tokenizer::from_gguf(*gguf);
    std::string name = e.path().stem().string();
    int pass = 0, total = 0;
    // GGUFs without vectors of their own (baichuan, gpt-neox) round-trip llama-spm's inputs.
    fs::path inp = vocab_dir() / (name + ".gguf.inp");
    if (!fs::exists(inp)) inp = vocab_dir() / "ggml-vocab-llama-spm.gguf.inp";
    for (const std::string& text : read_inputs(inp)) {
      ++total;
      auto ids = tok->encode(text, false, false);
      std::string dec = tok->decode(ids, false);
      EXPECT_EQ(dec, text) << name;
      IncrementalDetokenizer detok(*tok, {}, false);
      std::string streamed;
      for (int32_t id : ids) streamed += detok.add(id);
      streamed += detok.finish();
      EXPECT_EQ(streamed, dec) << name;
      if (dec == text && streamed == dec) ++pass;
    }
    std::printf("[llama.cpp-roundtrip] %s: %d/%d\n", name.c_str(), pass, total);
  }
}

// Texts on which pagellm once differed from llama.cpp, found by bench/tokenizer_fuzz_llamacpp.sh;
// the ids are llama.cpp's (commit de3ff815, node-llama-cpp 3.21.1: tokenize(text, specialTokens=true),
// no BOS). Each names the rule it pins.
TEST(LlamaCppVectors, CasesFoundByDifferentialFuzzing) {
  struct Case {
    const char* vocab;
    const char* text;
    std::vector<int32_t> ids;
  };
  const Case cases[] = {
      // WPM: a Hangul syllable becomes its leading jamo only (llama.cpp's NFD keeps the first code point).
      {"bert-bge", "\uD7A3 \uC64E\u30E3\u30A6", {1469, 1463, 30254, 30222}},
      {"bert-bge", "k\u2060a \uD277\uC48F\uB4A2time", {10556, 1467, 29998, 29993, 7292}},
      // WPM: every mark (Mn, Mc, Me) is dropped, also when typed on its own.
      {"bert-bge", "ab\u093Fcd \u20DD x\u0301y", {5925, 2094, 1060, 2100}},
      // WPM: an unassigned code point is kept (an unknown word), not dropped as a control.
      {"bert-bge", "a\U0001F84Eb \u00E9t\u00E9", {100, 3802, 2063}},
      // deepseek-llm: non-ASCII whitespace matches \s only, never the punctuation or CJK ranges.
      {"deepseek-llm", "a  \t \u3000\uAE45", {64, 243, 11969, 88946, 164, 117, 214}},
      {"deepseek-llm", "a  \u3000\u3000b", {64, 243, 88946, 88946, 65}},
      {"deepseek-llm", "x\u2003y\u1680z", {87, 51570, 88, 155, 95300, 89}},
      // Phi-3: ASCII whitespace after a special token is dropped, except after <unk>, <s>, <|endoftext|>.
      {"phi-3", "</s> \n\t x", {2, 921}},
      {"phi-3", "<s> \n x", {1, 259, 13, 921}},
      {"phi-3", "<|user|>\n hi<|end|>\n<|assistant|>", {32010, 7251, 32007, 32001}},
      {"phi-3", "a \u3000</s>\u3000 b", {263, 29871, 30358, 2, 29871, 30358, 289}},
      {"phi-3", "<unk>  c<|endoftext|>  d", {0, 259, 274, 32000, 259, 270}},
  };
  for (const Case& c : cases) {
    auto gguf = GgufFile::open((vocab_dir() / ("ggml-vocab-" + std::string(c.vocab) + ".gguf")).string());
    auto tok = Tokenizer::from_gguf(*gguf);
    EXPECT_EQ(test::ids_str(tok->encode(c.text, false, true)), test::ids_str(c.ids))
        << c.vocab << ": '" << c.text << "'";
  }
}

// Byte pieces that are not valid UTF-8 decode as llama.cpp writes them (the raw bytes), read with
// each maximal invalid subpart replaced, not as HF's one U+FFFD per byte of the run. Expected
// strings are node-llama-cpp's detokenize of these ids (found by random id sequences).
TEST(LlamaCppVectors, InvalidByteRunsDecodeAsLlamaCppWritesThem) {
  auto gguf = GgufFile::open((vocab_dir() / "ggml-vocab-llama-spm.gguf").string());
  auto tok = Tokenizer::from_gguf(*gguf);
  const std::vector<int32_t> a = {144, 48, 165}, b = {9, 162, 18594}, c = {1, 3, 228, 189, 163, 228};
  EXPECT_EQ(tok->decode(a, false), "\xEF\xBF\xBD-\xEF\xBF\xBD");  // 8D 2D A2: the '-' survives
  EXPECT_EQ(tok->decode(b, false), "\x06\xEF\xBF\xBDimos");
  EXPECT_EQ(tok->decode(c, false), std::string("<s>") + '\0' + "\xE1\xBA\xA0\xEF\xBF\xBD");
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
