#include "cli/parse_ids.h"

#include <charconv>

#include "util/error.h"

namespace pagellm::cli {

std::vector<int32_t> parse_ids(const std::string& text, const std::string& flag) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    size_t b = pos, e = comma;
    while (b < e && text[b] == ' ') ++b;
    while (e > b && text[e - 1] == ' ') --e;
    int32_t value = 0;
    auto [end, ec] = std::from_chars(text.data() + b, text.data() + e, value);
    if (b == e || ec != std::errc() || end != text.data() + e || value < 0)
      fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a non-negative token id", flag, text.substr(b, e - b));
    ids.push_back(value);
    pos = comma + 1;
  }
  return ids;
}

}  // namespace pagellm::cli
