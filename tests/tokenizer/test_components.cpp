// Unit tests of the pipeline pieces on small hand-made vocabularies and tokenizer.json files:
// BPE merge order, byte fallback, added-token lstrip/rstrip/single_word, regex splits on
// tricky Unicode, decoders, UTF-8 handling and error reporting.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "vectors.h"

namespace pagellm {
namespace {

using tok::BpeModel;
using tok::BpeOptions;
using tok::Vocab;

Vocab make_vocab(std::initializer_list<const char*> pieces) {
  Vocab v;
  int32_t id = 0;
  for (const char* p : pieces) v.add(p, id++);
  return v;
}

std::vector<int32_t> encode_word(const BpeModel& m, std::string_view w) {
  std::vector<int32_t> out;
  m.encode_word(w, out);
  return out;
}

TEST(Bpe, LowestRankMergesFirst) {
  // "abc": ranks say b+c (rank 0) before a+b (rank 1), so the result is a + bc.
  auto v = make_vocab({"a", "b", "c", "ab", "bc", "abc"});
  BpeModel m(v, {{"b", "c"}, {"a", "b"}}, {});
  EXPECT_EQ(encode_word(m, "abc"), (std::vector<int32_t>{0, 4}));
  // With a+b first, then ab+c.
  BpeModel m2(v, {{"a", "b"}, {"ab", "c"}, {"b", "c"}}, {});
  EXPECT_EQ(encode_word(m2, "abc"), (std::vector<int32_t>{5}));
}

TEST(Bpe, TiesMergeLeftmostFirst) {
  // "aaa" with only a+a: the left pair merges, leaving "aa" + "a".
  auto v = make_vocab({"a", "aa"});
  BpeModel m(v, {{"a", "a"}}, {});
  EXPECT_EQ(encode_word(m, "aaa"), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(encode_word(m, "aaaa"), (std::vector<int32_t>{1, 1}));
}

TEST(Bpe, ByteFallbackAndUnk) {
  Vocab v = make_vocab({"<unk>", "a"});
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    v.add(name, 2 + b);
  }
  BpeOptions o;
  o.unk_token = "<unk>";
  o.byte_fallback = true;
  BpeModel m(v, {}, o);
  // "é" = C3 A9 is not in the vocab: two byte tokens.
  EXPECT_EQ(encode_word(m, "a\xC3\xA9"), (std::vector<int32_t>{1, 2 + 0xC3, 2 + 0xA9}));
  // Without byte fallback, unknown characters become <unk>, fused when fuse_unk is set.
  BpeOptions o2;
  o2.unk_token = "<unk>";
  o2.fuse_unk = true;
  BpeModel m2(v, {}, o2);
  EXPECT_EQ(encode_word(m2,
                        "\xC3\xA9\xC3\xA9"
                        "a"),
            (std::vector<int32_t>{0, 1}));
  o2.fuse_unk = false;
  BpeModel m3(v, {}, o2);
  EXPECT_EQ(encode_word(m3,
                        "\xC3\xA9\xC3\xA9"
                        "a"),
            (std::vector<int32_t>{0, 0, 1}));
}

TEST(Bpe, IgnoreMergesTakesWholeWord) {
  auto v = make_vocab({"a", "b", "ab", "abb", "bb"});
  BpeOptions o;
  o.ignore_merges = true;
  BpeModel m(v, {{"b", "b"}, {"a", "b"}}, o);
  EXPECT_EQ(encode_word(m, "abb"), (std::vector<int32_t>{3}));  // in the vocab: no merging
  BpeModel m2(v, {{"b", "b"}, {"a", "b"}}, {});
  EXPECT_EQ(encode_word(m2, "abb"), (std::vector<int32_t>{0, 4}));
}

TEST(Bpe, MergeWithUnknownTokenIsAnError) {
  auto v = make_vocab({"a", "b"});
  try {
    BpeModel m(v, {{"a", "zz"}}, {});
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("zz"), std::string::npos);
  }
}

tok::AddedToken mk(const char* content, int32_t id, bool special) {
  tok::AddedToken t;
  t.content = content;
  t.id = id;
  t.special = special;
  return t;
}

std::vector<tok::Segment> split(const tok::AddedTokens& a, std::string_view text) {
  std::vector<tok::Segment> out;
  a.split(text, false, true, out);
  return out;
}

std::string show(std::string_view text, const std::vector<tok::Segment>& segs) {
  std::string s;
  for (const auto& g : segs) {
    s.append("[").append(text.substr(g.begin, g.end - g.begin)).append("]");
    if (g.id >= 0) s.append(std::to_string(g.id));
    s.append(" ");
  }
  return s;
}

TEST(AddedTokens, LongestMatchAndStripping) {
  tok::AddedTokens a;
  a.add(mk("<s>", 1, true));
  a.add(mk("<s>x", 2, true));
  tok::AddedToken l = mk("<L>", 3, true);
  l.lstrip = true;
  a.add(l);
  tok::AddedToken r = mk("<R>", 4, true);
  r.rstrip = true;
  a.add(r);
  std::string t = "a<s>xb<s>c";
  EXPECT_EQ(show(t, split(a, t)), "[a] [<s>x]2 [b] [<s>]1 [c] ");
  t = "a  <L>  b";  // lstrip takes the spaces before, not after
  EXPECT_EQ(show(t, split(a, t)), "[a] [  <L>]3 [  b] ");
  t = "a \t<R> \n b";  // rstrip takes all whitespace after
  EXPECT_EQ(show(t, split(a, t)), "[a \t] [<R> \n ]4 [b] ");
  t = "<R>  <L>x";  // lstrip cannot reach into the previous match
  EXPECT_EQ(show(t, split(a, t)), "[<R>  ]4 [<L>]3 [x] ");
}

TEST(AddedTokens, SingleWordAndSpecialParsing) {
  tok::AddedTokens a;
  tok::AddedToken w = mk("cat", 7, false);
  w.single_word = true;
  a.add(w);
  a.add(mk("<|x|>", 8, true));
  std::string t = "cat concat cat_ cat.";
  EXPECT_EQ(show(t, split(a, t)), "[cat]7 [ concat cat_ ] [cat]7 [.] ");
  std::vector<tok::Segment> out;
  t = "a<|x|>cat";
  a.split(t, false, /*parse_special=*/false, out);
  EXPECT_EQ(show(t, out), "[a<|x|>] [cat]7 ");
}

std::vector<std::string> pre(const tok::PreTokenizer& p, std::string text) {
  std::vector<tok::Word> w{{std::move(text), true}};
  p.pre_tokenize(w);
  std::vector<std::string> out;
  for (auto& x : w) out.push_back(x.text);
  return out;
}

TEST(PreTokenizer, Llama3RegexOnTrickyUnicode) {
  auto split = tok::make_regex_split(
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
      tok::SplitBehavior::kIsolated, false);
  EXPECT_EQ(pre(*split, "DON'T 12345"), (std::vector<std::string>{"DON", "'T", " ", "123", "45"}));
  // NEL (U+0085) is whitespace to HF's regex engine, NBSP too; combining marks are not \p{L}.
  EXPECT_EQ(pre(*split, "a\u0085\u0085b"), (std::vector<std::string>{"a", "\u0085", "\u0085b"}));
  EXPECT_EQ(pre(*split, "x\u00a0\u00a0y"), (std::vector<std::string>{"x", "\u00a0", "\u00a0y"}));
  EXPECT_EQ(pre(*split, "e\u0301t\u0661\u0662"), (std::vector<std::string>{"e", "\u0301t", "\u0661\u0662"}));
  EXPECT_EQ(pre(*split, "\U0001F600\U0001F600 \u4e2d\u6587"),
            (std::vector<std::string>{"\U0001F600\U0001F600", " \u4e2d\u6587"}));
}

TEST(PreTokenizer, PunctuationWhitespaceAndDigits) {
  auto punct = tok::make_pre_tokenizer(Json{{"type", "Punctuation"}, {"behavior", "Contiguous"}});
  EXPECT_EQ(pre(*punct, "a!?b$c\u3002"), (std::vector<std::string>{"a", "!?", "b", "$", "c", "\u3002"}));
  auto bert = tok::make_pre_tokenizer(Json{{"type", "BertPreTokenizer"}});
  EXPECT_EQ(pre(*bert, " Hi,  you!"), (std::vector<std::string>{"Hi", ",", "you", "!"}));
  auto ws = tok::make_pre_tokenizer(Json{{"type", "Whitespace"}});
  EXPECT_EQ(pre(*ws, "it's  ok."), (std::vector<std::string>{"it", "'", "s", "ok", "."}));
  auto digits = tok::make_pre_tokenizer(Json{{"type", "Digits"}, {"individual_digits", true}});
  EXPECT_EQ(pre(*digits, "a12b"), (std::vector<std::string>{"a", "1", "2", "b"}));
}

TEST(PreTokenizer, ByteLevelMapsBytes) {
  auto bl = tok::make_byte_level(/*add_prefix_space=*/true, /*use_regex=*/true);
  EXPECT_EQ(pre(*bl, "Hi  you\n"), (std::vector<std::string>{"\u0120Hi", "\u0120", "\u0120you", "\u010a"}));
}

TEST(Decoder, ByteFallbackInvalidBytesBecomeReplacementPerByte) {
  auto d = tok::make_sentencepiece_decoder(true);
  std::vector<std::string> t{"\u2581a", "<0xE2>", "<0x82>", "\u2581b", "<0xE2>", "<0x82>", "<0xAC>"};
  d->decode_chain(t);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0], "a\ufffd\ufffd b\u20ac");
}

