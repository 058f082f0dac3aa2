#include "cli/random_prompt.h"

#include <algorithm>

namespace pagellm::cli {

std::vector<int32_t> random_prompt(std::mt19937_64& rng, int64_t len, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(len));
  const int64_t first = std::min<int64_t>(3, vocab - 1);
  for (int32_t& id : ids)
    id = static_cast<int32_t>(first + static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab - first)));
  return ids;
}

}  // namespace pagellm::cli
