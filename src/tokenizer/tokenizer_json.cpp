// Loading a Hugging Face tokenizer.json (+ tokenizer_config.json) into a Tokenizer.
#include <filesystem>

#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace pagellm {

using namespace tok;

struct HfLoader {
  Tokenizer& t;
  std::string path;

  [[noreturn]] void bad(const std::string& field, const std::string& why) {
    fail(ErrorCode::kInvalidModel, "{}: {} {}", path, field, why);
  }

  std::unique_ptr<Model> load_model(const nlohmann::json& m) {
    if (!m.is_object()) bad("model", "is missing or not an object");
    std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
    if (type.empty() && m.contains("merges")) type = "BPE";  // old serialization (GPT-2) has no type
    if (type != "BPE") fail(ErrorCode::kUnsupported, "{}: model.type '{}' is not supported", path, type);
    if (!m.contains("vocab") || !m["vocab"].is_object()) bad("model.vocab", "is missing or not an object");
    Vocab vocab;
    vocab.ids.reserve(m["vocab"].size());
    for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
      if (!it.value().is_number_integer()) bad("model.vocab['" + it.key() + "']", "is not an integer id");
      vocab.add(it.key(), it.value().get<int32_t>());
    }
    std::vector<std::pair<std::string, std::string>> merges;
    if (m.contains("merges")) {
      const Json& ms = m["merges"];
      if (!ms.is_array()) bad("model.merges", "is not an array");
      merges.reserve(ms.size());
      for (size_t i = 0; i < ms.size(); ++i) {
        const Json& e = ms[i];
        if (e.is_string()) {
          const std::string& s = e.get_ref<const std::string&>();
          size_t sp = s.find(' ');
          if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
            bad("model.merges[" + std::to_string(i) + "]", "is not two tokens separated by one space");
          merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
          merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
        } else {
          bad("model.merges[" + std::to_string(i) + "]", "is neither \"a b\" nor [\"a\", \"b\"]");
        }
      }
    }
    auto str_or_empty = [&](const char* key) {
      return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
    };
    BpeOptions opt;
    if (m.contains("unk_token") && m["unk_token"].is_string()) opt.unk_token = m["unk_token"].get<std::string>();
    opt.fuse_unk = m.value("fuse_unk", false);
    opt.byte_fallback = m.value("byte_fallback", false);
    opt.ignore_merges = m.value("ignore_merges", false);
    opt.continuing_subword_prefix = str_or_empty("continuing_subword_prefix");
    opt.end_of_word_suffix = str_or_empty("end_of_word_suffix");
    return std::make_unique<BpeModel>(std::move(vocab), merges, std::move(opt));
  }

  int32_t model_size_ = 0;
  int32_t max_added_ = -1;

  void load_added(const Json& a) {
    if (a.is_null()) return;
    model_size_ = static_cast<int32_t>(t.model_->vocab().ids.size());
    if (!a.is_array()) bad("added_tokens", "is not an array");
    for (const Json& e : a) {
      AddedToken tok;
      if (!e.contains("id") || !e.contains("content")) bad("added_tokens", "entry needs 'id' and 'content'");
      tok.id = e["id"].get<int32_t>();
      tok.content = e["content"].get<std::string>();
      tok.special = e.value("special", false);
      tok.lstrip = e.value("lstrip", false);
      tok.rstrip = e.value("rstrip", false);
      tok.single_word = e.value("single_word", false);
      tok.normalized = e.value("normalized", !tok.special);
      // HF ignores the file's id: a token the model (or an earlier added token) knows keeps that
      // id, a new one gets the next id after the model vocabulary and earlier added tokens.
      // Consistent files (all real ones) get their own ids back.
      if (auto known = t.token_to_id(tok.content)) {
        tok.id = *known;
      } else {
        tok.id = max_added_ >= model_size_ ? max_added_ + 1 : model_size_;
      }
      max_added_ = std::max(max_added_, tok.id);
      if (tok.normalized && t.normalizer_) {
        tok.pattern = tok.content;
        t.normalizer_->normalize(tok.pattern);
      }
      t.added_->add(tok);
    }
  }

  std::optional<int32_t> id_of(const std::string& token) { return t.token_to_id(token); }

  // Post-processors only matter for the ids they add around a single sequence.
  void load_post(const Json& p) {
    if (p.is_null()) return;
    std::string type = p.value("type", std::string());
    if (type == "Sequence") {
      for (const Json& q : p.at("processors")) load_post(q);
    } else if (type == "TemplateProcessing") {
      bool seen_seq = false;
      Json single = p.at("single");
      if (single.is_string()) {  // the "<s> $A" shorthand: one item per space-separated word
        Json items = Json::array();
        std::string spec = single.get<std::string>();
        for (size_t b = 0; b < spec.size();) {
          size_t e = spec.find(' ', b);
          if (e == std::string::npos) e = spec.size();
          std::string word = spec.substr(b, e - b);
          b = e + 1;
          if (word.empty()) continue;
          size_t colon = word.rfind(':');  // "<s>:1" carries a type id
          if (colon != std::string::npos && colon + 1 < word.size() &&
              word.find_first_not_of("0123456789", colon + 1) == std::string::npos)
            word.resize(colon);
          if (word[0] == '$')
            items.push_back({{"Sequence", {{"id", "A"}}}});
          else
            items.push_back({{"SpecialToken", {{"id", word}}}});
        }
        single = items;
      }
      for (const Json& item : single) {
        if (item.contains("Sequence")) {
          seen_seq = true;
          continue;
        }
        std::string name = item.at("SpecialToken").at("id").get<std::string>();
        const Json& st = p.at("special_tokens");
        if (!st.contains(name)) bad("post_processor.special_tokens", "lacks '" + name + "'");
        for (const Json& id : st[name].at("ids"))
          (seen_seq ? t.suffix_ids_ : t.prefix_ids_).push_back(id.get<int32_t>());
      }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
      t.prefix_ids_.push_back(p.at("cls").at(1).get<int32_t>());
      t.suffix_ids_.push_back(p.at("sep").at(1).get<int32_t>());
    } else if (type != "ByteLevel") {
      fail(ErrorCode::kUnsupported, "{}: post_processor type '{}' is not supported", path, type);
    }
  }

  static std::optional<std::string> token_string(const Json& c, const char* key) {
    if (!c.contains(key)) return std::nullopt;
    const Json& v = c[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content")) return v["content"].get<std::string>();
    return std::nullopt;
  }

  void load_config(const Json& c) {
    if (auto s = token_string(c, "bos_token"))
      if (auto id = id_of(*s)) t.bos_id_ = *id;
    if (auto s = token_string(c, "eos_token"))
      if (auto id = id_of(*s)) t.eos_id_ = *id;
    // transformers rebuilds the template from these flags for Llama-style tokenizers; honour them
    // when they are given explicitly so BOS/EOS follow the config.
    if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean() && t.bos_id_ >= 0) {
      bool has = !t.prefix_ids_.empty() && t.prefix_ids_.front() == t.bos_id_;
      if (c["add_bos_token"].get<bool>() && !has) t.prefix_ids_.insert(t.prefix_ids_.begin(), t.bos_id_);
      if (!c["add_bos_token"].get<bool>() && has) t.prefix_ids_.erase(t.prefix_ids_.begin());
    }
    if (c.contains("add_eos_token") && c["add_eos_token"].is_boolean() && t.eos_id_ >= 0) {
      bool has = !t.suffix_ids_.empty() && t.suffix_ids_.back() == t.eos_id_;
      if (c["add_eos_token"].get<bool>() && !has) t.suffix_ids_.push_back(t.eos_id_);
      if (!c["add_eos_token"].get<bool>() && has) t.suffix_ids_.pop_back();
    }
    if (c.contains("clean_up_tokenization_spaces") && c["clean_up_tokenization_spaces"].is_boolean())
      t.clean_up_tokenization_spaces_ = c["clean_up_tokenization_spaces"].get<bool>();
    if (c.contains("chat_template")) {
      const Json& ct = c["chat_template"];
      if (ct.is_string()) {
        t.chat_templates_["default"] = ct.get<std::string>();
      } else if (ct.is_array()) {
        for (const Json& e : ct)
          t.chat_templates_[e.at("name").get<std::string>()] = e.at("template").get<std::string>();
      }
    }
  }
};

