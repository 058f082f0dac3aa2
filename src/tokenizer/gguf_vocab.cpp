// Reading tokenizer.ggml.* from a GgufFile (the only file that needs the GGUF loader).
#include "tokenizer/gguf_vocab.h"

#include <cctype>

#include "loader/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace pagellm::tok {

GgufVocab GgufVocab::read(const GgufFile& g) {
  GgufVocab v;
  v.model = g.get_string("tokenizer.ggml.model").value_or("");
  if (v.model.empty()) fail(ErrorCode::kInvalidModel, "{}: tokenizer.ggml.model is missing", g.path());
  v.pre = g.get_string("tokenizer.ggml.pre").value_or("default");
  v.name = g.get_string("general.name").value_or("");
  for (char& c : v.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  v.architecture = g.get_string("general.architecture").value_or("");
  const auto* tokens = g.get_string_array("tokenizer.ggml.tokens");
  if (!tokens) fail(ErrorCode::kInvalidModel, "{}: tokenizer.ggml.tokens is missing", g.path());
  v.tokens = *tokens;
  if (const auto* s = g.get_number_array("tokenizer.ggml.scores")) v.scores.assign(s->begin(), s->end());
  if (const auto* t = g.get_number_array("tokenizer.ggml.token_type"))
    for (double x : *t) v.token_types.push_back(static_cast<int32_t>(x));
  if (const auto* m = g.get_string_array("tokenizer.ggml.merges")) v.merges = *m;
  auto id = [&](const char* key) {
    auto x = g.get_int(key);
    // Absent ids are often written as UINT32_MAX.
    return x && *x >= 0 && *x < static_cast<int64_t>(v.tokens.size()) ? static_cast<int32_t>(*x) : -1;
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id");
  v.eos_id = id("tokenizer.ggml.eos_token_id");
  v.unk_id = id("tokenizer.ggml.unknown_token_id");
  v.pad_id = id("tokenizer.ggml.padding_token_id");
  v.cls_id = id("tokenizer.ggml.cls_token_id");
  v.sep_id = id("tokenizer.ggml.seperator_token_id");  // sic: llama.cpp's key
  v.add_bos = g.get_bool("tokenizer.ggml.add_bos_token");
  v.add_eos = g.get_bool("tokenizer.ggml.add_eos_token");
  v.add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix");
  v.chat_template = g.get_string("tokenizer.chat_template");
  const std::string prefix = "tokenizer.chat_template.";
  for (const auto& [key, value] : g.metadata())
    if (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0)
      if (auto s = g.get_string(key)) v.named_chat_templates[key.substr(prefix.size())] = *s;
  return v;
}

}  // namespace pagellm::tok

namespace pagellm {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& gguf) {
  return from_gguf_vocab(tok::GgufVocab::read(gguf));
}

}  // namespace pagellm
