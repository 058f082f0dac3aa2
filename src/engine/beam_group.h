#pragma once
// One beam search request inside the engine. Its live beams are ordinary scheduled sequences
// (a Request each: its tokens and, by id, its KV blocks). A round: every live beam computes its
// last token and reports its next-token logprobs (set_logits); a beam that has reported waits,
// holding its blocks, until its siblings have (they may be scheduled in later steps, or be
// preempted and recomputed). Then expand() ranks the candidates and returns the kept children,
// each naming the parent whose blocks it forks; the engine forks them and frees the parents.
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "engine/beam_search.h"
#include "engine/request.h"

namespace pagellm {

class BeamGroup {
 public:
  using Clock = std::chrono::steady_clock;

  struct Beam {
    std::shared_ptr<Request> seq;
    double cumulative_logprob = 0;
    std::vector<PositionLogprobs> logprobs;  // per generated token, when asked for
    std::vector<float> next_logprobs;        // this round's log_softmax(logits / temperature)
    bool reported = false;
  };
  struct Child {
    std::shared_ptr<Request> parent;
    std::shared_ptr<Request> child;  // the parent's tokens plus one; shares its blocks once forked
  };

  // `root` holds the prompt and the caller's id; `max_model_len` bounds the generated length.
  BeamGroup(std::shared_ptr<Request> root, BeamSearchParams params, int32_t eos_token_id, int64_t max_model_len);

  // Records a live beam's next-token logits (raw); ignores a sequence that is not live.
  void set_logits(const Request& seq, std::span<const float> raw_logits);
  bool ready() const;  // every live beam has reported this round
  // One round (requires ready()): EOS expansions finish, the beam_width best others become the
  // new live beams. Returns them with their parents.
  std::vector<Child> expand();
  bool done() const;
  // The best num_returned of the finished and live beams (text not set), best first.
  std::vector<BeamSequence> results() const;

  const std::vector<Beam>& live() const { return live_; }
  const BeamSearchParams& params() const { return params_; }
  const Request& root() const { return *root_; }
  int32_t eos_token_id() const { return eos_; }
  int64_t rounds() const { return rounds_; }
  Clock::time_point arrival() const { return arrival_; }
  Clock::time_point last_round() const { return last_round_; }

 private:
  BeamSequence to_sequence(const Beam& beam, std::string finish_reason) const;

  std::shared_ptr<Request> root_;
  BeamSearchParams params_;
  int32_t eos_;
  int64_t max_rounds_;
  int64_t rounds_ = 0;
  int64_t next_child_ = 0;
  std::vector<Beam> live_;
  std::vector<BeamSequence> finished_;
  Clock::time_point arrival_, last_round_;
};

}  // namespace pagellm
