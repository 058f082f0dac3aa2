#include "engine/output_processor.h"

#include <algorithm>

#include "util/utf8.h"

namespace pagellm {
namespace {

double seconds_between(OutputProcessor::Clock::time_point a, OutputProcessor::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool contains(const std::vector<int32_t>& ids, int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

RequestOutput make_output(const Request& request) {
  RequestOutput out;
  out.request_id = request.group_id;
  out.index = request.index;
  out.num_prompt_tokens = request.num_prompt_tokens;
  out.num_output_tokens = request.num_output_tokens();
  out.num_cached_tokens = std::max<int64_t>(0, request.num_cached_tokens);
  return out;
}

}  // namespace

OutputProcessor::OutputProcessor(std::shared_ptr<const Tokenizer> tokenizer, std::vector<int32_t> eos_token_ids,
                                 int64_t max_model_len)
    : tokenizer_(std::move(tokenizer)), eos_token_ids_(std::move(eos_token_ids)), max_model_len_(max_model_len) {}

void OutputProcessor::add_request(const Request& request) {
  const auto now = Clock::now();
  Tracked t;
  if (request.params.detokenize)
    t.detokenizer =
        std::make_unique<IncrementalDetokenizer>(*tokenizer_, request.prompt(), request.params.skip_special_tokens,
                                                 request.params.spaces_between_special_tokens);
  for (const std::string& s : request.params.stop) t.max_stop_len = std::max(t.max_stop_len, s.size());
  t.arrival = t.last_token = now;
  tracked_[request.id] = std::move(t);
}

size_t OutputProcessor::stop_holdback(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops)
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len)
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
  return hold;
}

std::optional<std::pair<size_t, size_t>> OutputProcessor::find_stop(const std::string& text, size_t from,
                                                                    const std::vector<std::string>& stops) {
  std::optional<std::pair<size_t, size_t>> best;
  for (size_t i = 0; i < stops.size(); ++i) {
    const size_t pos = text.find(stops[i], from);
    if (pos != std::string::npos && (!best || pos < best->first)) best = {pos, i};
  }
  return best;
}

void OutputProcessor::decode_logprobs(PositionLogprobs& lp) const {
  for (auto& [id, entry] : lp) entry.decoded_token = tokenizer_->decode_token(id);
}

RequestOutput OutputProcessor::process_token(Request& request, int32_t token, std::optional<PositionLogprobs> logprobs,
                                             EngineStats& stats) {
  Tracked& tracked = tracked_.at(request.id);
  const SamplingParams& params = request.params;
  const auto now = Clock::now();
  if (request.num_output_tokens() == 0)
    stats.time_to_first_token.observe(seconds_between(tracked.arrival, now));
  else
    stats.inter_token_latency.observe(seconds_between(tracked.last_token, now));
  tracked.last_token = now;
  ++stats.generation_tokens;

  request.token_ids.push_back(token);
  RequestOutput out = make_output(request);
  out.new_token_ids = {token};
  if (logprobs) {
    if (params.detokenize) decode_logprobs(*logprobs);
    out.new_logprobs.push_back(std::move(*logprobs));
    out.new_text_offsets.push_back(tracked.chars);  // the token's text starts where the text stands
  }
  if (!request.prompt_logprobs.empty() && !request.prompt_logprobs_sent) {
    if (params.detokenize)
      for (auto& lp : request.prompt_logprobs)
        if (lp) decode_logprobs(*lp);
    out.prompt_logprobs = std::move(request.prompt_logprobs);
    request.prompt_logprobs.clear();
    request.prompt_logprobs_sent = true;
  }
  if (params.needs_logprobs()) out.cumulative_logprob = request.cumulative_logprob;

  // Before min_tokens only the lengths can stop a sequence.
  const bool may_stop = request.num_output_tokens() >= params.min_tokens;
  const bool eos = may_stop && !params.ignore_eos && contains(eos_token_ids_, token);
  const bool stop_id = may_stop && contains(params.stop_token_ids, token);
  std::optional<size_t> cut;  // where the text ends when a stop string matched
  if (tracked.detokenizer) {
    // The token that stops generation is in the ids but not in the text (unless asked for).
    const size_t old_size = tracked.text.size();
    if (!eos && (!stop_id || params.include_stop_str_in_output)) {
      const std::string piece = tracked.detokenizer->add(token);
      tracked.text += piece;
      tracked.chars += static_cast<int64_t>(utf8_length(piece));
    }
    if (may_stop && !eos && !stop_id && !params.stop.empty()) {
      const size_t from = old_size - std::min(old_size, tracked.max_stop_len - 1);
      if (auto match = find_stop(tracked.text, from, params.stop)) {
        const std::string& s = params.stop[match->second];
        cut = std::max(tracked.emitted, match->first + (params.include_stop_str_in_output ? s.size() : 0));
        out.stop_reason = s;
        request.status = RequestStatus::kFinishedStopped;
      }
    }
  }
  if (cut) {
    tracked.text.resize(*cut);
  } else if (eos || stop_id) {
    request.status = RequestStatus::kFinishedStopped;
    out.stop_token_id = token;
    if (stop_id && !eos) out.stop_reason = static_cast<int64_t>(token);
  } else if (request.num_output_tokens() >= params.max_tokens || request.num_tokens() >= max_model_len_) {
    request.status = RequestStatus::kFinishedLength;
  }
  if (is_finished(request.status)) {
    if (!cut && tracked.detokenizer) tracked.text += tracked.detokenizer->finish();
    finish(request, tracked, out, stats);
  } else {
    const size_t hold = params.include_stop_str_in_output ? 0 : stop_holdback(tracked.text, params.stop);
    const size_t end = std::max(tracked.emitted, tracked.text.size() - hold);
    out.new_text = tracked.text.substr(tracked.emitted, end - tracked.emitted);
    tracked.emitted = end;
  }
  return out;
}

RequestOutput OutputProcessor::abort(const Request& request) {
  RequestOutput out = make_output(request);
  out.finished = true;
  out.finish_reason = "abort";
  tracked_.erase(request.id);
  return out;
}

void OutputProcessor::finish(Request& request, Tracked& tracked, RequestOutput& out, EngineStats& stats) {
  out.new_text = tracked.text.substr(std::min(tracked.emitted, tracked.text.size()));
  out.finished = true;
  out.finish_reason = request.status == RequestStatus::kFinishedStopped ? "stop" : "length";
  ++stats.request_success[out.finish_reason];
  stats.e2e_request_latency.observe(seconds_between(tracked.arrival, Clock::now()));
  tracked_.erase(request.id);
}

}  // namespace pagellm
