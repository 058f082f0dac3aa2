#pragma once
// What the scheduler decided for one step, as plain data for the model runner: which requests
// run, how many new tokens each, their block tables, copies to make first, who was preempted.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/request.h"

namespace pagellm {

struct ScheduledRequest {
  Request* request = nullptr;
  int64_t num_computed_tokens = 0;  // before this step
  int64_t num_new_tokens = 0;
  std::vector<int32_t> block_table;
  // True when this step computes the request's last known token, so a token is sampled.
  bool samples() const { return num_computed_tokens + num_new_tokens == request->num_tokens(); }
};

struct SchedulerOutput {
  std::vector<ScheduledRequest> scheduled;
  int64_t num_scheduled_tokens = 0;
  std::vector<BlockCopy> blocks_to_copy;
  std::vector<std::string> preempted;
  bool empty() const { return scheduled.empty(); }
};

}  // namespace pagellm