TEST(Decoder, ByteLevelLossy) {
  auto d = tok::make_byte_level_decoder();
  std::vector<std::string> t{"\u0120caf", "\u00c3", "<|x|>"};  // Ã alone = byte C3: incomplete
  d->decode_chain(t);
  EXPECT_EQ(t[0], " caf\ufffd<|x|>");
}

TEST(Unicode, LossyConversionMatchesRust) {
  EXPECT_EQ(tok::utf8_lossy("a\xF0\x9F\x98"
                            "b"),
            "a\ufffd"
            "b");                                                    // truncated 4-byte: one U+FFFD
  EXPECT_EQ(tok::utf8_lossy("\xC0\xAF"), "\ufffd\ufffd");            // overlong: one per byte
  EXPECT_EQ(tok::utf8_lossy("\xED\xA0\x80"), "\ufffd\ufffd\ufffd");  // surrogate
  EXPECT_EQ(tok::utf8_lossy("\xE2\x82"
                            "\xE2\x82\xAC"),
            "\ufffd\u20ac");
  EXPECT_EQ(tok::incomplete_utf8_tail("ab\xF0\x9F\x98"), 3u);
  EXPECT_EQ(tok::incomplete_utf8_tail("ab\xF0\x9F\x98\x80"), 0u);
}

