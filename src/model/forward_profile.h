#pragma once
// Wall time per part of LlamaModel::forward, summed over steps and kept apart for decode steps
// (every sequence brings one new token) and the rest (prefill, chunked prefill, mixed steps). It is
// how a step's time was split between the weight stream, attention and the small serial parts in
// docs/perf/kernels.md. Off unless PAGELLM_PROFILE=1 (then `pagellm bench latency` prints it): the
// clock reads cost ~20 ns each, ~2 us per 0.5B step.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace pagellm {

class ForwardProfile {
 public:
  enum class Part { kEmbed, kQkv, kRope, kAttention, kOProj, kNorm, kGateUp, kSiluMul, kDown, kLmHead, kCount };
  static constexpr int kParts = static_cast<int>(Part::kCount);
  static const char* name(Part part);
  // True when PAGELLM_PROFILE=1 in the environment.
  static bool enabled_from_env();

  struct Totals {
    std::array<double, kParts> seconds{};  // laps run from begin_step to the last part: they are the step
    int64_t steps = 0;
    int64_t tokens = 0;
  };

  void begin_step(bool decode, int64_t tokens);
  void lap(Part part);  // the time since the previous lap (or begin_step) goes to `part`
  void end_step() { ++current_->steps; }
  void reset() { decode_ = other_ = Totals{}; }

  // One line per kind of step that ran: "decode steps: 128 (1 tokens each), per step 10.52 ms:
  // qkv 0.85 ms (8.1 %), ...".
  std::string report() const;

 private:
  using Clock = std::chrono::steady_clock;
  Totals decode_, other_;
  Totals* current_ = nullptr;
  Clock::time_point last_;
};

}  // namespace pagellm
