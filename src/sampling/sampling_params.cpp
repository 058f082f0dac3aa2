#include "sampling/sampling_params.h"

#include <cmath>

#include "util/error.h"

namespace pagellm {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    fail(ErrorCode::kInvalidArgument, "temperature must be non-negative, got {}", temperature);
  if (!(top_p > 0.0 && top_p <= 1.0)) fail(ErrorCode::kInvalidArgument, "top_p must be in (0, 1], got {}", top_p);
  if (top_k < -1) fail(ErrorCode::kInvalidArgument, "top_k must be -1 (disable), 0 or at least 1, got {}", top_k);
  if (max_tokens < 1) fail(ErrorCode::kInvalidArgument, "max_tokens must be at least 1, got {}", max_tokens);
}

}  // namespace pagellm
