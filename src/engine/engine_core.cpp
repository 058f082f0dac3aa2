#include "engine/engine_core.h"

#include <algorithm>
#include <chrono>

#include "sampling/logprobs.h"
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
  request.params.validate(model.vocab_size, config.max_logprobs);
  if (request.params.use_beam_search)
    fail(ErrorCode::kUnsupported, "use_beam_search: beam search runs through LLM::beam_search, not as a request");
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
  // bad_words as text: each word's tokens, alone and after a space (as vLLM does).
  for (const std::string& word : request->params.bad_words)
    for (const std::string& variant : {word, " " + word}) {
      std::vector<int32_t> ids = bundle_.tokenizer->encode(variant, false);
      auto& words = request->params.bad_words_token_ids;
      if (!ids.empty() && std::find(words.begin(), words.end(), ids) == words.end()) words.push_back(std::move(ids));
    }
  validate_request(*request, bundle_.config(), config_);
  if (requests_.contains(request->id) || groups_.contains(request->id))
    fail(ErrorCode::kInvalidArgument, "request id '{}' is already in use", request->id);
  request->group_id = request->id;
  groups_[request->id] = {{request->id}, request->params.use_beam_search ? 1 : request->params.num_sequences()};
  scheduler_.add_request(request);
  output_processor_.add_request(*request);
  requests_.emplace(request->id, std::move(request));
}

void EngineCore::abort_request(const std::string& id) {
  auto group = groups_.find(id);
  if (group == groups_.end()) return;
  std::optional<RequestOutput> out;
  for (const std::string& seq : group->second.sequence_ids) {
    auto it = requests_.find(seq);
    if (it == requests_.end()) continue;  // already finished
    scheduler_.finish_request(seq, RequestStatus::kFinishedAborted);
    RequestOutput o = output_processor_.abort(*it->second, stats_);
    if (!out) out = std::move(o);
    requests_.erase(it);
  }
  groups_.erase(group);
  if (out) pending_.push_back(std::move(*out));
}

std::vector<Request*> EngineCore::fork_sequences(Request& parent) {
  std::vector<Request*> seqs{&parent};
  parent.forked = true;
  Group& group = groups_.at(parent.group_id);
  for (int64_t i = 1; i < parent.params.num_sequences(); ++i) {
    auto child = std::make_shared<Request>(fmt::format("{}\x1fseq{}", parent.id, i),
                                           std::vector<int32_t>(parent.prompt().begin(), parent.prompt().end()),
                                           parent.params, parent.arrival_time, parent.priority);
    child->group_id = parent.group_id;
    child->index = i;
    child->forked = true;
    child->prompt_logprobs.clear();  // the parent reports them
    child->rng.seed(parent.params.seed ? derive_seed(*parent.params.seed, i) : std::random_device{}());
    child->num_computed_tokens = parent.num_computed_tokens;
    child->num_cached_tokens = parent.num_cached_tokens;
    kv_manager_.fork(parent.id, child->id);
    scheduler_.add_forked(child, parent);
    output_processor_.add_request(*child);
    group.sequence_ids.push_back(child->id);
    seqs.push_back(child.get());
    requests_.emplace(child->id, std::move(child));
  }
  return seqs;
}

RequestOutput EngineCore::sample(Request& request, std::span<const float> raw) {
  const SamplingParams& p = request.params;
  int32_t token;
  if (p.greedy() && !needs_processing(p)) {
    token = argmax_token(raw);  // the all-greedy fast path: no copy
  } else {
    std::vector<float> scratch(raw.begin(), raw.end());
    token = sample_token(scratch, p, {request.prompt(), request.output(), eos_ids_}, request.rng);
  }
  std::optional<PositionLogprobs> logprobs;
  if (p.logprobs) {
    logprobs = compute_logprobs(raw, token, *p.logprobs);
    request.cumulative_logprob += logprobs->front().second.logprob;
  } else if (p.needs_logprobs()) {
    request.cumulative_logprob += raw[static_cast<size_t>(token)] - log_sum_exp(raw);
  }
  return output_processor_.process_token(request, token, std::move(logprobs), stats_);
}

void EngineCore::record_prompt_logprobs(Request& request, const LogitsRows& rows, const std::vector<float>& logits) {
  const int64_t vocab = bundle_.config().vocab_size;
  for (int64_t k = 0; k < rows.num_prompt_rows; ++k) {
    const int64_t target = rows.first_prompt_position + k + 1;  // the prompt token this row predicts
    if (request.prompt_logprobs_sent || target != static_cast<int64_t>(request.prompt_logprobs.size()))
      continue;  // recomputed after preemption: already recorded
    std::span<const float> row(logits.data() + (rows.first_prompt_row + k) * vocab, static_cast<size_t>(vocab));
    request.prompt_logprobs.push_back(
        compute_logprobs(row, request.token_ids[static_cast<size_t>(target)], *request.params.prompt_logprobs));
  }
}

std::vector<RequestOutput> EngineCore::step() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<RequestOutput> outputs = std::move(pending_);
  pending_.clear();
  SchedulerOutput scheduled = scheduler_.schedule();
  const auto scheduled_at = Clock::now();
  if (scheduled.empty()) return outputs;

  const RunnerOutput run = runner_.execute(scheduled);
  const auto forwarded_at = Clock::now();
  stats_.schedule_seconds += std::chrono::duration<double>(scheduled_at - start).count();
  stats_.forward_seconds += std::chrono::duration<double>(forwarded_at - scheduled_at).count();
  scheduler_.update_after_step(scheduled);
  ++stats_.num_steps;
  const int64_t vocab = bundle_.config().vocab_size;
  for (size_t i = 0; i < scheduled.scheduled.size(); ++i) {
    const ScheduledRequest& s = scheduled.scheduled[i];
    const LogitsRows& rows = run.rows[i];
    Request& request = *s.request;
    // Prompt tokens computed this step (a recomputed output token after preemption is not one).
    stats_.prompt_tokens += std::max<int64_t>(
        0, std::min(s.num_computed_tokens + s.num_new_tokens, request.num_prompt_tokens) - s.num_computed_tokens);
    if (rows.num_prompt_rows > 0) record_prompt_logprobs(request, rows, run.logits);
    if (rows.sample_row < 0) continue;
    std::span<const float> raw(run.logits.data() + rows.sample_row * vocab, static_cast<size_t>(vocab));
    std::vector<Request*> seqs{&request};
    if (!request.forked && request.params.num_sequences() > 1 && !request.params.use_beam_search)
      seqs = fork_sequences(request);
    for (Request* seq : seqs) {
      outputs.push_back(sample(*seq, raw));
      RequestOutput& out = outputs.back();
      if (out.finish_reason.empty()) continue;
      const std::string id = seq->id;  // `seq` dies with its map entry
      scheduler_.finish_request(id, seq->status);
      requests_.erase(id);
      auto group = groups_.find(out.request_id);
      out.finished = --group->second.unfinished == 0;
      if (out.finished) groups_.erase(group);
    }
  }
  stats_.step_seconds += std::chrono::duration<double>(Clock::now() - start).count();
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
