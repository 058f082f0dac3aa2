#include "model/forward_profile.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

namespace pagellm {
namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string line(const char* kind, const ForwardProfile::Totals& t) {
  const double steps = static_cast<double>(t.steps);
  double step_seconds = 0;
  for (double s : t.seconds) step_seconds += s;
  std::string out = fmt::format("{} steps: {} ({:.1f} tokens each), per step {:.3f} ms:", kind, t.steps,
                                static_cast<double>(t.tokens) / steps, 1e3 * step_seconds / steps);
  for (int i = 0; i < ForwardProfile::kParts; ++i)
    out += fmt::format(
        "{} {} {:.3f} ms ({:.1f} %)", i == 0 ? "" : ",", ForwardProfile::name(static_cast<ForwardProfile::Part>(i)),
        1e3 * t.seconds[static_cast<size_t>(i)] / steps, 100 * t.seconds[static_cast<size_t>(i)] / step_seconds);
  return out;
}

}  // namespace

const char* ForwardProfile::name(Part part) {
  switch (part) {
    case Part::kEmbed:
      return "embed+rope-tables";
    case Part::kQkv:
      return "qkv";
    case Part::kRope:
      return "rope+kv-write";
    case Part::kAttention:
      return "attention";
    case Part::kOProj:
      return "o_proj";
    case Part::kNorm:
      return "residual+norm";
    case Part::kGateUp:
      return "gate_up";
    case Part::kSiluMul:
      return "silu*up";
    case Part::kDown:
      return "down";
    case Part::kLmHead:
      return "lm_head";
    case Part::kCount:
      break;
  }
  return "?";
}

bool ForwardProfile::enabled_from_env() {
  const char* v = std::getenv("PAGELLM_PROFILE");
  return v && std::strcmp(v, "1") == 0;
}

void ForwardProfile::begin_step(bool decode, int64_t tokens) {
  current_ = decode ? &decode_ : &other_;
  current_->tokens += tokens;
  last_ = Clock::now();
}

void ForwardProfile::lap(Part part) {
  const Clock::time_point now = Clock::now();
  current_->seconds[static_cast<size_t>(part)] += seconds(now - last_);
  last_ = now;
}

std::string ForwardProfile::report() const {
  std::string out;
  if (decode_.steps > 0) out += line("decode", decode_) + "\n";
  if (other_.steps > 0) out += line("prefill/mixed", other_) + "\n";
  return out;
}

}  // namespace pagellm
