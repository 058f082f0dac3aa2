#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace pagellm::tok {

bool AddedTokens::MatchSet::empty() const {
  for (const auto& v : by_first)
    if (!v.empty()) return false;
  return true;
}

void AddedTokens::add(const AddedToken& token) {
  if (token.content.empty() || token.match_text().empty()) return;
  if (auto it = by_id_.find(token.id); it != by_id_.end()) {
    // A later definition of the same id replaces the earlier one; rebuild its set entry.
    size_t idx = it->second;
    for (auto& set : sets_)
      for (auto& v : set.by_first) std::erase(v, idx);
    by_content_.erase(tokens_[idx].content);
    tokens_[idx] = token;
  } else {
    by_id_[token.id] = tokens_.size();
    tokens_.push_back(token);
  }
  size_t idx = by_id_[token.id];
  by_content_[token.content] = idx;
  auto& bucket = sets_[token.normalized ? 1 : 0].by_first[static_cast<unsigned char>(token.match_text()[0])];
  bucket.push_back(idx);
  std::stable_sort(bucket.begin(), bucket.end(),
                   [&](size_t a, size_t b) { return tokens_[a].match_text().size() > tokens_[b].match_text().size(); });
}

const AddedToken* AddedTokens::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokens::by_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

namespace {
bool strippable(const AddedToken& token, char32_t c) {
  if (token.strip_ascii_only) return c == ' ' || (c >= '\t' && c <= '\r');
  return is_whitespace(c);
}

char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return next_code_point(s, i);
}
}  // namespace

void AddedTokens::split(std::string_view text, bool normalized, bool parse_special, std::vector<Segment>& out) const {
  out.clear();
  const MatchSet& set = sets_[normalized ? 1 : 0];
  size_t done = 0;  // end of the previous match (HF's start_offset)
  for (size_t i = 0; i < text.size();) {
    const auto& cands = set.by_first[static_cast<unsigned char>(text[i])];
    const AddedToken* hit = nullptr;
    for (size_t idx : cands) {
      const AddedToken& t = tokens_[idx];
      if (!parse_special && t.special) continue;
      if (text.compare(i, t.match_text().size(), t.match_text()) == 0) {
        hit = &t;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + hit->match_text().size();
    if (hit->single_word) {
      // Only a whole word: no word character (regex \w) right before or after.
      bool start_ok = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      size_t k = stop;
      bool stop_ok = stop == text.size() || !is_word_char(next_code_point(text, k));
      if (!start_ok || !stop_ok) {
        i = stop;  // HF's match iterator resumes after the rejected match
        continue;
      }
    }
    if (hit->lstrip) {
      size_t s = start;
      while (s > done) {
        size_t p = s - 1;
        while (p > done && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
        size_t q = p;
        if (!strippable(*hit, next_code_point(text, q))) break;
        s = p;
      }
      start = s;
    }
    if (hit->rstrip) {
      while (stop < text.size()) {
        size_t q = stop;
        if (!strippable(*hit, next_code_point(text, q))) break;
        stop = q;
      }
    }
    if (start > done) out.push_back(Segment{done, start, -1});
    out.push_back(Segment{start, stop, hit->id});
    done = stop;
    i = stop;
  }
  if (done < text.size()) out.push_back(Segment{done, text.size(), -1});
}

}  // namespace pagellm::tok
