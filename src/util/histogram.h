#pragma once
// A Prometheus-style histogram: cumulative-friendly bucket counts over fixed upper bounds, plus
// sum and count. Not thread-safe; owners copy it under their own lock.
#include <cstdint>
#include <vector>

namespace pagellm {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  const std::vector<double>& upper_bounds() const { return bounds_; }
  // counts()[i]: observations <= upper_bounds()[i] and > the previous bound; the last entry
  // (index upper_bounds().size()) counts the rest (+Inf).
  const std::vector<int64_t>& counts() const { return counts_; }
  std::vector<int64_t> cumulative_counts() const;
  double sum() const { return sum_; }
  int64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace pagellm
