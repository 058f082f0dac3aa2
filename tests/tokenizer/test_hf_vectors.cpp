// Every shared/tokenizers/*/expected.json case: encode with and without special tokens, and the
// raw tokenizers decode with and without skipping special tokens, all exact.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "vectors.h"

namespace pagellm {
namespace {

TEST(HfVectors, AllFilesAllCases) {
  auto dirs = test::hf_vector_dirs();
  ASSERT_GE(dirs.size(), 5u);
  for (const auto& dir : dirs) {
    Json exp = read_json_file((dir / "expected.json").string());
    auto tok = Tokenizer::from_hf(dir.string());
    EXPECT_EQ(tok->vocab_size(), exp["vocab_size_with_added"].get<int64_t>()) << dir;
    int pass = 0, total = 0;
    for (const Json& c : exp["cases"]) {
      ++total;
      std::string text = c["text"].get<std::string>();
      std::string id = c["id"].get<std::string>();
      auto ids = tok->encode(text, false);
      auto ids_sp = tok->encode(text, true);
      auto want_ids = test::json_ids(c["ids"]);
      auto want_sp = test::json_ids(c["ids_add_special"]);
      EXPECT_EQ(test::ids_str(ids), test::ids_str(want_ids)) << dir.filename() << " " << id;
      EXPECT_EQ(test::ids_str(ids_sp), test::ids_str(want_sp)) << dir.filename() << " " << id;
      std::string dec = tok->decode(want_sp, false);
      std::string dec_skip = tok->decode(want_sp, true);
      EXPECT_EQ(dec, c["decode"].get<std::string>()) << dir.filename() << " " << id;
      EXPECT_EQ(dec_skip, c["decode_skip_special"].get<std::string>()) << dir.filename() << " " << id;
      // transformers' cleanup, where the config asks for it.
      EXPECT_EQ(tok->clean_up_tokenization_spaces(), exp["clean_up_tokenization_spaces"].get<bool>()) << dir;
      if (c.contains("transformers_decode")) {
        EXPECT_EQ(Tokenizer::clean_up_tokenization(dec), c["transformers_decode"].get<std::string>()) << id;
        EXPECT_EQ(Tokenizer::clean_up_tokenization(dec_skip), c["transformers_decode_skip_special"].get<std::string>())
            << id;
      }
      if (ids == want_ids && ids_sp == want_sp && dec == c["decode"].get<std::string>() &&
          dec_skip == c["decode_skip_special"].get<std::string>())
        ++pass;
    }
    std::printf("[hf-vectors] %s: %d/%d cases pass\n", dir.filename().string().c_str(), pass, total);
  }
}

TEST(HfVectors, KnownIds) {
  auto gpt2 = Tokenizer::from_hf((test::tokenizers_dir() / "gpt2").string());
  EXPECT_EQ(gpt2->encode("Hello world", false), (std::vector<int32_t>{15496, 995}));
  auto llama3 = Tokenizer::from_hf((test::tokenizers_dir() / "llama-3-8b-instruct").string());
  EXPECT_EQ(llama3->encode("Hello world"), (std::vector<int32_t>{128000, 9906, 1917}));
  EXPECT_EQ(llama3->bos_token_id(), 128000);
  EXPECT_EQ(llama3->eos_token(), std::optional<std::string>("<|eot_id|>"));
  EXPECT_TRUE(llama3->chat_template().has_value());
  auto mistral = Tokenizer::from_hf((test::tokenizers_dir() / "mistral-7b-v0.1").string());
  EXPECT_EQ(mistral->encode("Hello world"), (std::vector<int32_t>{1, 22557, 1526}));
  EXPECT_EQ(mistral->bos_token(), std::optional<std::string>("<s>"));
  EXPECT_TRUE(mistral->is_special(2));
  EXPECT_FALSE(mistral->is_special(22557));
  auto qwen = Tokenizer::from_hf((test::tokenizers_dir() / "qwen3").string());
  EXPECT_EQ(qwen->encode("Hello world"), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(qwen->bos_token_id(), -1);
  EXPECT_EQ(qwen->token_to_id("<think>"), std::optional<int32_t>(151667));
  EXPECT_FALSE(qwen->is_special(151667));
}

}  // namespace
}  // namespace pagellm
