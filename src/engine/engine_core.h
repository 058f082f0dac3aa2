#pragma once
// One engine step: Scheduler -> ModelRunner -> sampling -> output processing. Single-threaded;
// AsyncEngine drives it from its own thread, LLM drives it directly for offline batches.
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/beam_group.h"
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
  // A request with use_beam_search runs as add_beam_search(request, beam_search_params(params)).
  void add_request(std::shared_ptr<Request> request);
  // Beam search over `request`'s prompt (its id and priority; its SamplingParams are not used).
  // Its num_returned best beams come as one output each (index = rank), all in the step that
  // ends the search, the last with `finished`; see beam_search.h.
  void add_beam_search(std::shared_ptr<Request> request, const BeamSearchParams& params);
  // The checks add_request makes, for callers that must report errors on their own thread.
  static void validate_request(const Request& request, const ModelConfig& model, const EngineConfig& config);
  // Frees the request's blocks (all its sequences') now; its final output (finish_reason
  // "abort") comes from the next step().
  void abort_request(const std::string& id);
  std::vector<RequestOutput> step();
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
  // Once every live beam of `group` reported: expand it, fork the kept beams' blocks from their
  // parents, free the parents; when the search is over, output its results.
  void advance_beams(BeamGroup& group, std::vector<RequestOutput>& outputs);
  void finish_beams(BeamGroup& group, std::vector<RequestOutput>& outputs);

  ModelBundle bundle_;
  EngineConfig config_;
  KVCache kv_cache_;
  KVCacheManager kv_manager_;
  Scheduler scheduler_;
  ModelRunner runner_;
  OutputProcessor output_processor_;
  std::vector<int32_t> eos_ids_;
  std::unordered_map<std::string, std::shared_ptr<Request>> requests_;
  std::unordered_map<std::string, Group> groups_;                            // by caller request id
  std::unordered_map<std::string, std::unique_ptr<BeamGroup>> beam_groups_;  // by caller request id
  std::vector<RequestOutput> pending_;                                       // abort outputs waiting for the next step
  EngineStats stats_;
};

// Resolves max_model_len, the KV cache's element type (from `precision`, the projections' compute
// precision, when --kv-cache-dtype is auto) and the number of KV blocks from the model and the
// config, logging the KV cache size, bytes per token and the maximum concurrency it allows.
EngineConfig resolve_engine_config(const ModelConfig& model, EngineConfig config,
                                   kernels::MatmulPrecision precision = kernels::MatmulPrecision::kExact);

}  // namespace pagellm
