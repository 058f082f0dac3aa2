#include "engine/engine_core.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "util/byte_size.h"
#include "util/error.h"
#include "util/logging.h"
#include "util/utf8.h"

namespace pagellm {

EngineConfig resolve_engine_config(const ModelConfig& model, EngineConfig config, kernels::MatmulPrecision precision) {
  if (config.block_size < 1 || config.block_size > 1024)
    fail(ErrorCode::kInvalidArgument, "--block-size must be between 1 and 1024, got {}", config.block_size);
  if (config.scheduler.max_model_len <= 0) config.scheduler.max_model_len = model.max_position_embeddings;
  if (config.scheduler.max_model_len > model.max_position_embeddings)
    fail(ErrorCode::kInvalidArgument, "--max-model-len {} is larger than the model's max_position_embeddings {}",
         config.scheduler.max_model_len, model.max_position_embeddings);
  if (config.scheduler.batched_tokens_from_default && !config.scheduler.enable_chunked_prefill)
    config.scheduler.max_num_batched_tokens =
        std::max(config.scheduler.max_num_batched_tokens, config.scheduler.max_model_len);
  config.kv_dtype = resolve_kv_dtype(config.kv_cache_dtype, precision);
  const int64_t block_bytes = KVCache::bytes_per_block(model, config.block_size, config.kv_dtype);
  if (config.num_kv_blocks <= 0) {
    if (config.kv_cache_memory <= 0) config.kv_cache_memory = default_kv_cache_memory();
    config.num_kv_blocks = config.kv_cache_memory / block_bytes;
    if (config.num_kv_blocks < 1)
      fail(ErrorCode::kInvalidArgument, "--kv-cache-memory {} is smaller than one KV block ({} bytes)",
           format_bytes(config.kv_cache_memory), block_bytes);
  }
  const int64_t tokens = config.num_kv_blocks * config.block_size;
  log_info(
      "KV cache: {} blocks of {} tokens = {} tokens, {} ({} bytes per token, {}); max concurrency at {} tokens "
      "per request: {:.2f}x",
      config.num_kv_blocks, config.block_size, tokens, format_bytes(config.num_kv_blocks * block_bytes),
      block_bytes / config.block_size, kv_dtype_name(config.kv_dtype), config.scheduler.max_model_len,
      static_cast<double>(tokens) / static_cast<double>(config.scheduler.max_model_len));
  return config;
}

EngineCore::EngineCore(ModelBundle bundle, EngineConfig config)
    : bundle_(std::move(bundle)),
      config_(resolve_engine_config(bundle_.config(), config, bundle_.model->precision())),
      kv_cache_(bundle_.config(), config_.num_kv_blocks, config_.block_size, config_.kv_dtype),
      kv_manager_(config_.num_kv_blocks, config_.block_size, config_.enable_prefix_caching),
      scheduler_(config_.scheduler, kv_manager_),
      runner_(bundle_.model, kv_cache_),
      output_processor_(bundle_.tokenizer, bundle_.eos_token_ids(), config_.scheduler.max_model_len),
      eos_ids_(bundle_.eos_token_ids()) {}

void EngineCore::validate_request(const Request& request, const ModelConfig& model, const EngineConfig& config) {
  request.params.validate(model.vocab_size, config.max_logprobs);
  // The sequences of one request run (or are reserved) together, so they must fit at once.
  if (request.params.num_sequences() > config.scheduler.max_num_seqs)
    fail(ErrorCode::kInvalidArgument, "{} {}{} is more than --max-num-seqs {}: a request's sequences run at once",
         request.params.best_of ? "best_of" : "n", request.params.num_sequences(),
         request.params.use_beam_search ? " (the beam width)" : "", config.scheduler.max_num_seqs);
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
  if (request->params.use_beam_search) {
    const BeamSearchParams beam = beam_search_params(request->params);
    validate_request(*request, bundle_.config(), config_);
    return add_beam_search(std::move(request), beam);
  }
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

void EngineCore::add_beam_search(std::shared_ptr<Request> request, const BeamSearchParams& params) {
  if (params.beam_width < 1)
    fail(ErrorCode::kInvalidArgument, "beam_width must be at least 1, got {}", params.beam_width);
  if (params.beam_width > config_.scheduler.max_num_seqs)
    fail(ErrorCode::kInvalidArgument, "the beam width {} is more than --max-num-seqs {}", params.beam_width,
         config_.scheduler.max_num_seqs);
  if (params.max_tokens < 1)
    fail(ErrorCode::kInvalidArgument, "max_tokens must be at least 1, got {}", params.max_tokens);
  if (!(params.temperature >= 0) || !std::isfinite(params.temperature))
    fail(ErrorCode::kInvalidArgument, "temperature must be non-negative, got {}", params.temperature);
  if (params.logprobs && (*params.logprobs < 0 || *params.logprobs > config_.max_logprobs))
    fail(ErrorCode::kInvalidArgument, "logprobs must be between 0 and {} (max_logprobs), got {}", config_.max_logprobs,
         *params.logprobs);
  if (params.eos_token_id && (*params.eos_token_id < 0 || *params.eos_token_id >= bundle_.config().vocab_size))
    fail(ErrorCode::kInvalidArgument, "eos_token_id {} is out of range", *params.eos_token_id);
  // The beams are plain sequences to the scheduler: it reserves beam_width of them (best_of),
  // and they sample nothing themselves.
  SamplingParams beam;
  beam.use_beam_search = true;
  beam.best_of = params.beam_width;
  beam.max_tokens = params.max_tokens;
  beam.seed = 0;
  beam.detokenize = false;
  beam.prompt_logprobs = params.prompt_logprobs;
  auto root =
      std::make_shared<Request>(request->id, std::vector<int32_t>(request->prompt().begin(), request->prompt().end()),
                                beam, request->arrival_time, request->priority);
  root->cache_extra_key = request->cache_extra_key;
  validate_request(*root, bundle_.config(), config_);
  if (requests_.contains(root->id) || groups_.contains(root->id) || beam_groups_.contains(root->id))
    fail(ErrorCode::kInvalidArgument, "request id '{}' is already in use", root->id);
  const auto eos = params.eos_token_id.value_or(static_cast<int32_t>(bundle_.tokenizer->eos_token_id()));
  scheduler_.add_request(root);
  beam_groups_[root->id] = std::make_unique<BeamGroup>(root, params, eos, config_.scheduler.max_model_len);
}

void EngineCore::abort_request(const std::string& id) {
  if (auto beams = beam_groups_.find(id); beams != beam_groups_.end()) {
    const BeamGroup& g = *beams->second;
    for (const BeamGroup::Beam& b : g.live()) scheduler_.finish_request(b.seq->id, RequestStatus::kFinishedAborted);
    RequestOutput out;
    out.request_id = id;
    out.num_prompt_tokens = g.root().num_prompt_tokens;
    out.num_cached_tokens = std::max<int64_t>(0, g.root().num_cached_tokens);
    out.finished = true;
    out.finish_reason = "abort";
    stats_.request_success["abort"] += g.params().num_returned;
    pending_.push_back(std::move(out));
    beam_groups_.erase(beams);
    return;
  }
  auto group = groups_.find(id);
  if (group == groups_.end()) return;
  std::optional<RequestOutput> out;
  for (const std::string& seq : group->second.sequence_ids) {
    auto it = requests_.find(seq);
    if (it == requests_.end()) continue;  // already finished
    scheduler_.finish_request(seq, RequestStatus::kFinishedAborted);
    RequestOutput o = output_processor_.abort(*it->second);
    if (!out) out = std::move(o);
    requests_.erase(it);
  }
  // vllm:request_success counts sequences (vLLM runs each of a request's n as its own request),
  // so every unfinished one counts, forked yet or not.
  stats_.request_success["abort"] += group->second.unfinished;
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
    child->rng.seed(parent.params.seed ? derive_seed(*parent.params.seed, i) : unseeded_request_seed());
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
  std::vector<BeamGroup*> reported;  // beam groups with a beam that reported this step
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
    if (request.params.use_beam_search) {
      BeamGroup* group = beam_groups_.at(request.group_id).get();
      group->set_logits(request, raw);
      if (std::find(reported.begin(), reported.end(), group) == reported.end()) reported.push_back(group);
      continue;
    }
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
  for (BeamGroup* group : reported)
    if (group->ready()) advance_beams(*group, outputs);
  stats_.step_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  return outputs;
}

void EngineCore::advance_beams(BeamGroup& group, std::vector<RequestOutput>& outputs) {
  const auto now = BeamGroup::Clock::now();
  const double since =
      std::chrono::duration<double>(now - (group.rounds() == 0 ? group.arrival() : group.last_round())).count();
  (group.rounds() == 0 ? stats_.time_to_first_token : stats_.inter_token_latency).observe(since);
  stats_.generation_tokens += static_cast<int64_t>(group.live().size());  // one token decided per beam
  std::vector<std::shared_ptr<Request>> parents;
  for (const BeamGroup::Beam& b : group.live()) parents.push_back(b.seq);
  const std::vector<BeamGroup::Child> children = group.expand();
  if (!group.done()) {
    // Children share their parent's blocks (the shared last block is copied on its first write);
    // a parent parked without blocks leaves its children to recompute.
    for (const BeamGroup::Child& c : children) {
      if (kv_manager_.has_blocks(c.parent->id)) {
        kv_manager_.fork(c.parent->id, c.child->id);
        c.child->num_computed_tokens = c.parent->num_computed_tokens;
      }
      scheduler_.add_forked(c.child, *c.parent);
    }
  }
  for (const auto& p : parents) scheduler_.finish_request(p->id, RequestStatus::kFinishedStopped);
  if (group.done()) finish_beams(group, outputs);
}

void EngineCore::finish_beams(BeamGroup& group, std::vector<RequestOutput>& outputs) {
  for (const BeamGroup::Beam& b : group.live()) scheduler_.finish_request(b.seq->id, RequestStatus::kFinishedLength);
  const BeamSearchParams& p = group.params();
  const Request& root = group.root();
  std::vector<BeamSequence> best = group.results();
  for (size_t i = 0; i < best.size(); ++i) {
    BeamSequence& s = best[i];
    const bool ended_by_eos = s.finish_reason == "stop";
    // The text never shows the EOS (vLLM); it is decoded with the prompt as context, as an
    // ordinary completion's text is.
    IncrementalDetokenizer detok(*bundle_.tokenizer, root.prompt(), p.skip_special_tokens,
                                 p.spaces_between_special_tokens);
    std::string text;
    std::vector<int64_t> offsets;  // where each token's text starts (characters)
    int64_t chars = 0;
    for (size_t t = 0; t < s.token_ids.size(); ++t) {
      offsets.push_back(chars);
      if (ended_by_eos && t + 1 == s.token_ids.size()) break;
      const std::string piece = detok.add(s.token_ids[t]);
      text += piece;
      chars += static_cast<int64_t>(utf8_length(piece));
    }
    text += detok.finish();
    if (ended_by_eos && !p.include_stop_str_in_output) {
      s.token_ids.pop_back();
      if (!s.logprobs.empty()) s.logprobs.pop_back();
    }
    RequestOutput out;
    out.request_id = root.group_id;
    out.index = static_cast<int64_t>(i);
    out.new_token_ids = std::move(s.token_ids);
    out.new_text = std::move(text);
    out.finish_reason = s.finish_reason;
    if (ended_by_eos) {
      out.stop_token_id = group.eos_token_id();
      out.stop_reason = static_cast<int64_t>(group.eos_token_id());  // as vLLM's beam search reports it
    }
    out.num_prompt_tokens = root.num_prompt_tokens;
    out.num_output_tokens = static_cast<int64_t>(out.new_token_ids.size());
    out.num_cached_tokens = std::max<int64_t>(0, root.num_cached_tokens);
    out.cumulative_logprob = s.cumulative_logprob;
    if (p.logprobs) {
      for (PositionLogprobs& lp : s.logprobs) output_processor_.decode_logprobs(lp);
      out.new_logprobs = std::move(s.logprobs);
      offsets.resize(out.new_token_ids.size());
      out.new_text_offsets = std::move(offsets);
    }
    if (i == 0 && root.params.prompt_logprobs) {
      std::vector<std::optional<PositionLogprobs>> prompt = root.prompt_logprobs;
      for (auto& lp : prompt)
        if (lp) output_processor_.decode_logprobs(*lp);
      out.prompt_logprobs = std::move(prompt);
    }
    out.finished = i + 1 == best.size();
    ++stats_.request_success[out.finish_reason];
    outputs.push_back(std::move(out));
  }
  stats_.e2e_request_latency.observe(std::chrono::duration<double>(BeamGroup::Clock::now() - group.arrival()).count());
  const std::string id = root.group_id;  // `root` and `group` die with the map entry
  beam_groups_.erase(id);
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
