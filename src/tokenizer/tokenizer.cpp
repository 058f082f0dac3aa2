#include "tokenizer/tokenizer.h"

#include <unordered_set>

#include "tokenizer/added_tokens.h"
#include "tokenizer/decoder.h"
#include "tokenizer/model.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace pagellm {

using namespace tok;

Tokenizer::Tokenizer() : added_(std::make_unique<AddedTokens>()) {}
Tokenizer::~Tokenizer() = default;

void Tokenizer::finish_setup() {
  std::unordered_set<int32_t> ids;
  const auto& pieces = model_->vocab().pieces;
  int64_t n = 0;
  for (size_t i = 0; i < pieces.size(); ++i)
    if (!pieces[i].empty()) ++n;
  for (const auto& t : added_->all())
    if (static_cast<size_t>(t.id) >= pieces.size() || pieces[static_cast<size_t>(t.id)].empty()) ids.insert(t.id);
  vocab_size_ = n + static_cast<int64_t>(ids.size());
}

std::vector<int32_t> Tokenizer::encode(std::string_view input, bool add_special_tokens, bool parse_special) const {
  std::string sanitized;
  std::string_view text = input;
  if (!is_valid_utf8(input)) {
    sanitized = utf8_lossy(input);
    text = sanitized;
  }
  std::vector<int32_t> out;
  if (add_special_tokens) out = prefix_ids_;
  std::vector<Segment> raw, norm;
  std::vector<Word> words;
  bool after_special = true;  // for spm_space_prefix_: start of text counts as after a special token
  added_->split(text, false, parse_special, raw);
  for (const Segment& seg : raw) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      after_special = true;
      continue;
    }
    std::string piece(text.substr(seg.begin, seg.end - seg.begin));
    bool start_moved = false;
    if (normalizer_) normalizer_->normalize(piece, start_moved);
    if (spm_space_prefix_ && after_special) piece.insert(0, "\xE2\x96\x81");
    after_special = false;
    added_->split(piece, true, parse_special, norm);
    for (const Segment& sub : norm) {
      if (sub.id >= 0) {
        out.push_back(sub.id);
        continue;
      }
      words.clear();
      words.push_back(
          Word{piece.substr(sub.begin, sub.end - sub.begin), seg.begin == 0 && sub.begin == 0 && !start_moved});
      if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(words);
      for (const Word& w : words) model_->encode_word(w.text, out);
    }
  }
  if (add_special_tokens) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* t = added_->by_id(id)) return t->content;
  const auto& pieces = model_->vocab().pieces;
  if (id < 0 || static_cast<size_t>(id) >= pieces.size() || pieces[static_cast<size_t>(id)].empty())
    fail(ErrorCode::kInvalidArgument, "token id {} is not in the vocabulary", id);
  return pieces[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    std::string t = id_to_token(id);  // validates every id, even skipped ones
    if (skip_special_tokens && is_special(id)) continue;
    if (auto it = decode_pieces_.find(id); it != decode_pieces_.end()) t = it->second;
    tokens.push_back(std::move(t));
  }
  if (!decoder_) {  // HF joins raw tokens with spaces when there is no decoder
    std::string s;
    for (size_t i = 0; i < tokens.size(); ++i) s += (i ? " " : "") + tokens[i];
    return is_valid_utf8(s) ? s : utf8_lossy(s);
  }
  decoder_->decode_chain(tokens);
  std::string s;
  for (auto& t : tokens) s += t;
  // Pieces from a GGUF may hold raw bytes; callers always get valid UTF-8.
  return is_valid_utf8(s) ? s : utf8_lossy(s);
}

std::string Tokenizer::decode_token(int32_t id) const {
  std::string text = decode(std::span(&id, 1), false);
  const std::string& m = leading_space_marker_;
  if (m.empty()) return text;
  const std::string piece = id_to_token(id);
  size_t markers = 0;
  while ((markers + 1) * m.size() <= piece.size() && piece.compare(markers * m.size(), m.size(), m) == 0) ++markers;
  const size_t spaces = text.find_first_not_of(' ') == std::string::npos ? text.size() : text.find_first_not_of(' ');
  if (markers > spaces) text.insert(0, markers - spaces, ' ');
  return text;
}

int64_t Tokenizer::vocab_size() const { return vocab_size_; }

std::string Tokenizer::clean_up_tokenization(std::string_view text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  std::string s(text);
  for (const auto& [from, to] : kRules) {  // one full pass per rule, like chained str.replace
    std::string out;
    size_t last = 0;
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + from.size())) {
      out.append(s, last, p - last);
      out.append(to);
      last = p + from.size();
    }
    out.append(s, last, std::string::npos);
    s.swap(out);
  }
  return s;
}

std::optional<std::string> Tokenizer::bos_token() const {
  return bos_id_ >= 0 ? std::optional<std::string>(id_to_token(bos_id_)) : std::nullopt;
}
std::optional<std::string> Tokenizer::eos_token() const {
  return eos_id_ >= 0 ? std::optional<std::string>(id_to_token(eos_id_)) : std::nullopt;
}

std::optional<std::string> Tokenizer::chat_template(const std::string& name) const {
  auto it = chat_templates_.find(name);
  return it == chat_templates_.end() ? std::nullopt : std::optional<std::string>(it->second);
}

bool Tokenizer::is_added(int32_t id) const { return added_->by_id(id) != nullptr; }

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* t = added_->by_id(id);
  return t && t->special;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = added_->by_content(token)) return t->id;
  return model_->vocab().find(token);
}

}  // namespace pagellm
