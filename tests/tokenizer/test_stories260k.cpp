// stories260K's expected/encode.json: hf_ids (BOS included) and hf_decoded (skip special).
#include <gtest/gtest.h>

#include <filesystem>

#include "loader/gguf.h"
#include "tokenizer/tokenizer.h"
#include "vectors.h"

namespace pagellm {
namespace {

std::filesystem::path stories_dir() { return std::filesystem::path(test::shared_dir()) / "models" / "stories260K"; }

void check_cases(const Tokenizer& tok, const char* label) {
  Json exp = read_json_file((stories_dir() / "expected" / "encode.json").string());
  int pass = 0, total = 0;
  for (const Json& c : exp["cases"]) {
    ++total;
    std::string text = c["text"].get<std::string>();
    auto want = test::json_ids(c["hf_ids"]);
    auto got = tok.encode(text, true);
    EXPECT_EQ(test::ids_str(got), test::ids_str(want)) << label << " text=" << text;
    std::string dec = tok.decode(want, true);
    EXPECT_EQ(dec, c["hf_decoded"].get<std::string>()) << label << " text=" << text;
    if (got == want && dec == c["hf_decoded"].get<std::string>()) ++pass;
  }
  std::printf("[stories260K] %s: %d/%d cases pass\n", label, pass, total);
}

TEST(Stories260K, HfDir) {
  auto tok = Tokenizer::from_hf((stories_dir() / "hf").string());
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_token_id(), 1);
  EXPECT_EQ(tok->eos_token_id(), 2);
  check_cases(*tok, "hf");
}

// The GGUF vocabulary (llama.cpp SentencePiece semantics) must give the same ids as
// tokenizer.json.
TEST(Stories260K, Gguf) {
  auto gguf = GgufFile::open((stories_dir() / "stories260K.gguf").string());
  auto tok = Tokenizer::from_gguf(*gguf);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_token_id(), 1);
  EXPECT_EQ(tok->eos_token_id(), 2);
  EXPECT_EQ(tok->bos_token(), std::optional<std::string>("<s>"));
  check_cases(*tok, "gguf");
}

}  // namespace
}  // namespace pagellm
