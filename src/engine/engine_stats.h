#pragma once
// The engine's counters and latency histograms, as /metrics exports them (vLLM's names in
// comments). A snapshot is a plain copy.
#include <cstdint>
#include <map>
#include <string>

#include "util/histogram.h"

namespace pagellm {

struct EngineStats {
  EngineStats();

  int64_t num_running = 0;           // vllm:num_requests_running
  int64_t num_waiting = 0;           // vllm:num_requests_waiting
  double kv_cache_usage = 0;         // vllm:kv_cache_usage_perc (0..1)
  int64_t prefix_cache_queries = 0;  // vllm:prefix_cache_queries (tokens)
  int64_t prefix_cache_hits = 0;     // vllm:prefix_cache_hits (tokens)
  int64_t num_preemptions = 0;       // vllm:num_preemptions
  int64_t prompt_tokens = 0;         // vllm:prompt_tokens (computed prompt tokens, cache hits excluded)
  int64_t generation_tokens = 0;     // vllm:generation_tokens
  int64_t num_steps = 0;
  double schedule_seconds = 0;  // wall time in Scheduler::schedule (the scheduler's own overhead)
  double forward_seconds = 0;   // wall time in the model runner
  double step_seconds = 0;      // wall time of whole steps
  // vllm:request_success{finished_reason}: one per finished sequence, as vLLM counts (it runs
  // each of a request's n sequences as a request of its own); a beam search counts its n beams.
  std::map<std::string, int64_t> request_success;
  Histogram time_to_first_token;  // vllm:time_to_first_token_seconds
  Histogram inter_token_latency;  // vllm:inter_token_latency_seconds
  Histogram e2e_request_latency;  // vllm:e2e_request_latency_seconds
};

}  // namespace pagellm
