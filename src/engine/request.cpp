#include "engine/request.h"

#include <atomic>

namespace pagellm {

uint64_t unseeded_request_seed() {
  // Opening std::random_device per request cost ~3% of the server's CPU on short requests:
  // draw it once, then give each request a distinct, well-mixed seed.
  static const uint64_t base = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  static std::atomic<int64_t> next{1};
  return derive_seed(base, next.fetch_add(1, std::memory_order_relaxed));
}

bool is_finished(RequestStatus status) {
  return status == RequestStatus::kFinishedStopped || status == RequestStatus::kFinishedLength ||
         status == RequestStatus::kFinishedAborted;
}

Request::Request(std::string id_, std::vector<int32_t> prompt_token_ids, SamplingParams params_, double arrival_time_,
                 int64_t priority_)
    : id(std::move(id_)),
      token_ids(std::move(prompt_token_ids)),
      num_prompt_tokens(static_cast<int64_t>(token_ids.size())),
      params(std::move(params_)),
      arrival_time(arrival_time_),
      priority(priority_),
      rng(params.seed ? *params.seed : unseeded_request_seed()),
      group_id(id) {
  if (params.prompt_logprobs) prompt_logprobs.push_back(std::nullopt);
}

}  // namespace pagellm
