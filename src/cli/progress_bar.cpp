#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace pagellm::cli {

ProgressBar::ProgressBar()
    : enabled_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(const GenerateProgress& p) {
  if (!enabled_ || p.total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && p.finished < p.total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double fraction = static_cast<double>(p.finished) / static_cast<double>(p.total);
  const int width = 30;
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), ' ');
  const double out_rate = elapsed > 0 ? static_cast<double>(p.generated_tokens) / elapsed : 0;
  const double in_rate = elapsed > 0 ? static_cast<double>(p.prompt_tokens) / elapsed : 0;
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  std::fprintf(stderr, "\r[%s] %lld/%lld requests | in %.0f tok/s | out %.0f tok/s | ETA %02d:%02d ", bar.c_str(),
               static_cast<long long>(p.finished), static_cast<long long>(p.total), in_rate, out_rate,
               static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (drawn_) std::fprintf(stderr, "\n");
}

}  // namespace pagellm::cli
