#include "tokenizer/incremental_detokenizer.h"

#include <algorithm>

namespace pagellm {

namespace {
// How many prompt ids to keep in the first window, so the first generated token decodes with
// the context that decides its leading space (vLLM uses the same constant).
constexpr size_t kInitialWindow = 5;

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// "<0xXX>": a byte-fallback piece. HF decodes a whole run of them at once and turns every byte of
// an invalid run into U+FFFD, so text from a run can still change until the run ends.
bool is_byte_piece(const std::string& p) { return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>'; }
}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids,
                                               bool skip_special_tokens, bool spaces_between_special_tokens)
    : tok_(tokenizer),
      ids_(prompt_ids.begin(), prompt_ids.end()),
      prefix_offset_(prompt_ids.size() > kInitialWindow ? prompt_ids.size() - kInitialWindow : 0),
      read_offset_(prompt_ids.size()),
      skip_special_(skip_special_tokens),
      join_added_tight_(!skip_special_tokens && !spaces_between_special_tokens) {}

std::string IncrementalDetokenizer::add(int32_t id) {
  const std::string piece = tok_.id_to_token(id);  // validates before storing: Error names the id
  ids_.push_back(id);
  std::string text = emit(false);
  if (join_added_tight_) {
    // vLLM's rule (FastIncrementalDetokenizer): the step's text is replaced by the raw token.
    const bool added = tok_.is_added(id);
    if (added && last_added_) text = piece;
    last_added_ = added;
  }
  return text;
}

std::string IncrementalDetokenizer::finish() { return emit(true); }

bool IncrementalDetokenizer::ends_in_byte_run() const {
  for (size_t i = ids_.size(); i-- > read_offset_;) {
    if (skip_special_ && tok_.is_special(ids_[i])) continue;  // skipped ids do not end a run
    return is_byte_piece(tok_.id_to_token(ids_[i]));
  }
  return false;
}

std::string IncrementalDetokenizer::emit(bool force) {
  if (read_offset_ >= ids_.size()) return {};
  std::span<const int32_t> all(ids_);
  std::string prefix_text = tok_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_), skip_special_);
  std::string new_text = tok_.decode(all.subspan(prefix_offset_), skip_special_);
  // A trailing U+FFFD usually means the last token ended inside a multi-byte character: wait
  // for the rest unless flushing.
  if (!force && (new_text.size() <= prefix_text.size() || ends_with_replacement(new_text) || ends_in_byte_run()))
    return {};
  std::string out = new_text.size() > prefix_text.size() ? new_text.substr(prefix_text.size()) : std::string();
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return out;
}

}  // namespace pagellm