std::unique_ptr<Tokenizer> Tokenizer::from_hf(const std::string& dir_or_file) {
  namespace fs = std::filesystem;
  fs::path file = dir_or_file;
  if (fs::is_directory(file)) file /= "tokenizer.json";
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  HfLoader l{*t, file.string()};
  // Plain (std::map-backed) JSON: the ordered variant's linear key lookup makes a 150k-entry
  // vocab quadratic to parse. Key order does not matter here (ids are explicit).
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(file.string()));
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorCode::kInvalidModel, "{}: invalid JSON: {}", file.string(), e.what());
  }
  if (!j.is_object()) l.bad("top level", "is not an object");
  try {
    if (!j.contains("model")) l.bad("model", "is missing");
    t->model_ = l.load_model(j["model"]);  // the big part stays in the fast JSON type
    auto sub = [&](const char* key) { return j.contains(key) ? Json(j[key]) : Json(); };
    t->normalizer_ = make_normalizer(sub("normalizer"));
    l.load_added(sub("added_tokens"));
    const Json pre = sub("pre_tokenizer");
    t->pre_tokenizer_ = make_pre_tokenizer(pre);
    // The Metaspace replacement (top level or in a Sequence), as vLLM reads it for logprobs.
    if (pre.is_object()) {
      Json items = pre.value("type", "") == "Sequence" ? pre.value("pretokenizers", Json::array()) : Json::array({pre});
      for (const Json& item : items)
        if (item.is_object() && item.value("type", "") == "Metaspace") {
          t->leading_space_marker_ = item.value("replacement", std::string("\xE2\x96\x81"));
          break;
        }
    }
    l.load_post(sub("post_processor"));
    t->decoder_ = make_decoder(sub("decoder"));
    fs::path cfg = file.parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg)) {
      Json c = read_json_file(cfg.string());
      // The chat template may also live in chat_template.jinja next to it (newer transformers).
      l.load_config(c);
    }
    fs::path jinja = file.parent_path() / "chat_template.jinja";
    if (!t->chat_templates_.count("default") && fs::exists(jinja))
      t->chat_templates_["default"] = read_text_file(jinja.string());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCode::kInvalidModel, "{}: {}", file.string(), e.what());
  }
  t->finish_setup();
  return t;
}

}  // namespace pagellm
