#include "engine/scheduler.h"

#include <algorithm>

#include "util/error.h"

namespace pagellm {

Scheduler::Scheduler(SchedulerConfig config, KVCacheManager& kv_cache) : config_(config), kv_(kv_cache) {
  config_.validate(kv_.pool().num_blocks() * kv_.block_size());
}

void Scheduler::add_request(std::shared_ptr<Request> request) {
  if (request->num_prompt_tokens == 0)
    fail(ErrorCode::kInvalidArgument, "request {}: the prompt is empty", request->id);
  if (request->num_prompt_tokens > config_.max_model_len)
    fail(ErrorCode::kInvalidArgument,
         "request {}: the prompt has {} tokens, more than this model's maximum context length of {} tokens",
         request->id, request->num_prompt_tokens, config_.max_model_len);
  request->arrival_order = next_arrival_++;
  request->status = RequestStatus::kWaiting;
  waiting_.push_back(std::move(request));
}

bool Scheduler::runs_before(const Request& a, const Request& b) const {
  if (config_.policy == SchedulingPolicy::kPriority && a.priority != b.priority) return a.priority < b.priority;
  return a.arrival_order < b.arrival_order;
}

std::deque<Scheduler::RequestPtr>::iterator Scheduler::next_waiting() {
  if (config_.policy == SchedulingPolicy::kFcfs) return waiting_.begin();
  return std::min_element(waiting_.begin(), waiting_.end(),
                          [&](const RequestPtr& a, const RequestPtr& b) { return runs_before(*a, *b); });
}

Scheduler::RequestPtr Scheduler::pick_victim() {
  // The request that would run last: the newest under FCFS, the lowest priority otherwise.
  return *std::max_element(running_.begin(), running_.end(),
                           [&](const RequestPtr& a, const RequestPtr& b) { return runs_before(*a, *b); });
}

void Scheduler::preempt(const RequestPtr& request, SchedulerOutput& out) {
  const bool idle = waits_for_group(*request);
  kv_.free(request->id);
  request->status = RequestStatus::kPreempted;
  request->num_computed_tokens = 0;
  ++request->num_preemptions;
  ++num_preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), request));
  // An idle beam needs nothing more until its group expands (its children then recompute what
  // they need, mostly from the prefix cache), so it is parked rather than queued for recompute.
  if (!idle) waiting_.push_front(request);
  out.preempted.push_back(request->id);
}

int64_t Scheduler::reserved_seqs(const Request& request) {
  // An n > 1 (or beam) request runs as one sequence until it forks: reserve them all up front.
  return request.forked ? 1 : request.params.num_sequences();
}

int64_t Scheduler::num_running_seqs() const {
  int64_t seqs = 0;
  for (const RequestPtr& r : running_) seqs += reserved_seqs(*r);
  return seqs;
}

void Scheduler::schedule_running(int64_t& budget, SchedulerOutput& out) {
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    RequestPtr request = running_[i];
    const int64_t num_new = std::min(request->num_tokens() - request->num_computed_tokens, budget);
    if (num_new == 0) {  // a beam waiting for its siblings
      ++i;
      continue;
    }
    bool preempted_self = false;
    while (!kv_.allocate_slots(request->id, request->token_ids, request->num_computed_tokens, num_new, {},
                               request->cache_extra_key)) {
      RequestPtr victim = pick_victim();
      // A victim already scheduled this step is taken back out of the output.
      auto it = std::find_if(out.scheduled.begin(), out.scheduled.end(),
                             [&](const ScheduledRequest& s) { return s.request == victim.get(); });
      if (it != out.scheduled.end()) {
        budget += it->num_new_tokens;
        out.num_scheduled_tokens -= it->num_new_tokens;
        out.scheduled.erase(it);
        --i;
      }
      preempt(victim, out);
      if (victim == request) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) continue;
    out.scheduled.push_back({request.get(), request->num_computed_tokens, num_new, {}});
    out.num_scheduled_tokens += num_new;
    budget -= num_new;
    ++i;
  }
}

void Scheduler::schedule_waiting(int64_t& budget, SchedulerOutput& out) {
  int64_t seqs = num_running_seqs();
  while (!waiting_.empty() && budget > 0) {
    auto it = next_waiting();
    RequestPtr request = *it;
    if (seqs + reserved_seqs(*request) > config_.max_num_seqs) break;
    // prompt_logprobs needs every prompt position computed, so such requests take no hits (as vLLM).
    const CachedPrefix prefix = request->params.prompt_logprobs
                                    ? CachedPrefix{}
                                    : kv_.find_cached_prefix(request->token_ids, request->cache_extra_key);
    int64_t num_new = request->num_tokens() - prefix.num_tokens;
    if (!config_.enable_chunked_prefill && num_new > budget) break;
    num_new = std::min(num_new, budget);
    if (!kv_.allocate_slots(request->id, request->token_ids, prefix.num_tokens, num_new, prefix,
                            request->cache_extra_key))
      break;
    kv_.record_prefix_lookup(request->num_tokens(), prefix.num_tokens);
    if (request->num_cached_tokens < 0) request->num_cached_tokens = prefix.num_tokens;
    request->num_computed_tokens = prefix.num_tokens;
    request->status = RequestStatus::kRunning;
    waiting_.erase(it);
    running_.push_back(request);
    seqs += reserved_seqs(*request);
    out.scheduled.push_back({request.get(), request->num_computed_tokens, num_new, {}});
    out.num_scheduled_tokens += num_new;
    budget -= num_new;
  }
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int64_t budget = config_.max_num_batched_tokens;
  schedule_running(budget, out);
  // Admitting new work in a step that had to preempt would only thrash.
  if (out.preempted.empty()) schedule_waiting(budget, out);
  // When nothing can run, the blocks may all be held by beams waiting for siblings that cannot
  // get blocks: park those beams (they keep their results) so the siblings can run.
  while (out.scheduled.empty() && !waiting_.empty()) {
    RequestPtr idle;
    for (const RequestPtr& r : running_)
      if (waits_for_group(*r) && (!idle || runs_before(*idle, *r))) idle = r;
    if (!idle) break;
    preempt(idle, out);
    schedule_waiting(budget, out);
  }
  // Tables are taken last: copy-on-write may have changed them while scheduling.
  for (ScheduledRequest& s : out.scheduled) s.block_table = kv_.block_table(s.request->id);
  out.blocks_to_copy = kv_.take_pending_copies();
  return out;
}

void Scheduler::add_forked(std::shared_ptr<Request> child, const Request& parent) {
  child->arrival_order = parent.arrival_order;
  if (!kv_.has_blocks(child->id)) {  // the parent was preempted: recompute, first in line
    child->status = RequestStatus::kPreempted;
    child->num_computed_tokens = 0;
    waiting_.push_front(std::move(child));
    return;
  }
  child->status = RequestStatus::kRunning;
  running_.push_back(std::move(child));
}

void Scheduler::update_after_step(const SchedulerOutput& output) {
  for (const ScheduledRequest& s : output.scheduled) s.request->num_computed_tokens += s.num_new_tokens;
}

void Scheduler::finish_request(std::string id, RequestStatus status) {
  auto matches = [&](const RequestPtr& r) { return r->id == id; };
  if (auto it = std::find_if(running_.begin(), running_.end(), matches); it != running_.end()) {
    (*it)->status = status;
    running_.erase(it);
  } else if (auto wit = std::find_if(waiting_.begin(), waiting_.end(), matches); wit != waiting_.end()) {
    (*wit)->status = status;
    waiting_.erase(wit);
  }
  kv_.free(id);
}

}  // namespace pagellm
