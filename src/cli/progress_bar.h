#pragma once
// A one-line progress bar on stderr for long offline batches: requests done, tokens/s, ETA.
// Silent when stderr is not a terminal (logs and CI stay clean).
#include <chrono>
#include <cstdint>

#include "engine/llm.h"

namespace pagellm::cli {

class ProgressBar {
 public:
  ProgressBar();
  void update(const GenerateProgress& progress);
  void finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace pagellm::cli
