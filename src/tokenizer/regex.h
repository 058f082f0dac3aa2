#pragma once
// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for pre-tokenizer splits and
// regex normalizers. Thread-safe: match data is per call.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pagellm::tok {

class Regex {
 public:
  // Throws Error(kInvalidModel) naming the pattern when it does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-overlapping, non-empty matches, left to right.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

  static std::string escape(std::string_view literal);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagellm::tok
