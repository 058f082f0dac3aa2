#pragma once
// One engine step: Scheduler -> ModelRunner -> sampling -> output processing. Single-threaded;
// AsyncEngine drives it from its own thread, LLM drives it directly for offline batches.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/beam_search.h"
#include "engine/engine_config.h"
#include "engine/engine_stats.h"
#include "engine/kv_cache_manager.h"
#include "engine/model_bundle.h"
#include "engine/model_runner.h"
#include "engine/output_processor.h"
#include "engine/request.h"
#include "engine/request_output.h"
#include "engine/scheduler.h"

namespace pagellm {

class EngineCore {
 public:
  EngineCore(ModelBundle bundle, EngineConfig config);

  // Validates (sampling params, prompt length) and queues; throws Error(kInvalidArgument).
  void add_request(std::shared_ptr<Request> request);
  // The checks add_request makes, for callers that must report errors on their own thread.
  static void validate_request(const Request& request, const ModelConfig& model, const EngineConfig& config);
  // Frees the request's blocks (all its sequences') now; its final output (finish_reason
  // "abort") comes from the next step().
  void abort_request(const std::string& id);
  std::vector<RequestOutput> step();
  // Beam search over one prompt (see beam_search.h), with forked KV blocks; only while idle.
  BeamSearchResult beam_search(const std::vector<int32_t>& prompt_ids, const BeamSearchParams& params);
  bool has_unfinished() const { return scheduler_.has_unfinished() || !pending_.empty(); }

  EngineStats stats() const;
  const ModelBundle& bundle() const { return bundle_; }
  const EngineConfig& config() const { return config_; }
  int64_t num_kv_blocks() const { return kv_manager_.pool().num_blocks(); }
  const KVCacheManager& kv_cache_manager() const { return kv_manager_; }

 private:
  // The sequences of one caller request (n / best_of > 1 forks them at the first sample).
  struct Group {
    std::vector<std::string> sequence_ids;
    int64_t unfinished = 1;  // sequences (forked or still to fork) not yet finished
  };
  // Forks the other sequences of `parent`'s request; returns all of them, parent first.
  std::vector<Request*> fork_sequences(Request& parent);
  // Samples `request`'s next token from its raw logits row and processes it.
  RequestOutput sample(Request& request, std::span<const float> raw_logits);
  void record_prompt_logprobs(Request& request, const LogitsRows& rows, const std::vector<float>& logits);

  ModelBundle bundle_;
  EngineConfig config_;
  KVCache kv_cache_;
  KVCacheManager kv_manager_;
  Scheduler scheduler_;
  ModelRunner runner_;
  OutputProcessor output_processor_;
  std::vector<int32_t> eos_ids_;
  std::unordered_map<std::string, std::shared_ptr<Request>> requests_;
  std::unordered_map<std::string, Group> groups_;  // by caller request id
  std::vector<RequestOutput> pending_;             // abort outputs waiting for the next step
  EngineStats stats_;
};

// Resolves max_model_len and the number of KV blocks from the model and the config, logging the
// KV cache size, bytes per token and the maximum concurrency it allows.
EngineConfig resolve_engine_config(const ModelConfig& model, EngineConfig config);

}  // namespace pagellm
