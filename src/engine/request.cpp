#include "engine/request.h"

namespace pagellm {

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
      rng(params.seed ? *params.seed : std::random_device{}()),
      group_id(id) {
  if (params.prompt_logprobs) prompt_logprobs.push_back(std::nullopt);
}

}  // namespace pagellm
