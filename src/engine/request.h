#pragma once
// One generation request as the engine tracks it: its tokens (prompt, then output), how many
// of them are in the KV cache, its sampling state and where it is in its life.
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "sampling/logprobs.h"
#include "sampling/sampling_params.h"

namespace pagellm {

enum class RequestStatus { kWaiting, kRunning, kPreempted, kFinishedStopped, kFinishedLength, kFinishedAborted };

bool is_finished(RequestStatus status);

// A fresh seed for a request (or sequence) that was given none; distinct on every call.
uint64_t unseeded_request_seed();

struct Request {
  Request(std::string id, std::vector<int32_t> prompt_token_ids, SamplingParams params, double arrival_time = 0,
          int64_t priority = 0);

  std::string id;
  std::vector<int32_t> token_ids;  // prompt followed by generated tokens
  int64_t num_prompt_tokens;
  SamplingParams params;
  double arrival_time;
  int64_t priority;              // lower runs first under the priority policy (vLLM's convention)
  uint64_t arrival_order = 0;    // set by the scheduler: FCFS order and the priority tie-break
  uint64_t cache_extra_key = 0;  // mixed into prefix-cache keys (LoRA id, cache salt)

  RequestStatus status = RequestStatus::kWaiting;
  int64_t num_computed_tokens = 0;  // tokens whose K/V are in the cache
  int64_t num_cached_tokens = -1;   // prefix-cache hit on first scheduling (-1: not yet scheduled)
  int64_t num_preemptions = 0;
  std::mt19937_64 rng;  // the request's own generator: sampling never depends on the batch

  // Parallel sampling: a request with num_sequences() > 1 runs as one Request per sequence. The
  // first (index 0, id == group_id) prefills the prompt; at its first sample the engine forks
  // the others (internal ids), which share its prompt blocks.
  std::string group_id;  // the caller's request id
  int64_t index = 0;     // sequence index within the request
  bool forked = false;
  double cumulative_logprob = 0;  // sum of the raw logprobs of the sampled tokens
  // prompt_logprobs: entry i is for prompt token i (entry 0 is empty); grows as chunks run.
  std::vector<std::optional<PositionLogprobs>> prompt_logprobs;
  bool prompt_logprobs_sent = false;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  std::span<const int32_t> prompt() const { return std::span(token_ids).first(static_cast<size_t>(num_prompt_tokens)); }
  std::span<const int32_t> output() const {
    return std::span(token_ids).subspan(static_cast<size_t>(num_prompt_tokens));
  }
};

}  // namespace pagellm
