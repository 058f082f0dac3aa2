// Streaming detokenization: for every expected string of every tokenizer, feeding the ids one
// at a time yields chunks that are valid UTF-8 and concatenate to the full decode.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "vectors.h"

namespace pagellm {
namespace {

// Returns true when streaming `ids` reproduces decode(ids) with valid chunks.
bool stream_matches(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip, const std::string& label) {
  IncrementalDetokenizer detok(tok, {}, skip);
  std::string all;
  bool ok = true;
  for (int32_t id : ids) {
    std::string chunk = detok.add(id);
    if (!tok::is_valid_utf8(chunk)) {
      ADD_FAILURE() << label << ": chunk is not valid UTF-8";
      ok = false;
    }
    all += chunk;
  }
  all += detok.finish();
  std::string want = tok.decode(ids, skip);
  EXPECT_EQ(all, want) << label << " skip=" << skip;
  return ok && all == want;
}

TEST(IncrementalDetokenizer, EveryHfVectorString) {
  for (const auto& dir : test::hf_vector_dirs()) {
    auto tok = Tokenizer::from_hf(dir.string());
    Json exp = read_json_file((dir / "expected.json").string());
    int pass = 0, total = 0;
    for (const Json& c : exp["cases"]) {
      auto ids = test::json_ids(c["ids_add_special"]);
      std::string label = dir.filename().string() + "/" + c["id"].get<std::string>();
      ++total;
      bool a = stream_matches(*tok, ids, true, label);
      bool b = stream_matches(*tok, ids, false, label);
      if (a && b) ++pass;
    }
    std::printf("[incremental] %s: %d/%d cases stream exactly\n", dir.filename().string().c_str(), pass, total);
  }
}

TEST(IncrementalDetokenizer, Stories260K) {
  auto dir = std::filesystem::path(test::shared_dir()) / "models" / "stories260K";
  auto tok = Tokenizer::from_hf((dir / "hf").string());
  Json exp = read_json_file((dir / "expected" / "encode.json").string());
  for (const Json& c : exp["cases"]) {
    auto ids = test::json_ids(c["hf_ids"]);
    stream_matches(*tok, ids, true, c["text"].get<std::string>());
    stream_matches(*tok, ids, false, c["text"].get<std::string>());
  }
}

// With a prompt, only generated text is emitted, with the leading space SentencePiece keeps
// between words (what an OpenAI completions server returns).
TEST(IncrementalDetokenizer, PromptContextKeepsLeadingSpace) {
  auto dir = std::filesystem::path(test::shared_dir()) / "models" / "stories260K" / "hf";
  auto tok = Tokenizer::from_hf(dir.string());
  auto prompt = tok->encode("Once upon a time");
  auto gen = tok->encode("Once upon a time there was a girl", true);
  std::vector<int32_t> rest(gen.begin() + static_cast<std::ptrdiff_t>(prompt.size()), gen.end());
  IncrementalDetokenizer detok(*tok, prompt, true);
  std::string out;
  for (int32_t id : rest) out += detok.add(id);
  out += detok.finish();
  EXPECT_EQ(out, " there was a girl");
}

// A multi-byte character split over byte-fallback tokens is held back until complete.
TEST(IncrementalDetokenizer, HoldsBackIncompleteCharacter) {
  auto tok = Tokenizer::from_hf((std::filesystem::path(test::shared_dir()) / "models" / "stories260K" / "hf").string());
  auto ids = tok->encode("a😀b", false);  // the 512-piece vocab spells the emoji as 4 <0xXX> tokens
  ASSERT_GE(ids.size(), 5u);
  IncrementalDetokenizer detok(*tok, {}, true);
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(detok.add(id));
  chunks.push_back(detok.finish());
  std::string all;
  for (const auto& c : chunks) {
    EXPECT_TRUE(tok::is_valid_utf8(c));
    EXPECT_EQ(c.find("\xEF\xBF\xBD"), std::string::npos) << "chunk with U+FFFD: " << c;
    all += c;
  }
  EXPECT_EQ(all, "a😀b");
}

// Random id sequences (broken byte sequences included) still stream to exactly the full decode.
TEST(IncrementalDetokenizer, RandomIdSequences) {
  std::vector<std::unique_ptr<Tokenizer>> toks;
  toks.push_back(
      Tokenizer::from_hf((std::filesystem::path(test::shared_dir()) / "models" / "stories260K" / "hf").string()));
  toks.push_back(Tokenizer::from_hf((test::tokenizers_dir() / "gpt2").string()));
  uint64_t state = 42;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  for (const auto& tok : toks) {
    int pass = 0;
    for (int round = 0; round < 300; ++round) {
      std::vector<int32_t> ids;
      size_t n = 1 + next(20);
      for (size_t i = 0; i < n; ++i) {
        // Mostly low ids (byte tokens in stories260K, single bytes in GPT-2) to split characters.
        ids.push_back(static_cast<int32_t>(next(3) ? next(300) : next(static_cast<uint64_t>(tok->vocab_size()))));
      }
      if (stream_matches(*tok, ids, true, "random") && stream_matches(*tok, ids, false, "random")) ++pass;
    }
    EXPECT_EQ(pass, 300);
  }
}

// ---- spaces_between_special_tokens ------------------------------------------------------------

std::string stream_text(const Tokenizer& tok, const std::vector<int32_t>& prompt, const std::vector<int32_t>& ids,
                        bool skip, bool spaces) {
  IncrementalDetokenizer detok(tok, prompt, skip, spaces);
  std::string all;
  for (int32_t id : ids) all += detok.add(id);
  return all + detok.finish();
}

struct MixedIds {
  std::vector<int32_t> added, plain;
};

// Added token ids (from the file's added_tokens, not from the tokenizer under test) and ordinary ids.
MixedIds mixed_ids(const nlohmann::json& tokenizer_json, const Tokenizer& tok) {
  MixedIds m;
  for (const auto& t : tokenizer_json["added_tokens"])
    if (m.added.size() < 4) m.added.push_back(t["id"].get<int32_t>());
  m.plain = tok.encode("Hello world, the end", false);
  return m;
}

// Pseudo-random sequences with runs of added tokens.
std::vector<std::vector<int32_t>> sequences_of(const MixedIds& m) {
  std::vector<std::vector<int32_t>> out;
  uint64_t state = 7;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  for (int round = 0; round < 40; ++round) {
    std::vector<int32_t> ids;
    for (int i = 0; i < 10; ++i) {
      const auto& from = next(2) ? m.added : m.plain;
      ids.push_back(from[next(from.size())]);
    }
    out.push_back(std::move(ids));
  }
  return out;
}

// A tokenizer.json without a decoder: HF decodes it by joining the raw pieces with spaces. There
// vLLM's rule shows: with special tokens kept and spaces_between_special_tokens off, an added token
// right after another added token comes without its space (the first generated token is never
// "after" one: vLLM starts each request with no previous added token).
TEST(IncrementalDetokenizer, SpacesBetweenSpecialTokensJoinsAddedTokensWithoutADecoder) {
  int affected = 0;
  for (const auto& dir : test::hf_vector_dirs()) {
    // nlohmann::json (not the ordered Json): a 150k-entry vocabulary parses fast unordered.
    nlohmann::json j = nlohmann::json::parse(read_text_file((dir / "tokenizer.json").string()));
    j["decoder"] = nullptr;
    const auto path = std::filesystem::temp_directory_path() /
                      ("pagellm-nodecoder-" + dir.filename().string() + "-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << j.dump();
    auto tok = Tokenizer::from_hf(path.string());
    std::filesystem::remove(path);
    const MixedIds m = mixed_ids(j, *tok);
    auto is_added = [&](int32_t id) { return std::find(m.added.begin(), m.added.end(), id) != m.added.end(); };
    for (const std::vector<int32_t>& prompt : {std::vector<int32_t>{}, std::vector<int32_t>{m.plain[0]}})
      for (const auto& ids : sequences_of(m)) {
        for (const bool spaces : {true, false}) {
          std::string want;
          for (size_t k = 0; k < ids.size(); ++k) {
            const bool first = k == 0 && prompt.empty();
            const bool tight = !spaces && k > 0 && is_added(ids[k]) && is_added(ids[k - 1]);
            want += (first || tight ? "" : " ") + tok->id_to_token(ids[k]);
          }
          EXPECT_EQ(stream_text(*tok, prompt, ids, false, spaces), want) << dir.filename() << " spaces=" << spaces;
        }
        // Skipping special tokens turns the rule off (vLLM: spaces = skip or spaces_between).
        EXPECT_EQ(stream_text(*tok, prompt, ids, true, false), stream_text(*tok, prompt, ids, true, true));
        affected += stream_text(*tok, prompt, ids, false, false) != stream_text(*tok, prompt, ids, false, true);
      }
  }
  EXPECT_GT(affected, 100);
}

// The shipped decoders (byte-level: GPT-2, Llama 3, Qwen3; SentencePiece: Mistral both forms, a
// GGUF Llama vocabulary) never put a space between added tokens, so the flag changes nothing and
// the text stays the HF decode (itself checked against the HF vectors).
TEST(IncrementalDetokenizer, SpacesBetweenSpecialTokensIsANoOpForByteLevelAndSentencePieceDecoders) {
  std::vector<std::pair<std::string, std::unique_ptr<Tokenizer>>> toks;
  std::vector<nlohmann::json> jsons;
  for (const auto& dir : test::hf_vector_dirs()) {
    jsons.push_back(nlohmann::json::parse(read_text_file((dir / "tokenizer.json").string())));
    toks.emplace_back(dir.filename().string(), Tokenizer::from_hf(dir.string()));
  }
  for (size_t t = 0; t < toks.size(); ++t) {
    const Tokenizer& tok = *toks[t].second;
    const MixedIds m = mixed_ids(jsons[t], tok);
    for (const auto& ids : sequences_of(m)) {
      const std::string with = stream_text(tok, {}, ids, false, true);
      EXPECT_EQ(with, tok.decode(ids, false)) << toks[t].first;
      EXPECT_EQ(stream_text(tok, {}, ids, false, false), with) << toks[t].first;
    }
  }
}

TEST(IncrementalDetokenizer, InvalidIdThrows) {
  auto tok = Tokenizer::from_hf((test::tokenizers_dir() / "gpt2").string());
  IncrementalDetokenizer detok(*tok, {}, true);
  try {
    detok.add(999999);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("999999"), std::string::npos);
  }
}

}  // namespace
}  // namespace pagellm
