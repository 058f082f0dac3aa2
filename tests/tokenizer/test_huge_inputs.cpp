// Huge inputs: a 10 MB text (including one 10 MB "word" with no split point) encodes without
// stack overflow and decodes back to the same text, for byte-level BPE and SentencePiece BPE.
#include <gtest/gtest.h>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace pagellm {
namespace {

std::string mixed_text(size_t bytes) {
  const std::string piece = "The quick brown fox 跳过了 lazy dogs, 12345 times!\n\tdef f(x): return x ** 2  # ok\n";
  std::string text;
  while (text.size() < bytes) text += piece;
  return text;
}

TEST(HugeInputs, TenMegabytesRoundTrip) {
  for (const char* name : {"llama-3-8b-instruct", "mistral-7b-v0.1"}) {
    auto tok = Tokenizer::from_hf(test::shared_dir() + "/tokenizers/" + name);
    for (const std::string& text : {mixed_text(10'000'000), std::string(10'000'000, 'a')}) {
      std::vector<int32_t> ids = tok->encode(text, false);
      ASSERT_FALSE(ids.empty()) << name;
      const std::string back = tok->decode(ids, true);
      EXPECT_EQ(back.size(), text.size()) << name;
      EXPECT_TRUE(back == text) << name;
    }
  }
}

}  // namespace
}  // namespace pagellm
