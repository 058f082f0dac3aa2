#include "engine/beam_group.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace pagellm {
namespace {

struct Candidate {
  size_t parent;
  int32_t token;
  double cumulative_logprob;
  double score;
};

// Ties (equal scores) go to the earlier parent, then the lower token id, so the result does not
// depend on sort internals.
bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.parent != b.parent) return a.parent < b.parent;
  return a.token < b.token;
}

}  // namespace

BeamGroup::BeamGroup(std::shared_ptr<Request> root, BeamSearchParams params, int32_t eos_token_id,
                     int64_t max_model_len)
    : root_(std::move(root)),
      params_(std::move(params)),
      eos_(eos_token_id),
      // At least one round, as an ordinary request always samples one token.
      max_rounds_(std::max<int64_t>(1, std::min(params_.max_tokens, max_model_len - root_->num_prompt_tokens))),
      arrival_(Clock::now()),
      last_round_(arrival_) {
  if (params_.num_returned <= 0 || params_.num_returned > params_.beam_width) params_.num_returned = params_.beam_width;
  live_.push_back({root_, 0.0, {}, {}, false});
}

void BeamGroup::set_logits(const Request& seq, std::span<const float> raw) {
  auto it = std::find_if(live_.begin(), live_.end(), [&](const Beam& b) { return b.seq.get() == &seq; });
  if (it == live_.end()) return;
  std::vector<float>& row = it->next_logprobs;
  row.assign(raw.begin(), raw.end());
  if (params_.temperature > 0)
    for (float& l : row) l = static_cast<float>(l / params_.temperature);
  const auto lse = static_cast<float>(log_sum_exp(row));
  for (float& l : row) l -= lse;
  it->reported = true;
}

bool BeamGroup::ready() const {
  return !live_.empty() && std::all_of(live_.begin(), live_.end(), [](const Beam& b) { return b.reported; });
}

bool BeamGroup::done() const {
  return rounds_ >= max_rounds_ || live_.empty() ||
         (params_.early_stopping && static_cast<int64_t>(finished_.size()) >= params_.beam_width);
}

BeamSequence BeamGroup::to_sequence(const Beam& beam, std::string finish_reason) const {
  const Request& r = *beam.seq;
  BeamSequence s;
  s.token_ids.assign(r.output().begin(), r.output().end());
  s.cumulative_logprob = beam.cumulative_logprob;
  s.score = beam_score(beam.cumulative_logprob, r.num_tokens(), params_.length_penalty);
  s.finish_reason = std::move(finish_reason);
  s.logprobs = beam.logprobs;
  return s;
}

std::vector<BeamGroup::Child> BeamGroup::expand() {
  if (!ready()) fail(ErrorCode::kInternal, "beam search {}: expanding before every beam reported", root_->id);
  const int64_t width = params_.beam_width;
  std::vector<Candidate> candidates;
  std::vector<int32_t> ids;
  for (size_t b = 0; b < live_.size(); ++b) {
    const std::vector<float>& lp = live_[b].next_logprobs;
    ids.resize(lp.size());
    std::iota(ids.begin(), ids.end(), 0);
    const auto k = static_cast<size_t>(std::min<int64_t>(2 * width, static_cast<int64_t>(lp.size())));
    std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(k), ids.end(),
                      [&](int32_t x, int32_t y) { return lp[x] > lp[y] || (lp[x] == lp[y] && x < y); });
    const Request& parent = *live_[b].seq;
    for (size_t j = 0; j < k; ++j) {
      const int32_t t = ids[j];
      const double cum = live_[b].cumulative_logprob + lp[static_cast<size_t>(t)];
      if (t == eos_ && !params_.ignore_eos) {
        // Finished here: the EOS is kept in the ids but not counted in the length.
        BeamSequence s;
        s.token_ids.assign(parent.output().begin(), parent.output().end());
        s.token_ids.push_back(t);
        s.cumulative_logprob = cum;
        s.score = beam_score(cum, parent.num_tokens(), params_.length_penalty);
        s.finish_reason = "stop";
        if (params_.logprobs) {
          s.logprobs = live_[b].logprobs;
          s.logprobs.push_back(compute_logprobs(lp, t, *params_.logprobs));
        }
        finished_.push_back(std::move(s));
      } else {
        candidates.push_back({b, t, cum, beam_score(cum, parent.num_tokens() + 1, params_.length_penalty)});
      }
    }
  }
  std::sort(candidates.begin(), candidates.end(), better);
  if (static_cast<int64_t>(candidates.size()) > width) candidates.resize(static_cast<size_t>(width));

  std::vector<Child> children;
  std::vector<Beam> next;
  for (const Candidate& c : candidates) {
    const Beam& from = live_[c.parent];
    const Request& parent = *from.seq;
    std::vector<int32_t> tokens = parent.token_ids;
    tokens.push_back(c.token);
    SamplingParams params = parent.params;
    params.prompt_logprobs.reset();  // the root reports them
    auto child = std::make_shared<Request>(fmt::format("{}\x1f"
                                                       "beam{}",
                                                       root_->id, next_child_++),
                                           std::move(tokens), std::move(params), parent.arrival_time, parent.priority);
    child->num_prompt_tokens = root_->num_prompt_tokens;
    child->group_id = root_->group_id;
    child->forked = true;
    child->cache_extra_key = parent.cache_extra_key;
    child->num_cached_tokens = root_->num_cached_tokens;
    Beam beam{child, c.cumulative_logprob, {}, {}, false};
    if (params_.logprobs) {
      beam.logprobs = from.logprobs;
      beam.logprobs.push_back(compute_logprobs(from.next_logprobs, c.token, *params_.logprobs));
    }
    children.push_back({from.seq, child});
    next.push_back(std::move(beam));
  }
  live_ = std::move(next);
  ++rounds_;
  last_round_ = Clock::now();
  return children;
}

std::vector<BeamSequence> BeamGroup::results() const {
  std::vector<BeamSequence> all = finished_;
  for (const Beam& b : live_) all.push_back(to_sequence(b, "length"));
  std::stable_sort(all.begin(), all.end(),
                   [](const BeamSequence& a, const BeamSequence& b) { return a.score > b.score; });
  if (static_cast<int64_t>(all.size()) > params_.num_returned) all.resize(static_cast<size_t>(params_.num_returned));
  return all;
}

}  // namespace pagellm
