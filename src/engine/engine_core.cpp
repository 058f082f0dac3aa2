#include "engine/engine_core.h"

#include "sampling/sampler.h"
#include "util/byte_size.h"
#include "util/error.h"
#include "util/logging.h"

namespace pagellm {

EngineConfig resolve_engine_config(const ModelConfig& model, EngineConfig config) {
  if (config.block_size < 1 || config.block_size > 1024)
    fail(ErrorCode::kInvalidArgument, "--block-size must be between 1 and 1024, got {}", config.block_size);
  if (config.scheduler.max_model_len <= 0) config.scheduler.max_model_len = model.max_position_embeddings;
  if (config.scheduler.max_model_len > model.max_position_embeddings)
    fail(ErrorCode::kInvalidArgument, "--max-model-len {} is larger than the model's max_position_embeddings {}",
         config.scheduler.max_model_len, model.max_position_embeddings);
  const int64_t block_bytes = KVCache::bytes_per_block(model, config.block_size);
  if (config.num_kv_blocks <= 0) {
    if (config.kv_cache_memory <= 0) config.kv_cache_memory = default_kv_cache_memory();
    config.num_kv_blocks = config.kv_cache_memory / block_bytes;
    if (config.num_kv_blocks < 1)
      fail(ErrorCode::kInvalidArgument, "--kv-cache-memory {} is smaller than one KV block ({} bytes)",
           format_bytes(config.kv_cache_memory), block_bytes);
  }
  const int64_t tokens = config.num_kv_blocks * config.block_size;
  log_info(
      "KV cache: {} blocks of {} tokens = {} tokens, {} ({} bytes per token); max concurrency at {} tokens "
      "per request: {:.2f}x",
      config.num_kv_blocks, config.block_size, tokens, format_bytes(config.num_kv_blocks * block_bytes),
      block_bytes / config.block_size, config.scheduler.max_model_len,
      static_cast<double>(tokens) / static_cast<double>(config.scheduler.max_model_len));
  return config;
}

EngineCore::EngineCore(ModelBundle bundle, EngineConfig config)
    : bundle_(std::move(bundle)),
      config_(resolve_engine_config(bundle_.config(), config)),
      kv_cache_(bundle_.config(), config_.num_kv_blocks, config_.block_size),
      kv_manager_(config_.num_kv_blocks, config_.block_size, config_.enable_prefix_caching),
      scheduler_(config_.scheduler, kv_manager_),
      runner_(bundle_.model, kv_cache_),
      output_processor_(bundle_.tokenizer, bundle_.eos_token_ids(), config_.scheduler.max_model_len),
      eos_ids_(bundle_.eos_token_ids()) {}

void EngineCore::validate_request(const Request& request, const ModelConfig& model, const EngineConfig& config) {
  request.params.validate(model.vocab_size);
  if (request.num_prompt_tokens == 0) fail(ErrorCode::kInvalidArgument, "the prompt is empty");
  if (request.num_prompt_tokens > config.scheduler.max_model_len)
    fail(ErrorCode::kInvalidArgument, "the prompt has {} tokens; this model's maximum context length is {} tokens",
         request.num_prompt_tokens, config.scheduler.max_model_len);
  for (int32_t id : request.prompt())
    if (id < 0 || id >= model.vocab_size)
      fail(ErrorCode::kInvalidArgument, "prompt token id {} is out of range for vocabulary size {}", id,
           model.vocab_size);
}

void EngineCore::add_request(std::shared_ptr<Request> request) {
  validate_request(*request, bundle_.config(), config_);
  if (requests_.contains(request->id))
    fail(ErrorCode::kInvalidArgument, "request id '{}' is already in use", request->id);
  scheduler_.add_request(request);
  output_processor_.add_request(*request);
  requests_.emplace(request->id, std::move(request));
}

void EngineCore::abort_request(const std::string& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  scheduler_.finish_request(id, RequestStatus::kFinishedAborted);
  pending_.push_back(output_processor_.abort(*it->second, stats_));
  requests_.erase(it);
}

std::vector<RequestOutput> EngineCore::step() {
  std::vector<RequestOutput> outputs = std::move(pending_);
  pending_.clear();
  SchedulerOutput scheduled = scheduler_.schedule();
  if (scheduled.empty()) return outputs;

  const std::vector<float> logits = runner_.execute(scheduled);
  scheduler_.update_after_step(scheduled);
  ++stats_.num_steps;
  const int64_t vocab = bundle_.config().vocab_size;
  size_t row = 0;
  for (const ScheduledRequest& s : scheduled.scheduled) {
    Request& request = *s.request;
    // Prompt tokens computed this step (a recomputed output token after preemption is not one).
    stats_.prompt_tokens += std::max<int64_t>(
        0, std::min(s.num_computed_tokens + s.num_new_tokens, request.num_prompt_tokens) - s.num_computed_tokens);
    if (!s.samples()) continue;
    std::vector<float> scratch(logits.begin() + static_cast<long>(row * vocab),
                               logits.begin() + static_cast<long>((row + 1) * vocab));
    ++row;
    const int32_t token =
        sample_token(scratch, request.params, {request.prompt(), request.output(), eos_ids_}, request.rng);
    outputs.push_back(output_processor_.process_token(request, token, stats_));
    if (outputs.back().finished) {
      const std::string id = request.id;  // `request` dies with its map entry
      scheduler_.finish_request(id, request.status);
      requests_.erase(id);
    }
  }
  return outputs;
}

EngineStats EngineCore::stats() const {
  EngineStats s = stats_;
  s.num_running = scheduler_.num_running();
  s.num_waiting = scheduler_.num_waiting();
  s.kv_cache_usage = kv_manager_.pool().usage();
  s.prefix_cache_queries = kv_manager_.prefix_stats().queries;
  s.prefix_cache_hits = kv_manager_.prefix_stats().hits;
  s.num_preemptions = scheduler_.num_preemptions();
  return s;
}

}  // namespace pagellm
