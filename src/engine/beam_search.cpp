#include "engine/beam_search.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/engine_core.h"
#include "sampling/logprobs.h"
#include "util/error.h"

namespace pagellm {

double beam_score(double cumulative_logprob, int64_t length, double length_penalty) {
  return cumulative_logprob / std::pow(static_cast<double>(length), length_penalty);
}

namespace {

struct Beam {
  std::shared_ptr<Request> seq;  // its tokens (prompt + generated) and its KV blocks, by id
  double cumulative_logprob = 0;
};

struct Candidate {
  size_t parent;
  int32_t token;
  double cumulative_logprob;
  double score;
};

bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.parent != b.parent) return a.parent < b.parent;
  return a.token < b.token;
}

}  // namespace

BeamSearchResult EngineCore::beam_search(const std::vector<int32_t>& prompt_ids, const BeamSearchParams& params) {
  if (params.beam_width < 1)
    fail(ErrorCode::kInvalidArgument, "beam_width must be at least 1, got {}", params.beam_width);
  if (params.max_tokens < 1)
    fail(ErrorCode::kInvalidArgument, "max_tokens must be at least 1, got {}", params.max_tokens);
  if (!(params.temperature >= 0) || !std::isfinite(params.temperature))
    fail(ErrorCode::kInvalidArgument, "temperature must be non-negative, got {}", params.temperature);
  if (has_unfinished()) fail(ErrorCode::kUnavailable, "beam search needs an idle engine");
  validate_request(Request("beam", prompt_ids, SamplingParams{}), bundle_.config(), config_);

  const int64_t vocab = bundle_.config().vocab_size;
  const auto prompt_len = static_cast<int64_t>(prompt_ids.size());
  const int64_t width = params.beam_width;
  const auto eos = params.eos_token_id.value_or(static_cast<int32_t>(bundle_.tokenizer->eos_token_id()));
  int64_t next_id = 0;
  auto new_seq = [&](std::vector<int32_t> tokens) {
    return std::make_shared<Request>(fmt::format("\x1f"
                                                 "beam{}",
                                                 next_id++),
                                     std::move(tokens), SamplingParams{});
  };

  // Runs the uncomputed tokens of every live beam; returns each beam's next-token logprobs.
  auto run = [&](std::vector<Beam>& beams) {
    SchedulerOutput out;
    for (Beam& b : beams) {
      Request& r = *b.seq;
      CachedPrefix prefix;
      if (!kv_manager_.has_blocks(r.id)) {
        prefix = kv_manager_.find_cached_prefix(r.token_ids);
        r.num_computed_tokens = prefix.num_tokens;
      }
      const int64_t num_new = r.num_tokens() - r.num_computed_tokens;
      if (!kv_manager_.allocate_slots(r.id, r.token_ids, r.num_computed_tokens, num_new, prefix))
        fail(ErrorCode::kResourceExhausted, "beam search: out of KV cache blocks for {} beams", beams.size());
      out.scheduled.push_back({&r, r.num_computed_tokens, num_new, {}});
      out.num_scheduled_tokens += num_new;
    }
    for (ScheduledRequest& s : out.scheduled) s.block_table = kv_manager_.block_table(s.request->id);
    out.blocks_to_copy = kv_manager_.take_pending_copies();
    RunnerOutput result = runner_.execute(out);
    ++stats_.num_steps;
    std::vector<std::vector<float>> logprobs;
    for (size_t i = 0; i < beams.size(); ++i) {
      Request& r = *beams[i].seq;
      r.num_computed_tokens = r.num_tokens();
      std::vector<float> row(result.logits.begin() + result.rows[i].sample_row * vocab,
                             result.logits.begin() + (result.rows[i].sample_row + 1) * vocab);
      if (params.temperature > 0)
        for (float& l : row) l = static_cast<float>(l / params.temperature);
      const auto lse = static_cast<float>(log_sum_exp(row));
      for (float& l : row) l -= lse;
      logprobs.push_back(std::move(row));
    }
    return logprobs;
  };

  std::vector<Beam> beams{{new_seq(prompt_ids), 0.0}};
  std::vector<BeamSequence> finished;
  auto to_result = [&](const Request& r, double cum, std::string reason) {
    BeamSequence s;
    s.token_ids.assign(r.token_ids.begin() + prompt_len, r.token_ids.end());
    const bool ends_eos = !s.token_ids.empty() && s.token_ids.back() == eos;
    s.cumulative_logprob = cum;
    s.score = beam_score(cum, r.num_tokens() - (ends_eos ? 1 : 0), params.length_penalty);
    s.finish_reason = std::move(reason);
    return s;
  };

  const int64_t max_new = std::min(params.max_tokens, config_.scheduler.max_model_len - prompt_len);
  for (int64_t step = 0; step < max_new && !beams.empty(); ++step) {
    const std::vector<std::vector<float>> logprobs = run(beams);
    // Each beam's 2 * width most likely tokens.
    std::vector<Candidate> live, done;
    for (size_t b = 0; b < beams.size(); ++b) {
      const std::vector<float>& lp = logprobs[b];
      std::vector<int32_t> ids(static_cast<size_t>(vocab));
      std::iota(ids.begin(), ids.end(), 0);
      const auto k = static_cast<size_t>(std::min<int64_t>(2 * width, vocab));
      std::partial_sort(ids.begin(), ids.begin() + static_cast<long>(k), ids.end(),
                        [&](int32_t a, int32_t c) { return lp[a] > lp[c] || (lp[a] == lp[c] && a < c); });
      for (size_t j = 0; j < k; ++j) {
        const int32_t t = ids[j];
        const double cum = beams[b].cumulative_logprob + lp[static_cast<size_t>(t)];
        const bool is_eos = t == eos && !params.ignore_eos;
        const int64_t len = beams[b].seq->num_tokens() + (is_eos ? 0 : 1);
        (is_eos ? done : live).push_back({b, t, cum, beam_score(cum, len, params.length_penalty)});
      }
    }
    for (const Candidate& c : done) {
      Request r("", beams[c.parent].seq->token_ids, SamplingParams{});
      r.token_ids.push_back(c.token);
      finished.push_back(to_result(r, c.cumulative_logprob, "stop"));
    }
    std::sort(live.begin(), live.end(), better);
    if (static_cast<int64_t>(live.size()) > width) live.resize(static_cast<size_t>(width));
    // The kept expansions fork their parent's blocks; then the parents are freed.
    std::vector<Beam> next;
    for (const Candidate& c : live) {
      const Request& parent = *beams[c.parent].seq;
      std::vector<int32_t> tokens = parent.token_ids;
      tokens.push_back(c.token);
      Beam nb{new_seq(std::move(tokens)), c.cumulative_logprob};
      nb.seq->num_computed_tokens = parent.num_computed_tokens;
      kv_manager_.fork(parent.id, nb.seq->id);
      next.push_back(std::move(nb));
    }
    for (const Beam& b : beams) kv_manager_.free(b.seq->id);
    beams = std::move(next);
    if (params.early_stopping && static_cast<int64_t>(finished.size()) >= width) break;
  }
  for (const Beam& b : beams) {
    finished.push_back(to_result(*b.seq, b.cumulative_logprob, "length"));
    kv_manager_.free(b.seq->id);
  }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const BeamSequence& a, const BeamSequence& b) { return a.score > b.score; });
  if (static_cast<int64_t>(finished.size()) > width) finished.resize(static_cast<size_t>(width));
  for (BeamSequence& s : finished) s.text = bundle_.tokenizer->decode(s.token_ids, true);
  return {std::move(finished)};
}

}  // namespace pagellm
