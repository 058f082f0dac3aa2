// Building a Tokenizer from a GGUF vocabulary, the way llama.cpp tokenizes: "llama" models are
// SentencePiece (score-ordered merges, <0xXX> byte fallback, a leading "▁" after the start and
// after special tokens); "gpt2" models are byte-level BPE with per-model regex pre-tokenizers.
#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace pagellm {

using namespace tok;

namespace tok {

std::vector<std::string> gguf_pre_tokenizer_regexes(const std::string& pre) {
  const std::string gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  // llama.cpp runs the patterns without \p{..} through std::wregex with every non-ASCII whitespace
  // character replaced by U+000B first, so such a character matches \s but never a literal range.
  // The ranges here leave out the ones they would cover (U+1680, U+2000-U+200A, U+2028, U+2029,
  // U+202F, U+205F, U+3000).
  const std::string cjk =
      "[\u4e00-\u9fa5\u0800-\u167f\u1681-\u1fff\u200b-\u2027\u202a-\u202e\u2030-\u205e\u2060-\u2fff"
      "\u3001-\u4e00\uac00-\ud7ff]+";
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "dbrx" ||
      pre == "smaug-bpe" || pre == "chatglm-bpe")
    return {llama3};
  if (pre == "qwen2" || pre == "stablelm2" || pre == "deepseek-r1-qwen" || pre == "megrez") return {qwen2};
  if (pre == "deepseek-llm")
    return {"[\\r\\n]",
            "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295"
            "}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C"
            "}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{"
            "10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"
            "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1"
            "F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\"
            "x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FD"
            "B}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{"
            "2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\"
            "x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4"
            "}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A"
            "771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-"
            "\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80"
            "}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
            "\\s?[!-/:-~！-／：-～‘-‟、-。]+",
            "\\s+$",
            cjk,
            "\\p{N}+"};
  if (pre == "deepseek-coder") return {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", cjk, "\\p{N}"};
  if (pre == "falcon") return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"};
  if (pre == "starcoder" || pre == "refact" || pre == "command-r" || pre == "smollm" || pre == "codeshell" ||
      pre == "exaone")
    return {"\\p{N}", gpt2};
  if (pre == "gpt-2" || pre == "mpt" || pre == "olmo" || pre == "jais" || pre == "roberta-bpe") return {gpt2};
  if (pre == "poro-chat" || pre == "bloom" || pre == "gpt3-finnish") return {" ?[^(\\s|.,!?…。，、।۔،)]+"};
  if (pre == "viking") return {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"};
  // llama.cpp's default for unknown BPE pre-tokenizers.
  return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
}

}  // namespace tok

struct GgufLoader {
  static void add_special_tokens(Tokenizer& t, const GgufVocab& v) {
    for (size_t i = 0; i < v.token_types.size() && i < v.tokens.size(); ++i) {
      auto type = static_cast<GgufTokenType>(v.token_types[i]);
      // Control and unknown tokens are special (matched only when parsing specials, skipped by
      // decode); user-defined tokens are always matched, as llama.cpp does.
      if (type != GgufTokenType::kControl && type != GgufTokenType::kUserDefined && type != GgufTokenType::kUnknown)
        continue;
      AddedToken a;
      a.content = v.tokens[i];
      a.id = static_cast<int32_t>(i);
      a.special = type != GgufTokenType::kUserDefined;
      a.strip_ascii_only = true;
      set_strip_rules(a, v);
      t.added_->add(a);
    }
  }