// Writes a tokenizer.json into a temp dir and returns its path.
std::string write_json(const std::string& name, const std::string& body) {
  auto dir = std::filesystem::temp_directory_path() / ("pagellm_tok_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "tokenizer.json";
  std::ofstream(path) << body;
  return path.string();
}

ErrorCode load_error(const std::string& name, const std::string& body, std::string* msg) {
  try {
    Tokenizer::from_hf(write_json(name, body));
  } catch (const Error& e) {
    *msg = e.what();
    return e.code();
  }
  return ErrorCode::kInternal;
}

TEST(TokenizerJson, CorruptFilesNameTheProblem) {
  std::string msg;
  EXPECT_EQ(load_error("badjson", "{\"model\": ", &msg), ErrorCode::kInvalidModel);
  EXPECT_EQ(load_error("nomodel", "{\"added_tokens\": []}", &msg), ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("model"), std::string::npos) << msg;
  EXPECT_EQ(load_error("badmerge", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})", &msg),
            ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("merges[0]"), std::string::npos) << msg;
  EXPECT_EQ(load_error("unigram", R"({"model": {"type": "Unigram", "vocab": []}})", &msg), ErrorCode::kUnsupported);
  EXPECT_EQ(load_error("missing", "", &msg), ErrorCode::kInvalidModel);
}

TEST(TokenizerJson, MinimalBpeWithTemplateAndAddedTokens) {
  std::string path = write_json("mini", R"({
    "added_tokens": [{"id": 4, "content": "<eos>", "special": true, "lstrip": false, "rstrip": false,
                      "single_word": false, "normalized": false}],
    "normalizer": {"type": "Lowercase"},
    "pre_tokenizer": {"type": "WhitespaceSplit"},
    "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
                       "special_tokens": {"<eos>": {"id": "<eos>", "ids": [4], "tokens": ["<eos>"]}}},
    "decoder": null,
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3}, "merges": [["a", "b"]]}})");
  auto t = Tokenizer::from_hf(path);
  EXPECT_EQ(t->encode("AB c<eos>", true), (std::vector<int32_t>{2, 3, 4, 4}));
  EXPECT_EQ(t->encode("AB c", false), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(t->vocab_size(), 5);
  EXPECT_TRUE(t->is_special(4));
  EXPECT_EQ(t->id_to_token(2), "ab");
  EXPECT_EQ(t->token_to_id("<eos>"), std::optional<int32_t>(4));
  // No decoder: HF joins tokens with spaces.
  std::vector<int32_t> ids{2, 3, 4};
  EXPECT_EQ(t->decode(ids, false), "ab c <eos>");
  EXPECT_EQ(t->decode(ids, true), "ab c");
}

