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

// The token text of logprobs (vLLM's decoded_token): each token decoded alone, special tokens
// kept; for a Metaspace pre-tokenizer the leading "▁" that decode strips comes back as a space.
// Reference: for plain word pieces the token texts then concatenate to the pieces with "▁" read as
// " ", i.e. to the HF decode of the ids with its one stripped leading space put back.
TEST(HfVectors, LogprobTokenTextRestoresMetaspaceLeadingSpaces) {
  for (const auto& dir : test::hf_vector_dirs()) {
    auto tok = Tokenizer::from_hf(dir.string());
    const bool metaspace = dir.filename() == "mistral-7b-v0.1";  // the legacy form has no pre-tokenizer
    Json exp = read_json_file((dir / "expected.json").string());
    int checked = 0;
    for (const Json& c : exp["cases"]) {
      const std::vector<int32_t> ids = test::json_ids(c["ids"]);
      bool plain = !ids.empty();
      std::string joined;
      for (int32_t id : ids) {
        const std::string piece = tok->id_to_token(id);
        const std::string text = tok->decode_token(id);
        // Pieces of a character split over tokens decode alone to U+FFFD (vLLM shows that too).
        plain =
            plain && !tok->is_added(id) && piece.rfind("<0x", 0) != 0 && text.find("\xEF\xBF\xBD") == std::string::npos;
        joined += text;
      }
      if (!plain) continue;
      ++checked;
      std::string want = tok->decode(ids, false);
      // The decoder strips exactly one leading space: the first piece's "▁".
      if (metaspace && tok->id_to_token(ids[0]).rfind("\xE2\x96\x81", 0) == 0) want = " " + want;
      if (dir.filename().string().rfind("mistral", 0) == 0 && !metaspace) {
        // Legacy SentencePiece: every word piece is decoded alone, its space stripped (vLLM).
        for (int32_t id : ids) EXPECT_EQ(tok->decode_token(id), tok->decode(std::vector<int32_t>{id}, false));
        continue;
      }
      EXPECT_EQ(joined, want) << dir.filename() << " " << c["id"];
    }
    EXPECT_GT(checked, 10) << dir.filename();
  }
  auto mistral = Tokenizer::from_hf((test::tokenizers_dir() / "mistral-7b-v0.1").string());
  auto legacy = Tokenizer::from_hf((test::tokenizers_dir() / "mistral-7b-v0.1-legacy").string());
  const int32_t hello = *mistral->token_to_id("\xE2\x96\x81Hello");
  EXPECT_EQ(mistral->decode_token(hello), " Hello");
  EXPECT_EQ(legacy->decode_token(hello), "Hello");
  EXPECT_EQ(mistral->decode_token(1), "<s>");
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
