#pragma once
// Continuous batching: each step spends a token budget and a sequence budget on running
// requests first (one decode token, or the next chunk of a prompt), then on waiting ones in
// policy order. When blocks run out, the newest (or lowest-priority) running request is
// preempted: its blocks are freed and it goes back to the front of the queue to be recomputed.
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/request.h"
#include "engine/scheduler_config.h"
#include "engine/scheduler_output.h"

namespace pagellm {

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, KVCacheManager& kv_cache);

  // Queues a request; throws Error(kInvalidArgument) if it could never run (empty, too long).
  void add_request(std::shared_ptr<Request> request);
  SchedulerOutput schedule();
  // A sequence forked from `parent` (its blocks already forked in the KV manager): runs from the
  // next step, ordered as its parent. A child whose parent holds no blocks (preempted) is queued
  // first in line to be computed from scratch.
  void add_forked(std::shared_ptr<Request> child, const Request& parent);
  // After the step ran: the scheduled tokens are now in the cache.
  void update_after_step(const SchedulerOutput& output);
  // Removes a request (finished or aborted), freeing its blocks. Unknown ids are ignored.
  void finish_request(std::string id, RequestStatus status);  // by value: the request may die here

  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  // Sequences running or reserved (an unforked n > 1 or beam request counts all it will fork);
  // admission keeps this within max_num_seqs.
  int64_t num_running_seqs() const;
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  bool has_unfinished() const { return !running_.empty() || !waiting_.empty(); }
  int64_t num_preemptions() const { return num_preemptions_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  using RequestPtr = std::shared_ptr<Request>;

  bool runs_before(const Request& a, const Request& b) const;
  static int64_t reserved_seqs(const Request& request);
  // A running sequence with nothing to compute: a beam that reported and waits for its siblings.
  static bool waits_for_group(const Request& r) { return r.num_computed_tokens >= r.num_tokens(); }
  std::deque<RequestPtr>::iterator next_waiting();
  RequestPtr pick_victim();
  void preempt(const RequestPtr& request, SchedulerOutput& out);
  void schedule_running(int64_t& budget, SchedulerOutput& out);
  void schedule_waiting(int64_t& budget, SchedulerOutput& out);

  SchedulerConfig config_;
  KVCacheManager& kv_;
  std::vector<RequestPtr> running_;  // in admission order
  std::deque<RequestPtr> waiting_;   // FCFS order; preempted requests go to the front
  uint64_t next_arrival_ = 0;
  int64_t num_preemptions_ = 0;
};

}  // namespace pagellm
