#include "engine/output_processor.h"

#include <algorithm>

namespace pagellm {
namespace {

double seconds_between(OutputProcessor::Clock::time_point a, OutputProcessor::Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool contains(const std::vector<int32_t>& ids, int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

OutputProcessor::OutputProcessor(std::shared_ptr<const Tokenizer> tokenizer, std::vector<int32_t> eos_token_ids,
                                 int64_t max_model_len)
    : tokenizer_(std::move(tokenizer)), eos_token_ids_(std::move(eos_token_ids)), max_model_len_(max_model_len) {}

void OutputProcessor::add_request(const Request& request) {
  const auto now = Clock::now();
  tracked_[request.id] = {std::make_unique<IncrementalDetokenizer>(*tokenizer_, request.prompt(), true), now, now};
}

RequestOutput OutputProcessor::process_token(Request& request, int32_t token, EngineStats& stats) {
  Tracked& tracked = tracked_.at(request.id);
  const auto now = Clock::now();
  if (request.num_output_tokens() == 0)
    stats.time_to_first_token.observe(seconds_between(tracked.arrival, now));
  else
    stats.inter_token_latency.observe(seconds_between(tracked.last_token, now));
  tracked.last_token = now;
  ++stats.generation_tokens;

  request.token_ids.push_back(token);
  RequestOutput out{request.id,
                    {token},
                    "",
                    false,
                    "",
                    -1,
                    request.num_prompt_tokens,
                    request.num_output_tokens(),
                    std::max<int64_t>(0, request.num_cached_tokens)};
  const bool eos = !request.params.ignore_eos && contains(eos_token_ids_, token);
  const bool stop_id = contains(request.params.stop_token_ids, token);
  // The token that stops generation is in the ids but not in the text.
  if (!eos && !stop_id) out.new_text = tracked.detokenizer->add(token);
  if (eos || stop_id) {
    request.status = RequestStatus::kFinishedStopped;
    out.stop_token_id = token;
  } else if (request.num_output_tokens() >= request.params.max_tokens || request.num_tokens() >= max_model_len_) {
    request.status = RequestStatus::kFinishedLength;
  }
  if (is_finished(request.status)) finish(request, tracked, out, stats);
  return out;
}

RequestOutput OutputProcessor::abort(const Request& request, EngineStats& stats) {
  RequestOutput out{request.id,
                    {},
                    "",
                    true,
                    "abort",
                    -1,
                    request.num_prompt_tokens,
                    request.num_output_tokens(),
                    std::max<int64_t>(0, request.num_cached_tokens)};
  ++stats.request_success["abort"];
  tracked_.erase(request.id);
  return out;
}

void OutputProcessor::finish(Request& request, Tracked& tracked, RequestOutput& out, EngineStats& stats) {
  out.new_text += tracked.detokenizer->finish();
  out.finished = true;
  out.finish_reason = request.status == RequestStatus::kFinishedStopped ? "stop" : "length";
  ++stats.request_success[out.finish_reason];
  stats.e2e_request_latency.observe(seconds_between(tracked.arrival, Clock::now()));
  tracked_.erase(request.id);
}

}  // namespace pagellm