// tokenizer_config.json: special token strings (plain or objects), add_bos/add_eos flags that
// override the template, and chat templates as a list of {name, template}.
TEST(TokenizerJson, ConfigFlagsAndNamedTemplates) {
  std::string path = write_json("cfg", R"({
    "added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true}],
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
    "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2}, "merges": []}})");
  std::ofstream(std::filesystem::path(path).parent_path() / "tokenizer_config.json") << R"({
    "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "add_bos_token": false, "add_eos_token": true,
    "chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})";
  auto t = Tokenizer::from_hf(std::filesystem::path(path).parent_path().string());
  EXPECT_EQ(t->encode("aa"), (std::vector<int32_t>{2, 2, 1}));
  EXPECT_EQ(t->bos_token(), std::optional<std::string>("<s>"));
  EXPECT_EQ(t->eos_token_id(), 1);
  EXPECT_EQ(t->chat_template(), std::optional<std::string>("D"));
  EXPECT_EQ(t->chat_template("tool_use"), std::optional<std::string>("T"));
}

TEST(TokenizerJson, TemplateShorthandString) {
  std::string path = write_json("tmplstr", R"({
    "added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true}],
    "post_processor": {"type": "TemplateProcessing", "single": "<s> $A:0 </s>:0",
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                          "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
    "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2}, "merges": []}})");
  auto t = Tokenizer::from_hf(path);
  EXPECT_EQ(t->encode("a"), (std::vector<int32_t>{0, 2, 1}));
}

TEST(Tokenizer, InvalidIdInDecodeThrows) {
  auto t = Tokenizer::from_hf((test::tokenizers_dir() / "qwen3").string());
  std::vector<int32_t> ids{9707, 200000};
  try {
    t->decode(ids);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("200000"), std::string::npos);
  }
  std::vector<int32_t> neg{-1};
  EXPECT_THROW(t->decode(neg), Error);
}

// Invalid UTF-8 input is replaced by U+FFFD per maximal invalid subpart (what Python callers
// of HF get after a lossy decode) and never crashes.
TEST(Tokenizer, InvalidUtf8InputIsReplaced) {
  for (const char* name : {"gpt2", "qwen3", "mistral-7b-v0.1", "mistral-7b-v0.1-legacy", "llama-3-8b-instruct"}) {
    auto t = Tokenizer::from_hf((test::tokenizers_dir() / name).string());
    std::string bad = "ab\xFF\xC3(\xF0\x9F\x98 z\xED\xA0\x80";
    auto ids = t->encode(bad, false);
    EXPECT_EQ(ids, t->encode(tok::utf8_lossy(bad), false)) << name;
    EXPECT_EQ(t->decode(ids), tok::utf8_lossy(bad)) << name;
  }
}

// encode/decode are const and safe to call from many threads at once (shared word cache).
TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  auto t = Tokenizer::from_hf((test::tokenizers_dir() / "llama-3-8b-instruct").string());
  Json exp = read_json_file((test::tokenizers_dir() / "llama-3-8b-instruct" / "expected.json").string());
  std::vector<std::string> texts;
  for (const Json& c : exp["cases"]) texts.push_back(c["text"].get<std::string>());
  std::vector<std::vector<int32_t>> want;
  for (const auto& x : texts) want.push_back(t->encode(x));
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < texts.size(); ++i) {
          size_t j = (i * 7 + static_cast<size_t>(k) * 13 + static_cast<size_t>(round)) % texts.size();
          if (t->encode(texts[j]) != want[j] || t->decode(want[j]) != t->decode(want[j])) ++bad[static_cast<size_t>(k)];
        }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, (std::vector<int>{0, 0, 0, 0}));
}

TEST(Tokenizer, ChatTemplateAndSpecialStrings) {
  auto qwen = Tokenizer::from_hf((test::tokenizers_dir() / "qwen3").string());
  ASSERT_TRUE(qwen->chat_template().has_value());
  EXPECT_NE(qwen->chat_template()->find("<|im_start|>"), std::string::npos);
  EXPECT_FALSE(qwen->chat_template("tool_use").has_value());
  EXPECT_EQ(qwen->eos_token(), std::optional<std::string>("<|im_end|>"));
  EXPECT_EQ(qwen->bos_token(), std::nullopt);
  auto gpt2 = Tokenizer::from_hf((test::tokenizers_dir() / "gpt2" / "tokenizer.json").string());
  EXPECT_EQ(gpt2->bos_token_id(), 50256);
  EXPECT_EQ(gpt2->eos_token_id(), 50256);
}

}  // namespace
}  // namespace pagellm