  // GGUF stores no lstrip/rstrip; llama.cpp sets them by model name, and so do we: Phi-3 drops the
  // whitespace after its special tokens (but not after <unk>, <s>, <|endoftext|>), the Jina v2 and
  // Nomic-MoE BERTs the whitespace before <mask>.
  static void set_strip_rules(AddedToken& a, const GgufVocab& v) {
    auto contains_any = [](const std::string& s, std::initializer_list<const char*> parts) {
      for (const char* p : parts)
        if (s.find(p) != std::string::npos) return true;
      return false;
    };
    if (contains_any(v.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
        contains_any(v.architecture, {"nomic-bert-moe", "jina-bert-v3"})) {
      a.lstrip = a.content == "<mask>";
    } else if (contains_any(v.name, {"phi-3", "phi3"})) {
      a.rstrip = a.content != "<unk>" && a.content != "<s>" && a.content != "<|endoftext|>";
    }
  }

  static std::unique_ptr<Tokenizer> build(const GgufVocab& v) {
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    Vocab vocab;
    vocab.ids.reserve(v.tokens.size());
    for (size_t i = 0; i < v.tokens.size(); ++i) vocab.add(v.tokens[i], static_cast<int32_t>(i));
    add_special_tokens(*t, v);
    bool add_bos;
    if (v.model == "llama") {
      std::vector<float> scores = v.scores;
      scores.resize(v.tokens.size(), 0.0f);
      t->model_ = std::make_unique<SpmModel>(std::move(vocab), std::move(scores),
                                             v.unk_id >= 0 ? std::optional<int32_t>(v.unk_id) : std::nullopt);
      Json replace = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}};
      t->normalizer_ = make_normalizer(replace);
      t->spm_space_prefix_ = v.add_space_prefix.value_or(true);
      t->decoder_ = make_sentencepiece_decoder(t->spm_space_prefix_, /*raw_bytes=*/true);
      add_bos = v.add_bos.value_or(true);
    } else if (v.model == "gpt2") {
      std::vector<std::pair<std::string, std::string>> merges;
      merges.reserve(v.merges.size());
      for (size_t i = 0; i < v.merges.size(); ++i) {
        size_t sp = v.merges[i].find(' ', 1);
        if (sp == std::string::npos)
          fail(ErrorCode::kInvalidModel, "GGUF tokenizer.ggml.merges[{}] is not two tokens separated by a space", i);
        merges.emplace_back(v.merges[i].substr(0, sp), v.merges[i].substr(sp + 1));
      }
      BpeOptions opt;
      auto regexes = gguf_pre_tokenizer_regexes(v.pre);
      opt.ignore_merges = v.pre == "llama3" || v.pre == "llama-v3" || v.pre == "llama-bpe" || v.pre == "falcon3";
      t->model_ = std::make_unique<BpeModel>(std::move(vocab), merges, std::move(opt));
      std::vector<std::unique_ptr<PreTokenizer>> pres;
      for (const auto& r : regexes) pres.push_back(make_regex_split(r, SplitBehavior::kIsolated, false));
      pres.push_back(make_byte_level(false, false));
      t->pre_tokenizer_ = make_sequence(std::move(pres));
      t->decoder_ = make_byte_level_decoder();
      // llama.cpp prints user-defined tokens verbatim; spell them in the byte-level alphabet so
      // the ByteLevel decoder gives their text back.
      const auto& table = byte_to_code_point();
      for (size_t i = 0; i < v.token_types.size() && i < v.tokens.size(); ++i) {
        if (static_cast<GgufTokenType>(v.token_types[i]) != GgufTokenType::kUserDefined) continue;
        std::string piece;
        for (unsigned char c : v.tokens[i]) append_utf8(piece, table[c]);
        t->decode_pieces_[static_cast<int32_t>(i)] = std::move(piece);
      }
      add_bos = v.add_bos.value_or(false);
    } else if (v.model == "bert") {
      t->model_ = std::make_unique<WpmModel>(std::move(vocab), v.unk_id);
      // llama.cpp drops the leading space of a decode only when the vocabulary adds one.
      t->decoder_ = make_sentencepiece_decoder(v.add_space_prefix.value_or(false), /*raw_bytes=*/true);
      // BERT wraps a sequence in [CLS] ... [SEP].
      if (v.cls_id >= 0 && v.add_bos.value_or(true)) t->prefix_ids_.push_back(v.cls_id);
      if (v.sep_id >= 0 && v.add_eos.value_or(true)) t->suffix_ids_.push_back(v.sep_id);
      add_bos = false;
    } else {
      fail(ErrorCode::kUnsupported, "GGUF tokenizer.ggml.model '{}' is not supported", v.model);
    }
    t->bos_id_ = v.bos_id;
    t->eos_id_ = v.eos_id;
    if (add_bos && v.bos_id >= 0) t->prefix_ids_.push_back(v.bos_id);
    if (v.model != "bert" && v.add_eos.value_or(false) && v.eos_id >= 0) t->suffix_ids_.push_back(v.eos_id);
    if (v.chat_template) t->chat_templates_["default"] = *v.chat_template;
    for (const auto& [name, tmpl] : v.named_chat_templates) t->chat_templates_[name] = tmpl;
    t->finish_setup();
    t->vocab_size_ = static_cast<int64_t>(v.tokens.size());
    return t;
  }
};

std::unique_ptr<Tokenizer> Tokenizer::from_gguf_vocab(const GgufVocab& vocab) { return GgufLoader::build(vocab); }

}  // namespace pagellm
